//! The shelf as shoppers and staff page it: a page of books in shelf order,
//! whether more follow, and how many books the shelf or search holds (for
//! "Page 2 of 2,084").

use std::sync::{Arc, Mutex};

use sqlx::Row;

use super::{ledger_line, Backend, Search, Store, StoreError};
use crate::shared::stock::LedgerLine;

/// How many books the whole shelf holds, as of the catalog version it was
/// counted at. The number changes only when a book is added (none is ever
/// removed), and every commit that adds one moves the catalog version
/// (`version_bump(true)`), which each page's own statement reads. So a
/// stale count is never used, on any node: a book added elsewhere moves
/// the version in the database this node reads. On SQLite a count of
/// 50,000 books costs too little to measure on a page (1.01×,
/// bench/results/2026-12-07-split.md); on PostgreSQL it is a scan of the
/// table per render, which this spares every node. (A database restored
/// under a running node could repeat a version with other books: restart
/// the nodes after a restore.) Searches are counted each time.
#[derive(Clone, Debug, Default)]
pub(super) struct ShelfCount(Arc<Mutex<Option<(i64, u64)>>>);

impl ShelfCount {
    fn at(&self, catalog_version: i64) -> Option<u64> {
        let held = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.filter(|(at, _)| *at == catalog_version)
            .map(|(_, books)| books)
    }

    fn keep(&self, catalog_version: i64, books: u64) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((catalog_version, books));
    }
}

/// The count and the catalog version it is at, read in one statement.
const COUNT_THE_SHELF: &str = "SELECT catalog_version, (SELECT COUNT(*) FROM books) AS matched \
     FROM stock_state WHERE id = 1";

impl Store {
    /// One page of the shelf in shelf order (`limit` books from `offset`),
    /// only the books matching `search` when there is one; whether more
    /// follow; and how many books the shelf or the search holds. The same
    /// for the staff's ledger, with every copy counted.
    pub async fn shelf_page(
        &self,
        search: Option<&Search>,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<LedgerLine>, bool, u64), StoreError> {
        let Some(search) = search else {
            return self.whole_shelf_page(offset, limit).await;
        };
        // Parameters numbered in the order they appear (SQLite binds by it).
        let (filter, term) = match self.backend {
            Backend::Sqlite => (
                "WHERE rowid IN (SELECT rowid FROM books_search WHERE books_search MATCH $1)",
                search.fts5(),
            ),
            Backend::Postgres => ("WHERE search @@ to_tsquery('simple', $1)", search.tsquery()),
        };
        // How many books match, in the same statement (one round trip; the
        // subquery runs once).
        let count_sql = format!("SELECT COUNT(*) FROM books {filter}");
        let sql = format!(
            "SELECT {LEDGER_COLUMNS}, ({count_sql}) AS matched \
             FROM books {filter} ORDER BY position, id LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(&term)
            .bind(i64::from(limit) + 1)
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        let matched = match rows.first() {
            Some(row) => row.try_get::<i64, _>("matched")?,
            // A page past the end has no row to carry the count.
            None => {
                sqlx::query_scalar::<_, i64>(&count_sql)
                    .bind(&term)
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        let (lines, more) = page_of(&rows, limit)?;
        Ok((lines, more, u64::try_from(matched).unwrap_or(0)))
    }

    /// A page of the whole shelf, counted once per catalog version.
    async fn whole_shelf_page(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<LedgerLine>, bool, u64), StoreError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS}, \
             (SELECT catalog_version FROM stock_state WHERE id = 1) AS catalog_version \
             FROM books ORDER BY position, id LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit) + 1)
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        let held = match rows.first() {
            Some(row) => self.shelf_count.at(row.try_get("catalog_version")?),
            // A page past the end: the count says how far the end is.
            None => None,
        };
        let books = match held {
            Some(books) => books,
            None => {
                let row = sqlx::query(COUNT_THE_SHELF).fetch_one(&self.pool).await?;
                let books = u64::try_from(row.try_get::<i64, _>("matched")?).unwrap_or(0);
                self.shelf_count
                    .keep(row.try_get("catalog_version")?, books);
                books
            }
        };
        let (lines, more) = page_of(&rows, limit)?;
        Ok((lines, more, books))
    }
}

/// What a shelf page's rows hold of each book.
const LEDGER_COLUMNS: &str =
    "id, title, author, isbn, price_cents, total, featured, available, sold";

/// The first `limit` of rows read `limit + 1` at a time, and whether there
/// was one more.
fn page_of(rows: &[sqlx::any::AnyRow], limit: u32) -> Result<(Vec<LedgerLine>, bool), StoreError> {
    let lines = rows
        .iter()
        .take(limit as usize)
        .map(ledger_line)
        .collect::<Result<_, _>>()?;
    Ok((lines, rows.len() > limit as usize))
}

//! Writes to the stock, inside one transaction: many changes, one commit
//! (and one fsync).

use sqlx::{Any, Row, Transaction};

use sqlx::any::AnyRow;

use super::{
    count, read_book, stock_from_rows, Backend, NewBook, StoreError, CHANGED_AT_VERSION,
    NOTIFY_VERSION, STOCK_CHANNEL,
};
use crate::server::inventory::shelf::ShelfWrites;
use crate::shared::stock::{total_cents, Order, OrderLine, StockSnapshot};
use crate::shared::ShopError;

/// The times a commit's holds are written with, in Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct HoldTimes {
    pub now_ms: i64,
    /// The deadline a hold touched now gets.
    pub expires_at_ms: i64,
    /// How long after it was first taken a hold ends, however renewed.
    pub max_age_ms: i64,
}

/// What one run of the expiry clock ended.
#[derive(Debug, Default)]
pub struct Released {
    pub holds: u32,
    pub copies: u32,
    /// In id order, each once.
    pub books: Vec<String>,
}

pub struct StockTransaction {
    tx: Transaction<'static, Any>,
    backend: Backend,
    notify: bool,
}

impl StockTransaction {
    pub(super) fn new(
        tx: Transaction<'static, Any>,
        backend: Backend,
        notify: bool,
    ) -> StockTransaction {
        StockTransaction {
            tx,
            backend,
            notify,
        }
    }

    /// The available copies of `books` (those that exist) and every hold of
    /// `shoppers`. On PostgreSQL the books' rows stay locked until commit, so
    /// no other node decides on the same copies meanwhile.
    pub async fn load_shelf(
        &mut self,
        books: &[&str],
        shoppers: &[&str],
    ) -> Result<(Vec<(String, i64)>, Vec<(String, String, u32)>), StoreError> {
        let books_sql = format!(
            "SELECT 'book' AS kind, id AS a, '' AS b, available AS n FROM books WHERE id IN ({})",
            marks(books.len())
        );
        let holds_sql = format!(
            "SELECT 'hold' AS kind, shopper AS a, book_id AS b, copies AS n FROM reservations WHERE shopper IN ({})",
            marks(shoppers.len())
        );
        let books_args: Vec<Arg> = books.iter().map(|b| Arg::Text(b.to_string())).collect();
        let holds_args: Vec<Arg> = shoppers.iter().map(|s| Arg::Text(s.to_string())).collect();
        let rows = if self.backend == Backend::Postgres {
            let mut rows = Batch::one(format!("{books_sql} FOR UPDATE"), books_args)
                .fetch(&mut self.tx)
                .await?;
            rows.extend(
                Batch::one(holds_sql, holds_args)
                    .fetch(&mut self.tx)
                    .await?,
            );
            rows
        } else {
            let mut batch = Batch::default();
            batch.push(
                format!("{books_sql} UNION ALL {holds_sql}"),
                books_args.into_iter().chain(holds_args).collect(),
            );
            batch.fetch(&mut self.tx).await?
        };
        let (mut available, mut held) = (Vec::new(), Vec::new());
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            let a: String = row.try_get("a")?;
            if kind == "book" {
                available.push((a, row.try_get::<i64, _>("n")?));
            } else {
                held.push((a, row.try_get("b")?, count(row, "n")?));
            }
        }
        Ok((available, held))
    }

    /// Writes a run's changes: on SQLite in one round trip to its worker,
    /// however long the run. The CHECK on `available` would refuse an
    /// oversell here even if a decision were wrong.
    /// A touched hold's deadline becomes `times.expires_at_ms`, but never
    /// later than `held_since + times.max_age_ms`.
    pub async fn write_shelf(
        &mut self,
        writes: &ShelfWrites,
        times: HoldTimes,
    ) -> Result<(), StoreError> {
        let HoldTimes {
            now_ms,
            expires_at_ms,
            max_age_ms,
        } = times;
        let least = if self.backend == Backend::Postgres {
            "LEAST"
        } else {
            "MIN"
        };
        let mut batch = Batch::default();
        if !writes.holds.is_empty() {
            let rows = vec![
                "(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))";
                writes.holds.len()
            ]
            .join(", ");
            let mut args: Vec<Arg> = writes
                .holds
                .iter()
                .flat_map(|(shopper, book, copies)| {
                    [
                        Arg::Text(shopper.clone()),
                        Arg::Text(book.clone()),
                        Arg::Int(i64::from(*copies)),
                        Arg::Int(expires_at_ms),
                        Arg::Int(now_ms),
                    ]
                })
                .collect();
            args.push(Arg::Int(max_age_ms));
            batch.push(
                format!(
                    "INSERT INTO reservations (shopper, book_id, copies, expires_at, held_since) VALUES {rows} \
                     ON CONFLICT (shopper, book_id) DO UPDATE SET copies = excluded.copies, \
                     expires_at = {least}(excluded.expires_at, reservations.held_since + CAST(? AS BIGINT))"
                ),
                args,
            );
        }
        if !writes.ended.is_empty() {
            let pairs = vec!["(shopper = ? AND book_id = ?)"; writes.ended.len()].join(" OR ");
            let args = writes
                .ended
                .iter()
                .flat_map(|(shopper, book)| [Arg::Text(shopper.clone()), Arg::Text(book.clone())])
                .collect();
            batch.push(format!("DELETE FROM reservations WHERE {pairs}"), args);
        }
        if !writes.available.is_empty() {
            let cases = vec!["WHEN ? THEN CAST(? AS BIGINT)"; writes.available.len()].join(" ");
            let mut args: Vec<Arg> = writes
                .available
                .iter()
                .flat_map(|(book, delta)| [Arg::Text(book.clone()), Arg::Int(*delta)])
                .collect();
            args.extend(
                writes
                    .available
                    .iter()
                    .map(|(book, _)| Arg::Text(book.clone())),
            );
            batch.push(
                format!(
                    "UPDATE books SET available = available + CASE id {cases} ELSE 0 END WHERE id IN ({})",
                    marks(writes.available.len())
                ),
                args,
            );
        }
        if !writes.renewed.is_empty() {
            // Only live holds: one past its deadline is the clock's to end,
            // even if the clock has not come round to it yet.
            let mut args = vec![
                Arg::Int(expires_at_ms),
                Arg::Int(max_age_ms),
                Arg::Int(now_ms),
            ];
            args.extend(writes.renewed.iter().map(|s| Arg::Text(s.clone())));
            batch.push(
                format!(
                    "UPDATE reservations SET expires_at = \
                     {least}(CAST(? AS BIGINT), held_since + CAST(? AS BIGINT)) \
                     WHERE expires_at > CAST(? AS BIGINT) AND shopper IN ({})",
                    marks(writes.renewed.len())
                ),
                args,
            );
        }
        self.run(batch).await
    }

    /// Gives the stock a new version, greater than every one before it (the
    /// catalog takes it too when it changed), marks the `touched` books as
    /// changed at it, and reads back exactly those: a snapshot of what this
    /// commit changed, whatever the size of the catalog (on SQLite in one
    /// round trip).
    pub async fn finish(
        &mut self,
        touched: &[&str],
        catalog_changed: bool,
    ) -> Result<StockSnapshot, StoreError> {
        let bump = if catalog_changed {
            "UPDATE stock_state SET version = version + 1, catalog_version = version + 1 WHERE id = 1"
        } else {
            "UPDATE stock_state SET version = version + 1 WHERE id = 1"
        };
        let mut batch = Batch::default();
        if self.backend == Backend::Postgres && self.notify {
            // Every listening node hears of the version once this commits
            // (PostgreSQL delivers a notification only on commit); sent by
            // the bump itself, it costs no round trip of its own.
            batch.push(
                format!(
                    "WITH bumped AS ({bump} RETURNING version) \
                     SELECT pg_notify('{STOCK_CHANNEL}', CAST(version AS TEXT)) FROM bumped"
                ),
                Vec::new(),
            );
        } else {
            batch.push(bump.to_string(), Vec::new());
        }
        if !touched.is_empty() {
            batch.push(
                format!(
                    "UPDATE books SET changed_at = (SELECT version FROM stock_state WHERE id = 1) \
                     WHERE id IN ({})",
                    marks(touched.len())
                ),
                touched.iter().map(|b| Arg::Text(b.to_string())).collect(),
            );
        }
        batch.push(CHANGED_AT_VERSION.to_string(), Vec::new());
        let rows = if self.backend == Backend::Postgres {
            let mut rows = Vec::new();
            for statement in batch.statements {
                rows = Batch::one(statement.0, statement.1)
                    .fetch(&mut self.tx)
                    .await?;
            }
            rows
        } else {
            batch.fetch(&mut self.tx).await?
        };
        stock_from_rows(&rows)
    }

    /// On PostgreSQL, NOTIFYs the stock channel with the version this
    /// transaction makes; sent when it commits, dropped if it rolls back.
    pub(super) async fn notify_version(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres && self.notify {
            sqlx::query(NOTIFY_VERSION).fetch_all(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Runs a batch: as one multi-statement query on SQLite (one hop to its
    /// worker thread, which on one core saves a context switch a statement),
    /// statement by statement on PostgreSQL.
    async fn run(&mut self, batch: Batch) -> Result<(), StoreError> {
        if batch.statements.is_empty() {
            return Ok(());
        }
        if self.backend == Backend::Postgres {
            for (sql, args) in batch.statements {
                Batch::one(sql, args).fetch(&mut self.tx).await?;
            }
            Ok(())
        } else {
            batch.fetch(&mut self.tx).await.map(|_| ())
        }
    }

    /// Holds the stock's version row until commit (PostgreSQL; SQLite has
    /// one writer anyway): a decision read after it sees every commit made
    /// before, and none is made beside it.
    pub async fn lock_stock(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT version FROM stock_state WHERE id = 1 FOR UPDATE")
                .fetch_all(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn has_books(&mut self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM books")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn book_exists(&mut self, book: &str) -> Result<bool, StoreError> {
        Ok(read_book(&mut *self.tx, book).await?.is_some())
    }

    /// Puts `n` copies back on the shelf.
    pub async fn put_back_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + $2 WHERE id = $1 AND available + sold + $2 <= total",
        )
        .bind(book)
        .bind(i64::from(n))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every hold whose deadline has passed and puts its copies back.
    /// Returns the holds ended, the copies freed, and the books they went
    /// back to.
    ///
    /// On PostgreSQL every node's clock runs this at about the same moment:
    /// each claims the lapsed holds no other node has locked (`FOR UPDATE
    /// SKIP LOCKED`), so the clocks split the holds between them instead of
    /// queueing on each other, and each hold is deleted, and its copies put
    /// back, by exactly one of them. The books are then updated in id order,
    /// once each, so two clocks never wait on each other in a cycle.
    pub async fn release_expired(&mut self, now_ms: i64) -> Result<Released, StoreError> {
        let claim = if self.backend == Backend::Postgres {
            "DELETE FROM reservations r USING ( \
                 SELECT shopper, book_id FROM reservations WHERE expires_at <= $1 \
                 LIMIT 10000 FOR UPDATE SKIP LOCKED) lapsed \
             WHERE r.shopper = lapsed.shopper AND r.book_id = lapsed.book_id \
             RETURNING r.book_id, r.copies"
        } else {
            // One writer holds the whole file: nothing to split.
            "DELETE FROM reservations WHERE expires_at <= $1 RETURNING book_id, copies"
        };
        let rows = sqlx::query(claim)
            .bind(now_ms)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut by_book = std::collections::BTreeMap::<String, u32>::new();
        for row in &rows {
            *by_book.entry(row.try_get("book_id")?).or_default() += count(row, "copies")?;
        }
        let mut released = Released {
            holds: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            ..Released::default()
        };
        for (book, copies) in by_book {
            if !self.put_back_copies(&book, copies).await? {
                return Err(StoreError::Corrupt(format!(
                    "{book} would hold more copies than it owns"
                )));
            }
            released.copies += copies;
            released.books.push(book);
        }
        Ok(released)
    }

    /// Turns every live hold of the shopper into an order: the copies are
    /// sold, and no deadline can put them back. Refused, with nothing
    /// changed, when nothing is held or the total would not fit.
    pub async fn place_order(
        &mut self,
        shopper: &str,
        order_id: &str,
        now_ms: i64,
    ) -> Result<Result<Order, ShopError>, StoreError> {
        // The total first, read-only: a refusal leaves the group's other
        // changes and this shopper's holds as they were.
        let priced = sqlx::query(
            "SELECT b.price_cents, r.copies FROM reservations r JOIN books b ON b.id = r.book_id \
             WHERE r.shopper = $1 AND r.expires_at > $2",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut prices = Vec::with_capacity(priced.len());
        for row in &priced {
            prices.push((count(row, "price_cents")?, count(row, "copies")?));
        }
        if prices.is_empty() {
            return Ok(Err(ShopError::EmptyCart));
        }
        let Some(total_cents) = total_cents(prices) else {
            return Ok(Err(ShopError::TotalTooLarge));
        };
        let held = sqlx::query(
            "DELETE FROM reservations WHERE shopper = $1 AND expires_at > $2 RETURNING book_id, copies",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut lines = Vec::with_capacity(held.len());
        for row in &held {
            let book_id: String = row.try_get("book_id")?;
            let copies = count(row, "copies")?;
            let book = sqlx::query(
                "UPDATE books SET sold = sold + $2 WHERE id = $1 RETURNING title, price_cents",
            )
            .bind(&book_id)
            .bind(i64::from(copies))
            .fetch_one(&mut *self.tx)
            .await?;
            lines.push(OrderLine {
                book_id,
                title: book.try_get("title")?,
                price_cents: count(&book, "price_cents")?,
                copies,
            });
        }
        lines.sort_by(|a, b| a.title.cmp(&b.title));
        let total = i64::try_from(total_cents)
            .map_err(|_| StoreError::Corrupt(format!("order total {total_cents}")))?;
        sqlx::query(
            "INSERT INTO orders (id, shopper, placed_at, total_cents) VALUES ($1, $2, $3, $4)",
        )
        .bind(order_id)
        .bind(shopper)
        .bind(now_ms)
        .bind(total)
        .execute(&mut *self.tx)
        .await?;
        for line in &lines {
            sqlx::query(
                "INSERT INTO order_lines (order_id, book_id, title, price_cents, copies) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order_id)
            .bind(&line.book_id)
            .bind(&line.title)
            .bind(i64::from(line.price_cents))
            .bind(i64::from(line.copies))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(Ok(Order {
            id: order_id.to_string(),
            placed_at_ms: now_ms,
            lines,
            total_cents,
        }))
    }

    /// Puts a new book at the end of the shelf. False if the id is taken.
    pub async fn add_book(&mut self, book: &NewBook) -> Result<bool, StoreError> {
        if self.book_exists(&book.id).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO books (id, title, author, isbn, price_cents, total, available, featured, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, (SELECT COALESCE(MAX(position), 0) + 1 FROM books))",
        )
        .bind(&book.id)
        .bind(&book.title)
        .bind(&book.author)
        .bind(book.isbn.as_deref())
        .bind(i64::from(book.price_cents))
        .bind(i64::from(book.copies))
        .bind(i64::from(book.featured))
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// Sets how many copies the shop owns (sold ones included); the
    /// difference goes on or off the shelf. False when the book is unknown or
    /// the new total is below the copies held and sold.
    pub async fn set_total(&mut self, book: &str, total: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + ($2 - total), total = $2 \
             WHERE id = $1 AND available + ($2 - total) >= 0",
        )
        .bind(book)
        .bind(i64::from(total))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds `copies` new copies to the shelf. False when the book is unknown.
    pub async fn restock(&mut self, book: &str, copies: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET total = total + $2, available = available + $2 WHERE id = $1",
        )
        .bind(book)
        .bind(i64::from(copies))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// False when the book is unknown.
    pub async fn set_price(&mut self, book: &str, price_cents: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET price_cents = $2 WHERE id = $1")
            .bind(book)
            .bind(i64::from(price_cents))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) fn connection(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub(super) fn transaction(&mut self) -> &mut Transaction<'static, Any> {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// "?, ?, …": `count` parameter marks, numbered when the batch is run.
pub(super) fn marks(count: usize) -> String {
    vec!["?"; count].join(", ")
}

pub(super) enum Arg {
    Text(String),
    Int(i64),
    Null,
}

/// Statements written with `?` marks, numbered `$1, $2, …` across the whole
/// batch when it runs as one query (none of livecart's SQL has a `?` of its own).
#[derive(Default)]
pub(super) struct Batch {
    statements: Vec<(String, Vec<Arg>)>,
}

impl Batch {
    pub(super) fn one(sql: String, args: Vec<Arg>) -> Batch {
        Batch {
            statements: vec![(sql, args)],
        }
    }

    fn push(&mut self, sql: String, args: Vec<Arg>) {
        self.statements.push((sql, args));
    }

    pub(super) async fn fetch(
        self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut sql = String::new();
        let mut next = 1;
        for (statement, _) in &self.statements {
            for (i, part) in statement.split('?').enumerate() {
                if i > 0 {
                    sql.push_str(&format!("${next}"));
                    next += 1;
                }
                sql.push_str(part);
            }
            sql.push_str(";\n");
        }
        let mut query = sqlx::query(&sql);
        for (_, args) in self.statements {
            for arg in args {
                query = match arg {
                    Arg::Text(text) => query.bind(text),
                    Arg::Int(n) => query.bind(n),
                    Arg::Null => query.bind(Option::<String>::None),
                };
            }
        }
        Ok(query.fetch_all(&mut **tx).await?)
    }
}

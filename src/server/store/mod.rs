//! The store: livecart's stock on disk, through sqlx. SQLite (one file, WAL) by
//! default, PostgreSQL when the URL says so; the same SQL runs on both.
//!
//! The store persists and answers questions; the rules that decide which
//! change to make live in `inventory`. Every conditional update here is what
//! keeps a rule true across connections and nodes: a copy is taken only
//! `WHERE available >= n`, so two writers can never both take the last one.

mod books;
mod desk;
mod holds;
mod import;
mod line_reads;
mod lines;
mod nodes;
mod orders;
mod shelf;
mod staff;
mod stock_day;
mod transaction;

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row};

use crate::shared::stock::{
    decimal_price, Book, CartLine, LedgerLine, Order, OrderLine, StockSnapshot,
};
use crate::shared::ShopError;

pub use holds::{HoldTimes, HoldWrites, LoadedHolds, Released};
pub use import::{ImportError, ImportLine, Imported};
pub use line_reads::{LineReadCounts, LineSeen};
pub use lines::{LineRecord, PlaceLeaving, PlaceRecord};
pub use nodes::NodeRecord;
pub use orders::SoldLine;
pub use transaction::StockTransaction;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the database folder {path}: {source}")]
    CreateFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("the database did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("the transaction has already ended")]
    Closed,
    #[error("the stock table holds an impossible value: {0}")]
    Corrupt(String),
    /// A read made for many asks at once failed (`line_reads`); each ask
    /// is told why.
    #[error("reading lines failed: {0}")]
    Gathered(String),
}

impl StoreError {
    /// PostgreSQL gave up a transaction that waited on another node's in a
    /// cycle (deadlock) or could not be serialized with it: the same
    /// changes, tried again, succeed.
    pub fn is_conflict(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40P01" | "40001"))
            }
            _ => false,
        }
    }
}

/// A storage failure reaches the shopper as "try again" (503); what failed
/// goes to the log, here, once.
impl From<StoreError> for ShopError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failed");
        ShopError::Unavailable
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A book to put on sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBook {
    pub id: String,
    pub title: String,
    pub author: String,
    pub isbn: Option<String>,
    pub price_cents: u32,
    pub copies: u32,
    pub featured: bool,
}

/// The version of the SQLite livecart is built with (bundled by sqlx).
pub async fn sqlite_version() -> Result<String, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::sqlite::SqliteConnection::connect("sqlite::memory:").await?;
    let row = sqlx::query("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// A pool of connections to the shop's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Kept for the PostgreSQL listener, which needs a connection of its own.
    url: String,
    /// Whether commits NOTIFY the other nodes (PostgreSQL only).
    notify: bool,
    /// Pages' asks for their place in a line, answered together.
    line_reads: line_reads::LineReads,
    /// How many books the whole shelf holds, as of a catalog version.
    shelf_count: shelf::ShelfCount,
}

/// The channel's name, as a literal so the statements below can be built
/// from it at compile time.
macro_rules! stock_channel {
    () => {
        "livecart_stock"
    };
}

/// The channel every commit that changes the stock notifies on PostgreSQL,
/// with the new version as the payload (heartbeats: `heartbeat:<node>`).
pub const STOCK_CHANNEL: &str = stock_channel!();

/// The NOTIFY a committing transaction sends, read inside it so the payload
/// is the version the commit makes.
pub(crate) const NOTIFY_VERSION: &str = concat!(
    "SELECT pg_notify('",
    stock_channel!(),
    "', CAST(version AS TEXT)) FROM stock_state WHERE id = 1"
);

/// The one statement that moves the stock to its next version, and the
/// catalog's version with it when the catalog changed (every commit of the
/// writer and every import).
pub(crate) fn version_bump(catalog_changed: bool) -> &'static str {
    if catalog_changed {
        "UPDATE stock_state SET version = version + 1, catalog_version = version + 1 WHERE id = 1"
    } else {
        "UPDATE stock_state SET version = version + 1 WHERE id = 1"
    }
}

impl Store {
    /// Connects, creating the SQLite file and its folder when missing, and
    /// brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };

        let mut url = url.to_string();
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            create_sqlite_folder(&url)?;
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            // Readers never block the writer in WAL mode; FULL makes every
            // commit durable before it is acknowledged.
            // A local file needs no liveness ping before each use; on one
            // core each ping is two context switches to the SQLite thread.
            options = options
                .max_connections(8)
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        Ok(())
                    })
                });
        } else {
            // A database that does not answer must turn into a 503 quickly,
            // not a page that hangs: a connection is waited for 3 s at most.
            options = options
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(3));
        }
        let pool = options.connect(&url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store {
            line_reads: line_reads::LineReads::start(pool.clone(), backend),
            shelf_count: shelf::ShelfCount::default(),
            pool,
            backend,
            url: url.split('?').next().unwrap_or(&url).to_string(),
            notify: true,
        })
    }

    /// `(journal_mode, synchronous)` as each of the pool's connections has
    /// them, read with every connection held at once so none is read twice.
    /// livecart's promise that an acknowledged change survives a crash rests
    /// on `("wal", 2)` (FULL) on every one of them.
    pub async fn sqlite_durability(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut held = Vec::new();
        for _ in 0..self.pool.options().get_max_connections() {
            held.push(self.pool.acquire().await?);
        }
        let mut settings = Vec::with_capacity(held.len());
        for conn in &mut held {
            let journal: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await?
                .try_get(0)?;
            let synchronous: i64 = sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await?
                .try_get(0)?;
            settings.push((journal.to_ascii_lowercase(), synchronous));
        }
        Ok(settings)
    }

    /// The current version and every book's available count, read in one
    /// statement so the two always agree.
    pub async fn stock(&self) -> Result<StockSnapshot, StoreError> {
        read_stock(&self.pool).await
    }

    /// Whether this is a PostgreSQL store (other nodes may write to it).
    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The database URL, for a connection of its own (the listener).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `payload` on the stock channel, outside any change (heartbeats).
    pub async fn notify(&self, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(STOCK_CHANNEL)
            .bind(payload)
            .fetch_all(&self.pool)
            .await?;
        Ok(())
    }

    /// The stock's current version.
    pub async fn version(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT version FROM stock_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        version(&row, "version")
    }

    /// What changed after `version`: the current version, and the count of
    /// every book whose count or catalog fields changed since, read in one
    /// indexed statement however large the catalog. It serves a client that
    /// resumes from `version` and a node that catches up.
    pub async fn changes_since(&self, version: u64) -> Result<StockSnapshot, StoreError> {
        let since = i64::try_from(version).unwrap_or(i64::MAX);
        let rows = sqlx::query(CHANGED_SINCE)
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        stock_from_rows(&rows)
    }

    /// Every book, in shelf order.
    pub async fn catalog(&self) -> Result<Vec<Book>, StoreError> {
        let rows = sqlx::query(&format!("{BOOK_COLUMNS} ORDER BY position, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(book_from_row).collect()
    }

    pub async fn book(&self, id: &str) -> Result<Option<Book>, StoreError> {
        read_book(&self.pool, id).await
    }

    /// What one shopper holds, in shelf order.
    pub async fn holdings(&self, shopper: &str) -> Result<Vec<CartLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.book_id, b.title, b.price_cents, r.copies, r.expires_at \
             FROM reservations r JOIN books b ON b.id = r.book_id \
             WHERE r.shopper = $1 ORDER BY b.position, b.id",
        )
        .bind(shopper)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CartLine {
                    book_id: row.try_get("book_id")?,
                    title: row.try_get("title")?,
                    price_cents: count(row, "price_cents")?,
                    copies: count(row, "copies")?,
                    expires_at_ms: row.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Copies of `book` the shopper holds.
    pub async fn held(&self, shopper: &str, book: &str) -> Result<u32, StoreError> {
        read_held(&self.pool, shopper, book).await
    }

    /// The soonest deadline of any hold, in Unix milliseconds.
    pub async fn earliest_expiry(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MIN(expires_at) AS soonest FROM reservations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("soonest")?)
    }

    /// One of the shopper's orders, if it is theirs.
    pub async fn order(&self, shopper: &str, id: &str) -> Result<Option<Order>, StoreError> {
        let Some(head) = sqlx::query(
            "SELECT id, placed_at, total_cents FROM orders WHERE id = $1 AND shopper = $2",
        )
        .bind(id)
        .bind(shopper)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let lines = sqlx::query(
            "SELECT book_id, title, price_cents, copies FROM order_lines WHERE order_id = $1 ORDER BY title",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(Order {
            id: head.try_get("id")?,
            placed_at_ms: head.try_get("placed_at")?,
            total_cents: version(&head, "total_cents")?,
            lines: lines
                .iter()
                .map(|row| {
                    Ok(OrderLine {
                        book_id: row.try_get("book_id")?,
                        title: row.try_get("title")?,
                        price_cents: count(row, "price_cents")?,
                        copies: count(row, "copies")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        }))
    }

    /// Puts `books` on an empty shelf, in one transaction; a shelf that has
    /// ever held a book is left alone. Returns whether it stocked them.
    pub async fn stock_if_empty(&self, books: &[NewBook], now_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Nodes started together on a new database stock it once: the
        // second waits for the first's commit, then sees its books.
        tx.lock_stock().await?;
        if tx.has_books().await? {
            return Ok(false);
        }
        for book in books {
            tx.add_book(book).await?;
        }
        let ids: Vec<&str> = books.iter().map(|b| b.id.as_str()).collect();
        tx.finish_and_commit(&ids, true, now_ms).await?;
        Ok(true)
    }

    /// Starts a write. Changes made through it are seen by others only after
    /// `commit`, which returns once the database has them on disk.
    pub async fn begin(&self) -> Result<StockTransaction, StoreError> {
        match self.backend {
            Backend::Sqlite => StockTransaction::begin_sqlite(&self.pool).await,
            Backend::Postgres => StockTransaction::begin_postgres(&self.pool, self.notify).await,
        }
    }

    /// Commits stop notifying other nodes (the `pg_notify` setting, off).
    pub fn without_notify(mut self) -> Store {
        self.notify = false;
        self
    }
}

const BOOK_COLUMNS: &str =
    "SELECT id, title, author, isbn, price_cents, total, featured FROM books";

/// A book's count and its current line, if any, as every stock read below
/// selects them.
macro_rules! stock_columns {
    () => {
        "SELECT s.version, s.catalog_version, b.id, b.available, l.state AS line_state, \
         l.opens_at, l.serving, l.waiting, l.copies_left, l.offers_open FROM stock_state s "
    };
}

const STOCK_QUERY: &str = concat!(
    stock_columns!(),
    "LEFT JOIN books b ON 1 = 1 LEFT JOIN lines l ON l.id = b.line_id WHERE s.id = 1"
);

/// The books changed at the current version (the commit that made it), with
/// the version: one statement on the index of `changed_at`.
const CHANGED_AT_VERSION: &str = concat!(
    stock_columns!(),
    "LEFT JOIN books b ON b.changed_at = s.version LEFT JOIN lines l ON l.id = b.line_id WHERE s.id = 1"
);

/// The books changed after a version ($1), with the current version.
const CHANGED_SINCE: &str = concat!(
    stock_columns!(),
    "LEFT JOIN books b ON b.changed_at > $1 LEFT JOIN lines l ON l.id = b.line_id WHERE s.id = 1"
);

async fn read_stock<'e, E>(executor: E) -> Result<StockSnapshot, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    // One statement, so the version and the counts come from the same commit.
    let rows = sqlx::query(STOCK_QUERY).fetch_all(executor).await?;
    stock_from_rows(&rows)
}

fn stock_from_rows(rows: &[AnyRow]) -> Result<StockSnapshot, StoreError> {
    let mut snapshot = StockSnapshot {
        version: 0,
        since: None,
        catalog_version: 0,
        stock: BTreeMap::new(),
        lines: BTreeMap::new(),
    };
    for row in rows {
        snapshot.version = version(row, "version")?;
        snapshot.catalog_version = version(row, "catalog_version")?;
        let id: Option<String> = row.try_get("id")?;
        if let Some(id) = id {
            let available = count(row, "available")?;
            if let Some(line) = lines::line_state(row)? {
                snapshot.lines.insert(id.clone(), line);
            }
            snapshot.stock.insert(id, available);
        }
    }
    if rows.is_empty() {
        return Err(StoreError::Corrupt("stock_state has no row".into()));
    }
    Ok(snapshot)
}

async fn read_book<'e, E>(executor: E, id: &str) -> Result<Option<Book>, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query(&format!("{BOOK_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(book_from_row).transpose()
}

async fn read_held<'e, E>(executor: E, shopper: &str, book: &str) -> Result<u32, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query("SELECT copies FROM reservations WHERE shopper = $1 AND book_id = $2")
        .bind(shopper)
        .bind(book)
        .fetch_optional(executor)
        .await?;
    match row {
        Some(row) => count(&row, "copies"),
        None => Ok(0),
    }
}

fn ledger_line(row: &AnyRow) -> Result<LedgerLine, StoreError> {
    let book = book_from_row(row)?;
    let available = count(row, "available")?;
    let sold = count(row, "sold")?;
    let held = book
        .total
        .checked_sub(available + sold)
        .ok_or_else(|| StoreError::Corrupt(format!("{} holds more than it owns", book.id)))?;
    Ok(LedgerLine {
        book,
        available,
        held,
        sold,
    })
}

/// What a shopper searched for, as words: letters and digits only, so
/// nothing typed can reach the query syntax of either database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search(Vec<String>);

impl Search {
    /// At most 8 words of at most 40 characters; None when nothing is left.
    pub fn parse(text: &str) -> Option<Search> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(40).flat_map(char::to_lowercase).collect())
            .collect();
        (!words.is_empty()).then_some(Search(words))
    }

    /// Every word as a prefix, all required: `"knu"* "art"*`.
    fn fts5(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The same for PostgreSQL: `knu:* & art:*`.
    fn tsquery(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

fn book_from_row(row: &AnyRow) -> Result<Book, StoreError> {
    let price_cents = count(row, "price_cents")?;
    let featured: i64 = row.try_get("featured")?;
    Ok(Book {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        author: row.try_get("author")?,
        isbn: row.try_get("isbn")?,
        price_cents,
        price: decimal_price(u64::from(price_cents)),
        total: count(row, "total")?,
        featured: featured != 0,
    })
}

/// Reads a non-negative count column as u32.
fn count(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
}

fn version(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
}

fn create_sqlite_folder(url: &str) -> Result<(), StoreError> {
    let rest = url.trim_start_matches("sqlite:");
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateFolder {
                path: parent.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_keep_words_only() {
        let search = Search::parse("  Knuth: The Art!  ").unwrap();
        assert_eq!(search.fts5(), r#""knuth"* "the"* "art"*"#);
        assert_eq!(search.tsquery(), "knuth:* & the:* & art:*");
        let hostile = Search::parse(r#"a" OR title:* ) ; DROP--"#).unwrap();
        assert_eq!(hostile.fts5(), r#""a"* "or"* "title"* "drop"*"#);
        assert_eq!(Search::parse(" -- !! "), None);
        assert_eq!(Search::parse(&"w ".repeat(20)).map(|s| s.0.len()), Some(8));
    }
}

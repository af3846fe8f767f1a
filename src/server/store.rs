//! The store: livecart's stock on disk, through sqlx. SQLite (one file, WAL) by
//! default, PostgreSQL when the URL says so; the same SQL runs on both.
//!
//! The store persists and answers questions; the rules that decide which
//! change to make live in `inventory`. Every conditional update here is what
//! keeps a rule true across connections and nodes: a copy is taken only
//! `WHERE available >= n`, so two writers can never both take the last one.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::stock::{decimal_price, Book, CartLine, StockSnapshot};

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
    #[error("the stock table holds an impossible value: {0}")]
    Corrupt(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A book to put on the shelf.
#[derive(Clone, Debug)]
pub struct NewBook {
    pub id: &'static str,
    pub title: &'static str,
    pub author: &'static str,
    pub isbn: Option<&'static str>,
    pub price_cents: u32,
    pub copies: u32,
    pub featured: bool,
}

/// A pool of connections to the shop's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
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
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
            // Readers never block the writer in WAL mode; FULL makes every
            // commit durable before it is acknowledged.
            options = options
                .max_connections(8)
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
            options = options.max_connections(16);
        }
        let pool = options.connect(&url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The current version and every book's available count, read in one
    /// statement so the two always agree.
    pub async fn stock(&self) -> Result<StockSnapshot, StoreError> {
        read_stock(&self.pool).await
    }

    /// Every book, in shelf order.
    pub async fn catalog(&self) -> Result<Vec<Book>, StoreError> {
        let rows = sqlx::query(&format!("{BOOK_COLUMNS} ORDER BY position, id"))
            .fetch_all(&self.pool)
        .await?;
        rows.iter().map(book_from_row).collect()
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

    pub async fn book(&self, id: &str) -> Result<Option<Book>, StoreError> {
        read_book(&self.pool, id).await
    }

    /// Copies of `book` the shopper holds.
    pub async fn held(&self, shopper: &str, book: &str) -> Result<u32, StoreError> {
        read_held(&self.pool, shopper, book).await
    }

    /// Puts `books` on an empty shelf, in one transaction; a shelf that has
    /// ever held a book is left alone. Returns whether it stocked them.
    pub async fn stock_empty_shelf(&self, books: &[NewBook]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM books").fetch_one(&mut *tx).await?;
        let existing: i64 = row.try_get("n")?;
        if existing > 0 {
            return Ok(false);
        }
        for (position, book) in books.iter().enumerate() {
            sqlx::query(
                "INSERT INTO books (id, title, author, isbn, price_cents, total, available, featured, position) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
            )
            .bind(book.id)
            .bind(book.title)
            .bind(book.author)
            .bind(book.isbn)
            .bind(i64::from(book.price_cents))
            .bind(i64::from(book.copies))
            .bind(i64::from(book.featured))
            .bind(position as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE stock_state SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a write. Changes made through it are seen by others only after
    /// `commit`, which returns once the database has them on disk.
    pub async fn begin(&self) -> Result<StockTransaction, StoreError> {
        Ok(StockTransaction { tx: self.pool.begin().await? })
    }
}

/// One write transaction: many changes, one commit (and one fsync).
pub struct StockTransaction {
    tx: Transaction<'static, Any>,
}

impl StockTransaction {
    pub async fn book_exists(&mut self, book: &str) -> Result<bool, StoreError> {
        Ok(read_book(&mut *self.tx, book).await?.is_some())
    }

    pub async fn held_copies(&mut self, shopper: &str, book: &str) -> Result<u32, StoreError> {
        read_held(&mut *self.tx, shopper, book).await
    }

    /// Takes `n` copies off the shelf if at least `n` are available.
    pub async fn take_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available - $2 WHERE id = $1 AND available >= $2",
        )
        .bind(book)
        .bind(i64::from(n))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts `n` copies back on the shelf.
    pub async fn put_back_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + $2 WHERE id = $1 AND available + $2 <= total",
        )
        .bind(book)
        .bind(i64::from(n))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds one copy to what the shopper holds, unless they already hold
    /// `limit`; renews the hold's deadline. Returns the copies now held.
    pub async fn hold_one_more(
        &mut self,
        shopper: &str,
        book: &str,
        limit: u32,
        expires_at_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO reservations (shopper, book_id, copies, expires_at) \
             VALUES ($1, $2, 1, $4) \
             ON CONFLICT (shopper, book_id) DO UPDATE \
             SET copies = reservations.copies + 1, expires_at = excluded.expires_at \
             WHERE reservations.copies < $3 \
             RETURNING copies",
        )
        .bind(shopper)
        .bind(book)
        .bind(i64::from(limit))
        .bind(expires_at_ms)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| count(&row, "copies")).transpose()
    }

    /// Takes one copy out of what the shopper holds. Returns the copies left
    /// in their hands, or None when they held none.
    pub async fn release_one(&mut self, shopper: &str, book: &str) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "UPDATE reservations SET copies = copies - 1 \
             WHERE shopper = $1 AND book_id = $2 AND copies > 1 RETURNING copies",
        )
        .bind(shopper)
        .bind(book)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(row) = row {
            return count(&row, "copies").map(Some);
        }
        let gone = sqlx::query("DELETE FROM reservations WHERE shopper = $1 AND book_id = $2")
            .bind(shopper)
            .bind(book)
            .execute(&mut *self.tx)
            .await?;
        Ok((gone.rows_affected() == 1).then_some(0))
    }

    /// Moves every hold of the shopper's deadline to `expires_at_ms`.
    pub async fn renew_holds(&mut self, shopper: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE reservations SET expires_at = $2 WHERE shopper = $1")
            .bind(shopper)
            .bind(expires_at_ms)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Gives the stock a new version, greater than every one before it.
    pub async fn bump_version(&mut self) -> Result<u64, StoreError> {
        let row = sqlx::query("UPDATE stock_state SET version = version + 1 WHERE id = 1 RETURNING version")
            .fetch_one(&mut *self.tx)
            .await?;
        version(&row, "version")
    }

    /// The stock as this transaction sees it.
    pub async fn stock(&mut self) -> Result<StockSnapshot, StoreError> {
        read_stock(&mut *self.tx).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

async fn read_stock<'e, E>(executor: E) -> Result<StockSnapshot, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    // One statement, so the version and the counts come from the same commit.
    let rows = sqlx::query(
        "SELECT s.version, b.id, b.available FROM stock_state s \
         LEFT JOIN books b ON 1 = 1 WHERE s.id = 1",
    )
    .fetch_all(executor)
    .await?;
    let mut snapshot = StockSnapshot { version: 0, stock: BTreeMap::new() };
    for row in &rows {
        snapshot.version = version(row, "version")?;
        let id: Option<String> = row.try_get("id")?;
        if let Some(id) = id {
            let available = count(row, "available")?;
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

const BOOK_COLUMNS: &str = "SELECT id, title, author, isbn, price_cents, total, featured FROM books";

fn book_from_row(row: &AnyRow) -> Result<Book, StoreError> {
    let price_cents = count(row, "price_cents")?;
    let featured: i64 = row.try_get("featured")?;
    Ok(Book {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        author: row.try_get("author")?,
        isbn: row.try_get("isbn")?,
        price_cents,
        price: decimal_price(price_cents),
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

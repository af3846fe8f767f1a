//! Writes to the stock, inside one transaction: many changes, one commit
//! (and one fsync).

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Row, Transaction};

use sqlx::any::AnyRow;

use super::{
    count, read_book, stock_from_rows, Backend, NewBook, StoreError, CHANGED_AT_VERSION,
    NOTIFY_VERSION, STOCK_CHANNEL,
};
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

/// What a run of reserves and returns changed, to be written in a handful of
/// statements however long the run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HoldWrites {
    /// (shopper, book, copies now held), for holds that exist afterwards.
    pub holds: Vec<(String, String, u32)>,
    /// (shopper, book), for holds that no longer exist.
    pub ended: Vec<(String, String)>,
    /// (book, change in copies available).
    pub available: Vec<(String, i64)>,
    /// Shoppers whose every hold starts its time again.
    pub renewed: Vec<String>,
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
    held: Held,
    backend: Backend,
    notify: bool,
}

/// The connection a transaction runs on.
enum Held {
    /// PostgreSQL: sqlx's transaction, statement by statement.
    Postgres(Transaction<'static, Any>),
    /// SQLite: a connection of the pool on which the transaction runs its
    /// own `BEGIN IMMEDIATE … COMMIT`. Every statement is a hand-off to the
    /// connection's thread and back (two context switches on one core), so
    /// statements whose answer nothing waits for (`BEGIN`, the writes) are
    /// kept in `pending` and go with the next statement that returns rows:
    /// a writer's group of reserves and returns is two hand-offs, its read
    /// and its writes with the commit.
    Sqlite {
        conn: Option<PoolConnection<Any>>,
        pending: Batch,
        /// `BEGIN` has been sent, and `COMMIT` has not succeeded.
        open: bool,
    },
    /// Committed (PostgreSQL).
    Ended,
}

/// A transaction dropped while open (an error, or its group's deadline)
/// takes its SQLite connection out of the pool and closes it, which rolls
/// the transaction back: a connection never goes back to the pool inside a
/// transaction. (sqlx's own `Transaction` does the same for PostgreSQL.)
impl Drop for StockTransaction {
    fn drop(&mut self) {
        if let Held::Sqlite {
            conn, open: true, ..
        } = &mut self.held
        {
            if let Some(conn) = conn.take() {
                drop(conn.detach());
            }
        }
    }
}

impl StockTransaction {
    pub(super) async fn begin_postgres(
        pool: &sqlx::AnyPool,
        notify: bool,
    ) -> Result<StockTransaction, StoreError> {
        Ok(StockTransaction {
            held: Held::Postgres(pool.begin().await?),
            backend: Backend::Postgres,
            notify,
        })
    }

    /// Takes a connection; `BEGIN IMMEDIATE` goes with the first statement
    /// that is sent. IMMEDIATE takes SQLite's write lock at once, so a
    /// transaction that reads and then writes never finds another writer
    /// (an import) between its read and its write.
    pub(super) async fn begin_sqlite(pool: &sqlx::AnyPool) -> Result<StockTransaction, StoreError> {
        let conn = pool.acquire().await?;
        Ok(StockTransaction {
            held: Held::Sqlite {
                conn: Some(conn),
                pending: Batch::one("BEGIN IMMEDIATE".into(), Vec::new()),
                open: false,
            },
            backend: Backend::Sqlite,
            notify: false,
        })
    }

    /// The connection, with every statement waiting sent first.
    pub(super) async fn conn(&mut self) -> Result<&mut AnyConnection, StoreError> {
        if matches!(&self.held, Held::Sqlite { pending, .. } if !pending.statements.is_empty()) {
            self.fetch(Batch::default()).await?;
        }
        match &mut self.held {
            Held::Postgres(tx) => Ok(&mut **tx),
            Held::Sqlite {
                conn: Some(conn), ..
            } => Ok(&mut **conn),
            _ => Err(StoreError::Closed),
        }
    }

    /// Runs `batch` and returns its rows: on SQLite after the statements
    /// waiting, in the same hand-off; on PostgreSQL statement by statement
    /// (the rows are the last statement's).
    async fn fetch(&mut self, batch: Batch) -> Result<Vec<AnyRow>, StoreError> {
        match &mut self.held {
            Held::Postgres(tx) => {
                let mut rows = Vec::new();
                for (sql, args) in batch.statements {
                    rows = Batch::one(sql, args).fetch(tx).await?;
                }
                Ok(rows)
            }
            Held::Ended => Err(StoreError::Closed),
            Held::Sqlite {
                conn,
                pending,
                open,
            } => {
                let conn = conn.as_mut().ok_or(StoreError::Closed)?;
                *open = true;
                let mut all = std::mem::take(pending);
                all.statements.extend(batch.statements);
                all.fetch(conn).await
            }
        }
    }

    /// Runs statements that return nothing: on SQLite they wait for the
    /// next statement that is sent (a read, or the commit); on PostgreSQL
    /// they run now.
    async fn run(&mut self, batch: Batch) -> Result<(), StoreError> {
        match &mut self.held {
            Held::Sqlite { pending, .. } => {
                pending.statements.extend(batch.statements);
                Ok(())
            }
            Held::Postgres(_) | Held::Ended => self.fetch(batch).await.map(|_| ()),
        }
    }

    /// The available copies of `books` (those that exist) and every hold of
    /// `shoppers`. On PostgreSQL the books' rows stay locked until commit, so
    /// no other node decides on the same copies meanwhile.
    pub async fn load_holds(
        &mut self,
        books: &[&str],
        shoppers: &[&str],
    ) -> Result<(Vec<(String, i64)>, Vec<(String, String, u32)>), StoreError> {
        let (books_in, books_args) = self.in_list(books);
        let (shoppers_in, holds_args) = self.in_list(shoppers);
        let books_sql = format!(
            "SELECT 'book' AS kind, id AS a, '' AS b, available AS n FROM books WHERE id IN ({books_in})"
        );
        let holds_sql = format!(
            "SELECT 'hold' AS kind, shopper AS a, book_id AS b, copies AS n FROM reservations WHERE shopper IN ({shoppers_in})"
        );
        let rows = if self.backend == Backend::Postgres {
            let mut rows = self
                .fetch(Batch::one(format!("{books_sql} FOR UPDATE"), books_args))
                .await?;
            rows.extend(self.fetch(Batch::one(holds_sql, holds_args)).await?);
            rows
        } else {
            self.fetch(Batch::one(
                format!("{books_sql} UNION ALL {holds_sql}"),
                books_args.into_iter().chain(holds_args).collect(),
            ))
            .await?
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
    pub async fn write_holds(
        &mut self,
        writes: &HoldWrites,
        times: HoldTimes,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            self.run(sqlite_hold_writes(writes, times)).await?;
        } else {
            self.run(postgres_hold_writes(writes, times)).await?;
        }
        if !writes.renewed.is_empty() {
            let least = if self.backend == Backend::Postgres {
                "LEAST"
            } else {
                "MIN"
            };
            let renewed: Vec<&str> = writes.renewed.iter().map(String::as_str).collect();
            let (shoppers_in, shoppers) = self.in_list(&renewed);
            // Only live holds: one past its deadline is the clock's to end,
            // even if the clock has not come round to it yet.
            let mut args = vec![
                Arg::Int(times.expires_at_ms),
                Arg::Int(times.max_age_ms),
                Arg::Int(times.now_ms),
            ];
            args.extend(shoppers);
            self.run(Batch::one(
                format!(
                    "UPDATE reservations SET expires_at = \
                     {least}(CAST(? AS BIGINT), held_since + CAST(? AS BIGINT)) \
                     WHERE expires_at > CAST(? AS BIGINT) AND shopper IN ({shoppers_in})"
                ),
                args,
            ))
            .await?;
        }
        Ok(())
    }

    /// `IN (…)` of a list of texts, and its parameters. On SQLite the list
    /// is one JSON array, so the statement is the same text for a list of
    /// any length: it is prepared once per connection, where a text per
    /// length would keep missing sqlx's cache (100 statements) and be
    /// prepared again for every group. On PostgreSQL, a mark per item.
    fn in_list(&self, items: &[&str]) -> (String, Vec<Arg>) {
        if self.backend == Backend::Sqlite {
            (
                "SELECT value FROM json_each(?)".into(),
                vec![json_arg(&items)],
            )
        } else {
            let args = items.iter().map(|i| Arg::Text(i.to_string())).collect();
            (marks(items.len()), args)
        }
    }

    /// Gives the stock a new version, greater than every one before it (the
    /// catalog takes it too when it changed), marks the `touched` books as
    /// changed at it, commits, and returns exactly those books: a snapshot
    /// of what this commit changed, whatever the size of the catalog. On
    /// SQLite the writes still waiting, the new version, the snapshot and
    /// the commit go to SQLite in one hand-off.
    pub async fn finish_and_commit(
        mut self,
        touched: &[&str],
        catalog_changed: bool,
    ) -> Result<StockSnapshot, StoreError> {
        let mut batch = self.finishing(touched, catalog_changed);
        if self.backend == Backend::Postgres {
            let rows = self.fetch(batch).await?;
            self.commit().await?;
            return stock_from_rows(&rows);
        }
        batch.push("COMMIT".into(), Vec::new());
        let rows = self.fetch(batch).await?;
        self.committed();
        stock_from_rows(&rows)
    }

    /// The statements that give the new version; only the last returns rows.
    fn finishing(&self, touched: &[&str], catalog_changed: bool) -> Batch {
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
            let (books_in, books) = self.in_list(touched);
            batch.push(
                format!(
                    "UPDATE books SET changed_at = (SELECT version FROM stock_state WHERE id = 1) \
                     WHERE id IN ({books_in})"
                ),
                books,
            );
        }
        batch.push(CHANGED_AT_VERSION.to_string(), Vec::new());
        batch
    }

    /// On PostgreSQL, NOTIFYs the stock channel with the version this
    /// transaction makes; sent when it commits, dropped if it rolls back.
    pub(super) async fn notify_version(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres && self.notify {
            sqlx::query(NOTIFY_VERSION)
                .fetch_all(self.conn().await?)
                .await?;
        }
        Ok(())
    }

    /// Holds the stock's version row until commit (PostgreSQL; SQLite has
    /// one writer anyway): a decision read after it sees every commit made
    /// before, and none is made beside it.
    pub async fn lock_stock(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT version FROM stock_state WHERE id = 1 FOR UPDATE")
                .fetch_all(self.conn().await?)
                .await?;
        }
        Ok(())
    }

    pub async fn has_books(&mut self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM books")
            .fetch_one(self.conn().await?)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn book_exists(&mut self, book: &str) -> Result<bool, StoreError> {
        Ok(read_book(self.conn().await?, book).await?.is_some())
    }

    /// Puts `n` copies back on the shelf.
    pub async fn put_back_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + $2 WHERE id = $1 AND available + sold + $2 <= total",
        )
        .bind(book)
        .bind(i64::from(n))
        .execute(self.conn().await?)
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
            .fetch_all(self.conn().await?)
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
        .fetch_all(self.conn().await?)
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
        .fetch_all(self.conn().await?)
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
            .fetch_one(self.conn().await?)
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
        .execute(self.conn().await?)
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
            .execute(self.conn().await?)
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
        .execute(self.conn().await?)
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
        .execute(self.conn().await?)
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
        .execute(self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// False when the book is unknown.
    pub async fn set_price(&mut self, book: &str, price_cents: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET price_cents = $2 WHERE id = $1")
            .bind(book)
            .bind(i64::from(price_cents))
            .execute(self.conn().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Commits: returns once the database has the changes on disk.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        match std::mem::replace(&mut self.held, Held::Ended) {
            Held::Postgres(tx) => tx.commit().await?,
            sqlite => {
                self.held = sqlite;
                self.fetch(Batch::one("COMMIT".into(), Vec::new())).await?;
                self.committed();
            }
        }
        Ok(())
    }

    /// The SQLite transaction's COMMIT succeeded: its connection may go back
    /// to the pool.
    fn committed(&mut self) {
        if let Held::Sqlite { open, .. } = &mut self.held {
            *open = false;
        }
    }
}

/// A JSON text parameter (SQLite reads lists of any length from one).
fn json_arg(value: &impl serde::Serialize) -> Arg {
    // Strings and numbers always serialize.
    Arg::Text(serde_json::to_string(value).unwrap_or_default())
}

/// A run's holds, ended holds and counts, on SQLite: each list one JSON
/// parameter, so the statements' text does not depend on the lengths.
fn sqlite_hold_writes(writes: &HoldWrites, times: HoldTimes) -> Batch {
    let mut batch = Batch::default();
    if !writes.holds.is_empty() {
        batch.push(
            "INSERT INTO reservations (shopper, book_id, copies, expires_at, held_since) \
             SELECT value ->> 0, value ->> 1, value ->> 2, CAST(? AS BIGINT), CAST(? AS BIGINT) \
             FROM json_each(?) WHERE true \
             ON CONFLICT (shopper, book_id) DO UPDATE SET copies = excluded.copies, \
             expires_at = MIN(excluded.expires_at, reservations.held_since + CAST(? AS BIGINT))"
                .into(),
            vec![
                Arg::Int(times.expires_at_ms),
                Arg::Int(times.now_ms),
                json_arg(&writes.holds),
                Arg::Int(times.max_age_ms),
            ],
        );
    }
    if !writes.ended.is_empty() {
        batch.push(
            "DELETE FROM reservations WHERE (shopper, book_id) IN \
             (SELECT value ->> 0, value ->> 1 FROM json_each(?))"
                .into(),
            vec![json_arg(&writes.ended)],
        );
    }
    if !writes.available.is_empty() {
        // One list, read twice: (book, change) pairs.
        let deltas = json_arg(&writes.available);
        batch.push(
            "UPDATE books SET available = available + \
             (SELECT value ->> 1 FROM json_each(?) WHERE value ->> 0 = books.id) \
             WHERE id IN (SELECT value ->> 0 FROM json_each(?))"
                .into(),
            vec![deltas.clone(), deltas],
        );
    }
    batch
}

/// The same on PostgreSQL, as multi-row statements.
fn postgres_hold_writes(writes: &HoldWrites, times: HoldTimes) -> Batch {
    let HoldTimes {
        now_ms,
        expires_at_ms,
        max_age_ms,
    } = times;
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
                 expires_at = LEAST(excluded.expires_at, reservations.held_since + CAST(? AS BIGINT))"
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
    batch
}

/// "?, ?, …": `count` parameter marks, numbered when the batch is run.
pub(super) fn marks(count: usize) -> String {
    vec!["?"; count].join(", ")
}

#[derive(Clone)]
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

    pub(super) async fn fetch(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, StoreError> {
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
        Ok(query.fetch_all(conn).await?)
    }
}

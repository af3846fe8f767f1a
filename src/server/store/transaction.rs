//! The writer's transaction: many changes, one commit (and one fsync). This
//! file is the connection and its batching (statements sent to SQLite in one
//! hand-off, numbered marks for PostgreSQL) and the commit that makes the new
//! version; the writes themselves are in `holds`, `orders` and `books`.

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};

use sqlx::any::AnyRow;

use super::stock_day::record_hour;
use super::{
    stock_from_rows, version_bump, Backend, StoreError, CHANGED_AT_VERSION, NOTIFY_VERSION,
    STOCK_CHANNEL,
};
use crate::shared::stock::StockSnapshot;

pub struct StockTransaction {
    held: Held,
    pub(super) backend: Backend,
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
    pub(super) async fn fetch(&mut self, batch: Batch) -> Result<Vec<AnyRow>, StoreError> {
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
    pub(super) async fn run(&mut self, batch: Batch) -> Result<(), StoreError> {
        match &mut self.held {
            Held::Sqlite { pending, .. } => {
                pending.statements.extend(batch.statements);
                Ok(())
            }
            Held::Postgres(_) | Held::Ended => self.fetch(batch).await.map(|_| ()),
        }
    }

    /// `IN (…)` of a list of texts, and its parameters. On SQLite the list
    /// is one JSON array, so the statement is the same text for a list of
    /// any length: it is prepared once per connection, where a text per
    /// length would keep missing sqlx's cache (100 statements) and be
    /// prepared again for every group. On PostgreSQL, a mark per item.
    pub(super) fn in_list(&self, items: &[&str]) -> (String, Vec<Arg>) {
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
    /// changed at it, records their counts for the hour `now_ms` falls in
    /// (`stock_day`), commits, and returns exactly those books: a snapshot
    /// of what this commit changed, whatever the size of the catalog. On
    /// SQLite the writes still waiting, the new version, the record, the
    /// snapshot and the commit go to SQLite in one hand-off.
    pub async fn finish_and_commit(
        mut self,
        touched: &[&str],
        catalog_changed: bool,
        now_ms: i64,
    ) -> Result<StockSnapshot, StoreError> {
        let mut batch = self.finishing(touched, catalog_changed, now_ms);
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
    fn finishing(&self, touched: &[&str], catalog_changed: bool, now_ms: i64) -> Batch {
        let bump = version_bump(catalog_changed);
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
            let mark = format!(
                "UPDATE books SET changed_at = (SELECT version FROM stock_state WHERE id = 1) \
                 WHERE id IN ({books_in})"
            );
            if self.backend == Backend::Postgres {
                // One statement, so one round trip: the books marked are
                // the books recorded.
                let changed = format!("WITH changed AS ({mark} RETURNING id, available) ");
                let record = record_hour(self.backend, "changed", now_ms);
                batch.push(changed + &record, books);
            } else {
                batch.push(mark, books);
                let changed = "(SELECT id, available FROM books \
                               WHERE changed_at = (SELECT version FROM stock_state WHERE id = 1))";
                batch.push(record_hour(self.backend, changed, now_ms), Vec::new());
            }
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
pub(super) fn json_arg(value: &impl serde::Serialize) -> Arg {
    // Strings and numbers always serialize.
    Arg::Text(serde_json::to_string(value).unwrap_or_default())
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

    pub(super) fn push(&mut self, sql: String, args: Vec<Arg>) {
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

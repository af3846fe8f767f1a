//! Holds inside the writer's transaction: a run of reserves and returns
//! loaded and written back in a handful of statements, and the lapsed holds
//! the expiry clock ends.

use sqlx::Row;

use super::transaction::json_arg;
use super::transaction::{marks, Arg, Batch, StockTransaction};
use super::{count, Backend, StoreError};

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

/// What a run of reserves and returns starts from.
#[derive(Debug, Default)]
pub struct LoadedHolds {
    /// (book, copies available) of the books that exist.
    pub available: Vec<(String, i64)>,
    /// (shopper, book, copies held).
    pub held: Vec<(String, String, u32)>,
    /// The books that have a line that is not over.
    pub in_line: Vec<String>,
}

/// What one run of the expiry clock ended.
#[derive(Debug, Default)]
pub struct Released {
    pub holds: u32,
    pub copies: u32,
    /// In id order, each once.
    pub books: Vec<String>,
}

impl StockTransaction {
    /// The available copies of `books` (those that exist), every hold of
    /// `shoppers`, and which of the books have a line that is not over. On
    /// PostgreSQL the books' rows stay locked until commit, so no other node
    /// decides on the same copies meanwhile.
    pub async fn load_holds(
        &mut self,
        books: &[&str],
        shoppers: &[&str],
    ) -> Result<LoadedHolds, StoreError> {
        let (books_in, books_args) = self.in_list(books);
        let (shoppers_in, holds_args) = self.in_list(shoppers);
        let (lined_in, lined_args) = self.in_list(books);
        let books_sql = format!(
            "SELECT 'book' AS kind, id AS a, '' AS b, available AS n FROM books WHERE id IN ({books_in})"
        );
        let holds_sql = format!(
            "SELECT 'hold' AS kind, shopper AS a, book_id AS b, copies AS n FROM reservations WHERE shopper IN ({shoppers_in})"
        );
        // Read after the lock on PostgreSQL: a line another node started
        // while this waited is seen (the locking statement itself would see
        // the lines as they were when it began).
        let lined_sql = format!(
            "SELECT 'line' AS kind, b.id AS a, '' AS b, 0 AS n FROM books b JOIN lines l ON l.id = b.line_id \
             WHERE l.state <> 'ended' AND b.id IN ({lined_in})"
        );
        let rows = if self.backend == Backend::Postgres {
            let mut rows = self
                .fetch(Batch::one(format!("{books_sql} FOR UPDATE"), books_args))
                .await?;
            rows.extend(
                self.fetch(Batch::one(
                    format!("{holds_sql} UNION ALL {lined_sql}"),
                    holds_args.into_iter().chain(lined_args).collect(),
                ))
                .await?,
            );
            rows
        } else {
            self.fetch(Batch::one(
                format!("{books_sql} UNION ALL {holds_sql} UNION ALL {lined_sql}"),
                books_args
                    .into_iter()
                    .chain(holds_args)
                    .chain(lined_args)
                    .collect(),
            ))
            .await?
        };
        let mut loaded = LoadedHolds::default();
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            let a: String = row.try_get("a")?;
            let b: String = row.try_get("b")?;
            if kind == "book" {
                loaded.available.push((a, row.try_get::<i64, _>("n")?));
            } else if kind == "line" {
                loaded.in_line.push(a);
            } else {
                loaded.held.push((a, b, count(row, "n")?));
            }
        }
        Ok(loaded)
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
            // even if the clock has not come round to it yet. A line's offer
            // ends when the offer does, however often the cart is touched.
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
                     WHERE expires_at > CAST(? AS BIGINT) AND line_offer = 0 AND shopper IN ({shoppers_in})"
                ),
                args,
            ))
            .await?;
        }
        Ok(())
    }

    /// Puts `n` copies back on sale.
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
    pub async fn release_lapsed(&mut self, now_ms: i64) -> Result<Released, StoreError> {
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
        // Each book's (holds, copies).
        let mut by_book = std::collections::BTreeMap::<String, (u32, u32)>::new();
        for row in &rows {
            let book = by_book.entry(row.try_get("book_id")?).or_default();
            book.0 += 1;
            book.1 += count(row, "copies")?;
        }
        let mut released = Released {
            holds: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            ..Released::default()
        };
        for (book, (holds, copies)) in by_book {
            if !self.put_back_copies(&book, copies).await? {
                return Err(StoreError::Corrupt(format!(
                    "{book} would hold more copies than it owns"
                )));
            }
            // Recorded with the copies' return, in the same commit, so the
            // desk's count of lapses is exactly the holds the clock ended.
            self.run(Batch::one(
                "INSERT INTO hold_lapses (lapsed_at, book_id, holds, copies) \
                 VALUES (?, ?, ?, ?)"
                    .into(),
                vec![
                    Arg::Int(now_ms),
                    Arg::Text(book.clone()),
                    Arg::Int(i64::from(holds)),
                    Arg::Int(i64::from(copies)),
                ],
            ))
            .await?;
            released.copies += copies;
            released.books.push(book);
        }
        Ok(released)
    }
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

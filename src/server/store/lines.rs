//! Lines on disk: each book's current line (`books.line_id`), the places in
//! it, and the holds its offers make. Inside the writer's transaction the
//! book's row is locked first (PostgreSQL), so two nodes never decide on the
//! same line at once: place numbers and offers come from one transaction.
//! What each change does is the inventory's to decide (`inventory::lines`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::transaction::StockTransaction;
use super::{count, Backend, Store, StoreError};
use crate::shared::lines::{LineState, LineStatus};

/// A line as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRecord {
    pub id: i64,
    pub book_id: String,
    /// `launch` (scheduled by staff) or `notify` ("tell me when it's back").
    pub kind: String,
    pub state: LineStatus,
    pub opens_at: i64,
    /// Copies a launch put on the shelf for the line.
    pub copies: u32,
    pub serving: u32,
    pub waiting: u32,
    pub offers_open: u32,
    pub copies_left: u32,
    pub next_place: u32,
    pub drawn_at: Option<i64>,
    pub created_at: i64,
}

impl LineRecord {
    /// What every page in the line is told.
    pub fn state(&self) -> LineState {
        LineState {
            state: self.state,
            opens_at: self.opens_at,
            serving: self.serving,
            waiting: self.waiting,
            copies_left: self.copies_left,
            offers_open: self.offers_open,
        }
    }
}

/// How a place leaves its line (`StockTransaction::leave_place`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceLeaving {
    /// A place still waiting is given up: `left`.
    Waiting,
    /// The copy offered is given back: `declined`.
    Offered,
}

/// A shopper's place in a line, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceRecord {
    pub shopper: String,
    pub address: String,
    pub joined_at: i64,
    pub place: Option<u32>,
    /// `waiting`, `offered`, `bought`, `lapsed`, `declined` or `left`.
    pub state: String,
    pub offered_at: Option<i64>,
    pub offer_until: Option<i64>,
}

pub(super) const LINE_COLUMNS: &str =
    "l.id, l.book_id, l.kind, l.state, l.opens_at, l.copies, l.serving, \
     l.waiting, l.offers_open, l.copies_left, l.next_place, l.drawn_at, l.created_at";

pub(super) const PLACE_COLUMNS: &str =
    "p.shopper, p.address, p.joined_at, p.place, p.state, p.offered_at, p.offer_until";

/// The line a stock read selected beside a book (`line_state` and the
/// counts), if the book has one.
pub(super) fn line_state(row: &AnyRow) -> Result<Option<LineState>, StoreError> {
    let Some(state) = row.try_get::<Option<String>, _>("line_state")? else {
        return Ok(None);
    };
    Ok(Some(LineState {
        state: status(&state)?,
        opens_at: row.try_get("opens_at")?,
        serving: count(row, "serving")?,
        waiting: count(row, "waiting")?,
        copies_left: count(row, "copies_left")?,
        offers_open: count(row, "offers_open")?,
    }))
}

fn status(text: &str) -> Result<LineStatus, StoreError> {
    Ok(match text {
        "scheduled" => LineStatus::Scheduled,
        "open" => LineStatus::Open,
        "closed" => LineStatus::Closed,
        "ended" => LineStatus::Ended,
        other => return Err(StoreError::Corrupt(format!("line state {other:?}"))),
    })
}

fn status_text(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Scheduled => "scheduled",
        LineStatus::Open => "open",
        LineStatus::Closed => "closed",
        LineStatus::Ended => "ended",
    }
}

pub(super) fn line_from_row(row: &AnyRow) -> Result<LineRecord, StoreError> {
    Ok(LineRecord {
        id: row.try_get("id")?,
        book_id: row.try_get("book_id")?,
        kind: row.try_get("kind")?,
        state: status(&row.try_get::<String, _>("state")?)?,
        opens_at: row.try_get("opens_at")?,
        copies: count(row, "copies")?,
        serving: count(row, "serving")?,
        waiting: count(row, "waiting")?,
        offers_open: count(row, "offers_open")?,
        copies_left: count(row, "copies_left")?,
        next_place: count(row, "next_place")?,
        drawn_at: row.try_get("drawn_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn place_from_row(row: &AnyRow) -> Result<PlaceRecord, StoreError> {
    let place: Option<i64> = row.try_get("place")?;
    Ok(PlaceRecord {
        shopper: row.try_get("shopper")?,
        address: row.try_get("address")?,
        joined_at: row.try_get("joined_at")?,
        place: place
            .map(|p| u32::try_from(p).map_err(|_| StoreError::Corrupt(format!("place {p}"))))
            .transpose()?,
        state: row.try_get("state")?,
        offered_at: row.try_get("offered_at")?,
        offer_until: row.try_get("offer_until")?,
    })
}

fn small(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("count {n}")))
}

impl StockTransaction {
    /// The book's copies on the shelf and its current line (ended or not),
    /// or None when there is no such book. On PostgreSQL the book's row
    /// stays locked until commit: every decision on its line is made by one
    /// transaction at a time, on any number of nodes.
    pub async fn lock_line(
        &mut self,
        book: &str,
    ) -> Result<Option<(i64, Option<LineRecord>)>, StoreError> {
        // The book's row first, locked; then its line, read by a statement
        // of its own so that on PostgreSQL it sees whatever the transaction
        // that held the lock committed (a join in the locking statement
        // would read the line as it was when that statement began).
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let Some(row) = sqlx::query(&format!(
            "SELECT available, line_id FROM books WHERE id = $1{lock}"
        ))
        .bind(book)
        .fetch_optional(self.conn().await?)
        .await?
        else {
            return Ok(None);
        };
        let shelf: i64 = row.try_get("available")?;
        let line = match row.try_get::<Option<i64>, _>("line_id")? {
            Some(id) => {
                let row = sqlx::query(&format!(
                    "SELECT {LINE_COLUMNS} FROM lines l WHERE l.id = $1"
                ))
                .bind(id)
                .fetch_one(self.conn().await?)
                .await?;
                Some(line_from_row(&row)?)
            }
            None => None,
        };
        Ok(Some((shelf, line)))
    }

    /// Of `books`, those whose current line is not over.
    pub async fn books_in_line(&mut self, books: &[&str]) -> Result<Vec<String>, StoreError> {
        if books.is_empty() {
            return Ok(Vec::new());
        }
        let (books_in, args) = self.in_list(books);
        let rows = self
            .fetch(super::transaction::Batch::one(
                format!(
                    "SELECT b.id FROM books b JOIN lines l ON l.id = b.line_id \
                     WHERE l.state <> 'ended' AND b.id IN ({books_in})"
                ),
                args,
            ))
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("id")?))
            .collect::<Result<_, StoreError>>()
    }

    /// The books whose scheduled line opens at or before `now_ms`.
    pub async fn lines_due(&mut self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT book_id FROM lines WHERE state = 'scheduled' AND opens_at <= $1 ORDER BY book_id",
        )
        .bind(now_ms)
        .fetch_all(self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("book_id")?))
            .collect::<Result<_, StoreError>>()
    }

    /// Starts a new line for `book` and makes it the book's current one.
    pub async fn start_line(
        &mut self,
        book: &str,
        kind: &str,
        opens_at: i64,
        copies: u32,
        now_ms: i64,
    ) -> Result<LineRecord, StoreError> {
        let state = if opens_at > now_ms {
            "scheduled"
        } else {
            "open"
        };
        let row = sqlx::query(
            "INSERT INTO lines (book_id, kind, state, opens_at, copies, created_at, drawn_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(book)
        .bind(kind)
        .bind(state)
        .bind(opens_at)
        .bind(i64::from(copies))
        .bind(now_ms)
        .bind((state != "scheduled").then_some(now_ms))
        .fetch_one(self.conn().await?)
        .await?;
        let id: i64 = row.try_get("id")?;
        sqlx::query("UPDATE books SET line_id = $2 WHERE id = $1")
            .bind(book)
            .bind(id)
            .execute(self.conn().await?)
            .await?;
        Ok(LineRecord {
            id,
            book_id: book.to_string(),
            kind: kind.to_string(),
            state: status(state)?,
            opens_at,
            copies,
            serving: 0,
            waiting: 0,
            offers_open: 0,
            copies_left: 0,
            next_place: 1,
            drawn_at: (state != "scheduled").then_some(now_ms),
            created_at: now_ms,
        })
    }

    /// The shopper's place in line `line`, if they ever had one.
    pub async fn place_in(
        &mut self,
        line: i64,
        shopper: &str,
    ) -> Result<Option<PlaceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PLACE_COLUMNS} FROM line_places p WHERE p.line_id = $1 AND p.shopper = $2"
        ))
        .bind(line)
        .bind(shopper)
        .fetch_optional(self.conn().await?)
        .await?;
        row.as_ref().map(place_from_row).transpose()
    }

    /// Places still in line `line` (waiting or offered) held from `address`.
    pub async fn places_from(&mut self, line: i64, address: &str) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM line_places \
             WHERE line_id = $1 AND address = $2 AND state IN ('waiting', 'offered')",
        )
        .bind(line)
        .bind(address)
        .fetch_one(self.conn().await?)
        .await?;
        small(row.try_get("n")?)
    }

    /// Puts the shopper in line `line` (again, at the back, if they had left
    /// or been served before), with `place` or none until the draw. The
    /// caller has checked they hold no place, so one more waits.
    pub async fn add_place(
        &mut self,
        line: i64,
        shopper: &str,
        address: &str,
        place: Option<u32>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_places (line_id, shopper, address, joined_at, place, state) \
             VALUES ($1, $2, $3, $4, $5, 'waiting') \
             ON CONFLICT (line_id, shopper) DO UPDATE SET address = excluded.address, \
             joined_at = excluded.joined_at, place = excluded.place, state = 'waiting', \
             offered_at = NULL, offer_until = NULL",
        )
        .bind(line)
        .bind(shopper)
        .bind(address)
        .bind(now_ms)
        .bind(place.map(i64::from))
        .execute(self.conn().await?)
        .await?;
        self.count_places(line, 1, 0).await
    }

    /// Moves the line's counts by a delta, in the same transaction as the
    /// places that moved them: a line of 100,000 places is never recounted.
    async fn count_places(
        &mut self,
        line: i64,
        waiting: i64,
        offered: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE lines SET waiting = waiting + $2, offers_open = offers_open + $3 WHERE id = $1",
        )
        .bind(line)
        .bind(waiting)
        .bind(offered)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// The next place number of line `line` after its draw, taken.
    pub async fn take_place(&mut self, line: i64) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "UPDATE lines SET next_place = next_place + 1 WHERE id = $1 RETURNING next_place - 1 AS place",
        )
        .bind(line)
        .fetch_one(self.conn().await?)
        .await?;
        small(row.try_get("place")?)
    }

    /// A place leaves the line: `waiting` → `left`, or `offered` →
    /// `declined`; the counts move only if the place was in state `from`.
    pub async fn leave_place(
        &mut self,
        line: i64,
        shopper: &str,
        from: PlaceLeaving,
    ) -> Result<(), StoreError> {
        let (from, to, waiting, offered) = match from {
            PlaceLeaving::Waiting => ("waiting", "left", -1, 0),
            PlaceLeaving::Offered => ("offered", "declined", 0, -1),
        };
        let done = sqlx::query(
            "UPDATE line_places SET state = $4 WHERE line_id = $1 AND shopper = $2 AND state = $3",
        )
        .bind(line)
        .bind(shopper)
        .bind(from)
        .bind(to)
        .execute(self.conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(());
        }
        self.count_places(line, waiting, offered).await
    }

    /// Everyone who joined line `line` before its draw, in order of arrival.
    pub async fn undrawn(&mut self, line: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT shopper FROM line_places WHERE line_id = $1 AND place IS NULL \
             AND state = 'waiting' ORDER BY joined_at, shopper",
        )
        .bind(line)
        .fetch_all(self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("shopper")?))
            .collect::<Result<_, StoreError>>()
    }

    /// Writes the draw: each shopper's place, in one statement however many.
    pub async fn set_places(
        &mut self,
        line: i64,
        places: &[(String, u32)],
    ) -> Result<(), StoreError> {
        if places.is_empty() {
            return Ok(());
        }
        let drawn =
            serde_json::to_string(places).map_err(|e| StoreError::Corrupt(format!("draw: {e}")))?;
        let sql = if self.backend == Backend::Postgres {
            "UPDATE line_places SET place = d.place FROM \
             (SELECT e ->> 0 AS shopper, CAST(e ->> 1 AS BIGINT) AS place \
              FROM json_array_elements(CAST($2 AS json)) e) d \
             WHERE line_places.line_id = $1 AND line_places.shopper = d.shopper"
        } else {
            // Materialized, so SQLite indexes the list and looks each
            // shopper up once; joined as a subquery it scanned the whole
            // list for every place (10,000 places: a minute).
            "WITH d AS MATERIALIZED \
             (SELECT value ->> 0 AS shopper, value ->> 1 AS place FROM json_each($2)) \
             UPDATE line_places SET place = d.place FROM d \
             WHERE line_places.line_id = $1 AND line_places.shopper = d.shopper"
        };
        let done = sqlx::query(sql)
            .bind(line)
            .bind(drawn)
            .execute(self.conn().await?)
            .await?;
        if done.rows_affected() != places.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "the draw placed {} of {} shoppers",
                done.rows_affected(),
                places.len()
            )));
        }
        Ok(())
    }

    /// The first `n` places waiting in line `line`, in place order.
    pub async fn next_in_line(
        &mut self,
        line: i64,
        n: u32,
    ) -> Result<Vec<(String, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT shopper, place FROM line_places WHERE line_id = $1 AND state = 'waiting' \
             AND place IS NOT NULL ORDER BY place LIMIT $2",
        )
        .bind(line)
        .bind(i64::from(n))
        .fetch_all(self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("shopper")?, small(row.try_get("place")?)?)))
            .collect()
    }

    /// Offers one copy of `book` to the shopper: a hold that ends at `until`
    /// and that touching the cart does not renew, taken off the shelf.
    pub async fn offer_copy(
        &mut self,
        line: i64,
        book: &str,
        shopper: &str,
        now_ms: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE line_places SET state = 'offered', offered_at = $3, offer_until = $4 \
             WHERE line_id = $1 AND shopper = $2",
        )
        .bind(line)
        .bind(shopper)
        .bind(now_ms)
        .bind(until)
        .execute(self.conn().await?)
        .await?;
        sqlx::query(
            "INSERT INTO reservations (shopper, book_id, copies, expires_at, held_since, line_offer) \
             VALUES ($1, $2, 1, $3, $4, 1) \
             ON CONFLICT (shopper, book_id) DO UPDATE SET copies = reservations.copies + 1, \
             expires_at = excluded.expires_at, line_offer = 1",
        )
        .bind(shopper)
        .bind(book)
        .bind(until)
        .bind(now_ms)
        .execute(self.conn().await?)
        .await?;
        // The CHECK on `available` refuses an offer of a copy that is not there.
        sqlx::query("UPDATE books SET available = available - 1 WHERE id = $1")
            .bind(book)
            .execute(self.conn().await?)
            .await?;
        self.count_places(line, -1, 1).await
    }

    /// Gives back the copy a line's offer holds for the shopper (declined).
    /// False when they hold none.
    pub async fn give_back_offer(&mut self, book: &str, shopper: &str) -> Result<bool, StoreError> {
        let held = sqlx::query(
            "DELETE FROM reservations WHERE shopper = $1 AND book_id = $2 AND line_offer = 1 \
             RETURNING copies",
        )
        .bind(shopper)
        .bind(book)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(held) = held else {
            return Ok(false);
        };
        let copies = count(&held, "copies")?;
        if !self.put_back_copies(book, copies).await? {
            return Err(StoreError::Corrupt(format!(
                "{book} would hold more copies than it owns"
            )));
        }
        Ok(true)
    }

    /// Offers of line `line` whose hold has ended get what became of them:
    /// bought (the shopper ordered the book after the offer), lapsed (its
    /// time ran out) or declined (given back).
    pub async fn settle_offers(
        &mut self,
        line: i64,
        book: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let settled = sqlx::query(
            "UPDATE line_places SET state = CASE \
                 WHEN EXISTS (SELECT 1 FROM orders o JOIN order_lines ol ON ol.order_id = o.id \
                     WHERE o.shopper = line_places.shopper AND ol.book_id = $2 \
                     AND o.placed_at >= line_places.offered_at) THEN 'bought' \
                 WHEN line_places.offer_until <= $3 THEN 'lapsed' \
                 ELSE 'declined' END \
             WHERE line_id = $1 AND state = 'offered' AND NOT EXISTS \
                 (SELECT 1 FROM reservations r WHERE r.shopper = line_places.shopper AND r.book_id = $2)",
        )
        .bind(line)
        .bind(book)
        .bind(now_ms)
        .execute(self.conn().await?)
        .await?
        .rows_affected();
        if settled > 0 {
            let settled = i64::try_from(settled).unwrap_or(i64::MAX);
            self.count_places(line, 0, -settled).await?;
        }
        Ok(())
    }

    /// Line `line`'s places waiting and offers open, as the changes of
    /// this transaction left them (each change moves them by its delta).
    pub async fn line_counts(&mut self, line: i64) -> Result<(u32, u32), StoreError> {
        let row = sqlx::query("SELECT waiting, offers_open FROM lines WHERE id = $1")
            .bind(line)
            .fetch_one(self.conn().await?)
            .await?;
        Ok((count(&row, "waiting")?, count(&row, "offers_open")?))
    }

    /// Writes a line's state as decided: its state, serving, copies left,
    /// next place and draw. Its counts of places are the store's, moved by
    /// each change to a place (`count_places`), and are not written here.
    pub async fn save_line(&mut self, line: &LineRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE lines SET state = $2, serving = $3, copies_left = $4, next_place = $5, \
             drawn_at = $6 WHERE id = $1",
        )
        .bind(line.id)
        .bind(status_text(line.state))
        .bind(i64::from(line.serving))
        .bind(i64::from(line.copies_left))
        .bind(i64::from(line.next_place))
        .bind(line.drawn_at)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The book's current line (also an ended one, so the page can say so).
    pub async fn line_of(&self, book: &str) -> Result<Option<LineRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LINE_COLUMNS} FROM books b JOIN lines l ON l.id = b.line_id WHERE b.id = $1"
        ))
        .bind(book)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(line_from_row).transpose()
    }

    /// The book's current line (also an ended one) and the shopper's place
    /// in it, read together with every other page's ask of the moment
    /// (`line_reads`): at a launch's opening every page asks at once.
    pub async fn line_seen_by(
        &self,
        book: &str,
        shopper: &str,
    ) -> Result<super::LineSeen, StoreError> {
        self.line_reads.read(book, shopper).await
    }

    /// How many pages asked for their place, and how many reads answered them.
    pub fn line_read_counts(&self) -> super::LineReadCounts {
        self.line_reads.counted()
    }

    /// Every line, newest first (at most `limit`), with its book's title.
    pub async fn lines(&self, limit: u32) -> Result<Vec<(LineRecord, String)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LINE_COLUMNS}, b.title FROM lines l JOIN books b ON b.id = l.book_id \
             ORDER BY l.id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((line_from_row(row)?, row.try_get("title")?)))
            .collect()
    }

    /// The first `limit` places of line `line`: in place order, those
    /// before the draw last in order of arrival.
    pub async fn places(&self, line: i64, limit: u32) -> Result<Vec<PlaceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PLACE_COLUMNS} FROM line_places p WHERE p.line_id = $1 \
             ORDER BY p.place IS NULL, p.place, p.joined_at LIMIT $2"
        ))
        .bind(line)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(place_from_row).collect()
    }

    /// How many places of line `line` are in each state.
    pub async fn place_counts(&self, line: i64) -> Result<Vec<(String, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM line_places WHERE line_id = $1 GROUP BY state ORDER BY state",
        )
        .bind(line)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, small(row.try_get("n")?)?)))
            .collect()
    }

    /// Copies lines hold for the shopper now: (book, title, until).
    pub async fn offers(
        &self,
        shopper: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.id, b.title, r.expires_at FROM reservations r JOIN books b ON b.id = r.book_id \
             WHERE r.shopper = $1 AND r.line_offer = 1 AND r.expires_at > $2 ORDER BY r.expires_at",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    row.try_get("title")?,
                    row.try_get("expires_at")?,
                ))
            })
            .collect()
    }

    /// When the next scheduled line opens, if one is scheduled.
    pub async fn next_opening(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(opens_at) AS soonest FROM lines WHERE state = 'scheduled'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>("soonest")?)
    }
}

//! Each book's available count over the day, hour by hour, in
//! `stock_by_hour`: written in the same commit as every change of a book's
//! count (`record_hour`, from the writer's commit and an import), read for
//! the ledger's sparklines (`stock_over_day`). The count is recorded as it
//! changes, not rebuilt from holds and orders, because a count moves for
//! many reasons (holds taken, returned and lapsed, sales, restocks,
//! imports) and only the commit sees them all.

use std::collections::BTreeMap;

use sqlx::Row;

use super::transaction::{marks, Arg, Batch};
use super::{count, Backend, Store, StoreError};
use crate::shared::views::StockDay;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The statement that records, for the hour `now_ms` falls in, the count
/// of each book `changed` names (SQL giving rows of `id, available`, after
/// the change). The hour's first record opens it at the count the book's
/// newest record closed at (whatever hour or day that was); later ones
/// move its close and its low. The row of the same hour a day before is
/// overwritten, so a book never has more than 24.
///
/// The hour is written into the text, not bound: the statement's text
/// then changes once an hour, and its arguments stay those of `changed`.
pub(super) fn record_hour(backend: Backend, changed: &str, now_ms: i64) -> String {
    let hour = now_ms - now_ms.rem_euclid(HOUR_MS);
    let slot = hour.rem_euclid(DAY_MS) / HOUR_MS;
    let least = match backend {
        Backend::Sqlite => "MIN",
        Backend::Postgres => "LEAST",
    };
    // `WHERE true`: SQLite reads the `ON` after a bare `FROM … c` as a join's.
    format!(
        "INSERT INTO stock_by_hour (book_id, slot, hour, opened, closed, low) \
         SELECT c.id, {slot}, {hour}, \
           COALESCE((SELECT p.closed FROM stock_by_hour p WHERE p.book_id = c.id \
                     ORDER BY p.hour DESC LIMIT 1), c.available), \
           c.available, c.available \
         FROM {changed} c WHERE true \
         ON CONFLICT (book_id, slot) DO UPDATE SET \
           opened = CASE WHEN stock_by_hour.hour = excluded.hour \
                    THEN stock_by_hour.opened ELSE excluded.opened END, \
           low = CASE WHEN stock_by_hour.hour = excluded.hour \
                 THEN {least}(stock_by_hour.low, excluded.closed) ELSE excluded.low END, \
           closed = excluded.closed, \
           hour = excluded.hour"
    )
}

impl Store {
    /// Each of `books` (its id and its count now) over the UTC day `now_ms`
    /// falls in: the count it opened the day at, its count at the end of
    /// each hour so far (the hour under way ends at the count now), and the
    /// lowest it was. A book with no record today has not moved today: it
    /// stood at its count now all day.
    pub async fn stock_over_day(
        &self,
        books: &[(&str, u32)],
        now_ms: i64,
    ) -> Result<BTreeMap<String, StockDay>, StoreError> {
        let midnight = now_ms - now_ms.rem_euclid(DAY_MS);
        let mut records: BTreeMap<&str, Vec<HourRecord>> =
            books.iter().map(|(id, _)| (*id, Vec::new())).collect();
        if !books.is_empty() {
            let sql = format!(
                "SELECT book_id, hour, opened, closed, low FROM stock_by_hour \
                 WHERE hour >= ? AND hour <= ? AND book_id IN ({}) ORDER BY hour",
                marks(books.len())
            );
            let mut args = vec![Arg::Int(midnight), Arg::Int(now_ms)];
            args.extend(books.iter().map(|(id, _)| Arg::Text(id.to_string())));
            let mut conn = self.pool.acquire().await?;
            for row in Batch::one(sql, args).fetch(&mut conn).await? {
                let book: String = row.try_get("book_id")?;
                if let Some(list) = records.get_mut(book.as_str()) {
                    list.push(HourRecord {
                        hour: row.try_get("hour")?,
                        opened: count(&row, "opened")?,
                        closed: count(&row, "closed")?,
                        low: count(&row, "low")?,
                    });
                }
            }
        }
        Ok(books
            .iter()
            .map(|(id, now)| {
                let day = day_of(&records[id], *now, midnight, now_ms);
                (id.to_string(), day)
            })
            .collect())
    }
}

/// One row of `stock_by_hour`.
struct HourRecord {
    hour: i64,
    opened: u32,
    closed: u32,
    low: u32,
}

/// The day drawn from a book's records of today, oldest first.
fn day_of(records: &[HourRecord], now: u32, midnight: i64, now_ms: i64) -> StockDay {
    let opened = records.first().map_or(now, |r| r.opened);
    let hours_so_far = usize::try_from((now_ms - midnight) / HOUR_MS + 1).unwrap_or(1);
    let mut count = opened;
    let mut low = opened.min(now);
    let mut next = records.iter().peekable();
    let mut hours = Vec::with_capacity(hours_so_far);
    for hour in 0..hours_so_far {
        let ends = midnight + (hour as i64 + 1) * HOUR_MS;
        while let Some(record) = next.next_if(|r| r.hour < ends) {
            count = record.closed;
            low = low.min(record.low);
        }
        hours.push(count);
    }
    if let Some(last) = hours.last_mut() {
        *last = now;
    }
    StockDay { opened, hours, low }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDNIGHT: i64 = 20_000 * DAY_MS;

    fn at(hour: i64, opened: u32, closed: u32, low: u32) -> HourRecord {
        HourRecord {
            hour: MIDNIGHT + hour * HOUR_MS,
            opened,
            closed,
            low,
        }
    }

    #[test]
    fn a_book_that_has_not_moved_stood_at_its_count_all_day() {
        let day = day_of(&[], 7, MIDNIGHT, MIDNIGHT + 2 * HOUR_MS + 5);
        assert_eq!(
            day,
            StockDay {
                opened: 7,
                hours: vec![7, 7, 7],
                low: 7
            }
        );
    }

    #[test]
    fn each_hour_ends_at_its_last_record_and_an_hour_without_one_keeps_the_count() {
        // Opened at 10; down to 6 (low 5) in hour 1; nothing in hour 2; 3
        // in hour 3; now (hour 4) 4.
        let records = [at(1, 10, 6, 5), at(3, 6, 3, 3)];
        let day = day_of(&records, 4, MIDNIGHT, MIDNIGHT + 4 * HOUR_MS + 1);
        assert_eq!(
            day,
            StockDay {
                opened: 10,
                hours: vec![10, 6, 6, 3, 4],
                low: 3
            }
        );
        // The last millisecond of an hour is still that hour.
        let day = day_of(&records, 3, MIDNIGHT, MIDNIGHT + 4 * HOUR_MS - 1);
        assert_eq!(day.hours, vec![10, 6, 6, 3]);
    }

    #[test]
    fn the_low_counts_a_dip_inside_an_hour_and_the_count_now() {
        let records = [at(0, 5, 5, 1)];
        let day = day_of(&records, 5, MIDNIGHT, MIDNIGHT + 10);
        assert_eq!((day.opened, day.hours.clone(), day.low), (5, vec![5], 1));
        let day = day_of(&[], 0, MIDNIGHT, MIDNIGHT + 10);
        assert_eq!(day.low, 0);
    }
}

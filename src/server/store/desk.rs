//! The staff desk's figures (`server::desk`), read from the tables
//! themselves, so every node reads the same numbers: holds from
//! `reservations`, sales from `orders`, lapses from `hold_lapses`, lines
//! from the counts each line keeps and its places.

use sqlx::Row;

use super::{Store, StoreError};
use crate::shared::views::DeskFigures;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// Minutes on the desk's chart of orders.
const CHART_MINUTES: usize = 60;

impl Store {
    /// The desk's figures at `now_ms`; "today" is the UTC day it falls in.
    /// One read of a few aggregates, each over an index: the desk asks at
    /// most twice a second, whatever the traffic.
    pub async fn desk_figures(&self, now_ms: i64) -> Result<DeskFigures, StoreError> {
        let midnight = now_ms - now_ms.rem_euclid(DAY_MS);
        // The chart's first minute: the 60th back, counting the one under way.
        let chart_from =
            now_ms - now_ms.rem_euclid(MINUTE_MS) - (CHART_MINUTES as i64 - 1) * MINUTE_MS;
        let mut conn = self.pool.acquire().await?;

        // PostgreSQL sums BIGINTs as NUMERIC: every sum is cast back.
        let totals = sqlx::query(
            "SELECT \
               (SELECT CAST(COALESCE(SUM(copies), 0) AS BIGINT) FROM reservations) AS held, \
               (SELECT COUNT(*) FROM orders WHERE placed_at >= $1) AS orders_today, \
               (SELECT CAST(COALESCE(SUM(l.copies), 0) AS BIGINT) FROM orders o \
                  JOIN order_lines l ON l.order_id = o.id WHERE o.placed_at >= $1) AS sold_today, \
               (SELECT CAST(COALESCE(SUM(holds), 0) AS BIGINT) FROM hold_lapses \
                  WHERE lapsed_at >= $1) AS lapsed_today, \
               (SELECT CAST(COALESCE(SUM(waiting), 0) AS BIGINT) FROM lines \
                  WHERE state <> 'ended') AS line_waiting, \
               (SELECT CAST(COALESCE(SUM(offers_open), 0) AS BIGINT) FROM lines \
                  WHERE state <> 'ended') AS line_offered, \
               (SELECT COUNT(*) FROM line_places p JOIN lines l ON l.id = p.line_id \
                  WHERE l.state <> 'ended' AND p.state = 'bought') AS line_sold",
        )
        .bind(midnight)
        .fetch_one(&mut *conn)
        .await?;
        let figure = |column: &str| -> Result<u64, StoreError> {
            let value: i64 = totals.try_get(column)?;
            u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
        };

        let mut orders_per_minute = vec![0u32; CHART_MINUTES];
        let minutes = sqlx::query(
            "SELECT CAST((placed_at - $1) / 60000 AS BIGINT) AS minute, COUNT(*) AS orders \
             FROM orders WHERE placed_at >= $1 AND placed_at <= $2 GROUP BY 1",
        )
        .bind(chart_from)
        .bind(now_ms)
        .fetch_all(&mut *conn)
        .await?;
        for row in &minutes {
            let minute: i64 = row.try_get("minute")?;
            let orders: i64 = row.try_get("orders")?;
            if let Some(slot) = usize::try_from(minute)
                .ok()
                .and_then(|m| orders_per_minute.get_mut(m))
            {
                *slot = u32::try_from(orders).unwrap_or(u32::MAX);
            }
        }

        let most_held = sqlx::query(
            "SELECT r.book_id, b.title, CAST(SUM(r.copies) AS BIGINT) AS held \
             FROM reservations r JOIN books b ON b.id = r.book_id \
             GROUP BY r.book_id, b.title ORDER BY held DESC, r.book_id LIMIT 5",
        )
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            let held: i64 = row.try_get("held")?;
            Ok((
                row.try_get("book_id")?,
                row.try_get("title")?,
                u64::try_from(held).unwrap_or(0),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        Ok(DeskFigures {
            at: now_ms,
            copies_held: figure("held")?,
            sold_today: figure("sold_today")?,
            orders_today: figure("orders_today")?,
            lapsed_today: figure("lapsed_today")?,
            orders_per_minute,
            most_held,
            line_waiting: figure("line_waiting")?,
            line_offered: figure("line_offered")?,
            line_sold: figure("line_sold")?,
            // Read by the caller (`desk::DeskFeed`), from `server::nodes`.
            nodes: Vec::new(),
        })
    }
}

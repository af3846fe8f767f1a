//! The orders as CSV, for the shop's bookkeeping: `GET /admin/orders.csv`
//! (owner only) and `livecart orders export [--since DATE]`. One row per
//! book of each order, oldest order first; money as decimal text from whole
//! cents (`19.99`), so a spreadsheet or a script adds it up exactly.
//!
//! Rows are read from the database as they are written out, and handed on
//! in chunks of about 64 KB: a year of orders never sits in memory.

use std::future::Future;

use futures::{Stream, TryStreamExt};

use crate::server::store::{SoldLine, StoreError};
use crate::shared::stock::{decimal_price, line_cents};

/// The header row, and so the columns of every row.
pub const HEADER: [&str; 8] = [
    "order",
    "placed_at",
    "book",
    "title",
    "copies",
    "price",
    "line_total",
    "order_total",
];

/// Bytes gathered before a chunk is handed on.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the CSV: {0}")]
    Write(String),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> ExportError {
        ExportError::Write(e.to_string())
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> ExportError {
        ExportError::Write(e.to_string())
    }
}

/// Writes `lines` as CSV, handing each chunk to `send` as it fills; the
/// number of orders written.
pub async fn write_csv<S, F, Fut>(lines: S, mut send: F) -> Result<u64, ExportError>
where
    S: Stream<Item = Result<SoldLine, StoreError>>,
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<(), ExportError>>,
{
    let chunk_writer = || csv::Writer::from_writer(Vec::with_capacity(CHUNK + 8 * 1024));
    let mut out = chunk_writer();
    out.write_record(HEADER)?;
    let mut orders = 0u64;
    let mut last_order = String::new();
    futures::pin_mut!(lines);
    while let Some(line) = lines.try_next().await? {
        if line.order_id != last_order {
            orders += 1;
            last_order.clone_from(&line.order_id);
        }
        out.write_record([
            line.order_id.as_str(),
            &placed_at(line.placed_at_ms),
            &line.book_id,
            &line.title,
            &line.copies.to_string(),
            &decimal_price(u64::from(line.price_cents)),
            &decimal_price(line_cents(line.price_cents, line.copies)),
            &decimal_price(line.order_total_cents),
        ])?;
        // The writer's own buffer empties into the Vec every 8 KB or so;
        // a full chunk goes, and a new writer starts the next.
        if out.get_ref().len() >= CHUNK {
            let full = std::mem::replace(&mut out, chunk_writer());
            send(into_bytes(full)?).await?;
        }
    }
    let rest = into_bytes(out)?;
    if !rest.is_empty() {
        send(rest).await?;
    }
    Ok(orders)
}

/// What a writer holds, flushed.
fn into_bytes(out: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    out.into_inner()
        .map_err(|e| ExportError::Write(e.error().to_string()))
}

/// An order's time as RFC 3339 in UTC, to the millisecond.
fn placed_at(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(at).to_string()
}

/// `--since` / `?since=`: a date (`2026-12-01`, from its midnight UTC) or a
/// time in RFC 3339 (`2026-12-01T09:30:00Z`); Unix ms.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let refused = || format!("{text:?} is not a date like 2026-12-01 or 2026-12-01T09:30:00Z");
    // A launch's opening is read the same way, but may also be a wait
    // ("+30s"), which means nothing for a date in the past.
    if text.starts_with('+') {
        return Err(refused());
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    crate::server::inventory::lines::parse_opening(&full, 0).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sold(order: &str, at: i64, total: u64, book: &str, price: u32, copies: u32) -> SoldLine {
        SoldLine {
            order_id: order.into(),
            placed_at_ms: at,
            order_total_cents: total,
            book_id: book.into(),
            title: format!("Title of {book}, \"quoted\""),
            price_cents: price,
            copies,
        }
    }

    /// Exact cents, a title with a comma and quotes kept whole, orders
    /// counted once however many books they hold, and chunks handed on
    /// whole rows at a time.
    #[tokio::test]
    async fn orders_are_written_one_row_per_book_with_exact_cents() {
        let lines = vec![
            sold("o1", 1_796_600_000_123, 6_097, "sicp", 1_999, 3),
            sold("o1", 1_796_600_000_123, 6_097, "tao", 100, 1),
            sold("o2", 1_796_600_001_000, 5, "tao", 5, 1),
        ];
        let mut chunks = Vec::new();
        let orders = write_csv(futures::stream::iter(lines.into_iter().map(Ok)), |chunk| {
            chunks.push(chunk);
            async { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(orders, 2);
        let text = String::from_utf8(chunks.concat()).unwrap();
        assert_eq!(
            text,
            "order,placed_at,book,title,copies,price,line_total,order_total\n\
             o1,2026-12-06T23:33:20.123Z,sicp,\"Title of sicp, \"\"quoted\"\"\",3,19.99,59.97,60.97\n\
             o1,2026-12-06T23:33:20.123Z,tao,\"Title of tao, \"\"quoted\"\"\",1,1.00,1.00,60.97\n\
             o2,2026-12-06T23:33:21.000Z,tao,\"Title of tao, \"\"quoted\"\"\",1,0.05,0.05,0.05\n"
        );
    }

    #[tokio::test]
    async fn a_large_export_is_handed_on_in_chunks() {
        let lines = (0..20_000).map(|i| Ok(sold(&format!("o{i}"), 0, 100, "tao", 100, 1)));
        let mut sizes = Vec::new();
        let orders = write_csv(futures::stream::iter(lines), |chunk| {
            sizes.push(chunk.len());
            async { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(orders, 20_000);
        assert!(sizes.len() > 10, "{} chunks", sizes.len());
        assert!(
            sizes.iter().all(|&n| n > 0 && n < CHUNK + 16 * 1024),
            "{sizes:?}"
        );
    }

    #[test]
    fn since_is_a_date_or_a_time() {
        assert_eq!(parse_since("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_since("1970-01-01T00:00:01Z"), Ok(1_000));
        for bad in ["", "yesterday", "2026-13-01", "+1h", "2026-12-01 09:00"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }
}

//! A book's line and a shopper's place in it, read together with every other
//! one asked for at the same moment.
//!
//! At a launch's opening every page in the line asks for its number at once
//! (100,000 pages over six nodes in the benchmark); a query or two each
//! would be that many round trips to one database. Here an ask waits 2 ms
//! for others, and asks queue while one read runs; the next read answers
//! all of them: per book, one statement for the line and one for every
//! place asked, whatever the number of pages (at most 500 reads a second
//! per node). Each answer is still read after it was asked, never a copy
//! kept from before (a place changes when its shopper leaves or is offered
//! a copy, on any node), so a page is never told a place it no longer has.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::lines::{line_from_row, place_from_row, LINE_COLUMNS, PLACE_COLUMNS};
use super::{Backend, LineRecord, PlaceRecord, StoreError};

/// At most this many asks are answered by one read (the list of shoppers
/// travels as one JSON text, so there is no limit on parameters to keep
/// under; this keeps one read's answer to a few MB).
const MOST_AT_ONCE: usize = 8192;

/// How long the first ask of a read waits for others to join it.
const GATHER: Duration = Duration::from_millis(2);

/// A book's current line, and the shopper's place in it if they have one.
pub type LineSeen = Option<(LineRecord, Option<PlaceRecord>)>;

/// The queue of asks; its task lives while any `Store` holds this.
#[derive(Clone, Debug)]
pub(super) struct LineReads {
    asks: mpsc::UnboundedSender<Ask>,
    counted: LineReadCounts,
}

/// Asks, and the reads that answered them (what `/metrics` shows as
/// `livecart_line_asks` and `livecart_line_reads`): at an opening the
/// second grows by a handful while the first grows by every page.
#[derive(Clone, Debug, Default)]
pub struct LineReadCounts {
    pub asks: Counter,
    pub reads: Counter,
}

struct Ask {
    book: String,
    shopper: String,
    answer: oneshot::Sender<Result<LineSeen, String>>,
}

impl LineReads {
    /// Starts the task that answers asks on `pool`.
    pub(super) fn start(pool: AnyPool, backend: Backend) -> LineReads {
        let (asks, queue) = mpsc::unbounded_channel();
        let counted = LineReadCounts::default();
        tokio::spawn(answer_asks(pool, backend, queue, counted.reads.clone()));
        LineReads { asks, counted }
    }

    pub(super) fn counted(&self) -> LineReadCounts {
        self.counted.clone()
    }

    /// The book's current line and the shopper's place in it, read after
    /// this call began.
    pub(super) async fn read(&self, book: &str, shopper: &str) -> Result<LineSeen, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.counted.asks.inc();
        self.asks
            .send(Ask {
                book: book.to_string(),
                shopper: shopper.to_string(),
                answer,
            })
            .map_err(|_| StoreError::Closed)?;
        answered
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Gathered)
    }
}

/// Answers asks until every `Store` is gone: whatever queued while the last
/// read ran is answered by the next.
async fn answer_asks(
    pool: AnyPool,
    backend: Backend,
    mut queue: mpsc::UnboundedReceiver<Ask>,
    reads: Counter,
) {
    while let Some(first) = queue.recv().await {
        // A page's ask waits this long for others to answer with it: a
        // node reads the database for places at most once per book per
        // window, however many pages ask at once.
        tokio::time::sleep(GATHER).await;
        let mut by_book: HashMap<String, Vec<Ask>> = HashMap::new();
        by_book.entry(first.book.clone()).or_default().push(first);
        let mut gathered = 1;
        while gathered < MOST_AT_ONCE {
            let Ok(ask) = queue.try_recv() else { break };
            by_book.entry(ask.book.clone()).or_default().push(ask);
            gathered += 1;
        }
        for (book, asks) in by_book {
            let shoppers: Vec<&str> = asks.iter().map(|a| a.shopper.as_str()).collect();
            reads.inc();
            let read = read_book(&pool, backend, &book, &shoppers)
                .await
                .map_err(|e| e.to_string());
            for ask in asks {
                // Each asker's own place (the same shopper may ask twice:
                // two tabs).
                let seen = read.as_ref().map_err(Clone::clone).map(|found| {
                    found
                        .as_ref()
                        .map(|(line, places)| (line.clone(), places.get(&ask.shopper).cloned()))
                });
                let _ = ask.answer.send(seen);
            }
        }
    }
}

/// The book's current line and, of `shoppers`, those with a place in it.
async fn read_book(
    pool: &AnyPool,
    backend: Backend,
    book: &str,
    shoppers: &[&str],
) -> Result<Option<(LineRecord, HashMap<String, PlaceRecord>)>, StoreError> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS} FROM books b JOIN lines l ON l.id = b.line_id WHERE b.id = $1"
    ))
    .bind(book)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let line = line_from_row(&row)?;
    let listed = if backend == Backend::Postgres {
        "SELECT json_array_elements_text(CAST($2 AS json))"
    } else {
        "SELECT value FROM json_each($2)"
    };
    let shoppers =
        serde_json::to_string(shoppers).map_err(|e| StoreError::Corrupt(format!("{e}")))?;
    let rows = sqlx::query(&format!(
        "SELECT {PLACE_COLUMNS} FROM line_places p WHERE p.line_id = $1 AND p.shopper IN ({listed})"
    ))
    .bind(line.id)
    .bind(shoppers)
    .fetch_all(pool)
    .await?;
    let places = rows
        .iter()
        .map(|row| place_from_row(row).map(|place| (place.shopper.clone(), place)))
        .collect::<Result<_, StoreError>>()?;
    Ok(Some((line, places)))
}

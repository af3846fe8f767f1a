//! The inventory: every rule of the shop's stock, and its only writer.
//!
//! Handlers, server functions and the book's protocol ask the inventory; it
//! decides, has the store persist, and hands each new snapshot to the
//! notifier. Changes go through one writer task that commits them in groups:
//! every change waiting when a commit starts shares that commit (and its one
//! fsync), and none is acknowledged before the commit is on disk.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::server::metrics::Metrics;
use crate::server::notifier::{Notifier, Published};
use crate::server::opening_shelf::OPENING_SHELF;
use crate::server::shopper::Shopper;
use crate::server::store::{Store, StoreError, StockTransaction};
use crate::stock::{Book, CartLine, StockSnapshot, FEATURED_BOOK};

/// The most changes one commit carries.
const MAX_GROUP: usize = 512;

/// A book's id: a URL slug such as `definitive-guide-to-the-internet`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BookId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a book id is 1 to 96 lowercase letters, digits and dashes")]
pub struct BadBookId;

impl BookId {
    pub fn parse(raw: &str) -> Result<BookId, BadBookId> {
        let ok = !raw.is_empty()
            && raw.len() <= 96
            && raw.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(BookId(raw.to_string()))
        } else {
            Err(BadBookId)
        }
    }

    pub fn featured() -> BookId {
        BookId(FEATURED_BOOK.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the shop's rules allow.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The most copies of one book a web shopper may hold.
    pub max_copies_per_shopper: u32,
    /// How long a hold lasts after the shopper last touched it.
    pub reservation_ttl: Duration,
}

impl Rules {
    /// The book's protocol holds one copy per session, whatever the setting.
    pub fn copies_allowed(&self, shopper: &Shopper) -> u32 {
        match shopper {
            Shopper::Web(_) => self.max_copies_per_shopper,
            Shopper::Book(_) => 1,
        }
    }
}

/// Why the inventory said no. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no copies of that book are left")]
    SoldOut,
    #[error("you already hold {0} of that book, the most one shopper may hold")]
    LimitReached(u32),
    #[error("you hold no copy of that book")]
    NotHeld,
    #[error("there is no book with that id")]
    UnknownBook,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the stock could not be saved: {0}")]
    Storage(Arc<StoreError>),
    #[error("the inventory is shutting down")]
    Stopped,
}

impl From<StoreError> for InventoryError {
    fn from(e: StoreError) -> Self {
        InventoryError::Storage(Arc::new(e))
    }
}

/// What a shopper holds of a book after a change, and the stock version that
/// change produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub book: BookId,
    pub copies: u32,
    pub version: u64,
}

/// A change someone asked for.
#[derive(Debug)]
enum Order {
    Reserve { shopper: Shopper, book: BookId },
    Release { shopper: Shopper, book: BookId },
}

struct Request {
    order: Order,
    reply: oneshot::Sender<Result<Holding, InventoryError>>,
}

#[derive(Clone)]
pub struct Inventory {
    store: Store,
    notifier: Notifier,
    rules: Arc<Rules>,
    orders: mpsc::Sender<Request>,
}

impl Inventory {
    /// Loads the stock, publishes it, and starts the writer.
    pub async fn open(store: Store, rules: Rules, metrics: Metrics) -> Result<Inventory, StoreError> {
        if store.stock_empty_shelf(OPENING_SHELF).await? {
            tracing::info!(books = OPENING_SHELF.len(), "stocked the opening shelf");
        }
        let first = store.stock().await?;
        metrics.stock_version.set(i64::try_from(first.version).unwrap_or(i64::MAX));
        let notifier = Notifier::new(first, FEATURED_BOOK);
        let rules = Arc::new(rules);
        let (orders, queue) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(write_changes(store.clone(), notifier.clone(), rules.clone(), metrics, queue));
        Ok(Inventory { store, notifier, rules, orders })
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn latest(&self) -> Arc<Published> {
        self.notifier.latest()
    }

    pub async fn catalog(&self) -> Result<Vec<Book>, InventoryError> {
        Ok(self.store.catalog().await?)
    }

    pub async fn cart(&self, shopper: &Shopper) -> Result<Vec<CartLine>, InventoryError> {
        Ok(self.store.holdings(&shopper.key()).await?)
    }

    pub async fn book(&self, id: &BookId) -> Result<Option<Book>, InventoryError> {
        Ok(self.store.book(id.as_str()).await?)
    }

    /// Copies of `book` the shopper holds now.
    pub async fn held(&self, shopper: &Shopper, book: &BookId) -> Result<u32, InventoryError> {
        Ok(self.store.held(&shopper.key(), book.as_str()).await?)
    }

    /// Puts one more copy of `book` in the shopper's hands.
    pub async fn reserve(&self, shopper: &Shopper, book: &BookId) -> Result<Holding, InventoryError> {
        self.ask(Order::Reserve { shopper: shopper.clone(), book: book.clone() }).await
    }

    /// Puts one of the shopper's copies of `book` back on the shelf.
    pub async fn release(&self, shopper: &Shopper, book: &BookId) -> Result<Holding, InventoryError> {
        self.ask(Order::Release { shopper: shopper.clone(), book: book.clone() }).await
    }

    async fn ask(&self, order: Order) -> Result<Holding, InventoryError> {
        let (reply, answer) = oneshot::channel();
        self.orders
            .send(Request { order, reply })
            .await
            .map_err(|_| InventoryError::Stopped)?;
        answer.await.map_err(|_| InventoryError::Stopped)?
    }
}

/// The writer: takes every order waiting, applies them in one transaction,
/// commits, publishes the new snapshot, then answers each.
async fn write_changes(
    store: Store,
    notifier: Notifier,
    rules: Arc<Rules>,
    metrics: Metrics,
    mut queue: mpsc::Receiver<Request>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let started = std::time::Instant::now();
        match apply_group(&store, &rules, &group).await {
            Ok((results, snapshot)) => {
                metrics.commits.inc();
                metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                let done = results.iter().filter(|r| r.is_ok()).count() as u64;
                metrics.changes.inc_by(done);
                metrics.refusals.inc_by(results.len() as u64 - done);
                if let Some(snapshot) = snapshot {
                    metrics.stock_version.set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
                    notifier.publish(snapshot);
                }
                for (request, result) in group.drain(..).zip(results) {
                    // A requester that went away no longer needs its answer.
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a group of stock changes was rolled back");
                let e = InventoryError::from(e);
                for request in group.drain(..) {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

type GroupResult = (Vec<Result<Holding, InventoryError>>, Option<StockSnapshot>);

async fn apply_group(store: &Store, rules: &Rules, group: &[Request]) -> Result<GroupResult, StoreError> {
    let mut tx = store.begin().await?;
    let expires_at = now_ms() + ttl_ms(rules);
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        let result = match &request.order {
            Order::Reserve { shopper, book } => reserve(&mut tx, rules, shopper, book, expires_at).await?,
            Order::Release { shopper, book } => release(&mut tx, shopper, book).await?,
        };
        results.push(result);
    }
    let snapshot = if results.iter().any(Result::is_ok) {
        let version = tx.bump_version().await?;
        let snapshot = tx.stock().await?;
        for holding in results.iter_mut().flatten() {
            holding.version = version;
        }
        Some(snapshot)
    } else {
        None
    };
    tx.commit().await?;
    let results = results
        .into_iter()
        .map(|r| r.map_err(InventoryError::Refused))
        .collect();
    Ok((results, snapshot))
}

async fn reserve(
    tx: &mut StockTransaction,
    rules: &Rules,
    shopper: &Shopper,
    book: &BookId,
    expires_at: i64,
) -> Result<Result<Holding, Refusal>, StoreError> {
    let key = shopper.key();
    let limit = rules.copies_allowed(shopper);
    let held = tx.held_copies(&key, book.as_str()).await?;
    if held >= limit {
        return Ok(Err(Refusal::LimitReached(limit)));
    }
    if !tx.take_copies(book.as_str(), 1).await? {
        return Ok(Err(if tx.book_exists(book.as_str()).await? {
            Refusal::SoldOut
        } else {
            Refusal::UnknownBook
        }));
    }
    match tx.hold_one_more(&key, book.as_str(), limit, expires_at).await? {
        Some(copies) => Ok(Ok(Holding { book: book.clone(), copies, version: 0 })),
        None => {
            // Another node filled this shopper's hands meanwhile: undo the take.
            tx.put_back_copies(book.as_str(), 1).await?;
            Ok(Err(Refusal::LimitReached(limit)))
        }
    }
}

async fn release(
    tx: &mut StockTransaction,
    shopper: &Shopper,
    book: &BookId,
) -> Result<Result<Holding, Refusal>, StoreError> {
    let Some(copies) = tx.release_one(&shopper.key(), book.as_str()).await? else {
        return Ok(Err(if tx.book_exists(book.as_str()).await? {
            Refusal::NotHeld
        } else {
            Refusal::UnknownBook
        }));
    };
    if !tx.put_back_copies(book.as_str(), 1).await? {
        return Err(StoreError::Corrupt(format!(
            "{} would have more copies available than it owns",
            book.as_str()
        )));
    }
    Ok(Ok(Holding { book: book.clone(), copies, version: 0 }))
}

fn ttl_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.reservation_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_ids_are_slugs() {
        assert!(BookId::parse("definitive-guide-to-the-internet").is_ok());
        assert!(BookId::parse("").is_err());
        assert!(BookId::parse("Caps").is_err());
        assert!(BookId::parse("-dash").is_err());
        assert!(BookId::parse("a/b").is_err());
        assert!(BookId::parse(&"a".repeat(97)).is_err());
    }
}

//! The inventory: every rule of the shop's stock, and its only writer.
//!
//! Handlers, server functions and the book's protocol ask the inventory; it
//! decides, has the store persist, and hands each new snapshot to the
//! notifier. Changes go through one writer task that commits them in groups:
//! every change waiting when a commit starts shares that commit (and its one
//! fsync), and none is acknowledged before the commit is on disk.

mod shelf;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::server::metrics::Metrics;
use crate::server::notifier::{Notifier, Published};
use crate::server::opening_shelf::opening_shelf;
use crate::server::shopper::Shopper;
use crate::server::store::{NewBook, ShelfWrites, StockTransaction, Store, StoreError};
use crate::stock::{Book, CartLine, LedgerLine, Order, StockSnapshot, FEATURED_BOOK};
use shelf::Shelf;

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
            && raw
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
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
    #[error("your cart is empty")]
    EmptyCart,
    #[error("a book with that id already exists")]
    BookExists,
    #[error("the total cannot be below the copies held and sold")]
    BelowHeldAndSold,
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
enum Change {
    /// A reserve or a return: decided in memory, in runs.
    Count(CountChange),
    Other(OtherChange),
}

/// Every other change, applied one at a time in SQL.
#[derive(Debug)]
enum OtherChange {
    Checkout {
        shopper: Shopper,
    },
    Renew {
        shopper: Shopper,
    },
    Expire,
    Restock {
        book: BookId,
        copies: u32,
    },
    SetTotal {
        book: BookId,
        total: u32,
    },
    SetPrice {
        book: BookId,
        price_cents: u32,
    },
    AddBook(NewBook),
    OpenStaffSession {
        token_hash: String,
        staff: String,
        expires_at: i64,
    },
    CloseStaffSession {
        token_hash: String,
    },
}

#[derive(Debug)]
enum CountChange {
    Reserve { shopper: Shopper, book: BookId },
    Release { shopper: Shopper, book: BookId },
}

impl CountChange {
    fn parts(&self) -> (&Shopper, &BookId) {
        match self {
            CountChange::Reserve { shopper, book } | CountChange::Release { shopper, book } => {
                (shopper, book)
            }
        }
    }
}

/// What a change did.
#[derive(Debug)]
enum Done {
    Held(Holding),
    Ordered(Order),
    /// Saved, with no count or catalog change (renewed holds, sessions).
    Saved,
    /// Copies whose holds lapsed went back on the shelf.
    Expired(u32),
    BookChanged,
}

/// Which versions a change moves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Effect {
    Nothing,
    Stock,
    Catalog,
}

struct Request {
    change: Change,
    reply: oneshot::Sender<Result<Done, InventoryError>>,
}

#[derive(Clone)]
pub struct Inventory {
    store: Store,
    notifier: Notifier,
    rules: Arc<Rules>,
    changes: mpsc::Sender<Request>,
}

impl Inventory {
    /// Stocks an empty shelf, loads and publishes the stock, and starts the
    /// writer and the clock that ends lapsed holds.
    pub async fn open(
        store: Store,
        rules: Rules,
        metrics: Metrics,
    ) -> Result<Inventory, StoreError> {
        let shelf = opening_shelf();
        if store.stock_empty_shelf(&shelf).await? {
            tracing::info!(books = shelf.len(), "stocked the opening shelf");
        }
        let first = store.stock().await?;
        metrics
            .stock_version
            .set(i64::try_from(first.version).unwrap_or(i64::MAX));
        let notifier = Notifier::new(first, FEATURED_BOOK);
        let rules = Arc::new(rules);
        let (changes, queue) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(write_changes(
            store.clone(),
            notifier.clone(),
            rules.clone(),
            metrics,
            queue,
        ));
        tokio::spawn(end_lapsed_holds(store.clone(), changes.downgrade()));
        Ok(Inventory {
            store,
            notifier,
            rules,
            changes,
        })
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

    /// Every book with its copies available, held and sold.
    pub async fn ledger(&self) -> Result<Vec<LedgerLine>, InventoryError> {
        Ok(self.store.ledger().await?)
    }

    /// One of the shopper's orders; None if there is none by that id for them.
    pub async fn order(
        &self,
        shopper: &Shopper,
        id: &str,
    ) -> Result<Option<Order>, InventoryError> {
        Ok(self.store.order(&shopper.key(), id).await?)
    }

    /// Puts one more copy of `book` in the shopper's hands.
    pub async fn reserve(
        &self,
        shopper: &Shopper,
        book: &BookId,
    ) -> Result<Holding, InventoryError> {
        match self
            .ask(Change::Count(CountChange::Reserve {
                shopper: shopper.clone(),
                book: book.clone(),
            }))
            .await?
        {
            Done::Held(holding) => Ok(holding),
            other => Err(unexpected(other)),
        }
    }

    /// Puts one of the shopper's copies of `book` back on the shelf.
    pub async fn release(
        &self,
        shopper: &Shopper,
        book: &BookId,
    ) -> Result<Holding, InventoryError> {
        match self
            .ask(Change::Count(CountChange::Release {
                shopper: shopper.clone(),
                book: book.clone(),
            }))
            .await?
        {
            Done::Held(holding) => Ok(holding),
            other => Err(unexpected(other)),
        }
    }

    /// Buys everything the shopper holds, in one transaction.
    pub async fn checkout(&self, shopper: &Shopper) -> Result<Order, InventoryError> {
        match self
            .ask_other(OtherChange::Checkout {
                shopper: shopper.clone(),
            })
            .await?
        {
            Done::Ordered(order) => Ok(order),
            other => Err(unexpected(other)),
        }
    }

    /// The shopper touched their cart: every hold's deadline starts again.
    pub async fn renew(&self, shopper: &Shopper) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::Renew {
            shopper: shopper.clone(),
        })
        .await
        .map(|_| ())
    }

    pub async fn restock(&self, book: &BookId, copies: u32) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::Restock {
            book: book.clone(),
            copies,
        })
        .await
        .map(|_| ())
    }

    pub async fn set_total(&self, book: &BookId, total: u32) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::SetTotal {
            book: book.clone(),
            total,
        })
        .await
        .map(|_| ())
    }

    pub async fn set_price(&self, book: &BookId, price_cents: u32) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::SetPrice {
            book: book.clone(),
            price_cents,
        })
        .await
        .map(|_| ())
    }

    pub async fn add_book(&self, book: NewBook) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::AddBook(book)).await.map(|_| ())
    }

    /// Records a signed-in staff session (only a hash of its token).
    pub async fn open_staff_session(
        &self,
        token_hash: String,
        staff: String,
        expires_at: i64,
    ) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::OpenStaffSession {
            token_hash,
            staff,
            expires_at,
        })
        .await
        .map(|_| ())
    }

    pub async fn close_staff_session(&self, token_hash: String) -> Result<(), InventoryError> {
        self.ask_other(OtherChange::CloseStaffSession { token_hash })
            .await
            .map(|_| ())
    }

    async fn ask_other(&self, change: OtherChange) -> Result<Done, InventoryError> {
        self.ask(Change::Other(change)).await
    }

    async fn ask(&self, change: Change) -> Result<Done, InventoryError> {
        let (reply, answer) = oneshot::channel();
        self.changes
            .send(Request { change, reply })
            .await
            .map_err(|_| InventoryError::Stopped)?;
        answer.await.map_err(|_| InventoryError::Stopped)?
    }
}

fn unexpected(done: Done) -> InventoryError {
    InventoryError::Storage(Arc::new(StoreError::Corrupt(format!(
        "unexpected outcome {done:?}"
    ))))
}

/// The clock: ends holds whose deadline has passed, within half a second.
async fn end_lapsed_holds(store: Store, changes: mpsc::WeakSender<Request>) {
    const LOOK_EVERY: Duration = Duration::from_millis(500);
    loop {
        let wait = match store.earliest_expiry().await {
            Ok(Some(soonest)) => {
                Duration::from_millis(u64::try_from(soonest - now_ms()).unwrap_or(0))
            }
            Ok(None) => LOOK_EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read hold deadlines");
                LOOK_EVERY
            }
        };
        if wait > Duration::ZERO {
            tokio::time::sleep(wait.min(LOOK_EVERY)).await;
            continue;
        }
        let Some(changes) = changes.upgrade() else {
            return;
        };
        let (reply, answer) = oneshot::channel();
        if changes
            .send(Request {
                change: Change::Other(OtherChange::Expire),
                reply,
            })
            .await
            .is_err()
        {
            return;
        }
        drop(changes);
        match answer.await {
            Ok(Ok(Done::Expired(copies))) if copies > 0 => {
                tracing::info!(copies, "lapsed holds ended")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lapsed holds could not be ended");
                tokio::time::sleep(LOOK_EVERY).await;
            }
            _ => {}
        }
    }
}

/// The writer: takes every change waiting, applies them in one transaction,
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
        match apply_group(&store, &rules, &mut group).await {
            Ok((results, snapshot)) => {
                metrics.commits.inc();
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                let done = results.iter().filter(|r| r.is_ok()).count() as u64;
                metrics.changes.inc_by(done);
                metrics.refusals.inc_by(results.len() as u64 - done);
                if let Some(snapshot) = snapshot {
                    metrics
                        .stock_version
                        .set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
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

type GroupResult = (Vec<Result<Done, InventoryError>>, Option<StockSnapshot>);

async fn apply_group(
    store: &Store,
    rules: &Rules,
    group: &mut [Request],
) -> Result<GroupResult, StoreError> {
    let mut tx = store.begin().await?;
    let now = now_ms();
    let expires_at = now + ttl_ms(rules);
    let mut results = Vec::with_capacity(group.len());
    let mut effect = Effect::Nothing;
    let mut next = 0;
    while next < group.len() {
        match &group[next].change {
            // Reserves and returns in a row are decided together in memory.
            Change::Count(_) => {
                let run: Vec<&CountChange> = group[next..]
                    .iter()
                    .map_while(|r| match &r.change {
                        Change::Count(change) => Some(change),
                        Change::Other(_) => None,
                    })
                    .collect();
                let decided = decide_run(&mut tx, rules, &run, expires_at).await?;
                if decided.iter().any(Result::is_ok) {
                    effect = effect.max(Effect::Stock);
                }
                results.extend(decided);
                next += run.len();
            }
            Change::Other(change) => {
                let (result, this) = apply(&mut tx, change, now, expires_at).await?;
                if result.is_ok() {
                    effect = effect.max(this);
                }
                results.push(result);
                next += 1;
            }
        }
    }
    let snapshot = if effect == Effect::Nothing {
        None
    } else {
        let snapshot = tx.finish(effect == Effect::Catalog).await?;
        for done in results.iter_mut().flatten() {
            if let Done::Held(holding) = done {
                holding.version = snapshot.version;
            }
        }
        Some(snapshot)
    };
    tx.commit().await?;
    let results = results
        .into_iter()
        .map(|r| r.map_err(InventoryError::Refused))
        .collect();
    Ok((results, snapshot))
}

/// Loads what a run of reserves and returns touches, decides each in order,
/// and writes the outcome back.
async fn decide_run(
    tx: &mut StockTransaction,
    rules: &Rules,
    run: &[&CountChange],
    expires_at: i64,
) -> Result<Vec<Result<Done, Refusal>>, StoreError> {
    let mut books = BTreeSet::new();
    let mut shoppers = BTreeSet::new();
    for change in run {
        let (shopper, book) = change.parts();
        books.insert(book.as_str());
        shoppers.insert(shopper.key());
    }
    let books: Vec<&str> = books.into_iter().collect();
    let shopper_keys: Vec<&str> = shoppers.iter().map(String::as_str).collect();
    let (available, held) = tx.load_shelf(&books, &shopper_keys).await?;
    let mut shelf = Shelf::new(available, held);
    let decided = run
        .iter()
        .map(|change| {
            let copies = match change {
                CountChange::Reserve { shopper, book } => shelf.reserve(rules, shopper, book),
                CountChange::Release { shopper, book } => shelf.release(shopper, book),
            };
            copies.map(|copies| {
                Done::Held(Holding {
                    book: change.parts().1.clone(),
                    copies,
                    version: 0,
                })
            })
        })
        .collect();
    tx.write_shelf(&shelf.writes(), expires_at).await?;
    Ok(decided)
}

type Applied = (Result<Done, Refusal>, Effect);

/// Applies one change other than a reserve or a return.
async fn apply(
    tx: &mut StockTransaction,
    change: &OtherChange,
    now: i64,
    expires_at: i64,
) -> Result<Applied, StoreError> {
    Ok(match change {
        OtherChange::Checkout { shopper } => {
            let order = tx.place_order(&shopper.key(), &new_order_id(), now).await?;
            (
                order.map(Done::Ordered).ok_or(Refusal::EmptyCart),
                Effect::Stock,
            )
        }
        OtherChange::Renew { shopper } => {
            let renewal = ShelfWrites {
                renewed: vec![shopper.key()],
                ..ShelfWrites::default()
            };
            tx.write_shelf(&renewal, expires_at).await?;
            (Ok(Done::Saved), Effect::Nothing)
        }
        OtherChange::Expire => {
            let freed = tx.release_expired(now).await?;
            let effect = if freed > 0 {
                Effect::Stock
            } else {
                Effect::Nothing
            };
            (Ok(Done::Expired(freed)), effect)
        }
        OtherChange::Restock { book, copies } => {
            let done = tx.restock(book.as_str(), *copies).await?;
            (
                done.then_some(Done::BookChanged)
                    .ok_or(Refusal::UnknownBook),
                Effect::Stock,
            )
        }
        OtherChange::SetTotal { book, total } => {
            let result = if tx.set_total(book.as_str(), *total).await? {
                Ok(Done::BookChanged)
            } else if tx.book_exists(book.as_str()).await? {
                Err(Refusal::BelowHeldAndSold)
            } else {
                Err(Refusal::UnknownBook)
            };
            (result, Effect::Stock)
        }
        OtherChange::SetPrice { book, price_cents } => {
            let done = tx.set_price(book.as_str(), *price_cents).await?;
            (
                done.then_some(Done::BookChanged)
                    .ok_or(Refusal::UnknownBook),
                Effect::Catalog,
            )
        }
        OtherChange::OpenStaffSession {
            token_hash,
            staff,
            expires_at,
        } => {
            tx.open_staff_session(token_hash, staff, *expires_at)
                .await?;
            (Ok(Done::Saved), Effect::Nothing)
        }
        OtherChange::CloseStaffSession { token_hash } => {
            tx.close_staff_session(token_hash, now).await?;
            (Ok(Done::Saved), Effect::Nothing)
        }
        OtherChange::AddBook(book) => {
            let done = tx.add_book(book).await?;
            (
                done.then_some(Done::BookChanged).ok_or(Refusal::BookExists),
                Effect::Catalog,
            )
        }
    })
}

fn new_order_id() -> String {
    format!("{:024x}", rand::random::<u128>() >> 32)
}

fn ttl_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.reservation_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
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

//! The writer: the one task that changes the stock. It takes every change
//! waiting, decides and applies them in one transaction (group commit: they
//! share one commit and its one fsync), publishes the new snapshot, and only
//! then answers each: nothing is acknowledged before it is on disk.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::resync::CommittedHere;
use super::shelf::{Shelf, ShelfWrites};
use super::shopper::Shopper;
use super::{BookId, Holding, Rules};
use crate::server::clock::now_ms;
use crate::server::live::notifier::Notifier;
use crate::server::metrics::Metrics;
use crate::server::store::{HoldTimes, NewBook, StockTransaction, Store, StoreError};
use crate::shared::stock::{Order, StockSnapshot};
use crate::shared::ShopError;

/// The most changes one commit carries.
pub(super) const MAX_GROUP: usize = 512;

/// A change someone asked for.
#[derive(Debug)]
pub(super) enum Change {
    /// A reserve or a return: decided in memory, in runs.
    Count(CountChange),
    Other(OtherChange),
}

/// Every other change, applied one at a time in SQL.
#[derive(Debug)]
pub(super) enum OtherChange {
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
pub(super) enum CountChange {
    Reserve { shopper: Shopper, book: BookId },
    Release { shopper: Shopper, book: BookId },
}

impl OtherChange {
    /// The one book this change is about, if it is about one.
    fn book(&self) -> Option<&str> {
        match self {
            OtherChange::Restock { book, .. }
            | OtherChange::SetTotal { book, .. }
            | OtherChange::SetPrice { book, .. } => Some(book.as_str()),
            OtherChange::AddBook(book) => Some(&book.id),
            _ => None,
        }
    }
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
pub(super) enum Done {
    Held(Holding),
    Ordered(Order),
    /// Saved, with no count or catalog change (renewed holds, sessions).
    Saved,
    /// Holds that lapsed were ended, and their copies went back on the shelf.
    Expired {
        holds: u32,
        copies: u32,
    },
    BookChanged,
}

/// Which versions a change moves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Effect {
    Nothing,
    Stock,
    Catalog,
}

pub(super) struct Request {
    pub(super) change: Change,
    pub(super) reply: oneshot::Sender<Result<Done, ShopError>>,
}

/// The writer: takes every change waiting, applies them in one transaction,
/// commits, publishes the new snapshot, then answers each.
pub(super) async fn write_changes(
    store: Store,
    notifier: Notifier,
    rules: Arc<Rules>,
    metrics: Metrics,
    committed_here: CommittedHere,
    mut queue: mpsc::Receiver<Request>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        gather_arrivals(&mut queue, &mut group).await;
        let started = std::time::Instant::now();
        let span = tracing::debug_span!("commit", changes = group.len());
        let before = notifier.latest().version();
        match apply_with_retries(&store, &rules, &group)
            .instrument(span)
            .await
        {
            Ok((results, snapshot)) => {
                metrics.commits.inc();
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                let done = results.iter().filter(|r| r.is_ok()).count() as u64;
                metrics.changes.inc_by(done);
                metrics.refusals.inc_by(results.len() as u64 - done);
                // Counted before the snapshot is published, so /metrics
                // never lags behind what a page already shows.
                let released: u32 = results
                    .iter()
                    .map(|r| match r {
                        Ok(Done::Expired { holds, .. }) => *holds,
                        _ => 0,
                    })
                    .sum();
                metrics.holds_released.inc_by(u64::from(released));
                if let Some(change) = snapshot {
                    committed_here.record(change.version);
                    metrics
                        .stock_version
                        .set(i64::try_from(change.version).unwrap_or(i64::MAX));
                    publish(&store, &notifier, &metrics, before, change).await;
                }
                for (request, result) in group.drain(..).zip(results) {
                    // A requester that went away no longer needs its answer.
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a group of stock changes was rolled back");
                for request in group.drain(..) {
                    let _ = request.reply.send(Err(ShopError::Unavailable));
                }
            }
        }
    }
}

/// The most turns of the scheduler a group waits for more changes.
const GATHER_TURNS: usize = 4;

/// Lets the tasks that are ready run before a group starts, so that the
/// changes they are about to ask for join this commit instead of waiting for
/// the next one. The first change to arrive wakes the writer straight after
/// the connection that sent it (tokio runs a task woken by another next),
/// so without this a group held only what came in while the previous one
/// committed, and under load many commits carried few changes each for the
/// same fixed cost (the fsync, the WAL pages, the version row).
/// Each turn lets every task already woken, and the I/O that has come in,
/// run once. It stops after two turns in a row that bring nothing (one can
/// end early, when the runtime's periodic upkeep wakes the writer first), so
/// a quiet shop pays two turns of the scheduler per change.
async fn gather_arrivals(queue: &mut mpsc::Receiver<Request>, group: &mut Vec<Request>) {
    let mut quiet_turns = 0;
    for _ in 0..GATHER_TURNS {
        if group.len() >= MAX_GROUP || quiet_turns == 2 {
            return;
        }
        let before = group.len();
        tokio::task::yield_now().await;
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        quiet_turns = if group.len() == before {
            quiet_turns + 1
        } else {
            0
        };
    }
}

/// Publishes a commit's change. When the commit's version follows the one
/// published (one writer on one database), the change alone completes it;
/// when other writers (other nodes, an import) committed in between, the
/// same catch-up as the listener's reads what changed since instead.
async fn publish(
    store: &Store,
    notifier: &Notifier,
    metrics: &Metrics,
    before: u64,
    change: StockSnapshot,
) {
    let version = change.version;
    if version == before + 1 && notifier.apply_change(before, change) {
        return;
    }
    // The listener may have read it already (its notification came first).
    if notifier.version() >= version {
        return;
    }
    super::resync::catch_up(store, notifier, metrics).await;
}

type GroupResult = (Vec<Result<Done, ShopError>>, Option<StockSnapshot>);

/// How long one group may take, from its first statement to its commit.
/// Past it the group is rolled back and every change in it answered 503, so a
/// database that stops answering mid-transaction never leaves a shopper
/// waiting on a hung request.
const GROUP_DEADLINE: Duration = Duration::from_secs(5);

/// Applies a group, again (up to three times in all) when PostgreSQL gave it
/// up for a conflict with another node's transaction: nothing was written,
/// and the same changes decided afresh succeed.
async fn apply_with_retries(
    store: &Store,
    rules: &Rules,
    group: &[Request],
) -> Result<GroupResult, StoreError> {
    let mut tries = 1;
    loop {
        let applied = tokio::time::timeout(GROUP_DEADLINE, apply_group(store, rules, group))
            .await
            .unwrap_or_else(|_| Err(StoreError::TimedOut(GROUP_DEADLINE)));
        match applied {
            Err(e) if e.is_conflict() && tries < 3 => {
                tracing::info!(error = %e, tries, "a group conflicted with another node's; trying again");
                tries += 1;
            }
            applied => return applied,
        }
    }
}

async fn apply_group(
    store: &Store,
    rules: &Rules,
    group: &[Request],
) -> Result<GroupResult, StoreError> {
    let mut tx = store.begin().await?;
    let now = now_ms();
    let times = HoldTimes {
        now_ms: now,
        expires_at_ms: now + ttl_ms(rules),
        max_age_ms: max_age_ms(rules),
    };
    let mut results = Vec::with_capacity(group.len());
    let mut effect = Effect::Nothing;
    // The books whose count or catalog fields this commit changes.
    let mut touched = BTreeSet::new();
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
                let decided = decide_run(&mut tx, rules, &run, times, &mut touched).await?;
                if decided.iter().any(Result::is_ok) {
                    effect = effect.max(Effect::Stock);
                }
                results.extend(decided);
                next += run.len();
            }
            Change::Other(change) => {
                let (result, this) = apply(&mut tx, change, times, &mut touched).await?;
                if result.is_ok() {
                    effect = effect.max(this);
                }
                results.push(result);
                next += 1;
            }
        }
    }
    let snapshot = if effect == Effect::Nothing {
        tx.commit().await?;
        None
    } else {
        let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
        Some(
            tx.finish_and_commit(&touched, effect == Effect::Catalog)
                .await?,
        )
    };
    tracing::debug!(
        refused = results.iter().filter(|r| r.is_err()).count(),
        version = snapshot.as_ref().map(|s| s.version),
        "committed"
    );
    Ok((results, snapshot))
}

/// Loads what a run of reserves and returns touches, decides each in order,
/// and writes the outcome back.
async fn decide_run(
    tx: &mut StockTransaction,
    rules: &Rules,
    run: &[&CountChange],
    times: HoldTimes,
    touched: &mut BTreeSet<String>,
) -> Result<Vec<Result<Done, ShopError>>, StoreError> {
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
                })
            })
        })
        .collect();
    let writes = shelf.writes();
    touched.extend(writes.available.iter().map(|(book, _)| book.clone()));
    tx.write_shelf(&writes, times).await?;
    Ok(decided)
}

type Applied = (Result<Done, ShopError>, Effect);

/// Applies one change other than a reserve or a return, adding the books
/// whose count or catalog fields it changed to `touched`.
async fn apply(
    tx: &mut StockTransaction,
    change: &OtherChange,
    times: HoldTimes,
    touched: &mut BTreeSet<String>,
) -> Result<Applied, StoreError> {
    let now = times.now_ms;
    let applied = match change {
        OtherChange::Checkout { shopper } => {
            let order = tx.place_order(&shopper.key(), &new_order_id(), now).await?;
            (order.map(Done::Ordered), Effect::Stock)
        }
        OtherChange::Renew { shopper } => {
            let renewal = ShelfWrites {
                renewed: vec![shopper.key()],
                ..ShelfWrites::default()
            };
            tx.write_shelf(&renewal, times).await?;
            (Ok(Done::Saved), Effect::Nothing)
        }
        OtherChange::Expire => {
            let released = tx.release_expired(now).await?;
            let effect = if released.copies > 0 {
                Effect::Stock
            } else {
                Effect::Nothing
            };
            let done = Done::Expired {
                holds: released.holds,
                copies: released.copies,
            };
            touched.extend(released.books);
            (Ok(done), effect)
        }
        OtherChange::Restock { book, copies } => {
            let done = tx.restock(book.as_str(), *copies).await?;
            (
                done.then_some(Done::BookChanged)
                    .ok_or(ShopError::UnknownBook),
                Effect::Stock,
            )
        }
        OtherChange::SetTotal { book, total } => {
            let result = if tx.set_total(book.as_str(), *total).await? {
                Ok(Done::BookChanged)
            } else if tx.book_exists(book.as_str()).await? {
                Err(ShopError::BelowHeldAndSold)
            } else {
                Err(ShopError::UnknownBook)
            };
            (result, Effect::Stock)
        }
        OtherChange::SetPrice { book, price_cents } => {
            let done = tx.set_price(book.as_str(), *price_cents).await?;
            (
                done.then_some(Done::BookChanged)
                    .ok_or(ShopError::UnknownBook),
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
                done.then_some(Done::BookChanged)
                    .ok_or(ShopError::BookExists),
                Effect::Catalog,
            )
        }
    };
    if let (Ok(Done::BookChanged), Some(book)) = (&applied.0, change.book()) {
        touched.insert(book.to_string());
    }
    Ok(applied)
}

fn new_order_id() -> String {
    format!("{:024x}", rand::random::<u128>() >> 32)
}

fn max_age_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.max_hold_age.as_millis()).unwrap_or(i64::MAX / 2)
}

fn ttl_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.reservation_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

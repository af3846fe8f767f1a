//! The database's one writer: the one task that changes the database. It
//! takes every change waiting, applies them in one transaction (group
//! commit: they share one commit and its one fsync), publishes the new
//! snapshot, and only then answers each: nothing is acknowledged before it
//! is on disk. It also follows what others wrote (`resync`: other nodes, an
//! import) so the notifier always holds the database's newest stock.
//!
//! It sits beneath both of the parts that ask it for changes, and names
//! neither: the inventory hands it its rules as a [`Changes`] (how a group
//! of the inventory's changes applies inside the transaction), and the
//! staff desk writes its sessions through a [`SessionWriter`]. The writer
//! decides nothing; it groups, bounds, retries, commits, publishes and
//! answers.

mod resync;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::server::clock::now_ms;
use crate::server::metrics::Metrics;
use crate::server::notifier::Notifier;
use crate::server::store::{StockTransaction, Store, StoreError};
use crate::shared::stock::StockSnapshot;
use crate::shared::ShopError;

/// The most changes one commit carries.
pub const MAX_GROUP: usize = 512;
/// The most staff sessions one commit carries besides (sign-ins are few:
/// argon2 lets a handful through a second).
const MAX_SESSIONS: usize = 64;

/// How a group of one part's changes applies inside the writer's
/// transaction. The inventory implements it with its rules.
pub trait Changes: Send + Sync + 'static {
    /// One change someone asked for.
    type Change: Send + Sync + Debug + 'static;
    /// What a change did, for the one who asked.
    type Outcome: Send + Debug + 'static;

    /// Applies `group`, in the order it came, inside `tx` at the moment `now_ms`.
    fn apply<'a>(
        &'a self,
        tx: &'a mut StockTransaction,
        group: &'a [&'a Self::Change],
        now_ms: i64,
    ) -> impl Future<Output = Result<Applied<Self::Outcome>, StoreError>> + Send + 'a;
}

/// What a group did, as its [`Changes`] reports it.
pub struct Applied<O> {
    /// Each change's outcome (or refusal), in the group's order.
    pub outcomes: Vec<Result<O, ShopError>>,
    /// Which versions the group's changes moved.
    pub moved: Moved,
    /// The books whose count or catalog fields the group changed.
    pub touched: BTreeSet<String>,
    /// Lapsed holds the group ended (for `/metrics`).
    pub holds_released: u32,
}

/// Which versions a change moves: none (a renewal, a session), the stock's
/// (counts), or the catalog's too (titles, prices, new books).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moved {
    Nothing,
    Stock,
    Catalog,
}

/// A staff session to record or end: saved, moving no version.
#[derive(Debug)]
pub enum SessionChange {
    Open {
        token_hash: String,
        staff: String,
        expires_at: i64,
    },
    Close {
        token_hash: String,
    },
}

struct Request<C: Changes> {
    change: C::Change,
    reply: oneshot::Sender<Result<C::Outcome, ShopError>>,
}

struct SessionRequest {
    change: SessionChange,
    reply: oneshot::Sender<Result<(), ShopError>>,
}

/// How the inventory asks the writer for a change.
pub struct Writer<C: Changes> {
    queue: mpsc::Sender<Request<C>>,
}

impl<C: Changes> Clone for Writer<C> {
    fn clone(&self) -> Self {
        Writer {
            queue: self.queue.clone(),
        }
    }
}

/// How the staff desk records its sessions through the same writer.
#[derive(Clone)]
pub struct SessionWriter {
    queue: mpsc::Sender<SessionRequest>,
}

/// A writer that asks only while the writer runs for others, so a clock that
/// holds it never keeps the writer alive (see `Writer::downgrade`).
pub struct WeakWriter<C: Changes> {
    queue: mpsc::WeakSender<Request<C>>,
}

impl<C: Changes> WeakWriter<C> {
    /// Asks for one change while the writer runs for others: None when it
    /// has stopped (or stops before answering). The strong handle is held
    /// only while the change is handed over, never while it is waited for.
    pub async fn ask(&self, change: C::Change) -> Option<Result<C::Outcome, ShopError>> {
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.upgrade()?;
        queue.send(Request { change, reply }).await.ok()?;
        drop(queue);
        answer.await.ok()
    }
}

/// Starts the writer on `store`, publishing every commit through `notifier`
/// (already holding the stock as the store has it), and the task that
/// follows what others write to the database.
pub fn start<C: Changes>(
    store: Store,
    notifier: Notifier,
    changes: C,
    metrics: Metrics,
) -> (Writer<C>, SessionWriter) {
    metrics
        .stock_version
        .set(i64::try_from(notifier.latest().version()).unwrap_or(i64::MAX));
    let (queue, requests) = mpsc::channel(4 * MAX_GROUP);
    let (sessions, session_requests) = mpsc::channel(MAX_SESSIONS);
    let committed_here = resync::CommittedHere::default();
    tokio::spawn(resync::follow_the_database(
        store.clone(),
        notifier.clone(),
        metrics.clone(),
        committed_here.clone(),
    ));
    let task = Task {
        store,
        notifier,
        changes,
        metrics,
        committed_here,
    };
    tokio::spawn(task.run(requests, session_requests));
    (Writer { queue }, SessionWriter { queue: sessions })
}

impl<C: Changes> Writer<C> {
    /// Applies one change and answers once it is committed and published.
    pub async fn ask(&self, change: C::Change) -> Result<C::Outcome, ShopError> {
        let (reply, answer) = oneshot::channel();
        // The writer is gone only when the server is stopping.
        self.queue
            .send(Request { change, reply })
            .await
            .map_err(|_| ShopError::Unavailable)?;
        answer.await.map_err(|_| ShopError::Unavailable)?
    }

    /// Whether the writer has stopped taking changes.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    pub fn downgrade(&self) -> WeakWriter<C> {
        WeakWriter {
            queue: self.queue.downgrade(),
        }
    }
}

impl SessionWriter {
    pub async fn write(&self, change: SessionChange) -> Result<(), ShopError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(SessionRequest { change, reply })
            .await
            .map_err(|_| ShopError::Unavailable)?;
        answer.await.map_err(|_| ShopError::Unavailable)?
    }
}

/// The writer's task and what it owns.
struct Task<C: Changes> {
    store: Store,
    notifier: Notifier,
    changes: C,
    metrics: Metrics,
    committed_here: resync::CommittedHere,
}

/// What one commit carries: the parts' changes, and staff sessions.
struct Group<C: Changes> {
    changes: Vec<Request<C>>,
    sessions: Vec<SessionRequest>,
}

impl<C: Changes> Group<C> {
    fn len(&self) -> usize {
        self.changes.len() + self.sessions.len()
    }
}

type Outcomes<C> = (
    Vec<Result<<C as Changes>::Outcome, ShopError>>,
    Vec<Result<(), ShopError>>,
    u32,
    Option<StockSnapshot>,
);

impl<C: Changes> Task<C> {
    async fn run(
        self,
        mut requests: mpsc::Receiver<Request<C>>,
        mut session_requests: mpsc::Receiver<SessionRequest>,
    ) {
        let mut group = Group {
            changes: Vec::with_capacity(MAX_GROUP),
            sessions: Vec::new(),
        };
        let (mut changes_open, mut sessions_open) = (true, true);
        // Runs while anyone can still ask: the inventory for changes, the
        // staff desk for sessions.
        while changes_open || sessions_open {
            tokio::select! {
                n = requests.recv_many(&mut group.changes, MAX_GROUP), if changes_open => if n == 0 {
                    changes_open = false;
                    continue;
                },
                n = session_requests.recv_many(&mut group.sessions, MAX_SESSIONS), if sessions_open => if n == 0 {
                    sessions_open = false;
                    continue;
                },
            }
            gather_arrivals(&mut requests, &mut group.changes).await;
            while group.sessions.len() < MAX_SESSIONS {
                match session_requests.try_recv() {
                    Ok(request) => group.sessions.push(request),
                    Err(_) => break,
                }
            }
            self.commit(&mut group).await;
        }
    }

    /// Commits one group, publishes it, then answers every request in it.
    async fn commit(&self, group: &mut Group<C>) {
        let started = std::time::Instant::now();
        let span = tracing::debug_span!("commit", changes = group.len());
        let before = self.notifier.version();
        let result = self.apply_with_retries(group).instrument(span).await;
        let (outcomes, sessions, holds_released, snapshot) = match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "a group of changes was rolled back");
                for request in group.changes.drain(..) {
                    let _ = request.reply.send(Err(ShopError::Unavailable));
                }
                for request in group.sessions.drain(..) {
                    let _ = request.reply.send(Err(ShopError::Unavailable));
                }
                return;
            }
        };
        let metrics = &self.metrics;
        metrics.commits.inc();
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        // Sessions are changes too (always made once the group commits).
        let done = outcomes.iter().filter(|r| r.is_ok()).count() as u64;
        metrics.changes.inc_by(done + sessions.len() as u64);
        metrics.refusals.inc_by(outcomes.len() as u64 - done);
        // Counted before the snapshot is published, so /metrics never lags
        // behind what a page already shows.
        metrics.holds_released.inc_by(u64::from(holds_released));
        if let Some(change) = snapshot {
            self.committed_here.record(change.version);
            metrics
                .stock_version
                .set(i64::try_from(change.version).unwrap_or(i64::MAX));
            self.publish(before, change).await;
        }
        // A requester that went away no longer needs its answer.
        for (request, outcome) in group.changes.drain(..).zip(outcomes) {
            let _ = request.reply.send(outcome);
        }
        for (request, outcome) in group.sessions.drain(..).zip(sessions) {
            let _ = request.reply.send(outcome);
        }
    }

    /// Publishes a commit's change. When the commit's version follows the one
    /// published (one writer on one database), the change alone completes
    /// it; when other writers (other nodes, an import) committed in between,
    /// the same catch-up as the listener's reads what changed since instead.
    async fn publish(&self, before: u64, change: StockSnapshot) {
        let version = change.version;
        if version == before + 1 && self.notifier.apply_change(before, change) {
            return;
        }
        // The listener may have read it already (its notification came first).
        if self.notifier.version() >= version {
            return;
        }
        resync::catch_up(&self.store, &self.notifier, &self.metrics).await;
    }

    /// Applies a group, again (up to three times in all) when PostgreSQL gave
    /// it up for a conflict with another node's transaction: nothing was
    /// written, and the same changes decided afresh succeed.
    async fn apply_with_retries(&self, group: &Group<C>) -> Result<Outcomes<C>, StoreError> {
        let mut tries = 1;
        loop {
            let applied = tokio::time::timeout(GROUP_DEADLINE, self.apply_group(group))
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

    async fn apply_group(&self, group: &Group<C>) -> Result<Outcomes<C>, StoreError> {
        let mut tx = self.store.begin().await?;
        let now = now_ms();
        // Sessions first: no stock change depends on them, nor they on it.
        let mut sessions = Vec::with_capacity(group.sessions.len());
        for request in &group.sessions {
            match &request.change {
                SessionChange::Open {
                    token_hash,
                    staff,
                    expires_at,
                } => {
                    tx.open_staff_session(token_hash, staff, *expires_at)
                        .await?
                }
                SessionChange::Close { token_hash } => {
                    tx.close_staff_session(token_hash, now).await?
                }
            }
            sessions.push(Ok(()));
        }
        let changes: Vec<&C::Change> = group.changes.iter().map(|r| &r.change).collect();
        let applied = if changes.is_empty() {
            Applied {
                outcomes: Vec::new(),
                moved: Moved::Nothing,
                touched: BTreeSet::new(),
                holds_released: 0,
            }
        } else {
            self.changes.apply(&mut tx, &changes, now).await?
        };
        let snapshot = if applied.moved == Moved::Nothing {
            tx.commit().await?;
            None
        } else {
            let touched: Vec<&str> = applied.touched.iter().map(String::as_str).collect();
            Some(
                tx.finish_and_commit(&touched, applied.moved == Moved::Catalog, now)
                    .await?,
            )
        };
        tracing::debug!(
            refused = applied.outcomes.iter().filter(|r| r.is_err()).count(),
            version = snapshot.as_ref().map(|s| s.version),
            "committed"
        );
        Ok((applied.outcomes, sessions, applied.holds_released, snapshot))
    }
}

/// How long one group may take, from its first statement to its commit.
/// Past it the group is rolled back and every change in it answered 503, so a
/// database that stops answering mid-transaction never leaves a shopper
/// waiting on a hung request.
const GROUP_DEADLINE: Duration = Duration::from_secs(5);

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
async fn gather_arrivals<T>(queue: &mut mpsc::Receiver<T>, group: &mut Vec<T>) {
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

//! Changes made to the database by someone other than this server's writer
//! (another node, `livecart books import`) reach this server's open pages.
//!
//! - PostgreSQL: every commit NOTIFYs its version on one channel. A listener
//!   on a connection of its own subscribes first and reads second (what
//!   changed since the version held: one indexed statement), then reads again
//!   on each notification newer than what it holds, merging bursts. A
//!   notification can be lost (the listener's connection drops and sqlx
//!   reconnects silently), so it also reads after any reconnect, and sends
//!   itself a heartbeat every second: when its own heartbeat has not come
//!   back within three, it reconnects and reads. The notifications of this
//!   node's own commits are skipped: its writer publishes those itself (and
//!   catches up when another node committed in between), so a busy node does
//!   not read back every change it made.
//! - SQLite (one server, an import beside it): the stock's version is read
//!   once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;

use crate::server::metrics::Metrics;
use crate::server::notifier::Notifier;
use crate::server::store::{Store, STOCK_CHANNEL};

const LOOK_EVERY: Duration = Duration::from_secs(1);
/// A listener that has not heard its own heartbeat for this long is deaf.
const DEAF_AFTER: Duration = Duration::from_secs(3);

/// The newest version this node's writer has committed (and publishes).
#[derive(Clone, Default)]
pub struct CommittedHere(Arc<AtomicU64>);

impl CommittedHere {
    pub fn record(&self, version: u64) {
        self.0.fetch_max(version, Ordering::Relaxed);
    }

    fn covers(&self, version: u64) -> bool {
        version <= self.0.load(Ordering::Relaxed)
    }
}

pub async fn follow_the_database(
    store: Store,
    notifier: Notifier,
    metrics: Metrics,
    committed_here: CommittedHere,
) {
    if store.is_postgres() {
        listen(store, notifier, metrics, committed_here).await
    } else {
        poll(store, notifier, metrics).await
    }
}

async fn poll(store: Store, notifier: Notifier, metrics: Metrics) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.version().await {
            Ok(on_disk) if on_disk > notifier.version() => {
                catch_up(&store, &notifier, &metrics).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the stock's version"),
        }
    }
}

async fn listen(store: Store, notifier: Notifier, metrics: Metrics, committed_here: CommittedHere) {
    let me = format!("heartbeat:{:016x}", rand::random::<u64>());
    loop {
        metrics.listener_up.set(0);
        let mut listener = match PgListener::connect(store.url()).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "the stock listener cannot connect");
                tokio::time::sleep(LOOK_EVERY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(STOCK_CHANNEL).await {
            tracing::warn!(error = %e, "the stock listener cannot listen");
            tokio::time::sleep(LOOK_EVERY).await;
            continue;
        }
        // Subscribed first, read second: nothing falls in between.
        metrics.listener_up.set(1);
        catch_up(&store, &notifier, &metrics).await;
        let mut heartbeat = tokio::time::interval(LOOK_EVERY);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard_myself = Instant::now();
        loop {
            tokio::select! {
                notification = listener.try_recv() => match notification {
                    Ok(Some(notification)) => {
                        let payload = notification.payload();
                        if payload == me {
                            heard_myself = Instant::now();
                        } else if payload.parse::<u64>().is_ok_and(|version| {
                            version > notifier.version() && !committed_here.covers(version)
                        }) {
                            // The read takes every change up to now: the
                            // notifications of a burst behind it find the
                            // version already held.
                            catch_up(&store, &notifier, &metrics).await;
                        }
                    }
                    // The connection dropped and sqlx reconnected it:
                    // whatever was sent meanwhile is gone, so read.
                    Ok(None) => {
                        tracing::info!("the stock listener reconnected");
                        catch_up(&store, &notifier, &metrics).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the stock listener failed");
                        break;
                    }
                },
                _ = heartbeat.tick() => {
                    if heard_myself.elapsed() > DEAF_AFTER {
                        tracing::warn!("the stock listener stopped hearing its heartbeat; reconnecting");
                        break;
                    }
                    if let Err(e) = store.notify(&me).await {
                        tracing::warn!(error = %e, "cannot send the listener's heartbeat");
                    }
                }
            }
        }
    }
}

/// Publishes what changed since the version this server holds.
pub async fn catch_up(store: &Store, notifier: &Notifier, metrics: &Metrics) {
    let held = notifier.version();
    match store.changes_since(held).await {
        Ok(changes) => {
            let version = changes.version;
            metrics.resyncs.inc();
            metrics
                .last_resync_seconds
                .set(crate::server::clock::now_ms() / 1000);
            if version > held && notifier.apply_change(held, changes) {
                metrics
                    .stock_version
                    .set(i64::try_from(version).unwrap_or(i64::MAX));
                tracing::debug!(
                    from = held,
                    to = version,
                    "published changes made elsewhere"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the stock's changes"),
    }
}

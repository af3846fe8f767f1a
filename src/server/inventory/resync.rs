//! Changes made to the database by someone other than this server's writer
//! (`livecart books import`, another node) reach the open pages too: once a
//! second the inventory reads the stock's version, and when the database is
//! ahead of what it published it reads what changed since (one indexed
//! statement) and publishes that.

use std::time::Duration;

use crate::server::live::notifier::Notifier;
use crate::server::metrics::Metrics;
use crate::server::store::Store;

const LOOK_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn follow_the_database(store: Store, notifier: Notifier, metrics: Metrics) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let held = notifier.latest().version();
        match store.version().await {
            Ok(on_disk) if on_disk > held => match store.changes_since(held).await {
                Ok(changes) => {
                    let version = changes.version;
                    if notifier.apply_change(held, changes) {
                        metrics
                            .stock_version
                            .set(i64::try_from(version).unwrap_or(i64::MAX));
                        tracing::info!(
                            from = held,
                            to = version,
                            "published changes made elsewhere"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the stock's changes"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the stock's version"),
        }
    }
}

//! The clock that ends lapsed holds: it sleeps until the soonest deadline
//! (at most half a second at a time) and then asks the writer to release
//! every hold past it, so freed copies are published like any other change.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::writer::{Change, Done, OtherChange, Request};
use crate::server::clock::now_ms;
use crate::server::store::Store;

/// The clock: ends holds whose deadline has passed, within half a second.
pub(super) async fn end_lapsed_holds(store: Store, changes: mpsc::WeakSender<Request>) {
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

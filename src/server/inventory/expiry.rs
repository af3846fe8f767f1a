//! The clock that ends lapsed holds: it sleeps until the soonest deadline
//! (at most half a second at a time) and then asks the writer to release
//! every hold past it, so freed copies are published like any other change.
//! With several nodes on one PostgreSQL every node runs this clock; the
//! store's claim splits the lapsed holds between them (see
//! `StockTransaction::release_lapsed`), so a hold is released once, and
//! still within the half second while any one node is alive.

use std::time::Duration;

use super::changes::{Change, DirectChange, Outcome};
use super::Rules;
use crate::server::clock::now_ms;
use crate::server::store::Store;
use crate::server::writer::WeakWriter;

/// The clock: ends holds whose deadline has passed, within half a second.
pub(super) async fn release_lapsed_holds(store: Store, writer: WeakWriter<Rules>) {
    const LOOK_EVERY: Duration = Duration::from_millis(500);
    // When another node's clock has claimed the lapsed holds and not yet
    // committed, the soonest deadline still looks past: look again shortly
    // rather than at once.
    const CLAIMED_ELSEWHERE: Duration = Duration::from_millis(50);
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
        // Asked through a weak handle: the clock never keeps the writer
        // alive, and stops once it is gone.
        match writer
            .ask(Change::Direct(DirectChange::ReleaseLapsed))
            .await
        {
            None => return,
            Some(Ok(Outcome::LapsedReleased { holds, copies })) if holds > 0 => {
                tracing::info!(holds, copies, "lapsed holds ended")
            }
            Some(Ok(_)) => tokio::time::sleep(CLAIMED_ELSEWHERE).await,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "lapsed holds could not be ended");
                tokio::time::sleep(LOOK_EVERY).await;
            }
        }
    }
}

//! `GET /api/stock/poll?since=V[&timeout=S]`: the long poll the pages fall
//! back to, the server side of the `poll_stock` server function (declared
//! in `app/api.rs`, served through the pages' server-function route).

use std::time::Duration;

use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::server::metrics::Transport;
use crate::server::web::forms::{state, with_status};
use crate::shared::stock::StockSnapshot;
use crate::shared::ShopError;

/// The longest a stock poll may be held, and the default.
const POLL_MAX_SECS: u64 = 60;
const POLL_DEFAULT_SECS: u64 = 25;

pub async fn poll_stock(
    since: u64,
    timeout: Option<u64>,
) -> Result<Option<StockSnapshot>, ShopError> {
    let state = state()?;
    let wait = timeout.unwrap_or(POLL_DEFAULT_SECS);
    if wait > POLL_MAX_SECS {
        return Err(with_status(ShopError::BadInput(format!(
            "timeout must be at most {POLL_MAX_SECS} seconds"
        ))));
    }
    let _counted = state.metrics.subscribe(Transport::LongPoll);
    let newer = state
        .notifier
        .wait_for(
            |p| p.version() > since,
            Duration::from_secs(wait),
            &state.shutdown,
        )
        .await;
    match newer {
        // Everything that changed after the client's version, made for it.
        Some(_) => Ok(Some(state.notifier.catch_up(since))),
        None => {
            if let Some(response) = use_context::<ResponseOptions>() {
                response.set_status(StatusCode::NO_CONTENT);
            }
            Ok(None)
        }
    }
}

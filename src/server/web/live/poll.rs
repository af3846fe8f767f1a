//! `GET /api/stock/poll?since=V[&timeout=S]`: the long poll the pages fall
//! back to when WebSockets do not get through.
//!
//! A plain axum handler, not a server function: a held poll is the one
//! request a page keeps open for 25 s, so what it holds while it waits is
//! paid once per waiting page. Through the server-function route a held
//! poll cost the server 35.5 KB, here 29.6 KB (`bench/compare.sh … --only
//! "held long polls"`). Most of what is left is hyper's own while a request
//! is in flight (heaptrack: its read buffer 16 KB, write buffer 8 KB, the
//! connection's task 2.5 KB); a WebSocket gives those back when it upgrades.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::server::metrics::Transport;
use crate::server::AppState;
use crate::shared::ShopError;

/// The longest a stock poll may be held, and the default.
const POLL_MAX_SECS: u64 = 60;
const POLL_DEFAULT_SECS: u64 = 25;

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    since: u64,
    timeout: Option<u64>,
}

/// Answers at once with what changed after `since` when the stock is past
/// it, else when it gets past it, or after `timeout` seconds with 204 and
/// no body.
pub async fn poll_stock(
    State(state): State<AppState>,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Response, ShopError> {
    let Query(PollQuery { since, timeout }) = query?;
    let wait = timeout.unwrap_or(POLL_DEFAULT_SECS);
    if wait > POLL_MAX_SECS {
        return Err(ShopError::BadInput(format!(
            "timeout must be at most {POLL_MAX_SECS} seconds"
        )));
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
    // A poll that follows on from the newest change shares its one
    // serialized buffer, as a WebSocket does; one behind gets a catch-up.
    let Some(message) = newer.and_then(|latest| state.notifier.next_for(since, &latest)) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    Ok(super::stock_json(message.json()))
}

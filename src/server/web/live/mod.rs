//! Every transport of the live stock, in one folder: each hands on the
//! notifier's messages in its own framing.
//!
//! - `GET /api/stock` (here): the newest snapshot, whole;
//! - `websocket`: `/api/stock/ws`, the snapshot on open, then every newer one;
//! - `sse`: `/api/stock/events`, Server-Sent Events resuming from Last-Event-ID;
//! - `poll`: `/api/stock/poll`, the long poll the pages fall back to;
//! - `burts`: Burt's protocol (`/cart`, `/cart/status`, `/burts-books`),
//!   the featured count pushed by WebSocket or long poll;
//! - `socket`: the upkeep every WebSocket shares (ping, send deadline, 1001).

pub mod burts;
pub mod poll;
pub mod socket;
pub mod sse;
pub mod websocket;

use axum::extract::ws::Utf8Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use serde::Deserialize;

use crate::server::AppState;

/// `?since=V`: the version a client holds; it is sent what changed after.
#[derive(Debug, Deserialize)]
pub struct Since {
    pub since: Option<u64>,
}

/// `GET /api/stock`: the newest snapshot, as serialized once for everyone.
pub async fn stock(State(state): State<AppState>) -> Response {
    stock_json(state.notifier.whole_json())
}

/// The stock's JSON as the plain HTTP answers send it (`/api/stock` and the
/// long poll): the notifier's buffer as is, never cached, since it changes.
fn stock_json(json: Utf8Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Bytes::from(json),
    )
        .into_response()
}

//! `/api/stock*`: every way the stock leaves the server, each a transport
//! of the notifier's messages in its own framing.
//!
//! - `GET /api/stock` (here): the newest snapshot, whole;
//! - `websocket`: `/api/stock/ws`, the snapshot on open, then every newer one;
//! - `sse`: `/api/stock/events`, Server-Sent Events resuming from Last-Event-ID;
//! - `poll`: `/api/stock/poll`, the server function the pages poll with.
//!
//! Burt's protocol has its own folder (`web/burts`); the upkeep
//! every WebSocket shares is `web/socket`.

pub mod poll;
pub mod sse;
pub mod websocket;

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
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Bytes::from(state.notifier.whole_json()),
    )
        .into_response()
}

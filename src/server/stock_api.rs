//! The live stock API: one snapshot shape everywhere.
//!
//! - `GET /api/stock`: the newest snapshot.
//! - `GET /api/books`: the catalog.
//! - `GET /api/stock/ws`: a WebSocket with the snapshot on open, then every
//!   newer one.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::server::error::ApiError;
use crate::server::socket;
use crate::server::AppState;
use crate::stock::Book;

pub async fn stock(State(state): State<AppState>) -> Response {
    let latest = state.inventory.latest();
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")],
        latest.json_bytes(),
    )
        .into_response()
}

pub async fn books(State(state): State<AppState>) -> Result<Json<Vec<Book>>, ApiError> {
    Ok(Json(state.inventory.catalog().await?))
}

pub async fn stock_socket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let updates = state.inventory.notifier().subscribe();
    let shutdown = state.shutdown.clone();
    socket::configure(upgrade).on_upgrade(move |ws| async move {
        let first = updates.borrow().json.clone();
        socket::push_updates(ws, updates, Some(first), |latest| Some(latest.json.clone()), shutdown).await
    })
}

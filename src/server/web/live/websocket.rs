//! `GET /api/stock/ws[?since=V]`: a WebSocket that sends, on open, what
//! changed after V (or, without `since`, the whole stock once), then each
//! newer change: the buffer serialized once for every subscriber that is
//! current, a catch-up of its own for one that fell behind. The page may
//! ask over it for its place in a line (`web::lines::socket_answer`).

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::Since;
use crate::server::metrics::Transport;
use crate::server::notifier::Published;
use crate::server::web::live::socket;
use crate::server::AppState;
use crate::shared::ShopError;

pub async fn stock_socket(
    State(state): State<AppState>,
    query: Result<Query<Since>, QueryRejection>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ShopError> {
    let Query(Since { since }) = query?;
    // Subscribed before the first message is made, so no change falls
    // between the two.
    let updates = state.notifier.subscribe();
    let counted = state.metrics.subscribe(Transport::Websocket);
    let upkeep = state.upkeep.clone();
    let notifier = state.notifier.clone();
    // Sent even when nothing changed after `since`: the page learns at once
    // that its socket gets through.
    let opening = notifier.opening(since);
    let mut mine = opening.version().max(since.unwrap_or(0));
    let first = opening.json();
    let pick = move |latest: &std::sync::Arc<Published>| {
        let _counted = &counted;
        let message = notifier.next_for(mine, latest)?;
        mine = message.version();
        Some(message.json())
    };
    let answer = crate::server::web::lines::socket_answer(&state, &headers);
    Ok(socket::serve(
        upgrade,
        updates,
        Some(first),
        pick,
        Some(answer),
        upkeep,
    ))
}

//! `GET /api/stock/ws`: a WebSocket with the snapshot on open, then every
//! newer one, each the buffer serialized once for every subscriber.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;

use super::socket;
use crate::server::metrics::Transport;
use crate::server::AppState;

pub async fn stock_socket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let updates = state.notifier.subscribe();
    let counted = state.metrics.subscribe(Transport::Websocket);
    let (upkeep, shutdown) = (state.upkeep, state.shutdown.clone());
    socket::configure(upgrade).on_upgrade(move |ws| async move {
        let _counted = counted;
        let first = updates.borrow().json.clone();
        socket::push_updates(
            ws,
            updates,
            Some(first),
            |latest| Some(latest.json.clone()),
            upkeep,
            shutdown,
        )
        .await
    })
}

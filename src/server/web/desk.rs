//! `GET /api/admin/desk/ws`: the staff desk's live figures (`server::desk`)
//! for a signed-in member of staff (owner or clerk: the figures show no
//! prices). The socket sends the figures as they stand when it opens, then
//! every reading in which one moved; it takes no asks.

use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::backoffice::staff_of;
use super::live::socket;
use crate::server::AppState;
use crate::shared::ShopError;

pub async fn desk_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ShopError> {
    staff_of(&state, &headers)
        .await?
        .ok_or(ShopError::NotSignedIn)?;
    // Subscribed before the first reading, so nothing moves unseen between.
    let readings = state.desk.subscribe();
    let first = state.desk.now().await.map_err(ShopError::from)?;
    let first = Utf8Bytes::from(serde_json::to_string(&first).unwrap_or_default());
    Ok(socket::serve(
        upgrade,
        readings,
        Some(first),
        |reading: &std::sync::Arc<crate::server::desk::DeskReading>| Some(reading.json.clone()),
        None,
        state.upkeep.clone(),
    ))
}

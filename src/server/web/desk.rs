//! `GET /api/admin/desk/ws`: the staff desk's live figures (`server::desk`)
//! for a signed-in member of staff (owner or clerk: the figures show no
//! prices). The socket sends the figures as they stand when it opens, then
//! every reading in which one moved; it takes no asks.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::backoffice::staff_of;
use super::live::socket;
use crate::server::desk::DeskReading;
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
    Ok(socket::serve(
        upgrade,
        readings,
        Some(DeskReading::of(first).json),
        |reading: &Arc<DeskReading>| Some(reading.json.clone()),
        None,
        state.upkeep.clone(),
    ))
}

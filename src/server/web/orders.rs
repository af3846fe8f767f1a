//! `GET /admin/orders.csv[?since=DATE]`: every order as CSV
//! (`order_export`), for the owner signed in. The rows are read from the
//! database while the answer is sent: a year of orders streams through in
//! 64 KB chunks and never sits in memory.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::backoffice::staff_of;
use crate::server::order_export::{parse_since, write_csv, ExportError};
use crate::server::staff::StaffAction;
use crate::server::AppState;
use crate::shared::ShopError;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    since: Option<String>,
}

pub async fn orders_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ShopError> {
    let Query(ExportQuery { since }) = query?;
    let staff = staff_of(&state, &headers)
        .await?
        .ok_or(ShopError::NotSignedIn)?;
    if !staff.role.may(StaffAction::SeeOrders) {
        return Err(ShopError::OwnerOnly);
    }
    let since = match since.as_deref() {
        Some(text) => parse_since(text).map_err(ShopError::BadInput)?,
        None => 0,
    };
    // Two chunks in flight at most: the database is read as fast as the
    // client takes the CSV, no faster.
    let (chunks, body) = mpsc::channel::<Result<Bytes, ExportError>>(2);
    let exporter = state.clone();
    tokio::spawn(async move {
        let written = write_csv(exporter.orders.sold_lines_since(since), |chunk| {
            let sent = chunks.clone();
            async move {
                sent.send(Ok(Bytes::from(chunk)))
                    .await
                    .map_err(|_| ExportError::Write("the client went away".into()))
            }
        })
        .await;
        match written {
            Ok(orders) => tracing::info!(orders, staff = %staff.name.as_str(), "orders exported"),
            Err(e) => {
                tracing::warn!(error = %e, "orders export ended early");
                // Fails the body, so the client sees a broken transfer and
                // not a short file that looks whole.
                let _ = chunks.send(Err(e)).await;
            }
        }
    });
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

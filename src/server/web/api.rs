//! The catalog as JSON and the operator's endpoints.
//!
//! - `GET /api/books`: every book (title, author, price, total, featured);
//! - `GET /metrics`: Prometheus text (see `metrics`);
//! - `GET /healthz`: the process answers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::server::AppState;
use crate::shared::stock::Book;
use crate::shared::ShopError;

pub async fn books(State(state): State<AppState>) -> Result<Json<Vec<Book>>, ShopError> {
    Ok(Json(state.inventory.catalog().await?))
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

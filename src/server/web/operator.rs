//! The operator's endpoints.
//!
//! - `GET /metrics`: Prometheus text (see `metrics`);
//! - `GET /healthz`: 200 when the node can take changes (its writer runs and
//!   the database answers within a second), else 503 and why;
//! - `GET /readyz`: as healthz, and 503 while the node is shutting down or
//!   (on PostgreSQL) not yet following the other nodes' changes: a balancer
//!   sends it nothing then.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;

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

/// How long the database may take to answer a health check.
const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn healthz(State(state): State<AppState>) -> Response {
    health_answer(state.inventory.health(HEALTH_DEADLINE).await)
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let ready = if state.shutdown.is_cancelled() {
        Err("shutting down")
    } else if !state.inventory.follows_the_database(&state.metrics) {
        Err("not following the other nodes' changes yet")
    } else {
        state.inventory.health(HEALTH_DEADLINE).await
    };
    health_answer(ready)
}

fn health_answer(health: Result<(), &'static str>) -> Response {
    let (status, text) = match health {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    };
    (status, [(header::CACHE_CONTROL, "no-store")], text).into_response()
}

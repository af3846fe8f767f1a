//! The live stock API: one snapshot shape everywhere.
//!
//! - `GET /api/stock`: the newest snapshot.
//! - `GET /api/books`: the catalog.
//! - `GET /api/stock/ws`: a WebSocket with the snapshot on open, then every
//!   newer one.
//! - `GET /api/stock/events`: Server-Sent Events, `id:` = version, resuming
//!   from `Last-Event-ID`.
//! - `GET /api/stock/poll` is a server function (see `app::live`), answered
//!   by `storefront::poll_stock`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, Interval};
use tokio_util::sync::CancellationToken;

use crate::server::error::ApiError;
use crate::server::metrics::{Subscribed, Transport};
use crate::server::notifier::Published;
use crate::server::socket;
use crate::server::AppState;
use crate::stock::Book;

/// A comment line every so often keeps proxies from closing a quiet stream.
const SSE_HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream.
const SSE_RETRY: &str = "retry: 2000\n\n";

pub async fn stock(State(state): State<AppState>) -> Response {
    let latest = state.inventory.latest();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        latest.json_bytes(),
    )
        .into_response()
}

pub async fn books(State(state): State<AppState>) -> Result<Json<Vec<Book>>, ApiError> {
    Ok(Json(state.inventory.catalog().await?))
}

pub async fn stock_socket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let updates = state.inventory.notifier().subscribe();
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

/// One SSE subscriber's stream.
struct EventStream {
    updates: watch::Receiver<Arc<Published>>,
    pending: Option<Bytes>,
    heartbeat: Interval,
    shutdown: CancellationToken,
    _counted: Subscribed,
}

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume_from = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("Last-Event-ID must be a stock version".into())
                })?,
        ),
    };
    let mut updates = state.inventory.notifier().subscribe();
    let current = updates.borrow_and_update().clone();
    // A reconnect that already has the current version waits for the next.
    let first = match resume_from {
        Some(version) if current.version() <= version => Bytes::from_static(SSE_RETRY.as_bytes()),
        _ => [SSE_RETRY.as_bytes(), &current.sse_event[..]]
            .concat()
            .into(),
    };
    let stream = EventStream {
        updates,
        pending: Some(first),
        heartbeat: interval_at(Instant::now() + SSE_HEARTBEAT, SSE_HEARTBEAT),
        shutdown: state.shutdown.clone(),
        _counted: state.metrics.subscribe(Transport::Sse),
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        if let Some(bytes) = s.pending.take() {
            return Some((Ok::<_, Infallible>(bytes), s));
        }
        tokio::select! {
            changed = s.updates.changed() => {
                changed.ok()?;
                let latest = s.updates.borrow_and_update().clone();
                Some((Ok(latest.sse_event.clone()), s))
            }
            _ = s.heartbeat.tick() => Some((Ok(Bytes::from_static(b": heartbeat\n\n")), s)),
            _ = s.shutdown.cancelled() => None,
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
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

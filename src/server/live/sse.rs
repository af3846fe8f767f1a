//! `GET /api/stock/events`: Server-Sent Events, one per version with `id:` =
//! version and `retry:` set, a heartbeat comment every 15 s; a reconnect
//! with `Last-Event-ID` gets the current snapshot at once when it is newer,
//! else waits for the next.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, Interval};
use tokio_util::sync::CancellationToken;

use super::notifier::Published;
use crate::server::metrics::{Subscribed, Transport};
use crate::server::AppState;
use crate::shared::ShopError;

/// A comment line every so often keeps proxies from closing a quiet stream.
const SSE_HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream.
const SSE_RETRY: &str = "retry: 2000\n\n";

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
) -> Result<Response, ShopError> {
    let resume_from = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ShopError::BadInput("Last-Event-ID must be a stock version".into())
                })?,
        ),
    };
    let mut updates = state.notifier.subscribe();
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

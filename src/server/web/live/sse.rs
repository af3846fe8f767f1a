//! `GET /api/stock/events[?since=V]`: Server-Sent Events, one per version
//! with `id:` = version and `retry:` set, a heartbeat comment every 15 s.
//! The first event is what changed after V (`Last-Event-ID` on a reconnect,
//! `?since=` on a first connection), or without either the whole stock; a
//! client already at the newest version waits for the next change.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, Interval};
use tokio_util::sync::CancellationToken;

use super::Since;
use crate::server::metrics::{Subscribed, Transport};
use crate::server::notifier::{Notifier, Published};
use crate::server::AppState;
use crate::shared::ShopError;

/// A comment line every so often keeps proxies from closing a quiet stream.
const SSE_HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream.
const SSE_RETRY: &str = "retry: 2000\n\n";

/// One SSE subscriber's stream.
struct EventStream {
    notifier: Notifier,
    updates: watch::Receiver<Arc<Published>>,
    /// The version this subscriber holds.
    mine: u64,
    pending: Option<Bytes>,
    heartbeat: Interval,
    shutdown: CancellationToken,
    _counted: Subscribed,
}

pub async fn events(
    State(state): State<AppState>,
    query: Result<Query<Since>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    let Query(Since { since }) = query?;
    // A reconnect names its version in Last-Event-ID; a first connection
    // (EventSource cannot set headers) in `?since=`.
    let resume_from = match headers.get("last-event-id") {
        None => since,
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
    let notifier = state.notifier.clone();
    let updates = notifier.subscribe();
    let (mine, first) = match resume_from {
        // Current already: wait for the next change.
        Some(version) if notifier.version() <= version => {
            (version, Bytes::from_static(SSE_RETRY.as_bytes()))
        }
        _ => {
            let opening = notifier.opening(resume_from);
            let event = [SSE_RETRY.as_bytes(), &opening.sse_event()].concat();
            (opening.version(), Bytes::from(event))
        }
    };
    let stream = EventStream {
        notifier,
        updates,
        mine,
        pending: Some(first),
        heartbeat: interval_at(Instant::now() + SSE_HEARTBEAT, SSE_HEARTBEAT),
        shutdown: state.shutdown.clone(),
        _counted: state.metrics.subscribe(Transport::Sse),
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        if let Some(bytes) = s.pending.take() {
            return Some((Ok::<_, Infallible>(bytes), s));
        }
        loop {
            tokio::select! {
                changed = s.updates.changed() => {
                    changed.ok()?;
                    let latest = s.updates.borrow_and_update().clone();
                    if let Some(message) = s.notifier.next_for(s.mine, &latest) {
                        s.mine = message.version();
                        return Some((Ok(message.sse_event()), s));
                    }
                }
                _ = s.heartbeat.tick() => return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), s)),
                _ = s.shutdown.cancelled() => return None,
            }
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

//! Burt's protocol: the Tornado book's "Burt's Books" demo, exactly as its
//! jQuery client speaks it, on the shop's featured book and the same
//! inventory as the pages. (It is called "Burt's" throughout, so it is never
//! read as a book of the catalog.)
//!
//! - `GET /burts-books`: Burt's own page (`page`);
//! - `POST /cart` with `session=<id>&action=add|remove`: one copy per
//!   session, idempotent; 409 when none is left.
//! - `GET /cart/status?session=<id>`: a long poll answered with
//!   `{"inventoryCount":"N"}` when the featured count next changes (or at
//!   once, when it changed since this session's last answer).
//! - a WebSocket on the same path pushes that JSON on every change.
//!
//! Behind a load balancer Burt's client re-polls whichever node it
//! reaches, so "the version this session was last told" cannot live in one
//! node's memory alone. It travels with the client instead: every answer
//! (and Burt's page) sets the cookie `livecart_featured_seen` to the
//! featured count's version, which is the database's and so the same on
//! every node; the browser sends it with the next poll wherever that lands.
//! Kept in PostgreSQL it would cost a write per answered poll; routed by
//! session at the balancer it would be lost with the node. A client that
//! keeps no cookies (curl) still gets the per-node memory below.

pub mod page;
pub mod sessions;

use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::server::inventory::shopper::{BurtsSession, Shopper};
use crate::server::inventory::BookId;
use crate::server::metrics::Transport;
use crate::server::notifier::Published;
use crate::server::web::client_address::ClientAddress;
use crate::server::web::cookies::CookiePolicy;
use crate::server::web::live::socket;
use crate::server::AppState;
use crate::shared::ShopError;
use sessions::FORGET_AFTER;

#[derive(Debug, Deserialize)]
pub struct CartForm {
    session: Option<String>,
    action: Option<String>,
}

enum CartAction {
    Add,
    Remove,
}

pub async fn post_cart(
    State(state): State<AppState>,
    client: ClientAddress,
    form: Result<Form<CartForm>, FormRejection>,
) -> Result<Response, ShopError> {
    let Form(form) = form?;
    let session = BurtsSession::parse(form.session.as_deref().unwrap_or(""))
        .map_err(|e| ShopError::BadInput(e.to_string()))?;
    let action = match form.action.as_deref() {
        Some("add") => CartAction::Add,
        Some("remove") => CartAction::Remove,
        Some(_) => {
            return Err(ShopError::BadInput(
                "unknown action: use add or remove".into(),
            ))
        }
        None => {
            return Err(ShopError::BadInput(
                "action is required: add or remove".into(),
            ))
        }
    };
    let shopper = Shopper::Burts(session);
    let book = BookId::featured();
    let outcome = match action {
        CartAction::Add => {
            state.hold_rate.take(client.0)?;
            state.inventory.reserve(&shopper, &book).await
        }
        CartAction::Remove => state.inventory.return_copy(&shopper, &book).await,
    };
    match outcome {
        // One copy per session: adding twice or removing what is not held
        // changes nothing and is not an error, as in the book.
        Ok(_) | Err(ShopError::LimitReached(_) | ShopError::NotHeld) => {}
        Err(e) => return Err(e),
    }
    Ok(count_response(&state.notifier.latest()))
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    session: Option<String>,
}

/// `/cart/status`: Burt's WebSocket client and its long poll share the
/// path; the upgrade header tells them apart.
pub async fn cart_status(
    State(state): State<AppState>,
    query: Result<Query<StatusQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ShopError> {
    let Query(query) = query?;
    // Burt's WebSocket client sends no session; its long poll always does.
    let session = match query.session.as_deref() {
        Some(raw) => {
            Some(BurtsSession::parse(raw).map_err(|e| ShopError::BadInput(e.to_string()))?)
        }
        None => None,
    };
    let (mut parts, _body) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| ShopError::BadInput(e.body_text()))?;
        return Ok(status_socket(state, upgrade));
    }
    Ok(status_poll(state, session, &parts.headers).await)
}

/// Burt's WebSocket: `{"inventoryCount":"N"}` on every change of the
/// featured count.
fn status_socket(state: AppState, upgrade: WebSocketUpgrade) -> Response {
    let updates = state.notifier.subscribe();
    let mut seen = updates.borrow().featured.changed_at;
    let counted = state.metrics.subscribe(Transport::BurtsWebsocket);
    let upkeep = state.upkeep.clone();
    let pick = move |latest: &std::sync::Arc<Published>| {
        let _counted = &counted;
        (latest.featured.changed_at > seen).then(|| {
            seen = latest.featured.changed_at;
            latest.featured.json.clone()
        })
    };
    socket::serve(upgrade, updates, None, pick, None, upkeep)
}

/// Burt's long poll: answered when the featured count next changes, at
/// once when it changed since this session's last answer.
async fn status_poll(
    state: AppState,
    session: Option<BurtsSession>,
    headers: &axum::http::HeaderMap,
) -> Response {
    // Burt's client re-polls after each answer; a change made between an
    // answer and the next poll would be missed, so each session's last
    // answered version is remembered (in its cookie, and by this node) and a
    // stale poller is answered at once.
    let current = state.notifier.latest().featured.changed_at;
    let since = state
        .cookies()
        .read(headers, FEATURED_SEEN_COOKIE)
        .and_then(|seen| seen.parse::<u64>().ok())
        .or_else(|| session.as_ref().and_then(|s| state.answered.last(s)))
        .unwrap_or(current);
    let _counted = state.metrics.subscribe(Transport::BurtsLongPoll);
    let latest = state
        .notifier
        .wait_for(
            |p| p.featured.changed_at > since,
            BURTS_POLL_LIMIT,
            &state.shutdown,
        )
        .await
        // Past the limit or at shutdown Burt's client gets the count as
        // it stands; it shows it and polls again, exactly as after a change.
        .unwrap_or_else(|| state.notifier.latest());
    if let Some(session) = session {
        state.answered.record(session, latest.featured.changed_at);
    }
    (
        seen_cookie(state.cookies(), latest.featured.changed_at),
        count_response(&latest),
    )
        .into_response()
}

/// The cookie that carries the featured version a browser was last told.
const FEATURED_SEEN_COOKIE: &str = "livecart_featured_seen";

/// Sets [`FEATURED_SEEN_COOKIE`]; it lasts as long as a node remembers a
/// silent session.
fn seen_cookie(cookies: CookiePolicy, version: u64) -> [(header::HeaderName, String); 1] {
    [(
        header::SET_COOKIE,
        cookies.set(
            FEATURED_SEEN_COOKIE,
            &version.to_string(),
            &format!("Max-Age={}; HttpOnly; SameSite=Lax", FORGET_AFTER.as_secs()),
        ),
    )]
}

/// How long Burt's long poll is held at most. Proxies and browsers cut
/// idle requests after a minute or two; answering first keeps Burt's
/// client (which re-polls only after an answer) alive.
const BURTS_POLL_LIMIT: Duration = Duration::from_secs(50);

fn count_response(latest: &Published) -> Response {
    let body = axum::body::Bytes::from(latest.featured.json.clone());
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn is_websocket_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

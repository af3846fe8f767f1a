//! The Tornado book's protocol ("Burt's Books"), exactly as its jQuery client
//! speaks it, on the shop's featured book and the same inventory as the pages.
//!
//! - `POST /cart` with `session=<id>&action=add|remove`: one copy per
//!   session, idempotent; 409 when none is left.
//! - `GET /cart/status?session=<id>`: a long poll answered with
//!   `{"inventoryCount":"N"}` when the featured count next changes (or at
//!   once, when it changed since this session's last answer).
//! - a WebSocket on the same path pushes that JSON on every change.
//!
//! Behind a load balancer the book's client re-polls whichever node it
//! reaches, so "the version this session was last told" cannot live in one
//! node's memory alone. It travels with the client instead: every answer
//! (and the book's page) sets the cookie `livecart_featured_seen` to the
//! featured count's version, which is the database's and so the same on
//! every node; the browser sends it with the next poll wherever that lands.
//! Kept in PostgreSQL it would cost a write per answered poll; routed by
//! session at the balancer it would be lost with the node. A client that
//! keeps no cookies (curl) still gets the per-node memory below.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::metrics::gauge::Gauge;
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::notifier::Published;
use super::socket;
use crate::server::inventory::shopper::{BookSession, Shopper};
use crate::server::inventory::BookId;
use crate::server::metrics::Transport;
use crate::server::web::client_address::ClientAddress;
use crate::server::web::cookies::CookiePolicy;
use crate::server::AppState;
use crate::shared::stock::StockSnapshot;
use crate::shared::ShopError;

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
    let session = BookSession::parse(form.session.as_deref().unwrap_or(""))
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
    let shopper = Shopper::Book(session);
    let book = BookId::featured();
    let outcome = match action {
        CartAction::Add => {
            state.hold_rate.take(client.0)?;
            state.inventory.reserve(&shopper, &book).await
        }
        CartAction::Remove => state.inventory.release(&shopper, &book).await,
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

pub async fn cart_status(
    State(state): State<AppState>,
    query: Result<Query<StatusQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ShopError> {
    let Query(query) = query?;
    // The book's WebSocket client sends no session; its long poll always does.
    let session = match query.session.as_deref() {
        Some(raw) => Some(BookSession::parse(raw).map_err(|e| ShopError::BadInput(e.to_string()))?),
        None => None,
    };
    let (mut parts, _body) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| ShopError::BadInput(e.body_text()))?;
        let updates = state.notifier.subscribe();
        let mut seen = updates.borrow().featured.changed_at;
        let counted = state.metrics.subscribe(Transport::BookWebsocket);
        let upkeep = state.upkeep.clone();
        let pick = move |latest: &std::sync::Arc<Published>| {
            let _counted = &counted;
            (latest.featured.changed_at > seen).then(|| {
                seen = latest.featured.changed_at;
                latest.featured.json.clone()
            })
        };
        // The socket's task is `push_updates` itself, not a future wrapping
        // it: each layer of async block would keep its own copy of what it
        // hands down, for as long as the socket is open.
        return Ok(socket::configure(upgrade)
            .on_upgrade(move |ws| socket::push_updates(ws, updates, None, pick, upkeep)));
    }

    // The book's client re-polls after each answer; a change made between an
    // answer and the next poll would be missed, so each session's last
    // answered version is remembered (in its cookie, and by this node) and a
    // stale poller is answered at once.
    let current = state.notifier.latest().featured.changed_at;
    let since = state
        .cookies()
        .read(&parts.headers, FEATURED_SEEN_COOKIE)
        .and_then(|seen| seen.parse::<u64>().ok())
        .or_else(|| session.as_ref().and_then(|s| state.answered.last(s)))
        .unwrap_or(current);
    let _counted = state.metrics.subscribe(Transport::BookLongPoll);
    let latest = state
        .notifier
        .wait_for(
            |p| p.featured.changed_at > since,
            BOOK_POLL_LIMIT,
            &state.shutdown,
        )
        .await
        // Past the limit or at shutdown the book's client gets the count as
        // it stands; it shows it and polls again, exactly as after a change.
        .unwrap_or_else(|| state.notifier.latest());
    if let Some(session) = session {
        state.answered.record(session, latest.featured.changed_at);
    }
    Ok((
        seen_cookie(state.cookies(), latest.featured.changed_at),
        count_response(&latest),
    )
        .into_response())
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

/// How long the book's long poll is held at most. Proxies and browsers cut
/// idle requests after a minute or two; answering first keeps the book's
/// client (which re-polls only after an answer) alive.
const BOOK_POLL_LIMIT: Duration = Duration::from_secs(50);

/// How long a silent session's last answered version is kept.
const FORGET_AFTER: Duration = Duration::from_secs(300);

/// Per session of the book's protocol, the featured count's version it was
/// last told, for a bounded number of sessions, each forgotten after a while.
/// Only answered polls are recorded (a page view sets the cookie instead),
/// and the silent are swept at most once per `forget_after / 5`: when the
/// memory is full in between, a new session is simply not remembered, so a
/// flood of sessions never makes each request walk the whole memory.
pub struct AnsweredVersions {
    sessions: Mutex<Sessions>,
    /// Sessions remembered at most (about 150 bytes each).
    capacity: usize,
    /// A session silent this long is forgotten: its next poll is a first one.
    forget_after: Duration,
    /// How many sessions are remembered, for `/metrics`.
    remembered: Gauge,
}

struct Sessions {
    by_session: HashMap<BookSession, (u64, Instant)>,
    last_sweep: Instant,
    sweeps: u64,
}

impl AnsweredVersions {
    pub fn new(remembered: Gauge) -> AnsweredVersions {
        AnsweredVersions::with_limits(100_000, FORGET_AFTER, remembered)
    }

    pub fn with_limits(
        capacity: usize,
        forget_after: Duration,
        remembered: Gauge,
    ) -> AnsweredVersions {
        AnsweredVersions {
            sessions: Mutex::new(Sessions {
                by_session: HashMap::new(),
                last_sweep: Instant::now(),
                sweeps: 0,
            }),
            capacity,
            forget_after,
            remembered,
        }
    }

    pub fn last(&self, session: &BookSession) -> Option<u64> {
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions
            .by_session
            .get(session)
            .filter(|(_, at)| at.elapsed() < self.forget_after)
            .map(|(version, _)| *version)
    }

    pub fn record(&self, session: BookSession, version: u64) {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if now.duration_since(sessions.last_sweep) > self.forget_after / 5 {
            let forget_after = self.forget_after;
            sessions
                .by_session
                .retain(|_, (_, at)| now.duration_since(*at) < forget_after);
            sessions.last_sweep = now;
            sessions.sweeps += 1;
        }
        // Full of live sessions: this one gets the book's plain behaviour.
        if sessions.by_session.len() < self.capacity || sessions.by_session.contains_key(&session) {
            sessions.by_session.insert(session, (version, now));
        }
        self.remembered
            .set(i64::try_from(sessions.by_session.len()).unwrap_or(i64::MAX));
    }
}

impl Default for AnsweredVersions {
    fn default() -> Self {
        AnsweredVersions::new(Gauge::default())
    }
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    transport: Option<String>,
}

/// The book's own page (its `DetailHandler` and `index.html`): a fresh
/// session and the current count, with the book's jQuery client.
/// `?transport=websocket` serves the book's WebSocket client instead.
pub async fn book_page(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ShopError> {
    let Query(query) = query?;
    let script = match query.transport.as_deref() {
        None | Some("longpoll") => "inventory.js",
        Some("websocket") => "inventory-ws.js",
        Some(_) => {
            return Err(ShopError::BadInput(
                "transport must be longpoll or websocket".into(),
            ))
        }
    };
    let session = uuid4();
    let featured = state.notifier.latest().featured.clone();
    let count = featured.count;
    // The page shows this count and its cookie says so: the session's first
    // poll waits for the next. Nothing is recorded for a mere view.
    let html = format!(
        r#"<html>
    <head>
        <title>Burt's Books &ndash; Book Detail</title>
        <script src="/burts-books/jquery-1.9.1.min.js" type="text/javascript"></script>
        <script src="/burts-books/{script}" type="application/javascript"></script>
    </head>
    <body>
        <div>
            <h1>Burt's Books</h1>

            <hr/>
            <p><h2>The Definitive Guide to the Internet</h2>
            <em>Anonymous</em></p>
        </div>
        <hr />
        <input type="hidden" id="session" value="{session}" />
        <div id="add-to-cart">
            <p><span style="color: red;">Only <span id="count">{count}</span>
                left in stock! Order now!</span></p>
            <p>$20.00 <input type="submit" value="Add to Cart" id="add-button" /></p>
        </div>
        <div id="remove-from-cart" style="display: none;">
            <p><span style="color: green;">One copy is in your cart.</span></p>
            <p><input type="submit" value="Remove from Cart" id="remove-button" /></p>
        </div>
    </body>
</html>
"#
    );
    Ok((
        seen_cookie(state.cookies(), featured.changed_at),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// A random UUID (version 4), as the book's server makes with `uuid4()`.
fn uuid4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The featured book's count and the version at which it last changed, so the
/// book's long poll can wait for a change of this count and no other.
#[derive(Clone, Debug)]
pub struct FeaturedCount {
    pub count: u32,
    pub changed_at: u64,
    /// `{"inventoryCount":"N"}`, exactly as the book's server writes it.
    pub json: Utf8Bytes,
}

impl FeaturedCount {
    pub(super) fn of(
        snapshot: &StockSnapshot,
        book: &str,
        previous: Option<&FeaturedCount>,
    ) -> FeaturedCount {
        // A change that leaves the book out did not move its count.
        match (snapshot.available(book), previous) {
            (None, Some(previous)) => previous.clone(),
            (Some(count), Some(previous)) if previous.count == count => previous.clone(),
            (count, _) => FeaturedCount {
                count: count.unwrap_or(0),
                changed_at: snapshot.version,
                json: Utf8Bytes::from(count_json(count.unwrap_or(0))),
            },
        }
    }
}

/// The body of every answer in the book's protocol: the count as a string.
fn count_json(count: u32) -> String {
    format!("{{\"inventoryCount\":\"{count}\"}}")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str) -> BookSession {
        BookSession::parse(name).unwrap()
    }

    #[test]
    fn remembers_the_last_answered_version_per_session() {
        let answered = AnsweredVersions::default();
        assert_eq!(answered.last(&session("a")), None);
        answered.record(session("a"), 4);
        answered.record(session("a"), 7);
        answered.record(session("b"), 5);
        assert_eq!(answered.last(&session("a")), Some(7));
        assert_eq!(answered.last(&session("b")), Some(5));
    }

    #[test]
    fn forgets_silent_sessions_and_stays_bounded() {
        let answered =
            AnsweredVersions::with_limits(2, Duration::from_millis(30), Gauge::default());
        answered.record(session("a"), 1);
        answered.record(session("b"), 1);
        answered.record(session("c"), 1);
        assert_eq!(answered.last(&session("c")), None, "full: not remembered");
        assert_eq!(answered.last(&session("a")), Some(1), "the remembered stay");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            answered.last(&session("a")),
            None,
            "forgotten after a while"
        );
        answered.record(session("c"), 2);
        assert_eq!(
            answered.last(&session("c")),
            Some(2),
            "room again once the silent are swept"
        );
        assert_eq!(answered.sessions.lock().unwrap().by_session.len(), 1);
    }

    #[test]
    fn a_full_memory_is_swept_at_most_once_per_interval() {
        let answered =
            AnsweredVersions::with_limits(100, Duration::from_secs(60), Gauge::default());
        for i in 0..10_000 {
            answered.record(session(&format!("s{i}")), 1);
        }
        let sessions = answered.sessions.lock().unwrap();
        assert_eq!(sessions.by_session.len(), 100, "bounded");
        assert_eq!(
            sessions.sweeps, 0,
            "no sweep before its interval, full or not"
        );
    }
}

//! The Tornado book's protocol ("Burt's Books"), exactly as its jQuery client
//! speaks it, on the shop's featured book and the same inventory as the pages.
//!
//! - `POST /cart` with `session=<id>&action=add|remove`: one copy per
//!   session, idempotent; 409 when none is left.
//! - `GET /cart/status?session=<id>`: a long poll answered with
//!   `{"inventoryCount":"N"}` when the featured count next changes.
//! - a WebSocket on the same path pushes that JSON on every change.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::server::error::ApiError;
use crate::server::inventory::{BookId, InventoryError, Refusal};
use crate::server::notifier::Published;
use crate::server::shopper::{BookSession, Shopper};
use crate::server::socket;
use crate::server::AppState;

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
    form: Result<Form<CartForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let session = BookSession::parse(form.session.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let action = match form.action.as_deref() {
        Some("add") => CartAction::Add,
        Some("remove") => CartAction::Remove,
        Some(_) => return Err(ApiError::BadRequest("unknown action: use add or remove".into())),
        None => return Err(ApiError::BadRequest("action is required: add or remove".into())),
    };
    let shopper = Shopper::Book(session);
    let book = BookId::featured();
    let outcome = match action {
        CartAction::Add => state.inventory.reserve(&shopper, &book).await,
        CartAction::Remove => state.inventory.release(&shopper, &book).await,
    };
    match outcome {
        // One copy per session: adding twice or removing what is not held
        // changes nothing and is not an error, as in the book.
        Ok(_) | Err(InventoryError::Refused(Refusal::LimitReached(_) | Refusal::NotHeld)) => {}
        Err(InventoryError::Refused(Refusal::SoldOut)) => {
            return Err(ApiError::Conflict("no copies left".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(count_response(&state.inventory.latest()))
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    session: Option<String>,
}

pub async fn cart_status(
    State(state): State<AppState>,
    query: Result<Query<StatusQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    // The book's WebSocket client sends no session; its long poll always does.
    if let Some(raw) = query.session.as_deref() {
        BookSession::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let (mut parts, _body) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let updates = state.inventory.notifier().subscribe();
        let mut seen = updates.borrow().featured.changed_at;
        let shutdown = state.shutdown.clone();
        return Ok(socket::configure(upgrade).on_upgrade(move |ws| {
            socket::push_updates(
                ws,
                updates,
                None,
                move |latest: &Published| {
                    (latest.featured.changed_at > seen).then(|| {
                        seen = latest.featured.changed_at;
                        latest.featured.json.clone()
                    })
                },
                shutdown,
            )
        }));
    }

    let mut updates = state.inventory.notifier().subscribe();
    let since = updates.borrow_and_update().featured.changed_at;
    loop {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    return Err(ApiError::Unavailable);
                }
            }
            _ = state.shutdown.cancelled() => return Err(ApiError::Unavailable),
        }
        let latest = updates.borrow_and_update().clone();
        if latest.featured.changed_at > since {
            return Ok(count_response(&latest));
        }
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
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let script = match query.transport.as_deref() {
        None | Some("longpoll") => "inventory.js",
        Some("websocket") => "inventory-ws.js",
        Some(_) => return Err(ApiError::BadRequest("transport must be longpoll or websocket".into())),
    };
    let session = uuid4();
    let count = state.inventory.latest().featured.count;
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
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// A random UUID (version 4), as the book's server makes with `uuid4()`.
fn uuid4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn count_response(latest: &Published) -> Response {
    let body = axum::body::Bytes::from(latest.featured.json.clone());
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

fn is_websocket_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

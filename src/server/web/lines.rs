//! Lines over HTTP: `POST /api/lines/join` and `/api/lines/leave` (server
//! functions, so a page's form works without JavaScript too) and
//! `GET /api/lines/<book>`, each answering the line as the asking shopper
//! sees it; and the same ask over the page's stock WebSocket
//! (`{"line":"<book>"}`), which is how a live page asks at a launch's
//! opening. Who asks and from which address is read here; what a join or a
//! leave does is the inventory's (`inventory::lines`).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;

use super::client_address::ClientAddress;
use super::cookies::SHOPPER_COOKIE;
use super::forms::{answer_form, request, shopper, state, with_status};
use super::live::socket::Answer;
use crate::server::inventory::shopper::{Shopper, ShopperId};
use crate::server::inventory::BookId;
use crate::server::network::address_group;
use crate::server::AppState;
use crate::shared::lines::{LineAnswer, LineAsk, LineState, LineView, Offer};
use crate::shared::{Notice, ShopError};

pub async fn join(book: String) -> Result<LineView, ShopError> {
    let result = async {
        let state = state()?;
        let shopper = shopper()?;
        let id = BookId::parse(&book).map_err(|_| ShopError::UnknownBook)?;
        // The cap counts places by address group (IPv6: a /64), behind
        // trusted proxies the client's.
        let address = address_group(ClientAddress::of(&request()?)).to_string();
        state.inventory.join_line(&shopper, &id, address).await?;
        seen_by(&state, &shopper, &id).await
    }
    .await;
    answer_form(result, Notice::Joined, &book_page(&book), None)
}

pub async fn leave(book: String) -> Result<LineView, ShopError> {
    let result = async {
        let state = state()?;
        let shopper = shopper()?;
        let id = BookId::parse(&book).map_err(|_| ShopError::UnknownBook)?;
        state.inventory.leave_line(&shopper, &id).await?;
        seen_by(&state, &shopper, &id).await
    }
    .await;
    answer_form(result, Notice::Left, &book_page(&book), None)
}

/// The book's line as the asking shopper sees it (their page asks when
/// their turn may have come); None when the book has none.
pub async fn line_for_page(book: String) -> Result<Option<LineView>, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    let id = BookId::parse(&book).map_err(|_| with_status(ShopError::UnknownBook))?;
    state
        .inventory
        .line_view(Some(&shopper), &id)
        .await
        .map_err(with_status)
}

/// The copies lines hold for this shopper now (the banner on every page).
pub async fn offers() -> Result<Vec<Offer>, ShopError> {
    let state = state()?;
    // Every page asks; while no line has an offer open (most of the time)
    // no shopper can hold one, and the database is not asked.
    if !state.notifier.any_offer_open() {
        return Ok(Vec::new());
    }
    let shopper = shopper()?;
    state.inventory.offers(&shopper).await
}

/// `GET /api/lines/<book>`: the book's line, with the asking shopper's
/// place when their cookie names one. 404 when the book has no line.
pub async fn line(
    State(state): State<AppState>,
    Path(book): Path<String>,
    headers: HeaderMap,
) -> Result<Json<LineView>, ShopError> {
    let shopper = shopper_of(&state, &headers);
    seen_as(&state, shopper, &book)
        .await?
        .map(Json)
        .ok_or(ShopError::NoLine)
}

/// What a page's stock WebSocket answers when it asks `{"line":"<book>"}`:
/// the line as the shopper of the socket's cookie sees it (read at the
/// upgrade, as `GET /api/lines/<book>` reads it from each request), through
/// the same gathered read. An ask not understood, or for no such book, is
/// answered with an `error` and changes nothing.
pub fn socket_answer(state: &AppState, headers: &HeaderMap) -> Answer {
    let shopper = shopper_of(state, headers);
    let state = state.clone();
    Arc::new(move |ask: Utf8Bytes| {
        let state = state.clone();
        let shopper = shopper.clone();
        Box::pin(async move {
            let answer = match serde_json::from_str::<LineAsk>(ask.as_str()) {
                Ok(LineAsk { line: book }) => match seen_as(&state, shopper, &book).await {
                    Ok(view) => LineAnswer {
                        line: book,
                        view,
                        error: None,
                    },
                    Err(error) => LineAnswer {
                        line: book,
                        view: None,
                        error: Some(error.to_string()),
                    },
                },
                Err(_) => LineAnswer {
                    line: String::new(),
                    view: None,
                    error: Some(r#"not understood: ask {"line":"<book>"}"#.to_string()),
                },
            };
            // A LineAnswer of strings and numbers always serializes.
            Utf8Bytes::from(serde_json::to_string(&answer).unwrap_or_default())
        })
    })
}

/// `book`'s line as `shopper` sees it (over HTTP or a socket): None when
/// the book has no line, UnknownBook when there is no such book.
async fn seen_as(
    state: &AppState,
    shopper: Option<Shopper>,
    book: &str,
) -> Result<Option<LineView>, ShopError> {
    let id = BookId::parse(book).map_err(|_| ShopError::UnknownBook)?;
    if let Some(view) = state.inventory.line_view(shopper.as_ref(), &id).await? {
        return Ok(Some(view));
    }
    match state.inventory.book(&id).await? {
        Some(_) => Ok(None),
        None => Err(ShopError::UnknownBook),
    }
}

/// The shopper a request's cookie names, if it names one.
fn shopper_of(state: &AppState, headers: &HeaderMap) -> Option<Shopper> {
    state
        .cookies()
        .read(headers, SHOPPER_COOKIE)
        .and_then(|value| ShopperId::parse(&value))
        .map(Shopper::Web)
}

/// The book's line as the shopper sees it after their change: `ended`
/// (and no place) when it ended with it, as when the last one waiting leaves.
async fn seen_by(state: &AppState, shopper: &Shopper, id: &BookId) -> Result<LineView, ShopError> {
    let view = state.inventory.line_view(Some(shopper), id).await?;
    Ok(view.unwrap_or_else(|| LineView {
        book: id.as_str().to_string(),
        line: LineState::ended(),
        you: None,
    }))
}

fn book_page(book: &str) -> String {
    match BookId::parse(book) {
        Ok(id) => format!("/books/{}", id.as_str()),
        Err(_) => "/".to_string(),
    }
}

//! The storefront's server functions, on the server side: find out who the
//! shopper is, parse the input, ask the inventory, and translate its answer
//! into a page or a `ShopError` with its HTTP status.

use http::header::REFERER;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use leptos::prelude::*;
use axum::response::IntoResponse;
use leptos_axum::ResponseOptions;

use crate::app::book::BookView;
use crate::app::cart::{CartView, HoldingView};
use crate::app::catalog::CatalogView;
use crate::app::{Notice, ShopError};
use std::time::Duration;

use crate::server::metrics::Transport;
use crate::stock::StockSnapshot;
use crate::server::inventory::{now_ms, BookId, Holding, InventoryError, Refusal};
use crate::server::shopper::{Shopper, ShopperId};
use crate::server::AppState;

pub async fn catalog() -> Result<CatalogView, ShopError> {
    let state = state()?;
    let stock = state.inventory.latest().snapshot.clone();
    let books = state.inventory.catalog().await.map_err(refused)?;
    Ok(CatalogView { books, stock })
}

pub async fn book(id: String) -> Result<BookView, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    let id = BookId::parse(&id).map_err(|_| with_status(ShopError::UnknownBook))?;
    let latest = state.inventory.latest();
    let book = state.inventory.book(&id).await.map_err(refused)?;
    let Some(book) = book else {
        return Err(with_status(ShopError::UnknownBook));
    };
    let held = state.inventory.held(&shopper, &id).await.map_err(refused)?;
    Ok(BookView {
        available: latest.snapshot.available(id.as_str()).unwrap_or(0),
        version: latest.version(),
        held,
        limit: state.inventory.rules().copies_allowed(&shopper),
        book,
    })
}

pub async fn cart() -> Result<CartView, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    let lines = state.inventory.cart(&shopper).await.map_err(refused)?;
    Ok(CartView { lines, now_ms: now_ms() })
}

/// The longest a stock poll may be held, and the default.
const POLL_MAX_SECS: u64 = 60;
const POLL_DEFAULT_SECS: u64 = 25;

pub async fn poll_stock(since: u64, timeout: Option<u64>) -> Result<Option<StockSnapshot>, ShopError> {
    let state = state()?;
    let wait = timeout.unwrap_or(POLL_DEFAULT_SECS);
    if wait > POLL_MAX_SECS {
        return Err(with_status(ShopError::BadInput(format!("timeout must be at most {POLL_MAX_SECS} seconds"))));
    }
    let _counted = state.metrics.subscribe(Transport::LongPoll);
    let newer = state
        .inventory
        .notifier()
        .wait_for(|p| p.version() > since, Duration::from_secs(wait), &state.shutdown)
        .await;
    match newer {
        Some(published) => Ok(Some(published.snapshot.clone())),
        None => {
            if let Some(response) = use_context::<ResponseOptions>() {
                response.set_status(StatusCode::NO_CONTENT);
            }
            Ok(None)
        }
    }
}

pub async fn reserve(book: String) -> Result<HoldingView, ShopError> {
    let result = change(&book, |state, shopper, id| async move {
        state.inventory.reserve(&shopper, &id).await
    })
    .await;
    answer_form(&book, result, Notice::Reserved)
}

pub async fn give_back(book: String) -> Result<HoldingView, ShopError> {
    let result = change(&book, |state, shopper, id| async move {
        state.inventory.release(&shopper, &id).await
    })
    .await;
    answer_form(&book, result, Notice::Returned)
}

async fn change<F, Fut>(book: &str, act: F) -> Result<HoldingView, ShopError>
where
    F: FnOnce(AppState, Shopper, BookId) -> Fut,
    Fut: std::future::Future<Output = Result<Holding, InventoryError>>,
{
    let state = state()?;
    let shopper = shopper()?;
    let id = BookId::parse(book).map_err(|_| ShopError::UnknownBook)?;
    let limit = state.inventory.rules().copies_allowed(&shopper);
    let holding = act(state, shopper, id).await.map_err(shop_error)?;
    Ok(HoldingView { book_id: holding.book.as_str().to_string(), copies: holding.copies, limit })
}

/// A browser that posted the form itself (no JavaScript) is sent back to the
/// page it came from with the outcome in `?notice=`; a script gets the answer
/// with its status.
fn answer_form(book: &str, result: Result<HoldingView, ShopError>, success: Notice) -> Result<HoldingView, ShopError> {
    let parts = use_context::<Parts>();
    if let Some(parts) = parts.as_ref().filter(|p| is_plain_form_post(&p.headers)) {
        let notice = match &result {
            Ok(_) => success,
            Err(e) => Notice::Refused(e.clone()),
        };
        let back = back_to(&parts.headers, book);
        leptos_axum::redirect(&format!("{back}?notice={}", notice.code()));
        return result;
    }
    result.map_err(with_status)
}

fn is_plain_form_post(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The path of the page the form was on, or the book's page.
fn back_to(headers: &HeaderMap, book: &str) -> String {
    let from_referer = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<http::Uri>().ok())
        .map(|uri| uri.path().to_string())
        .filter(|path| {
            path.starts_with('/')
                && !path.starts_with("/api/")
                && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        });
    match from_referer {
        Some(path) => path,
        None if BookId::parse(book).is_ok() => format!("/books/{book}"),
        None => "/".to_string(),
    }
}

fn state() -> Result<AppState, ShopError> {
    use_context::<AppState>().ok_or(ShopError::Unavailable)
}

fn shopper() -> Result<Shopper, ShopError> {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<ShopperId>().cloned())
        .map(Shopper::Web)
        .ok_or(ShopError::Unavailable)
}

/// The shopper-facing error for an inventory answer.
pub fn shop_error(e: InventoryError) -> ShopError {
    match e {
        InventoryError::Refused(Refusal::SoldOut) => ShopError::SoldOut,
        InventoryError::Refused(Refusal::LimitReached(n)) => ShopError::LimitReached(n),
        InventoryError::Refused(Refusal::NotHeld) => ShopError::NotHeld,
        InventoryError::Refused(Refusal::UnknownBook) => ShopError::UnknownBook,
        InventoryError::Storage(e) => {
            tracing::error!(error = %e, "storage failed under a page");
            ShopError::Unavailable
        }
        InventoryError::Stopped => ShopError::Unavailable,
    }
}

fn refused(e: InventoryError) -> ShopError {
    with_status(shop_error(e))
}

/// Sets the response's status to the error's, so scripts and tools see a 4xx
/// for a refusal rather than the 500 server functions answer by default.
fn with_status(e: ShopError) -> ShopError {
    if let (Some(response), Ok(status)) = (use_context::<ResponseOptions>(), StatusCode::from_u16(e.status())) {
        response.set_status(status);
    }
    e
}

/// Server functions answer 500 for arguments they cannot even parse (a
/// missing or malformed field); this gives such answers the status of the
/// `ShopError` they carry (400 for bad input), so bad input is never a 5xx.
pub async fn status_from_shop_error(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<ShopError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status()) {
            parts.status = status;
        }
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

//! The storefront's server functions, on the server side: find out who the
//! shopper is, parse the input, ask the inventory, and translate its answer
//! into a page or a `ShopError` with its HTTP status.

use std::time::Duration;

use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::app::book::BookView;
use crate::app::cart::{CartView, HoldingView};
use crate::app::catalog::CatalogView;
use crate::app::{Notice, ShopError};
use crate::server::forms::{answer_form, refused, shop_error, shopper, state, with_status};
use crate::server::inventory::{now_ms, BookId, Holding, InventoryError};
use crate::server::metrics::Transport;
use crate::server::shopper::Shopper;
use crate::server::AppState;
use crate::stock::{BookDetails, Order, StockSnapshot};

/// The longest a stock poll may be held, and the default.
const POLL_MAX_SECS: u64 = 60;
const POLL_DEFAULT_SECS: u64 = 25;

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
        catalog_version: latest.snapshot.catalog_version,
        held,
        limit: state.inventory.rules().copies_allowed(&shopper),
        book,
    })
}

/// The upstream catalog's details of a book; waits at most the client's
/// deadline, and never holds up anything else.
pub async fn book_details(id: String) -> Result<Option<BookDetails>, ShopError> {
    let state = state()?;
    let id = BookId::parse(&id).map_err(|_| with_status(ShopError::UnknownBook))?;
    if !state.catalog.is_on() {
        return Ok(None);
    }
    let book = state.inventory.book(&id).await.map_err(refused)?;
    let Some(isbn) = book.and_then(|b| b.isbn) else {
        return Ok(None);
    };
    match state.catalog.details(&isbn).await {
        Some(Ok(details)) => Ok(Some(details)),
        // No status here: during a page render it would be the page's. A
        // script calling the function still gets 503 (forms::status_from_shop_error).
        Some(Err(_)) => Err(ShopError::Unavailable),
        None => Ok(None),
    }
}

/// The cart page; looking at it renews every hold in it.
pub async fn cart() -> Result<CartView, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    state.inventory.renew(&shopper).await.map_err(refused)?;
    let lines = state.inventory.cart(&shopper).await.map_err(refused)?;
    Ok(CartView {
        lines,
        now_ms: now_ms(),
    })
}

pub async fn order(id: String) -> Result<Order, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    let well_formed = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(with_status(ShopError::UnknownOrder));
    }
    match state
        .inventory
        .order(&shopper, &id)
        .await
        .map_err(refused)?
    {
        Some(order) => Ok(order),
        None => Err(with_status(ShopError::UnknownOrder)),
    }
}

pub async fn checkout() -> Result<Order, ShopError> {
    let result = async {
        let state = state()?;
        let shopper = shopper()?;
        state.inventory.checkout(&shopper).await.map_err(shop_error)
    }
    .await;
    let to = result
        .as_ref()
        .ok()
        .map(|order| format!("/orders/{}", order.id));
    answer_form(result, Notice::Saved, "/cart", to)
}

pub async fn poll_stock(
    since: u64,
    timeout: Option<u64>,
) -> Result<Option<StockSnapshot>, ShopError> {
    let state = state()?;
    let wait = timeout.unwrap_or(POLL_DEFAULT_SECS);
    if wait > POLL_MAX_SECS {
        return Err(with_status(ShopError::BadInput(format!(
            "timeout must be at most {POLL_MAX_SECS} seconds"
        ))));
    }
    let _counted = state.metrics.subscribe(Transport::LongPoll);
    let newer = state
        .inventory
        .notifier()
        .wait_for(
            |p| p.version() > since,
            Duration::from_secs(wait),
            &state.shutdown,
        )
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
    answer_form(result, Notice::Reserved, &book_page(&book), None)
}

pub async fn give_back(book: String) -> Result<HoldingView, ShopError> {
    let result = change(&book, |state, shopper, id| async move {
        state.inventory.release(&shopper, &id).await
    })
    .await;
    answer_form(result, Notice::Returned, &book_page(&book), None)
}

fn book_page(book: &str) -> String {
    match BookId::parse(book) {
        Ok(id) => format!("/books/{}", id.as_str()),
        Err(_) => "/".to_string(),
    }
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
    Ok(HoldingView {
        book_id: holding.book.as_str().to_string(),
        copies: holding.copies,
        limit,
    })
}

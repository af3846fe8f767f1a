//! The storefront's server functions, on the server side: find out who the
//! shopper is, parse the input, ask the inventory, and translate its answer
//! into a page or a `ShopError` with its HTTP status.

use super::client_address::ClientAddress;
use super::forms::{answer_form, request, shelf_request, shopper, state, with_status};
use crate::server::clock::now_ms;
use crate::server::inventory::shopper::Shopper;
use crate::server::inventory::{BookId, Holding};
use crate::server::AppState;
use crate::shared::stock::{BookDetails, Order};
use crate::shared::views::{BookView, CartView, CatalogView, HoldingView};
use crate::shared::{Notice, ShopError};

/// One page of the shelf or of a search, with those books' live counts.
pub async fn catalog(search: Option<String>, page: Option<u32>) -> Result<CatalogView, ShopError> {
    let state = state()?;
    let (search, mut shelf) = shelf_request(search, page)?;
    let lines = state
        .inventory
        .shelf_page(search.as_ref(), shelf.page)
        .await
        .map_err(with_status)?
        .paging(&mut shelf);
    let books: Vec<_> = lines.into_iter().map(|line| line.book).collect();
    // The counts as published (the version the page subscribes from), not
    // as read: a commit may land between the two.
    let stock = state.notifier.counts(books.iter().map(|b| b.id.as_str()));
    Ok(CatalogView {
        books,
        stock,
        shelf,
    })
}

pub async fn book(id: String) -> Result<BookView, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    let id = BookId::parse(&id).map_err(|_| with_status(ShopError::UnknownBook))?;
    let (version, catalog_version, available) = state.notifier.count(id.as_str());
    let book = state.inventory.book(&id).await.map_err(with_status)?;
    let Some(book) = book else {
        return Err(with_status(ShopError::UnknownBook));
    };
    let held = state
        .inventory
        .held(&shopper, &id)
        .await
        .map_err(with_status)?;
    // Only a book the notifier knows has a line is looked up (most have none).
    let line = match state.notifier.line(id.as_str()) {
        Some(_) => state
            .inventory
            .line_view(Some(&shopper), &id)
            .await
            .map_err(with_status)?,
        None => None,
    };
    Ok(BookView {
        available: available.unwrap_or(0),
        version,
        catalog_version,
        held,
        limit: state.inventory.rules().copies_allowed(&shopper),
        book,
        line,
        now_ms: now_ms(),
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
    let book = state.inventory.book(&id).await.map_err(with_status)?;
    let Some(isbn) = book.and_then(|b| b.isbn) else {
        return Ok(None);
    };
    match state.catalog.details(&isbn).await {
        Some(Ok(details)) => Ok(Some(details)),
        // No status here: during a page render it would be the page's (a
        // script calling the function gets 503 from server_fn's error answer).
        Some(Err(_)) => Err(ShopError::Unavailable),
        None => Ok(None),
    }
}

/// The cart page; looking at it renews every hold in it.
pub async fn cart() -> Result<CartView, ShopError> {
    let state = state()?;
    let shopper = shopper()?;
    state.inventory.renew(&shopper).await.map_err(with_status)?;
    let lines = state.inventory.cart(&shopper).await.map_err(with_status)?;
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
        .map_err(with_status)?
    {
        Some(order) => Ok(order),
        None => Err(with_status(ShopError::UnknownOrder)),
    }
}

pub async fn checkout() -> Result<Order, ShopError> {
    let result = async {
        let state = state()?;
        let shopper = shopper()?;
        state.inventory.checkout(&shopper).await
    }
    .await;
    let to = result
        .as_ref()
        .ok()
        .map(|order| format!("/orders/{}", order.id));
    answer_form(result, Notice::Saved, "/cart", to)
}

pub async fn reserve(book: String) -> Result<HoldingView, ShopError> {
    let result = change(&book, |state, shopper, id| async move {
        state.hold_rate.take(ClientAddress::of(&request()?))?;
        state.inventory.reserve(&shopper, &id).await
    })
    .await;
    answer_form(result, Notice::Reserved, &burts_page(&book), None)
}

pub async fn return_copy(book: String) -> Result<HoldingView, ShopError> {
    let result = change(&book, |state, shopper, id| async move {
        state.inventory.return_copy(&shopper, &id).await
    })
    .await;
    answer_form(result, Notice::Returned, &burts_page(&book), None)
}

fn burts_page(book: &str) -> String {
    match BookId::parse(book) {
        Ok(id) => format!("/books/{}", id.as_str()),
        Err(_) => "/".to_string(),
    }
}

async fn change<F, Fut>(book: &str, act: F) -> Result<HoldingView, ShopError>
where
    F: FnOnce(AppState, Shopper, BookId) -> Fut,
    Fut: std::future::Future<Output = Result<Holding, ShopError>>,
{
    let state = state()?;
    let shopper = shopper()?;
    let id = BookId::parse(book).map_err(|_| ShopError::UnknownBook)?;
    let limit = state.inventory.rules().copies_allowed(&shopper);
    let holding = act(state, shopper, id).await?;
    Ok(HoldingView {
        book_id: holding.book.as_str().to_string(),
        copies: holding.copies,
        limit,
    })
}

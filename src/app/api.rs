//! Every server function the pages call, declared once. Each is a thin
//! declaration: its body runs on the server, in `server::web`; the browser
//! gets a typed stub. The live stock is not here: its long poll and socket
//! are plain routes (`server::web::live`) the page calls by URL.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::shared::lines::{LineView, Offer};
use crate::shared::stock::{BookDetails, Order};
use crate::shared::views::{AdminView, BookView, CartView, CatalogView, HoldingView, OrdersView};
use crate::shared::ShopError;

// The storefront.

/// One page (from 1) of the shelf, or of the books whose title, author or
/// ISBN match `search`.
#[server(endpoint = "pages/catalog", input = GetUrl)]
pub async fn get_catalog(
    search: Option<String>,
    page: Option<u32>,
) -> Result<CatalogView, ShopError> {
    crate::server::web::storefront::catalog(search, page).await
}

#[server(endpoint = "pages/book", input = GetUrl)]
pub async fn get_book(id: String) -> Result<BookView, ShopError> {
    crate::server::web::storefront::book(id).await
}

/// The upstream catalog's details; None when no catalog is configured or the
/// book has no ISBN.
#[server(endpoint = "pages/book-details", input = GetUrl)]
pub async fn get_book_details(id: String) -> Result<Option<BookDetails>, ShopError> {
    crate::server::web::storefront::book_details(id).await
}

#[server(endpoint = "pages/cart", input = GetUrl)]
pub async fn get_cart() -> Result<CartView, ShopError> {
    crate::server::web::storefront::cart().await
}

#[server(endpoint = "pages/order", input = GetUrl)]
pub async fn get_order(id: String) -> Result<Order, ShopError> {
    crate::server::web::storefront::order(id).await
}

/// Reserves one more copy of `book` for this shopper.
#[server(endpoint = "cart/reserve")]
pub async fn reserve_copy(book: String) -> Result<HoldingView, ShopError> {
    crate::server::web::storefront::reserve(book).await
}

/// Puts one of this shopper's copies of `book` back on sale.
#[server(endpoint = "cart/return")]
pub async fn return_copy(book: String) -> Result<HoldingView, ShopError> {
    crate::server::web::storefront::return_copy(book).await
}

/// Buys everything this shopper holds.
#[server(endpoint = "cart/checkout")]
pub async fn checkout() -> Result<Order, ShopError> {
    crate::server::web::storefront::checkout().await
}

// Lines.

/// Takes a place in `book`'s line (starting one when it is sold out).
#[server(endpoint = "lines/join")]
pub async fn join_line(book: String) -> Result<LineView, ShopError> {
    crate::server::web::lines::join(book).await
}

/// Gives up this shopper's place in `book`'s line, or the copy it holds for them.
#[server(endpoint = "lines/leave")]
pub async fn leave_line(book: String) -> Result<LineView, ShopError> {
    crate::server::web::lines::leave(book).await
}

/// `book`'s line and this shopper's place in it; None when it has none.
#[server(endpoint = "pages/line", input = GetUrl)]
pub async fn get_line(book: String) -> Result<Option<LineView>, ShopError> {
    crate::server::web::lines::line_for_page(book).await
}

/// The copies lines hold for this shopper now.
#[server(endpoint = "pages/offers", input = GetUrl)]
pub async fn get_offers() -> Result<Vec<Offer>, ShopError> {
    crate::server::web::lines::offers().await
}

// The staff pages.

#[server(endpoint = "admin/overview", input = GetUrl)]
pub async fn get_admin(search: Option<String>, page: Option<u32>) -> Result<AdminView, ShopError> {
    crate::server::web::backoffice::overview(search, page).await
}

/// A page of orders for the owner, newest first, optionally by book.
#[server(endpoint = "admin/orders", input = GetUrl)]
pub async fn get_orders(
    search: Option<String>,
    page: Option<u32>,
) -> Result<OrdersView, ShopError> {
    crate::server::web::backoffice::orders(search, page).await
}

#[server(endpoint = "admin/sign-in")]
pub async fn sign_in(name: String, password: String) -> Result<(), ShopError> {
    crate::server::web::backoffice::sign_in(name, password).await
}

#[server(endpoint = "admin/sign-out")]
pub async fn sign_out() -> Result<(), ShopError> {
    crate::server::web::backoffice::sign_out().await
}

/// Adds `copies` new copies of `book` for sale.
#[server(endpoint = "admin/restock")]
pub async fn restock(book: String, copies: u32) -> Result<(), ShopError> {
    crate::server::web::backoffice::restock(book, copies).await
}

/// Sets how many copies of `book` the shop owns, sold ones included.
#[server(endpoint = "admin/total")]
pub async fn set_total(book: String, total: u32) -> Result<(), ShopError> {
    crate::server::web::backoffice::set_total(book, total).await
}

/// Sets `book`'s price, written like "20.00".
#[server(endpoint = "admin/price")]
pub async fn set_price(book: String, price: String) -> Result<(), ShopError> {
    crate::server::web::backoffice::set_price(book, price).await
}

/// Schedules a launch of `book`: `copies` more copies for its line, which
/// opens at `opens_at` (RFC 3339 in UTC, or a wait such as `+30s`).
#[server(endpoint = "admin/launch")]
pub async fn launch_line(book: String, copies: u32, opens_at: String) -> Result<(), ShopError> {
    crate::server::web::backoffice::launch(book, copies, opens_at).await
}

/// Ends `book`'s line.
#[server(endpoint = "admin/end-line")]
pub async fn end_line(book: String) -> Result<(), ShopError> {
    crate::server::web::backoffice::end_line(book).await
}

#[server(endpoint = "admin/books")]
pub async fn add_book(
    id: String,
    title: String,
    author: String,
    isbn: String,
    price: String,
    copies: u32,
) -> Result<(), ShopError> {
    crate::server::web::backoffice::add_book(id, title, author, isbn, price, copies).await
}

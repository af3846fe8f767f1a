//! The books a new shop opens with: the Tornado book's featured title and its
//! ten copies, and a dozen others. Stocked once, on the first start.

use crate::server::clock::now_ms;
use crate::server::store::{NewBook, Store, StoreError};
use crate::shared::stock::FEATURED_BOOK;

/// Stocks the opening books in a shop that has never held a book.
pub async fn stock_opening_books(store: &Store) -> Result<(), StoreError> {
    let books = opening_books();
    if store.stock_if_empty(&books, now_ms()).await? {
        tracing::info!(books = books.len(), "stocked the opening books");
    }
    Ok(())
}

/// The opening books, in the catalog's order.
fn opening_books() -> Vec<NewBook> {
    OPENING_BOOKS
        .iter()
        .map(|&(id, title, author, isbn, price_cents, copies)| NewBook {
            id: id.to_string(),
            title: title.to_string(),
            author: author.to_string(),
            isbn: isbn.map(str::to_string),
            price_cents,
            copies,
            featured: id == FEATURED_BOOK,
        })
        .collect()
}

/// (id, title, author, ISBN, price in cents, copies)
type OpeningBook = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u32,
    u32,
);

const OPENING_BOOKS: &[OpeningBook] = &[
    (
        FEATURED_BOOK,
        "The Definitive Guide to the Internet",
        "Anonymous",
        None,
        2000,
        10,
    ),
    (
        "introduction-to-tornado",
        "Introduction to Tornado",
        "Michael Dory, Adam Parrish, Brendan Berg",
        Some("9781449309077"),
        2999,
        12,
    ),
    (
        "the-rust-programming-language",
        "The Rust Programming Language",
        "Steve Klabnik, Carol Nichols",
        Some("9781718503106"),
        3999,
        8,
    ),
    (
        "designing-data-intensive-applications",
        "Designing Data-Intensive Applications",
        "Martin Kleppmann",
        Some("9781449373320"),
        4999,
        5,
    ),
    (
        "high-performance-browser-networking",
        "High Performance Browser Networking",
        "Ilya Grigorik",
        Some("9781449344764"),
        3499,
        6,
    ),
    (
        "the-pragmatic-programmer",
        "The Pragmatic Programmer",
        "David Thomas, Andrew Hunt",
        Some("9780135957059"),
        4499,
        7,
    ),
    (
        "structure-and-interpretation-of-computer-programs",
        "Structure and Interpretation of Computer Programs",
        "Harold Abelson, Gerald Jay Sussman",
        Some("9780262510875"),
        5500,
        3,
    ),
];

//! What each page's server function answers: built by the server, rendered
//! by the pages.

use serde::{Deserialize, Serialize};

use super::stock::{Book, CartLine, LedgerLine, StockSnapshot};

/// The stock version a page was rendered at: the server provides it to
/// every render, and the page's live subscription starts from it, so it is
/// sent only what changed since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedAt(pub u64);

/// `/`: the shelf and every count, at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogView {
    pub books: Vec<Book>,
    pub stock: StockSnapshot,
}

/// `/books/:id`: one book, its count, and what this shopper holds of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookView {
    pub book: Book,
    pub available: u32,
    pub version: u64,
    pub catalog_version: u64,
    /// Copies this shopper holds, and the most they may.
    pub held: u32,
    pub limit: u32,
}

/// What a shopper holds of a book after Add or Return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingView {
    pub book_id: String,
    pub copies: u32,
    pub limit: u32,
}

/// `/cart`: the shopper's holds, and the server's clock to count down from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    pub now_ms: i64,
}

/// `/admin`: who is signed in, and every copy accounted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminView {
    /// Who is signed in; None shows the sign-in form.
    pub staff: Option<String>,
    pub ledger: Vec<LedgerLine>,
    pub version: u64,
}

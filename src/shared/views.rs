//! What each page's server function answers: built by the server, rendered
//! by the pages.

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lines::{LineState, LineView};
use super::stock::{Book, CartLine, LedgerLine, StockSnapshot};

/// The stock version a page was rendered at: the server provides it to
/// every render, and the page's live subscription starts from it, so it is
/// sent only what changed since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedAt(pub u64);

/// A view handed to an island as JSON text, read back in the browser by
/// `serde_json::from_slice`, the decoder the server functions' answers go
/// through. As a plain prop the island's loader would decode it with
/// `from_str`, and the wasm would carry two decoders of every view type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsJson<T>(pub T);

impl<T: Serialize> Serialize for AsJson<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&self.0).map_err(S::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for AsJson<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_slice(text.as_bytes())
            .map(AsJson)
            .map_err(D::Error::custom)
    }
}

/// Books on one page of the shelf (`/`, `/admin`).
pub const PAGE_SIZE: u32 = 24;

/// `/`: one page of the shelf (or of a search), with those books' counts at
/// one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogView {
    pub books: Vec<Book>,
    /// The counts of `books` (only theirs), at the version the page shows.
    pub stock: StockSnapshot,
    pub shelf: ShelfPage,
}

/// Which page of the shelf a view is, and what was searched for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShelfPage {
    /// The search as typed; empty for the whole shelf.
    pub search: String,
    /// From 1.
    pub page: u32,
    pub has_next: bool,
    /// Pages in all, where they are counted (the shelf and its searches).
    #[serde(default)]
    pub pages: Option<u32>,
}

impl ShelfPage {
    /// The address of another page of the same shelf or search, under `base`
    /// (`/` or `/admin`).
    pub fn link(&self, base: &str, page: u32) -> String {
        let mut query = Vec::new();
        if !self.search.is_empty() {
            query.push(format!("q={}", encode(&self.search)));
        }
        if page > 1 {
            query.push(format!("page={page}"));
        }
        if query.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", query.join("&"))
        }
    }
}

/// Percent-encodes all but unreserved characters, for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    /// The book's line and this shopper's place in it, while it has one.
    pub line: Option<LineView>,
    /// The server's clock when the view was made (Unix ms): countdowns and
    /// offers' deadlines are shown against it.
    pub now_ms: i64,
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
    /// Their role, `owner` or `clerk`: a clerk is shown only the forms a
    /// clerk may use.
    pub role: Option<String>,
    pub ledger: Vec<LedgerLine>,
    pub version: u64,
    pub shelf: ShelfPage,
    /// The newest lines, what became of their places, and their draws.
    pub lines: Vec<LineSummary>,
    /// The desk's figures as the page was made (every node on record among
    /// them); the desk then follows them
    /// live.
    pub desk: DeskFigures,
    /// Each ledger book's available count over today (UTC): the ledger's
    /// sparklines.
    pub stock_today: std::collections::BTreeMap<String, StockDay>,
}

/// A book's available count over today (UTC), hour by hour.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockDay {
    /// The count the day opened at (or the book came in at, if it came
    /// today).
    pub opened: u32,
    /// The count at the end of each hour so far, midnight's first; the
    /// hour under way's is the count now.
    pub hours: Vec<u32>,
    /// The lowest the count has been today.
    pub low: u32,
}

/// `/admin/orders`: a page of orders, newest first, and the search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersView {
    pub orders: Vec<crate::shared::stock::Order>,
    /// The search (a book's id or words of its title) and the paging.
    pub shelf: ShelfPage,
}

/// A node of the shop as staff see it (`server::nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: String,
    pub address: String,
    pub version: String,
    /// Unix ms.
    pub started_at: i64,
    pub last_beat: i64,
    /// Open subscribers by transport.
    pub connections: Vec<(String, i64)>,
    /// False once it has been silent for more than 10 s.
    pub up: bool,
}

/// A line as staff see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSummary {
    pub book_id: String,
    pub title: String,
    /// `launch` or `notify`.
    pub kind: String,
    pub line: LineState,
    /// How many places are in each state (`waiting`, `offered`, `bought`,
    /// `lapsed`, `declined`, `left`).
    pub places: Vec<(String, u32)>,
    /// The first places in order: (place, the shopper's id shortened, state).
    pub draw: Vec<(Option<u32>, String, String)>,
}

/// The staff desk's live figures (`server::desk`), read from the database,
/// so every node's desk shows the same numbers. "Today" is the UTC day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskFigures {
    /// When they were read, Unix ms: a desk keeps the newest it is sent.
    pub at: i64,
    /// Copies in shoppers' holds now (line offers among them).
    pub copies_held: u64,
    /// Copies sold since midnight, and the orders that bought them.
    pub sold_today: u64,
    pub orders_today: u64,
    /// Holds the clock ended since midnight, unbought.
    pub lapsed_today: u64,
    /// Orders in each of the last 60 minutes, oldest first; the last is the
    /// minute now under way.
    pub orders_per_minute: Vec<u32>,
    /// The five books most held now: (id, title, copies held), most first.
    pub most_held: Vec<(String, String, u64)>,
    /// Over every line not yet ended: places waiting, places offered a
    /// copy now, and places that bought theirs.
    pub line_waiting: u64,
    pub line_offered: u64,
    pub line_sold: u64,
    /// Every node on record, and which are up (silent more than 10 s: gone).
    pub nodes: Vec<NodeView>,
}

impl DeskFigures {
    /// Orders in the last hour: the chart's sum.
    pub fn orders_last_hour(&self) -> u64 {
        self.orders_per_minute.iter().map(|n| u64::from(*n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_search() {
        let shelf = ShelfPage {
            search: "Le Guin & co".into(),
            page: 2,
            has_next: true,
            pages: Some(3),
        };
        assert_eq!(shelf.link("/", 3), "/?q=Le%20Guin%20%26%20co&page=3");
        assert_eq!(shelf.link("/admin", 1), "/admin?q=Le%20Guin%20%26%20co");
        assert_eq!(ShelfPage::default().link("/", 1), "/");
        assert_eq!(ShelfPage::default().link("/", 2), "/?page=2");
    }

    #[test]
    fn a_view_as_json_text_comes_back_whole() {
        let shelf = ShelfPage {
            search: "\"quoted\" & <tagged>".into(),
            page: 3,
            has_next: false,
            pages: None,
        };
        let text = serde_json::to_string(&AsJson(shelf.clone())).unwrap();
        assert!(text.starts_with('"'), "sent as one JSON string: {text}");
        let back: AsJson<ShelfPage> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.0, shelf);
        assert!(serde_json::from_str::<AsJson<ShelfPage>>("\"{}\"").is_err());
    }
}

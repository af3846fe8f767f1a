//! The inventory: every rule of the shop's stock.
//!
//! Handlers, server functions and Burt's protocol ask the inventory (this
//! file: the handle, the book id and the rules' settings). It decides what
//! each change does (`changes`; reserves and returns in memory, `decide`),
//! and hands its changes to the database's one writer (`server::writer`),
//! which commits them and publishes the new snapshot. It ends lapsed holds
//! on its own clock (`expiry`), knows who holds copies (`shopper`), and
//! stocks a new shop's first books (`opening_stock`).

mod changes;
mod decide;
mod expiry;
pub mod lines;
mod opening_stock;
pub mod shopper;

use std::sync::Arc;
use std::time::Duration;

use crate::server::metrics::Metrics;
use crate::server::store::{LineRecord, PlaceRecord};
use crate::server::store::{NewBook, Search, Store, StoreError};
use crate::server::writer::Writer;
use crate::shared::lines::{LineStatus, LineView, Offer, Place};
use crate::shared::stock::{parse_price, Book, CartLine, LedgerLine, Order, FEATURED_BOOK};
use crate::shared::views::{ShelfPage, PAGE_SIZE};
use crate::shared::ShopError;
use changes::{Change, DirectChange, HoldChange, Outcome};
use lines::LineChange;
pub use opening_stock::stock_opening_books;
use shopper::Shopper;

/// One page of the shelf or of a search, as staff and shoppers page it.
#[derive(Debug)]
pub struct ShelfSlice {
    pub lines: Vec<LedgerLine>,
    pub has_next: bool,
    /// Pages in all (at least 1, an empty shelf being one empty page).
    pub pages: u32,
}

impl ShelfSlice {
    /// The slice's books, with `shelf` told whether more follow and how
    /// many pages there are.
    pub fn paging(self, shelf: &mut ShelfPage) -> Vec<LedgerLine> {
        shelf.has_next = self.has_next;
        shelf.pages = Some(self.pages);
        self.lines
    }
}

/// A book's id: a URL slug such as `definitive-guide-to-the-internet`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BookId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a book id is 1 to 96 lowercase letters, digits and dashes")]
pub struct BadBookId;

impl BookId {
    pub fn parse(raw: &str) -> Result<BookId, BadBookId> {
        let ok = !raw.is_empty()
            && raw.len() <= 96
            && raw
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(BookId(raw.to_string()))
        } else {
            Err(BadBookId)
        }
    }

    pub fn featured() -> BookId {
        BookId(FEATURED_BOOK.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most copies of one book staff may add or own at once.
pub const MAX_COPIES: u32 = 100_000;

/// A new book as staff type it (the add-book form, a line of an import):
/// each field checked, or the reason it is refused.
pub fn new_book(
    id: &str,
    title: &str,
    author: &str,
    isbn: &str,
    price: &str,
    copies: u32,
) -> Result<NewBook, String> {
    let id = BookId::parse(id.trim()).map_err(|e| e.to_string())?;
    let text = |what: &str, value: &str| {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
            Err(format!("{what} must be 1 to 200 characters"))
        } else {
            Ok(value.to_string())
        }
    };
    let isbn = isbn.trim().replace('-', "");
    let isbn = match isbn.len() {
        0 => None,
        10 | 13
            if isbn
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_digit() || (b == b'X' && i == 9)) =>
        {
            Some(isbn)
        }
        _ => return Err("an ISBN has 10 or 13 digits".into()),
    };
    if copies > MAX_COPIES {
        return Err(format!("copies must be at most {MAX_COPIES}"));
    }
    Ok(NewBook {
        id: id.as_str().to_string(),
        title: text("title", title)?,
        author: text("author", author)?,
        isbn,
        price_cents: parse_price(price)?,
        copies,
        featured: false,
    })
}

/// A book id made from a title: lowercase letters and digits, dashes
/// between words, at most 96 characters ("The Rust Programming Language" →
/// `the-rust-programming-language`). None when nothing is left of it.
pub fn slug(title: &str) -> Option<BookId> {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(96);
    BookId::parse(slug.trim_end_matches('-')).ok()
}

/// What the shop's rules allow.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The most copies of one book a web shopper may hold.
    pub max_copies_per_shopper: u32,
    /// The most different books one cart may hold.
    pub max_books_per_cart: u32,
    /// How long a hold lasts after the shopper last touched it.
    pub reservation_ttl: Duration,
    /// How long a hold lasts at most after it was first taken, however often
    /// it is renewed.
    pub max_hold_age: Duration,
    /// How long a copy a line offers is held for the shopper whose turn it is.
    pub line_offer_ttl: Duration,
    /// Places one address group may hold in one book's line; 0 for no cap.
    pub line_places_per_address: u32,
}

impl Rules {
    /// Burt's protocol holds one copy per session, whatever the setting.
    pub fn copies_allowed(&self, shopper: &Shopper) -> u32 {
        match shopper {
            Shopper::Web(_) => self.max_copies_per_shopper,
            Shopper::Burts(_) => 1,
        }
    }
}

/// What a shopper holds of a book after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub book: BookId,
    pub copies: u32,
}

#[derive(Clone)]
pub struct Inventory {
    store: Store,
    rules: Arc<Rules>,
    writer: Writer<Rules>,
}

impl Inventory {
    /// The inventory, asking `writer` (the database's one writer, started
    /// with these rules) for every change; starts the clock that ends lapsed
    /// holds.
    pub fn new(store: Store, rules: Rules, writer: Writer<Rules>) -> Inventory {
        tokio::spawn(expiry::release_lapsed_holds(
            store.clone(),
            writer.downgrade(),
        ));
        tokio::spawn(lines::open_due_lines(store.clone(), writer.downgrade()));
        Inventory {
            store,
            rules: Arc::new(rules),
            writer,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether this node can take changes: its writer runs, and the
    /// database answers a read within `within`. The reason when not.
    pub async fn health(&self, within: Duration) -> Result<(), &'static str> {
        if self.writer.is_closed() {
            return Err("the writer has stopped");
        }
        match tokio::time::timeout(within, self.store.version()).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err("the database does not answer"),
        }
    }

    /// Whether this node follows the others' changes (always on SQLite).
    pub fn follows_the_database(&self, metrics: &Metrics) -> bool {
        !self.store.is_postgres() || metrics.listener_up.get() == 1
    }

    pub async fn catalog(&self) -> Result<Vec<Book>, ShopError> {
        Ok(self.store.catalog().await?)
    }

    /// One page (from 1) of the shelf, or of the books matching `search`,
    /// each with its copies available, held and sold; whether more follow,
    /// and how many pages there are.
    pub async fn shelf_page(
        &self,
        search: Option<&Search>,
        page: u32,
    ) -> Result<ShelfSlice, ShopError> {
        let offset = page.saturating_sub(1).saturating_mul(PAGE_SIZE);
        let (lines, has_next, matched) = self.store.shelf_page(search, offset, PAGE_SIZE).await?;
        let pages = matched.div_ceil(u64::from(PAGE_SIZE)).max(1);
        Ok(ShelfSlice {
            lines,
            has_next,
            pages: u32::try_from(pages).unwrap_or(u32::MAX),
        })
    }

    pub async fn cart(&self, shopper: &Shopper) -> Result<Vec<CartLine>, ShopError> {
        Ok(self.store.holdings(&shopper.key()).await?)
    }

    pub async fn book(&self, id: &BookId) -> Result<Option<Book>, ShopError> {
        Ok(self.store.book(id.as_str()).await?)
    }

    /// Copies of `book` the shopper holds now.
    pub async fn held(&self, shopper: &Shopper, book: &BookId) -> Result<u32, ShopError> {
        Ok(self.store.held(&shopper.key(), book.as_str()).await?)
    }

    /// One of the shopper's orders; None if there is none by that id for them.
    pub async fn order(&self, shopper: &Shopper, id: &str) -> Result<Option<Order>, ShopError> {
        Ok(self.store.order(&shopper.key(), id).await?)
    }

    /// Puts one more copy of `book` in the shopper's hands.
    pub async fn reserve(&self, shopper: &Shopper, book: &BookId) -> Result<Holding, ShopError> {
        match self
            .ask(Change::Hold(HoldChange::Reserve {
                shopper: shopper.clone(),
                book: book.clone(),
            }))
            .await?
        {
            Outcome::Held(holding) => Ok(holding),
            other => Err(unexpected(other)),
        }
    }

    /// Puts one of the shopper's copies of `book` back on sale.
    pub async fn return_copy(
        &self,
        shopper: &Shopper,
        book: &BookId,
    ) -> Result<Holding, ShopError> {
        match self
            .ask(Change::Hold(HoldChange::ReturnCopy {
                shopper: shopper.clone(),
                book: book.clone(),
            }))
            .await?
        {
            Outcome::Held(holding) => Ok(holding),
            other => Err(unexpected(other)),
        }
    }

    /// Buys everything the shopper holds, in one transaction.
    pub async fn checkout(&self, shopper: &Shopper) -> Result<Order, ShopError> {
        match self
            .ask_direct(DirectChange::Checkout {
                shopper: shopper.clone(),
            })
            .await?
        {
            Outcome::Ordered(order) => Ok(order),
            other => Err(unexpected(other)),
        }
    }

    /// The shopper touched their cart: every hold's deadline starts again.
    pub async fn renew(&self, shopper: &Shopper) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::Renew {
            shopper: shopper.clone(),
        })
        .await
        .map(|_| ())
    }

    pub async fn restock(&self, book: &BookId, copies: u32) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::Restock {
            book: book.clone(),
            copies,
        })
        .await
        .map(|_| ())
    }

    pub async fn set_total(&self, book: &BookId, total: u32) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::SetTotal {
            book: book.clone(),
            total,
        })
        .await
        .map(|_| ())
    }

    pub async fn set_price(&self, book: &BookId, price_cents: u32) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::SetPrice {
            book: book.clone(),
            price_cents,
        })
        .await
        .map(|_| ())
    }

    pub async fn add_book(&self, book: NewBook) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::AddBook(book))
            .await
            .map(|_| ())
    }

    /// Takes a place in the book's line for the shopper (starting one when
    /// the book is sold out), at most `line_places_per_address` from one
    /// `address` group. Joining twice changes nothing.
    pub async fn join_line(
        &self,
        shopper: &Shopper,
        book: &BookId,
        address: String,
    ) -> Result<(), ShopError> {
        self.ask_line(LineChange::Join {
            shopper: shopper.clone(),
            book: book.clone(),
            address,
        })
        .await
    }

    /// Gives up the shopper's place in the book's line, or the copy it
    /// offers them.
    pub async fn leave_line(&self, shopper: &Shopper, book: &BookId) -> Result<(), ShopError> {
        self.ask_line(LineChange::Leave {
            shopper: shopper.clone(),
            book: book.clone(),
        })
        .await
    }

    /// Schedules a launch: `copies` more copies of the book, all for its
    /// line, which opens at `opens_at` (Unix ms).
    pub async fn launch(&self, book: &BookId, copies: u32, opens_at: i64) -> Result<(), ShopError> {
        if copies > MAX_COPIES {
            return Err(ShopError::BadInput(format!(
                "copies must be at most {MAX_COPIES}"
            )));
        }
        self.ask_line(LineChange::Launch {
            book: book.clone(),
            copies,
            opens_at,
        })
        .await
    }

    /// Ends the book's line: its copies on the shelf are sold first come again.
    pub async fn end_line(&self, book: &BookId) -> Result<(), ShopError> {
        self.ask_line(LineChange::End { book: book.clone() }).await
    }

    async fn ask_line(&self, change: LineChange) -> Result<(), ShopError> {
        self.ask_direct(DirectChange::Line(change))
            .await
            .map(|_| ())
    }

    /// The book's line as the shopper sees it; None when it has none.
    pub async fn line_view(
        &self,
        shopper: Option<&Shopper>,
        book: &BookId,
    ) -> Result<Option<LineView>, ShopError> {
        // With a shopper, their place is read together with every other
        // page's ask of the moment: at an opening every page asks at once.
        let seen = match shopper {
            Some(shopper) => {
                self.store
                    .line_seen_by(book.as_str(), &shopper.key())
                    .await?
            }
            None => self
                .store
                .line_of(book.as_str())
                .await?
                .map(|line| (line, None)),
        };
        let Some((line, you)) = seen else {
            return Ok(None);
        };
        if line.state == LineStatus::Ended {
            return Ok(None);
        }
        let you = you
            .filter(|place| matches!(place.state.as_str(), "waiting" | "offered"))
            .map(|place| Place {
                place: place.place,
                // As the page works it out from the broadcast: one index
                // lookup per shopper, not a count over the line, which at
                // a launch's opening every page asks at once.
                ahead: place.place.map_or(0, |p| line.state().ahead_of(p)),
                offer_until: (place.state == "offered")
                    .then_some(place.offer_until)
                    .flatten(),
            });
        Ok(Some(LineView {
            book: line.book_id.clone(),
            line: line.state(),
            you,
        }))
    }

    /// How many times pages asked for their place, and how many reads of
    /// the database answered them (`store::line_reads`).
    pub fn line_read_counts(&self) -> crate::server::store::LineReadCounts {
        self.store.line_read_counts()
    }

    /// Copies lines hold for the shopper now.
    pub async fn offers(&self, shopper: &Shopper) -> Result<Vec<Offer>, ShopError> {
        let offers = self
            .store
            .offers(&shopper.key(), crate::server::clock::now_ms())
            .await?;
        Ok(offers
            .into_iter()
            .map(|(book_id, title, offer_until)| Offer {
                book_id,
                title,
                offer_until,
            })
            .collect())
    }

    /// The newest lines (at most `limit`), with their books' titles.
    pub async fn lines(&self, limit: u32) -> Result<Vec<(LineRecord, String)>, ShopError> {
        Ok(self.store.lines(limit).await?)
    }

    /// The book's current line as stored (also one that ended).
    pub async fn line_record(&self, book: &BookId) -> Result<Option<LineRecord>, ShopError> {
        Ok(self.store.line_of(book.as_str()).await?)
    }

    /// A line's first `limit` places, in order, and how many places are in
    /// each state.
    pub async fn line_places(
        &self,
        line: &LineRecord,
        limit: u32,
    ) -> Result<(Vec<PlaceRecord>, Vec<(String, u32)>), ShopError> {
        let places = self.store.places(line.id, limit).await?;
        let counts = self.store.place_counts(line.id).await?;
        Ok((places, counts))
    }

    async fn ask_direct(&self, change: DirectChange) -> Result<Outcome, ShopError> {
        self.ask(Change::Direct(change)).await
    }

    async fn ask(&self, change: Change) -> Result<Outcome, ShopError> {
        self.writer.ask(change).await
    }
}

fn unexpected(done: Outcome) -> ShopError {
    ShopError::from(StoreError::Corrupt(format!("unexpected outcome {done:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_make_slugs() {
        let id = |t: &str| slug(t).map(|b| b.as_str().to_string());
        assert_eq!(
            id("The Rust Programming Language").as_deref(),
            Some("the-rust-programming-language")
        );
        assert_eq!(id("  C++: A Tour!  ").as_deref(), Some("c-a-tour"));
        assert_eq!(id("!!!"), None);
        assert_eq!(id(&"long ".repeat(40)).map(|s| s.len() <= 96), Some(true));
    }

    #[test]
    fn book_ids_are_slugs() {
        assert!(BookId::parse("definitive-guide-to-the-internet").is_ok());
        assert!(BookId::parse("").is_err());
        assert!(BookId::parse("Caps").is_err());
        assert!(BookId::parse("-dash").is_err());
        assert!(BookId::parse("a/b").is_err());
        assert!(BookId::parse(&"a".repeat(97)).is_err());
    }
}

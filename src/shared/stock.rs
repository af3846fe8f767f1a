//! The shop's wire types, compiled for both the server and the browser so that
//! one Rust type is the JSON on both sides.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::lines::LineState;

/// The id of the Tornado book's featured title; Burt's protocol sells it.
pub const FEATURED_BOOK: &str = "definitive-guide-to-the-internet";

/// Books' available counts at one version of the stock: every book's (a
/// whole snapshot), or, when `since` is set, only those that changed after
/// that version (a change).
///
/// Versions only grow, so a client keeps the greater version and never goes
/// back to an older count; it applies a change only on top of a version at
/// least `since`, and never leaves a gap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockSnapshot {
    pub version: u64,
    /// Set on a change: the version it follows. Every book not in `stock`
    /// has the count it had at `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The version at which the catalog itself (titles, prices, the list of
    /// books) last changed, so a page knows when to fetch it again.
    #[serde(default)]
    pub catalog_version: u64,
    pub stock: BTreeMap<String, u32>,
    /// The line of every book that has one (in a change: of the books in
    /// `stock` whose line changed, `ended` when it is over).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<String, LineState>,
}

/// What taking a message did to what a client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absorbed {
    /// It is newer and followed on: the client now holds its version.
    Applied,
    /// It is no newer than what the client holds: nothing changed.
    Stale,
    /// It follows a version newer than the client's: applying it would skip
    /// changes, so the client asks again from its own version.
    Gap,
}

impl StockSnapshot {
    /// Takes `next` on top of this state: a whole snapshot replaces it, a
    /// change is merged when it follows on from this version or an older
    /// one. The state stays a whole snapshot of its own books (`since` unset).
    pub fn absorb(&mut self, next: StockSnapshot) -> Absorbed {
        if next.version <= self.version {
            return Absorbed::Stale;
        }
        match next.since {
            None => {
                *self = next;
            }
            Some(since) if since > self.version => return Absorbed::Gap,
            Some(_) => {
                self.version = next.version;
                self.catalog_version = self.catalog_version.max(next.catalog_version);
                self.stock.extend(next.stock);
                // An ended line is kept as ended: a page that rendered the
                // line learns it is over.
                self.lines.extend(next.lines);
            }
        }
        Absorbed::Applied
    }

    pub fn available(&self, book: &str) -> Option<u32> {
        self.stock.get(book).copied()
    }

    /// The book's line as this state last heard of it (`ended` once it is
    /// over); None when it heard nothing of one.
    pub fn line(&self, book: &str) -> Option<&LineState> {
        self.lines.get(book)
    }
}

/// A title in the catalog, as `/api/books` and the pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub id: String,
    pub title: String,
    pub author: String,
    /// The price in whole cents; `price` is the same as a decimal string.
    pub price_cents: u32,
    pub price: String,
    /// Copies the shop owns (available + reserved + sold).
    pub total: u32,
    pub featured: bool,
    pub isbn: Option<String>,
}

impl Book {
    pub fn display_price(&self) -> String {
        format!("${}", self.price)
    }

    /// The address of the cover the shop draws for this book. It names what
    /// the drawing is made of (`?v=`), so the cover can be cached for good:
    /// a changed title or author is a new address.
    pub fn cover_href(&self) -> String {
        format!(
            "/covers/{}.svg?v={}",
            self.id,
            cover_tag(&self.id, &self.title, &self.author)
        )
    }
}

/// Bumped when the drawing itself changes, so every cover's address does.
pub const COVER_DESIGN: &str = "1";

/// What a drawn cover is made of, as 16 hex digits: its design, the book's
/// id, title and author. The cover's `?v=` and its ETag.
pub fn cover_tag(id: &str, title: &str, author: &str) -> String {
    let hash = [COVER_DESIGN, id, title, author]
        .iter()
        .fold(FNV_OFFSET, |hash, part| {
            // A separator no text holds, so ("ab", "c") and ("a", "bc") differ.
            fnv1a(fnv1a(hash, part.as_bytes()), &[0xff])
        });
    format!("{hash:016x}")
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: small in the browser's code, stable across builds and
/// platforms (std's hashers are neither promised to be).
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a of `bytes` from the standard start.
pub fn fnv1a_of(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

/// A line's cents: a price times its copies, which cannot overflow a u64.
pub fn line_cents(price_cents: u32, copies: u32) -> u64 {
    u64::from(price_cents) * u64::from(copies)
}

/// The total of (price, copies) lines, or None when it would not fit what
/// the order tables store (a signed 64-bit number of cents).
pub fn total_cents(lines: impl IntoIterator<Item = (u32, u32)>) -> Option<u64> {
    lines
        .into_iter()
        .try_fold(0u64, |sum, (price, copies)| {
            sum.checked_add(line_cents(price, copies))
        })
        .filter(|total| i64::try_from(*total).is_ok())
}

/// "20.00" for 2000 cents.
pub fn decimal_price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Cents from a price written like "20.00", "20", "$4.5"; at most 999999.99.
pub fn parse_price(raw: &str) -> Result<u32, String> {
    let text = raw.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 6
        || fraction.len() > 2
        || !digits(whole)
        || !digits(fraction)
    {
        return Err(format!("{raw:?} is not a price like 20.00"));
    }
    let whole: u32 = whole
        .parse()
        .map_err(|_| format!("{raw:?} is not a price like 20.00"))?;
    let cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u32>().unwrap_or(0) * 10,
        _ => fraction.parse::<u32>().unwrap_or(0),
    };
    Ok(whole * 100 + cents)
}

/// What one shopper holds of one book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub book_id: String,
    pub title: String,
    pub price_cents: u32,
    pub copies: u32,
    /// Unix time in milliseconds when the hold lapses unless renewed.
    pub expires_at_ms: i64,
}

/// A book as staff see it: every copy accounted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine {
    pub book: Book,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

/// What the upstream catalog says of a book.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookDetails {
    pub description: Option<String>,
    pub pages: Option<u32>,
    pub cover_url: Option<String>,
}

/// A placed order: what was bought, at the prices of the moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    /// Unix time in milliseconds.
    pub placed_at_ms: i64,
    pub lines: Vec<OrderLine>,
    pub total_cents: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub book_id: String,
    pub title: String,
    pub price_cents: u32,
    pub copies: u32,
}

/// The words a shopper reads next to a live count.
pub fn stock_phrase(available: u32) -> String {
    match available {
        0 => "Sold out".to_string(),
        n => format!("Only {n} left"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_exact_in_u64_and_refused_past_what_is_stored() {
        // $999,999.99 times 50 copies is past u32's 4,294,967,295 cents.
        assert_eq!(total_cents([(99_999_999, 50)]), Some(4_999_999_950));
        assert_eq!(total_cents([(2000, 1), (5500, 2)]), Some(13_000));
        assert_eq!(total_cents([]), Some(0));
        let huge = (u32::MAX, u32::MAX);
        assert_eq!(total_cents([huge]), None, "past i64");
        assert_eq!(total_cents(std::iter::repeat_n(huge, 3)), None, "past u64");
    }

    #[test]
    fn a_cover_tag_changes_with_the_title_the_author_and_the_split_between_them() {
        // FNV-1a's published test value, so the hash is the standard one.
        assert_eq!(fnv1a_of(b"a"), 0xaf63_dc4c_8601_ec8c);
        let tag = cover_tag("sicp", "SICP", "Abelson");
        assert_eq!(tag.len(), 16);
        assert_eq!(tag, cover_tag("sicp", "SICP", "Abelson"));
        for other in [
            cover_tag("sicp", "SICP 2", "Abelson"),
            cover_tag("sicp", "SICP", "Sussman"),
            cover_tag("sicp2", "SICP", "Abelson"),
            cover_tag("sicp", "SIC", "PAbelson"),
        ] {
            assert_ne!(tag, other);
        }
    }

    #[test]
    fn prices_print_with_two_decimals() {
        assert_eq!(decimal_price(2000), "20.00");
        assert_eq!(decimal_price(3999), "39.99");
        assert_eq!(decimal_price(5), "0.05");
    }

    #[test]
    fn prices_parse_from_what_staff_type() {
        assert_eq!(parse_price("20.00"), Ok(2000));
        assert_eq!(parse_price(" $4.5 "), Ok(450));
        assert_eq!(parse_price("7"), Ok(700));
        for bad in ["", "abc", "1.234", "-1", "1,00", "9999999", "."] {
            assert!(parse_price(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_newer_snapshot_is_the_one_with_the_greater_version() {
        let old = StockSnapshot {
            version: 3,
            ..Default::default()
        };
        let new = StockSnapshot {
            version: 4,
            ..Default::default()
        };
        let mut held = old.clone();
        assert_eq!(held.absorb(new.clone()), Absorbed::Applied);
        assert_eq!(held.absorb(old.clone()), Absorbed::Stale, "never back");
        assert_eq!(held.absorb(new), Absorbed::Stale, "not twice");
        assert_eq!(held.version, 4);
    }

    #[test]
    fn changes_are_merged_only_when_they_follow_on() {
        let whole = StockSnapshot {
            lines: Default::default(),
            version: 5,
            since: None,
            catalog_version: 2,
            stock: BTreeMap::from([("a".into(), 3), ("b".into(), 4)]),
        };
        let change = |since, version, a| StockSnapshot {
            lines: Default::default(),
            version,
            since: Some(since),
            catalog_version: 2,
            stock: BTreeMap::from([("a".to_string(), a)]),
        };
        let mut held = StockSnapshot::default();
        assert_eq!(held.absorb(whole.clone()), Absorbed::Applied);
        assert_eq!(held.absorb(change(6, 7, 1)), Absorbed::Gap, "6 is missing");
        assert_eq!(held, whole, "a gap changes nothing");
        assert_eq!(held.absorb(change(5, 6, 2)), Absorbed::Applied);
        assert_eq!(held.absorb(change(3, 6, 9)), Absorbed::Stale);
        assert_eq!(
            held.absorb(change(4, 7, 1)),
            Absorbed::Applied,
            "a catch-up from further back"
        );
        assert_eq!(
            (
                held.version,
                held.since,
                held.available("a"),
                held.available("b")
            ),
            (7, None, Some(1), Some(4))
        );
    }

    #[test]
    fn the_phrase_says_sold_out_at_zero() {
        assert_eq!(stock_phrase(0), "Sold out");
        assert_eq!(stock_phrase(9), "Only 9 left");
    }
}

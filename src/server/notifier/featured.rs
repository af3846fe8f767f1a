//! The featured book's count as Burt's protocol ("Burt's
//! Books") reports it, worked out once per version beside the rest of what
//! the notifier publishes, so that protocol's long polls can wait for a
//! change of this one count and no other.

use axum::extract::ws::Utf8Bytes;

use crate::shared::stock::StockSnapshot;

/// The featured book's count and the version at which it last changed, so the
/// Burt's long poll can wait for a change of this count and no other.
#[derive(Clone, Debug)]
pub struct FeaturedCount {
    pub count: u32,
    pub changed_at: u64,
    /// `{"inventoryCount":"N"}`, exactly as Burt's server writes it.
    pub json: Utf8Bytes,
}

impl FeaturedCount {
    pub(super) fn of(
        snapshot: &StockSnapshot,
        book: &str,
        previous: Option<&FeaturedCount>,
    ) -> FeaturedCount {
        // A change that leaves the book out did not move its count.
        match (snapshot.available(book), previous) {
            (None, Some(previous)) => previous.clone(),
            (Some(count), Some(previous)) if previous.count == count => previous.clone(),
            (count, _) => FeaturedCount {
                count: count.unwrap_or(0),
                changed_at: snapshot.version,
                json: Utf8Bytes::from(count_json(count.unwrap_or(0))),
            },
        }
    }
}

/// The body of every answer in Burt's protocol: the count as a string.
fn count_json(count: u32) -> String {
    format!("{{\"inventoryCount\":\"{count}\"}}")
}

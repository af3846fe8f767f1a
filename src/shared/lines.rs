//! A line's wire types: what every page in a line is told (one broadcast for
//! all of them, in the live stock stream), and what one shopper's own place
//! looks like. A page works out its place and its turn from the broadcast
//! and the number it was given, so nothing is sent per shopper.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineStatus {
    /// Before the opening: anyone may join; the draw orders them at the opening.
    Scheduled,
    /// Copies are left (on the shelf for the line, or offered to someone).
    Open,
    /// No copy can reach anyone still waiting now; a copy that comes back
    /// opens the line again for the people still in it.
    Closed,
    /// The line is over: the book is sold first come again. Sent only in
    /// changes, so a page drops the line it held.
    Ended,
}

impl LineStatus {
    /// The state as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Scheduled => "scheduled",
            LineStatus::Open => "open",
            LineStatus::Closed => "closed",
            LineStatus::Ended => "ended",
        }
    }
}

/// A book's line as every page sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineState {
    pub state: LineStatus,
    /// The opening, in Unix milliseconds.
    pub opens_at: i64,
    /// The greatest place offered a copy so far ("now serving").
    pub serving: u32,
    /// Places still waiting for a copy.
    pub waiting: u32,
    /// Copies not sold yet: on the shelf for the line, or offered.
    pub copies_left: u32,
    /// Copies offered and not yet bought, declined or lapsed.
    pub offers_open: u32,
}

impl LineState {
    /// A line that is over.
    pub fn ended() -> LineState {
        LineState {
            state: LineStatus::Ended,
            opens_at: 0,
            serving: 0,
            waiting: 0,
            copies_left: 0,
            offers_open: 0,
        }
    }

    /// Whether a shopper with place `place` has had their turn: every place
    /// up to `serving` has been offered a copy (or had left).
    pub fn has_reached(&self, place: u32) -> bool {
        self.state != LineStatus::Scheduled && place <= self.serving
    }

    /// Places in front of `place` that have not been served yet, at most
    /// (some of them may have left).
    pub fn ahead_of(&self, place: u32) -> u32 {
        place.saturating_sub(self.serving).saturating_sub(1)
    }
}

/// One shopper's place in a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// None before the draw (everyone who joined before the opening).
    pub place: Option<u32>,
    /// Places in front of this one not served yet (at most: some of them
    /// may have left), as `LineState::ahead_of` works it out.
    pub ahead: u32,
    /// Set while a copy is held for this shopper: until when, Unix ms.
    pub offer_until: Option<i64>,
}

/// `GET /api/lines/<book>`, and the answer to joining or leaving.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub book: String,
    #[serde(flatten)]
    pub line: LineState,
    /// None without a place.
    pub you: Option<Place>,
}

/// What a page asks over its stock WebSocket (`{"line":"<book>"}`): the
/// book's line as its shopper (the socket's cookie) sees it, as
/// `GET /api/lines/<book>` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineAsk {
    pub line: String,
}

/// The answer, on the same socket. It starts `{"line":`, which no stock
/// message does, so a page tells the two apart before parsing either.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineAnswer {
    /// The book asked about, as asked.
    pub line: String,
    /// None when the book has no line (or the ask was refused).
    pub view: Option<LineView>,
    /// Why an ask was refused (not understood, or no such book).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LineAnswer {
    /// The start of every answer's JSON.
    pub const PREFIX: &'static str = "{\"line\":";
}

/// A copy held for a shopper by a line, as the banner on every page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub book_id: String,
    pub title: String,
    pub offer_until: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_starts_with_its_prefix_and_a_stock_message_does_not() {
        let answer = LineAnswer {
            line: "sicp".into(),
            view: None,
            error: Some("no such book".into()),
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert!(json.starts_with(LineAnswer::PREFIX), "{json}");
        let stock = serde_json::to_string(&crate::shared::stock::StockSnapshot::default()).unwrap();
        assert!(!stock.starts_with(LineAnswer::PREFIX), "{stock}");
    }

    #[test]
    fn a_state_is_named_as_the_wire_names_it() {
        for state in [
            LineStatus::Scheduled,
            LineStatus::Open,
            LineStatus::Closed,
            LineStatus::Ended,
        ] {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
    }
}

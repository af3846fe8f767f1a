//! The shop's one refusal type. The inventory refuses with it, the JSON API,
//! Burt's protocol and the server functions answer with it, and the
//! browser shows its message: one wording, and one status for each, chosen
//! in `ShopError::status`.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ShopError {
    #[error("Sorry, no copies of that book are left.")]
    SoldOut,
    #[error("You already hold {0} of that book, the most one shopper may hold.")]
    LimitReached(u32),
    #[error("You hold no copy of that book.")]
    NotHeld,
    #[error("Your cart already holds {0} different books, the most one cart may hold.")]
    CartFull(u32),
    #[error("Too many copies are being reserved from your address; wait a minute and try again.")]
    ReservingTooFast,
    #[error("There is no such book.")]
    UnknownBook,
    #[error("Your cart is empty: there is nothing to check out.")]
    EmptyCart,
    #[error("The order's total is too large to be charged; return some copies.")]
    TotalTooLarge,
    #[error("A book with that id already exists.")]
    BookExists,
    #[error("The total cannot be below the copies held and sold.")]
    BelowHeldAndSold,
    #[error("There is no such order.")]
    UnknownOrder,
    #[error("Please sign in as staff.")]
    NotSignedIn,
    #[error("Only the shop's owner may do that.")]
    OwnerOnly,
    #[error("Wrong name or password.")]
    WrongPassword,
    #[error("Too many failed sign-ins; try again in a few minutes.")]
    TooManyAttempts,
    #[error("This book has a line: join it, and a copy comes to you in your turn.")]
    InLine,
    #[error("Copies are on the shelf: reserve one instead of joining a line.")]
    OnTheShelf,
    #[error("You have no place in this book's line.")]
    NotInLine,
    #[error("That book has no line.")]
    NoLine,
    #[error("Your address already holds {0} places in this line, the most one address may hold.")]
    PlacesPerAddress(u32),
    #[error("{0}")]
    BadInput(String),
    #[error("Requests from other sites are refused.")]
    CrossOrigin,
    #[error("The request body is too large.")]
    TooLarge,
    #[error("The shop could not do that just now; please try again.")]
    Unavailable,
    #[error("Could not reach the shop: {0}")]
    Network(String),
}

impl ShopError {
    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            ShopError::SoldOut
            | ShopError::LimitReached(_)
            | ShopError::NotHeld
            | ShopError::EmptyCart
            | ShopError::BookExists
            | ShopError::BelowHeldAndSold
            | ShopError::InLine
            | ShopError::OnTheShelf
            | ShopError::NotInLine => 409,
            ShopError::UnknownBook | ShopError::UnknownOrder | ShopError::NoLine => 404,
            ShopError::NotSignedIn | ShopError::WrongPassword => 401,
            ShopError::TooManyAttempts
            | ShopError::CartFull(_)
            | ShopError::ReservingTooFast
            | ShopError::PlacesPerAddress(_) => 429,
            ShopError::BadInput(_) => 400,
            ShopError::TotalTooLarge => 422,
            ShopError::CrossOrigin | ShopError::OwnerOnly => 403,
            ShopError::TooLarge => 413,
            ShopError::Unavailable | ShopError::Network(_) => 503,
        }
    }
}

impl FromServerFnError for ShopError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                ShopError::BadInput(value.to_string())
            }
            // On the server, the only thing deserialized is the request.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => {
                ShopError::BadInput("the request body could not be read".into())
            }
            ServerFnErrorErr::Request(e) => ShopError::Network(e),
            _ => ShopError::Unavailable,
        };
        // Arguments a server function cannot parse never reach its body, so
        // the status is given here (bad input is a 4xx, never a 500).
        #[cfg(feature = "ssr")]
        crate::server::web::forms::answer_unparsed(&error);
        error
    }
}

/// What a form did, carried in `?notice=` when the browser posted the form
/// itself (JavaScript off) and was sent back to the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Reserved,
    Returned,
    Saved,
    SignedIn,
    SignedOut,
    Joined,
    Left,
    Refused(ShopError),
}

/// Refusals that travel in a notice, by code.
const REFUSAL_CODES: &[(&str, ShopError)] = &[
    ("sold-out", ShopError::SoldOut),
    ("not-held", ShopError::NotHeld),
    ("unknown-book", ShopError::UnknownBook),
    ("empty-cart", ShopError::EmptyCart),
    ("book-exists", ShopError::BookExists),
    ("below-held", ShopError::BelowHeldAndSold),
    ("unknown-order", ShopError::UnknownOrder),
    ("not-signed-in", ShopError::NotSignedIn),
    ("owner-only", ShopError::OwnerOnly),
    ("wrong-password", ShopError::WrongPassword),
    ("too-many", ShopError::TooManyAttempts),
    ("too-fast", ShopError::ReservingTooFast),
    ("in-line", ShopError::InLine),
    ("on-the-shelf", ShopError::OnTheShelf),
    ("not-in-line", ShopError::NotInLine),
    ("unavailable", ShopError::Unavailable),
];

const SUCCESS_CODES: &[(&str, Notice)] = &[
    ("reserved", Notice::Reserved),
    ("returned", Notice::Returned),
    ("saved", Notice::Saved),
    ("signed-in", Notice::SignedIn),
    ("signed-out", Notice::SignedOut),
    ("joined", Notice::Joined),
    ("left", Notice::Left),
];

impl Notice {
    pub fn code(&self) -> String {
        match self {
            Notice::Refused(ShopError::LimitReached(n)) => format!("limit-{n}"),
            Notice::Refused(ShopError::PlacesPerAddress(n)) => format!("places-{n}"),
            Notice::Refused(ShopError::BadInput(_)) => "bad-input".into(),
            Notice::Refused(ShopError::Network(_)) => "unavailable".into(),
            Notice::Refused(e) => REFUSAL_CODES
                .iter()
                .find(|(_, known)| known == e)
                .map_or("unavailable", |(code, _)| code)
                .into(),
            done => SUCCESS_CODES
                .iter()
                .find(|(_, n)| n == done)
                .map_or("saved", |(code, _)| code)
                .into(),
        }
    }

    pub fn from_code(code: &str) -> Option<Notice> {
        if let Some((_, n)) = SUCCESS_CODES.iter().find(|(c, _)| *c == code) {
            return Some(n.clone());
        }
        if let Some((_, e)) = REFUSAL_CODES.iter().find(|(c, _)| *c == code) {
            return Some(Notice::Refused(e.clone()));
        }
        if code == "bad-input" {
            return Some(Notice::Refused(ShopError::BadInput(
                "That request was not understood.".into(),
            )));
        }
        if let Some(n) = code.strip_prefix("places-") {
            return Some(Notice::Refused(ShopError::PlacesPerAddress(
                n.parse().ok()?,
            )));
        }
        let n = code.strip_prefix("limit-")?.parse().ok()?;
        Some(Notice::Refused(ShopError::LimitReached(n)))
    }

    pub fn message(&self) -> String {
        match self {
            Notice::Reserved => "Reserved: the copy is held in your cart.".into(),
            Notice::Returned => "Returned: the copy is back on the shelf.".into(),
            Notice::Saved => "Saved.".into(),
            Notice::SignedIn => "Signed in.".into(),
            Notice::SignedOut => "Signed out.".into(),
            Notice::Joined => "You are in the line: your place is kept for you.".into(),
            Notice::Left => "You left the line.".into(),
            Notice::Refused(e) => e.to_string(),
        }
    }

    pub fn is_refusal(&self) -> bool {
        matches!(self, Notice::Refused(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_round_trips_through_its_code() {
        let codes = [
            "reserved",
            "returned",
            "saved",
            "signed-in",
            "signed-out",
            "sold-out",
            "limit-3",
            "not-held",
        ];
        let more = [
            "unknown-book",
            "bad-input",
            "unavailable",
            "empty-cart",
            "wrong-password",
            "too-many",
            "joined",
            "left",
            "in-line",
            "places-4",
        ];
        for code in codes.into_iter().chain(more) {
            assert_eq!(
                Notice::from_code(code).map(|n| n.code()),
                Some(code.to_string())
            );
        }
        assert_eq!(Notice::from_code("<script>"), None);
        assert_eq!(Notice::from_code("limit-x"), None);
    }
}

//! The one error type of the shop's server functions, shared by server and
//! browser so the browser can show the server's exact reason.

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
    #[error("There is no such book.")]
    UnknownBook,
    #[error("{0}")]
    BadInput(String),
    #[error("The shop could not do that just now; please try again.")]
    Unavailable,
    #[error("Could not reach the shop: {0}")]
    Network(String),
}

impl ShopError {
    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            ShopError::SoldOut | ShopError::LimitReached(_) | ShopError::NotHeld => 409,
            ShopError::UnknownBook => 404,
            ShopError::BadInput(_) => 400,
            ShopError::Unavailable | ShopError::Network(_) => 503,
        }
    }
}

impl FromServerFnError for ShopError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                ShopError::BadInput(value.to_string())
            }
            // On the server, the only thing deserialized is the request.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => ShopError::BadInput("the request body could not be read".into()),
            ServerFnErrorErr::Request(e) => ShopError::Network(e),
            _ => ShopError::Unavailable,
        }
    }
}

/// What a form did, carried in `?notice=` when the browser posted the form
/// itself (JavaScript off) and was sent back to the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Reserved,
    Returned,
    Refused(ShopError),
}

impl Notice {
    pub fn code(&self) -> String {
        match self {
            Notice::Reserved => "reserved".into(),
            Notice::Returned => "returned".into(),
            Notice::Refused(ShopError::SoldOut) => "sold-out".into(),
            Notice::Refused(ShopError::LimitReached(n)) => format!("limit-{n}"),
            Notice::Refused(ShopError::NotHeld) => "not-held".into(),
            Notice::Refused(ShopError::UnknownBook) => "unknown-book".into(),
            Notice::Refused(ShopError::BadInput(_)) => "bad-input".into(),
            Notice::Refused(ShopError::Unavailable | ShopError::Network(_)) => "unavailable".into(),
        }
    }

    pub fn from_code(code: &str) -> Option<Notice> {
        Some(match code {
            "reserved" => Notice::Reserved,
            "returned" => Notice::Returned,
            "sold-out" => Notice::Refused(ShopError::SoldOut),
            "not-held" => Notice::Refused(ShopError::NotHeld),
            "unknown-book" => Notice::Refused(ShopError::UnknownBook),
            "bad-input" => Notice::Refused(ShopError::BadInput("That request was not understood.".into())),
            "unavailable" => Notice::Refused(ShopError::Unavailable),
            other => {
                let n = other.strip_prefix("limit-")?.parse().ok()?;
                Notice::Refused(ShopError::LimitReached(n))
            }
        })
    }

    pub fn message(&self) -> String {
        match self {
            Notice::Reserved => "Reserved: the copy is held in your cart.".into(),
            Notice::Returned => "Returned: the copy is back on the shelf.".into(),
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
        for code in ["reserved", "returned", "sold-out", "limit-3", "not-held", "unknown-book", "bad-input", "unavailable"] {
            assert_eq!(Notice::from_code(code).map(|n| n.code()), Some(code.to_string()));
        }
        assert_eq!(Notice::from_code("<script>"), None);
        assert_eq!(Notice::from_code("limit-x"), None);
    }
}

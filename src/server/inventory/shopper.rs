//! Who holds copies: a web shopper, known by a random session cookie (read
//! by `web::cookies`), or a session of Burt's protocol, named by
//! its own client.

use std::fmt;

/// A web shopper: 128 random bits, as 32 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShopperId(String);

impl ShopperId {
    pub fn new_random() -> ShopperId {
        ShopperId(format!("{:032x}", rand::random::<u128>()))
    }

    pub fn parse(raw: &str) -> Option<ShopperId> {
        let ok = raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| ShopperId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session id of Burt's protocol (its client sends a UUID).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BurtsSession(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("session is required")]
    Empty,
    #[error("session must be at most {max} characters")]
    TooLong { max: usize },
    #[error("session may hold only letters, digits and - _ . :")]
    BadCharacters,
}

impl BurtsSession {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<BurtsSession, SessionError> {
        if raw.is_empty() {
            return Err(SessionError::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(SessionError::TooLong { max: Self::MAX_LEN });
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(SessionError::BadCharacters);
        }
        Ok(BurtsSession(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whoever holds copies. The two kinds never share a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shopper {
    Web(ShopperId),
    Burts(BurtsSession),
}

impl Shopper {
    /// The key reservations are stored under.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Shopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shopper::Web(id) => write!(f, "web:{}", id.0),
            // "book:" is what databases already hold for these sessions'
            // holds; the prefix stays so an upgrade keeps them.
            Shopper::Burts(session) => write!(f, "book:{}", session.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopper_ids_are_128_random_bits_in_hex() {
        let a = ShopperId::new_random();
        let b = ShopperId::new_random();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, b);
        assert_eq!(ShopperId::parse(a.as_str()), Some(a));
        assert_eq!(ShopperId::parse("not-hex"), None);
        assert_eq!(ShopperId::parse(&"A".repeat(32)), None);
    }

    #[test]
    fn burts_sessions_are_checked() {
        assert!(BurtsSession::parse("0b6d3f2e-7c1a-4f7e-9a43-2a0c1d9e5b11").is_ok());
        assert_eq!(BurtsSession::parse(""), Err(SessionError::Empty));
        assert_eq!(
            BurtsSession::parse(&"x".repeat(10 * 1024)),
            Err(SessionError::TooLong { max: 128 })
        );
        assert_eq!(BurtsSession::parse("a b"), Err(SessionError::BadCharacters));
        assert_eq!(
            BurtsSession::parse("caf\u{e9}"),
            Err(SessionError::BadCharacters)
        );
    }

    #[test]
    fn the_two_kinds_of_shopper_never_share_a_key() {
        let web = Shopper::Web(ShopperId("0".repeat(32)));
        let book = Shopper::Burts(BurtsSession("0".repeat(32)));
        assert_ne!(web.key(), book.key());
    }
}

//! The shopper cookie: every visitor gets a shopper id, the one their cookie
//! names or a new one set on the response. The staff cookie, which carries a
//! signed-in staff session's token. And how every cookie of the shop
//! is named and marked: served over HTTPS (the `behind_https` setting),
//! cookies are `Secure` and take the `__Host-` prefix, so a browser never
//! sends them over plain HTTP nor lets a sibling domain set them.

use axum::extract::Request;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::checkpoint::{Checkpoint, Exit};
use crate::server::inventory::shopper::ShopperId;
use crate::server::staff::{SessionToken, SESSION_HOURS};

/// The cookie that names a web shopper.
pub const SHOPPER_COOKIE: &str = "livecart_shopper";
const COOKIE_MAX_AGE_SECS: u64 = 60 * 60 * 24 * 365;

/// The cookie that carries a staff session's token: HttpOnly, SameSite=Strict,
/// as long as a session lasts.
pub const STAFF_COOKIE: &str = "livecart_staff";

/// The staff session token in a request's cookies, if any looks like one.
pub fn staff_token(headers: &HeaderMap, cookies: CookiePolicy) -> Option<String> {
    cookies
        .read(headers, STAFF_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Sets the staff cookie to `token`.
pub fn set_staff_cookie(token: &SessionToken, cookies: CookiePolicy) -> String {
    cookies.set(
        STAFF_COOKIE,
        token.as_str(),
        &format!(
            "Max-Age={}; HttpOnly; SameSite=Strict",
            SESSION_HOURS * 3600
        ),
    )
}

/// Ends the staff cookie (signing out).
pub fn clear_staff_cookie(cookies: CookiePolicy) -> String {
    cookies.set(STAFF_COOKIE, "", "Max-Age=0; HttpOnly; SameSite=Strict")
}

/// Names and marks the shop's cookies for how the shop is served.
#[derive(Clone, Copy, Debug, Default)]
pub struct CookiePolicy {
    pub https: bool,
}

impl CookiePolicy {
    pub fn name(self, base: &str) -> String {
        if self.https {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// A `Set-Cookie` value: `attributes` besides Path=/ (and Secure).
    pub fn set(self, base: &str, value: &str, attributes: &str) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!("{}={value}; Path=/; {attributes}{secure}", self.name(base))
    }

    /// The request's value of the cookie named `base` under this policy.
    pub fn read(self, headers: &axum::http::HeaderMap, base: &str) -> Option<String> {
        cookie_value(headers, &self.name(base))
    }
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// Gives every visitor a shopper id: the one their cookie names, or a new one
/// set as an HttpOnly, SameSite=Lax cookie on the response.
#[derive(Clone, Copy, Debug)]
pub struct ShopperCookie(pub CookiePolicy);

impl Checkpoint for ShopperCookie {
    type Exit = NewShopper;

    fn enter(&self, request: &mut Request) -> (NewShopper, Result<(), Response>) {
        let policy = self.0;
        let existing = policy
            .read(request.headers(), SHOPPER_COOKIE)
            .and_then(|value| ShopperId::parse(&value));
        let (shopper, cookie) = match existing {
            Some(id) => (id, None),
            None => {
                let id = ShopperId::new_random();
                let cookie = policy.set(
                    SHOPPER_COOKIE,
                    id.as_str(),
                    &format!("Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax"),
                );
                (id, HeaderValue::from_str(&cookie).ok())
            }
        };
        request.extensions_mut().insert(shopper);
        (NewShopper(cookie), Ok(()))
    }
}

/// A new shopper's cookie, set on the answer.
pub struct NewShopper(Option<HeaderValue>);

impl Exit for NewShopper {
    fn leave(self, response: &mut Response) {
        if let Some(cookie) = self.0 {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
    }
}

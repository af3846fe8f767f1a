//! The shopper cookie: every visitor gets a shopper id, the one their cookie
//! names or a new one set on the response.

use axum::extract::Request;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::server::inventory::shopper::ShopperId;

/// The cookie that names a web shopper.
pub const SHOPPER_COOKIE: &str = "livecart_shopper";
const COOKIE_MAX_AGE_SECS: u64 = 60 * 60 * 24 * 365;

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
pub async fn shopper_cookie(mut req: Request, next: Next) -> Response {
    let existing =
        cookie_value(req.headers(), SHOPPER_COOKIE).and_then(|value| ShopperId::parse(&value));
    let (shopper, fresh) = match existing {
        Some(id) => (id, false),
        None => (ShopperId::new_random(), true),
    };
    req.extensions_mut().insert(shopper.clone());
    let mut response = next.run(req).await;
    if fresh {
        let cookie = format!(
            "{SHOPPER_COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax",
            shopper.as_str()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

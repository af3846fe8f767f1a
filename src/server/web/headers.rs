//! Headers every answer carries, so a browser never second-guesses what it
//! got: no content sniffing, no framing by another site (clickjacking on the
//! cart's buttons), no plugins, forms and `<base>` only towards the shop
//! itself, and no full URLs (with their search words) leaked to other sites.
//!
//! The Content-Security-Policy leaves scripts alone for now: the hydrated
//! pages load their wasm through an inline bootstrap, and a script policy
//! needs a nonce on it (left for later; see the README's security notes).

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::cookies::CookiePolicy;

const POLICY: &str =
    "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'";

/// Over HTTPS, browsers are also told to come back only over HTTPS (a year).
pub async fn security_headers(
    State(cookies): State<CookiePolicy>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if cookies.https {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(POLICY));
    response
}

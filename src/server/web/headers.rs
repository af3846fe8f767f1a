//! Headers every answer carries, so a browser never second-guesses what it
//! got: no content sniffing, no framing by another site (clickjacking on the
//! cart's buttons), no plugins, forms and `<base>` only towards the shop
//! itself, and no full URLs (with their search words) leaked to other sites.
//!
//! Pages rendered by Leptos also get a script policy: scripts only from the
//! shop itself, inline ones only with this render's nonce (Leptos puts it on
//! its hydration bootstrap and streamed-resource scripts), and wasm
//! compilation for the shop's own module. Other answers run no script, and
//! Burt's jQuery page keeps Burt's inline script, so they keep the
//! shared policy.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};

use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

const POLICY: &str =
    "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'";

/// A rendered page's policy: the shared one, and scripts by origin, nonce
/// and wasm. Under `cargo leptos watch` the page also carries Leptos's
/// live-reload script (inline, with this nonce), which opens a WebSocket to
/// `reload-port`, another origin: a `connect-src` added here must allow it
/// there, or style edits stop reaching open tabs (scripts/dev-check.sh).
pub fn page_policy(nonce: &str) -> String {
    format!("{POLICY}; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'")
}

/// Called while a page renders (Leptos has made its nonce by then): the
/// page's answer carries the policy that lets exactly its scripts run.
pub fn allow_page_scripts() {
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&page_policy(&nonce)),
    ) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// Stamps an answer's headers. Over HTTPS, browsers are also told to come
/// back only over HTTPS (a year). A page that set its own script policy
/// keeps it.
pub fn stamp(headers: &mut HeaderMap, https: bool) {
    if https {
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
}

//! Cross-site requests: WebSocket upgrades and state-changing requests whose
//! Origin is another site are refused with 403, as Tornado's `check_origin`
//! does, and so are those a browser marks `Sec-Fetch-Site: cross-site`
//! (some send no Origin on a cross-site form post of their own making).
//! Requests without either header (Burt's scripts, CLI clients) are
//! allowed; so are the origins the operator lists.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};

#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    allowed: Arc<Vec<String>>,
}

impl OriginPolicy {
    pub fn new(allowed: Vec<String>) -> OriginPolicy {
        let allowed = allowed
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        OriginPolicy {
            allowed: Arc::new(allowed),
        }
    }

    /// Whether a request carrying these headers may go on.
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let Some(origin) = headers.get(header::ORIGIN) else {
            return !cross_site;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        if cross_site {
            return false;
        }
        // Same site: the origin's host and port are the ones the request was sent to.
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
    }

    /// Whether this request may go on: one that only reads passes; one
    /// that changes something or upgrades to a WebSocket must come from a
    /// permitted origin.
    pub fn admits(&self, request: &Request) -> bool {
        !changes_state_or_upgrades(request) || self.permits(request.headers())
    }
}

fn changes_state_or_upgrades(request: &Request) -> bool {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    !safe || request.headers().contains_key(header::UPGRADE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_site_and_originless_requests_pass() {
        let policy = OriginPolicy::default();
        assert!(policy.permits(&headers(None, "127.0.0.1:3000")));
        assert!(policy.permits(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")));
    }

    #[test]
    fn other_sites_are_refused_unless_listed() {
        let policy = OriginPolicy::new(vec!["https://books.example".into()]);
        assert!(!policy.permits(&headers(Some("http://evil.example"), "127.0.0.1:3000")));
        assert!(!policy.permits(&headers(Some("null"), "127.0.0.1:3000")));
        assert!(!policy.permits(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")));
        assert!(policy.permits(&headers(Some("https://books.example/"), "127.0.0.1:3000")));
    }

    #[test]
    fn a_request_the_browser_marks_cross_site_is_refused_unless_listed() {
        let policy = OriginPolicy::new(vec!["https://books.example".into()]);
        let marked = |origin: Option<&str>, site: &str| {
            let mut h = headers(origin, "127.0.0.1:3000");
            h.insert("sec-fetch-site", HeaderValue::from_str(site).unwrap());
            h
        };
        assert!(!policy.permits(&marked(None, "cross-site")));
        assert!(!policy.permits(&marked(Some("http://127.0.0.1:3000"), "cross-site")));
        assert!(policy.permits(&marked(Some("https://books.example"), "cross-site")));
        for site in ["same-origin", "none"] {
            assert!(policy.permits(&marked(None, site)), "{site}");
            assert!(
                policy.permits(&marked(Some("http://127.0.0.1:3000"), site)),
                "{site}"
            );
        }
    }

    /// A shopper who follows a link from another site (a search engine, a
    /// review) reads the page; only a change or a socket from there is
    /// refused.
    #[test]
    fn reading_from_another_site_is_admitted_changing_or_upgrading_is_not() {
        let policy = OriginPolicy::default();
        let from_elsewhere = |method: Method, upgrade: bool| {
            let mut request = Request::builder()
                .method(method)
                .uri("/books/a-book")
                .header(header::HOST, "127.0.0.1:3000")
                .header(header::ORIGIN, "https://search.example")
                .header("sec-fetch-site", "cross-site");
            if upgrade {
                request = request.header(header::UPGRADE, "websocket");
            }
            request.body(axum::body::Body::empty()).unwrap()
        };
        assert!(
            policy.admits(&from_elsewhere(Method::GET, false)),
            "a link followed"
        );
        assert!(policy.admits(&from_elsewhere(Method::HEAD, false)));
        assert!(
            !policy.admits(&from_elsewhere(Method::POST, false)),
            "a form posted"
        );
        assert!(
            !policy.admits(&from_elsewhere(Method::GET, true)),
            "a socket opened"
        );
    }
}

//! The HTTP edges: they read a request, ask the inventory (or the staff
//! desk), and translate the answer. No rule is decided here.
//!
//! - `storefront`, `backoffice`: the server side of the pages' server functions;
//! - `forms`: how those answer (who asks, status, no-JavaScript redirects);
//! - `api`: `/api/books`, `/metrics`, `/healthz`;
//! - `error`: a refusal as a plain HTTP answer;
//! - `cookies`: the shopper cookie; `origin`: the cross-site check;
//! - `headers`: the security headers every answer carries.

pub mod api;
pub mod backoffice;
pub mod cookies;
pub mod error;
pub mod forms;
pub mod headers;
pub mod origin;
pub mod storefront;

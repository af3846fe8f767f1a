//! The HTTP edges: they read a request, ask the inventory (or the staff
//! desk), and translate the answer. No rule is decided here.
//!
//! - `storefront`, `backoffice`: the server side of the pages' server functions;
//! - `forms`: how those answer (who asks, status, no-JavaScript redirects);
//! - `api`: `/api/books`, `/metrics`, `/healthz`; `assets`: `/pkg`, precompressed;
//! - `error`: a refusal as a plain HTTP answer;
//! - `checkpoint`: how a per-request check runs (in, then out), without
//!   `from_fn`'s boxing;
//! - `front_door`: the checkpoint every request passes, running the checks
//!   below in order; `origin`: the cross-site check; `headers`: the
//!   security headers every answer carries;
//! - `cookies`: the shopper cookie (a checkpoint of the pages' routes);
//! - `connections`: the serve loop and its limits (timeouts, caps, send
//!   deadline); `client_address`: who is asking, through trusted proxies;
//! - `hold_rate`: how fast one address may take new holds.

pub mod api;
pub mod assets;
pub mod backoffice;
pub mod checkpoint;
pub mod client_address;
pub mod connections;
pub mod cookies;
pub mod error;
pub mod forms;
pub mod front_door;
pub mod headers;
pub mod hold_rate;
pub mod origin;
pub mod storefront;

//! The HTTP edges: they read a request, ask the inventory (or the staff
//! desk, or the notifier), and translate the answer. No rule is decided
//! here. Every route is listed once, in `server/routes.rs`.
//!
//! - `storefront`, `backoffice`: the server side of the pages' server functions;
//! - `forms`: how those answer (who asks, status, no-JavaScript redirects);
//! - `live`: every transport of the live stock, together: `/api/stock*`
//!   (whole, WebSocket, Server-Sent Events, long poll), Burt's protocol
//!   (`live/burts`: the Tornado book's `/cart`, `/cart/status` and
//!   `/burts-books`), and the upkeep every WebSocket shares (`live/socket`);
//! - `catalog`: `/api/books`; `operator`: `/metrics`, `/healthz`, `/readyz`;
//!   `assets`: `/pkg`, precompressed;
//! - `error`: a refusal as a plain HTTP answer;
//! - `checkpoint`: how a per-request check runs (in, then out), without
//!   `from_fn`'s boxing;
//! - `front_door`: the checkpoint every request passes, running the checks
//!   below in order; `origin`: the cross-site check; `headers`: the
//!   security headers every answer carries;
//! - `cookies`: the shopper cookie (a checkpoint of the pages' routes);
//! - `connections`: the serve loop and its limits (timeouts, caps, send
//!   deadline); `client_address`: who is asking, through trusted proxies;
//! - `hold_rate`: how fast one address may take new holds;
//! - `lines`: `/api/lines/*`, joining and leaving a book's line, and the
//!   same ask over a page's WebSocket;
//! - `orders`: `/admin/orders.csv`, the owner's export, streamed;
//! - `covers`: `/covers/{id}.svg`, the covers the shop draws, cached by
//!   what they are drawn from.

pub mod assets;
pub mod backoffice;
pub mod catalog;
pub mod checkpoint;
pub mod client_address;
pub mod connections;
pub mod cookies;
pub mod covers;
pub mod desk;
pub mod error;
pub mod forms;
pub mod front_door;
pub mod headers;
pub mod hold_rate;
pub mod lines;
pub mod live;
pub mod operator;
pub mod orders;
pub mod origin;
pub mod storefront;

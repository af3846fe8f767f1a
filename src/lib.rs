//! livecart: a bookshop storefront whose stock counts are live.
//!
//! # Layout
//!
//! What runs where is the first split: `shared` and `app` compile for the
//! server and the browser; `server` only with the `ssr` feature. Arrows point
//! one way: pages → shared, server → shared; only the composition root
//! (`server/mod.rs`) names the pages, to render them.
//!
//! - `shared`: what both sides see: the stock's wire types (`stock`), each
//!   page's view (`views`), and the one refusal type `ShopError` with its
//!   HTTP status and the notices forms leave.
//! - `app`: the pages, one file each, rendered on the server; only their
//!   `#[island]`s hydrate in the browser. `api` declares every server
//!   function once; `live` is the browser's subscription (WebSocket, then
//!   long poll) and the live count's island; `shelf` the search form and
//!   pager `/` and `/admin` share.
//! - `server`: the composition root (`mod.rs`: parts, routes, serving).
//!   - `inventory`: the shop's rules and its only writer: the handle and
//!     rules (`mod.rs`), the in-memory decisions (`shelf`), group commit
//!     (`writer`), the clock ending lapsed holds (`expiry`), what others
//!     wrote to the database (`resync`), and who holds copies (`shopper`).
//!   - `store`: persistence through sqlx (SQLite or PostgreSQL); its
//!     conditional updates keep "no oversell" true across nodes.
//!   - `live`: every way a snapshot leaves the server: the `notifier`,
//!     `websocket`, `sse`, `long_poll`, Burt's protocol, socket upkeep.
//!   - `web`: the HTTP edges that translate: the pages' server functions,
//!     the JSON API, the shopper cookie, error answers, and the front door
//!     every request passes (client address, Origin check, body limit,
//!     security headers).
//!   - `import`: reading a catalog CSV for `livecart books import`.
//!   - `staff`: passwords, sign-in throttle, staff sessions.
//!   - `book_details`: the upstream catalog client (timeout and cache).
//!   - `config`, `metrics`, `clock`: settings, Prometheus, Unix-ms time.

pub mod app;
pub mod shared;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Islands mode: the loader then hydrates each `#[island]` on the page
    // under the root this sets, where the shared contexts live.
    leptos::mount::hydrate_islands();
    app::provide_in_browser();
}

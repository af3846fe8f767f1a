//! livecart: a bookshop storefront whose stock counts are live.
//!
//! # Layout
//!
//! What runs where is the first split: `shared` and `app` compile for the
//! server and the browser; `server` only with the `ssr` feature. Arrows point
//! one way: pages → shared, server → shared. The pages name the server in one
//! place only: each server function's body in `app/api.rs` (compiled with
//! `ssr` alone) calls one function of `server::web`. On the server only the
//! route table (`server/routes.rs`) names the pages, to render them.
//! `ARCHITECTURE.md` draws the arrows between the server's folders.
//!
//! - `shared`: what both sides see: the stock's wire types (`stock`), each
//!   page's view (`views`), and the one refusal type `ShopError` with its
//!   HTTP status and the notices forms leave.
//! - `app`: the pages, one file each, rendered on the server; only their
//!   `#[island]`s hydrate in the browser. `api` declares every server
//!   function once; `live` is the browser's subscription (WebSocket, then
//!   long poll) and the live count's island; `shelf` the search form and
//!   pager `/` and `/admin` share; `lazy` what the split islands (those
//!   only some pages show, each a wasm chunk of its own in a release build,
//!   feature `split`) need: their chunks' preloads and a hydration mark.
//! - `server`: the composition root (`mod.rs`: parts, serving) and the one
//!   route table (`routes`). From the edges down:
//!   - `web`: the HTTP edges that translate: the pages' server functions,
//!     every transport of the live stock (`stock`), Burt's protocol
//!     (`burts`), the catalog and operator endpoints, the cookies, error
//!     answers, and the front door every request passes (client address,
//!     Origin check, body limit, security headers).
//!   - `inventory`: the shop's rules: the handle and book ids (`mod.rs`),
//!     what each change does (`changes`), reserves and returns decided in
//!     memory (`decide`), the clock ending lapsed holds (`expiry`), and who
//!     holds copies (`shopper`).
//!   - `staff`: passwords, sign-in throttle, staff sessions, and what each
//!     role (owner, clerk) may do.
//!   - `writer`: the database's one writer (group commit, publishing each
//!     commit, following what others commit), beneath inventory and staff.
//!   - `store`: persistence through sqlx (SQLite or PostgreSQL); its
//!     conditional updates keep "no oversell" true across nodes.
//!   - `notifier`: the newest snapshot and every message, serialized once.
//!   - `import`: reading a catalog CSV for `livecart books import`;
//!     `orders`: the orders as staff read them; `order_export`: the orders as CSV (`/admin/orders.csv`, `livecart
//!     orders export`).
//!   - `desk`: the staff desk's live figures, read from the database
//!     while a desk is open and pushed to every desk; `nodes`: each node's
//!     beat and the list of nodes.
//!   - `book_details`: the upstream catalog client (timeout and cache).
//!   - `network`, `config`, `metrics`, `clock`: address groups, settings,
//!     Prometheus, Unix-ms time.

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

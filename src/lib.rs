//! livecart: a bookshop storefront whose stock counts are live.
//!
//! `app` and `stock` compile for both the server and the browser; everything
//! under `server` runs only on the server (feature `ssr`).

pub mod app;
pub mod stock;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

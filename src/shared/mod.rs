//! What the server and the browser both see: the stock's wire types, the
//! pages' views, and the one refusal type that travels from the inventory to
//! the page. Compiled for both sides, so one Rust type is the JSON on both.

pub mod error;
pub mod lines;
pub mod stock;
pub mod views;

pub use error::{Notice, ShopError};

//! `GET /burts-books`: Burt's own page (its `DetailHandler` and
//! `index.html`), with a fresh session and the current count. The HTML is
//! the book's, kept beside this file (`page.html`) so it reads as HTML.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::seen_cookie;
use crate::server::AppState;
use crate::shared::ShopError;

/// Burt's page, with `{script}`, `{session}` and `{count}` to fill in. It
/// keeps the book's look, with what a screen reader needs added: a language,
/// a main landmark holding everything, and a red dark enough to read (#c00
/// is 5.9:1 on white; the book's pure red is 4:1).
const PAGE: &str = include_str!("page.html");

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    transport: Option<String>,
}

/// `?transport=websocket` serves Burt's WebSocket client instead of
/// its long poll.
pub async fn burts_page(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ShopError> {
    let Query(query) = query?;
    let script = match query.transport.as_deref() {
        None | Some("longpoll") => "inventory.js",
        Some("websocket") => "inventory-ws.js",
        Some(_) => {
            return Err(ShopError::BadInput(
                "transport must be longpoll or websocket".into(),
            ))
        }
    };
    let featured = state.notifier.latest().featured.clone();
    // The page shows this count and its cookie says so: the session's first
    // poll waits for the next. Nothing is recorded for a mere view.
    let html = PAGE
        .replace("{script}", script)
        .replace("{session}", &uuid4())
        .replace("{count}", &featured.count.to_string());
    Ok((
        seen_cookie(state.cookies(), featured.changed_at),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// A random UUID (version 4), as Burt's server makes with `uuid4()`.
fn uuid4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

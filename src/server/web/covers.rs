//! `GET /covers/{id}.svg`: the cover the shop draws for a book
//! (`server::covers`), cached by the browser for as long as its words stay.
//!
//! The pages ask for `/covers/{id}.svg?v={tag}`, where the tag is a hash of
//! what the drawing is made of (`shared::stock::cover_tag`). That address
//! never names another picture, so it is cached for a year without asking
//! again; a changed title is a new tag and so a new address. Any other `v`
//! (an old page, or none) is answered with the cover as it is now, to be
//! checked again on each use (its ETag makes that a 304).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::server::covers;
use crate::server::inventory::BookId;
use crate::server::AppState;
use crate::shared::stock::cover_tag;
use crate::shared::ShopError;

#[derive(Debug, Deserialize)]
pub struct CoverQuery {
    v: Option<String>,
}

const FOR_GOOD: &str = "public, max-age=31536000, immutable";
const CHECK_EACH_TIME: &str = "public, no-cache";

pub async fn cover(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<CoverQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    let Query(query) = query?;
    let id = file
        .strip_suffix(".svg")
        .and_then(|id| BookId::parse(id).ok())
        .ok_or(ShopError::UnknownBook)?;
    let book = state
        .inventory
        .book(&id)
        .await?
        .ok_or(ShopError::UnknownBook)?;
    let tag = cover_tag(&book.id, &book.title, &book.author);
    // Weak: the bytes differ by compression, the picture does not.
    let etag = format!("W/\"{tag}\"");
    let cache = if query.v.as_deref() == Some(tag.as_str()) {
        FOR_GOOD
    } else {
        CHECK_EACH_TIME
    };
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == &etag[2..]);
    // Strings: axum makes them header values (hex and quotes always are).
    // The 304 says what the 200 would (RFC 9110, 15.4.5), Vary included:
    // compression adds it to the 200 only (and not twice when it is here).
    let caching = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, cache.to_string()),
        (header::VARY, "accept-encoding".to_string()),
    ];
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, caching).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // Opened on its own, an SVG is a document: it may run nothing
            // and load nothing (it needs neither; its words are escaped).
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        caching,
        covers::draw(&book.id, &book.title, &book.author),
    )
        .into_response())
}

//! How the pages' server functions answer, in one place: who is asking,
//! which status a refusal gets, and where a browser without JavaScript is
//! sent back to after posting a form.

use http::header::REFERER;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::server::inventory::shopper::{Shopper, ShopperId};
use crate::server::store::Search;
use crate::server::AppState;
use crate::shared::views::ShelfPage;
use crate::shared::{Notice, ShopError};

pub fn state() -> Result<AppState, ShopError> {
    use_context::<AppState>().ok_or(ShopError::Unavailable)
}

pub fn request() -> Result<Parts, ShopError> {
    use_context::<Parts>().ok_or(ShopError::Unavailable)
}

/// The page of the shelf asked for (from 1), and the search, checked.
pub fn shelf_request(
    search: Option<String>,
    page: Option<u32>,
) -> Result<(Option<Search>, ShelfPage), ShopError> {
    const MAX_PAGE: u32 = 100_000;
    let page = page.unwrap_or(1).max(1);
    if page > MAX_PAGE {
        return Err(with_status(ShopError::BadInput(format!(
            "page must be at most {MAX_PAGE}"
        ))));
    }
    let search = search.unwrap_or_default().trim().to_string();
    if search.chars().count() > 200 {
        return Err(with_status(ShopError::BadInput(
            "a search is at most 200 characters".into(),
        )));
    }
    Ok((
        Search::parse(&search),
        ShelfPage {
            search,
            page,
            has_next: false,
            pages: None,
        },
    ))
}

/// The web shopper the request's cookie names (the cookie layer gives
/// every request one).
pub fn shopper() -> Result<Shopper, ShopError> {
    request()?
        .extensions
        .get::<ShopperId>()
        .cloned()
        .map(Shopper::Web)
        .ok_or(ShopError::Unavailable)
}

/// Sets the response's status to the error's, so scripts and tools see a 4xx
/// for a refusal rather than the 500 server functions answer by default.
pub fn with_status(e: ShopError) -> ShopError {
    if let (Some(response), Ok(status)) = (
        use_context::<ResponseOptions>(),
        StatusCode::from_u16(e.status()),
    ) {
        response.set_status(status);
    }
    e
}

/// Answers a form's server function. A browser that posted the form itself
/// (no JavaScript) is sent to `to`, or back to the page it came from, with
/// the outcome in `?notice=`; a script gets the answer with its status.
pub fn answer_form<T>(
    result: Result<T, ShopError>,
    success: Notice,
    fallback: &str,
    to: Option<String>,
) -> Result<T, ShopError> {
    let parts = use_context::<Parts>();
    if let Some(parts) = parts.as_ref().filter(|p| is_plain_form_post(&p.headers)) {
        let notice = match &result {
            Ok(_) => success,
            Err(e) => Notice::Refused(e.clone()),
        };
        let target = match (&result, to) {
            (Ok(_), Some(to)) => to,
            _ => back_to(&parts.headers).unwrap_or_else(|| fallback.to_string()),
        };
        let joint = if target.contains('?') { '&' } else { '?' };
        leptos_axum::redirect(&format!("{target}{joint}notice={}", notice.code()));
        return result;
    }
    result.map_err(with_status)
}

fn is_plain_form_post(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The page the form was on: its path, and the shelf's search and page when
/// it had them (staff restocking from page 3 of a search stay there).
/// Anything else in its query is dropped.
fn back_to(headers: &HeaderMap) -> Option<String> {
    let uri = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<http::Uri>().ok())?;
    let path = uri.path();
    if !is_safe_path(path) || path.starts_with("/api/") {
        return None;
    }
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| pair.starts_with("q=") || pair.starts_with("page="))
        .filter(|pair| {
            pair.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%+=".contains(&b))
        })
        .collect();
    Some(if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

/// A path that can go into a Location header as it is.
fn is_safe_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

/// A server function whose arguments could not be parsed answers with the
/// error's status (400 for bad input) rather than server_fn's 500; a browser
/// that posted the form itself is still sent back to its page.
pub fn answer_unparsed(e: &ShopError) {
    let plain_form_post =
        use_context::<Parts>().is_some_and(|parts| is_plain_form_post(&parts.headers));
    if !plain_form_post {
        with_status(e.clone());
    }
}

//! Book details (description, cover, page count) from an upstream catalog
//! with Open Library's `/isbn/{isbn}.json` shape, fetched without blocking:
//! async HTTP with a 2 s deadline, and a cache so a page view costs the
//! upstream at most one request an hour per book (a minute after a failure).
//! Views of the same uncached book at once share one request, and at most
//! `UPSTREAM_AT_ONCE` requests are out at a time, so a burst of views never
//! turns into a burst against the catalog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::shared::stock::BookDetails;

const DEADLINE: Duration = Duration::from_secs(2);
const KEEP_FOUND: Duration = Duration::from_secs(3600);
const KEEP_FAILED: Duration = Duration::from_secs(60);
/// Upstream answers larger than this are not read.
const MAX_BODY: usize = 1024 * 1024;
/// Requests to the catalog out at once, whatever the number of books viewed.
const UPSTREAM_AT_ONCE: usize = 8;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DetailsError {
    #[error("the catalog did not answer within {DEADLINE:?}")]
    TimedOut,
    #[error("the catalog could not be reached: {0}")]
    Unreachable(String),
    #[error("the catalog answered {0}")]
    Status(u16),
    #[error("the catalog's answer was not what was expected: {0}")]
    Malformed(String),
}

/// Open Library's edition record, the parts livecart shows.
#[derive(Deserialize)]
struct Edition {
    #[serde(default)]
    description: Option<Description>,
    #[serde(default)]
    number_of_pages: Option<u32>,
    #[serde(default)]
    covers: Vec<i64>,
}

/// Open Library writes a description either as a string or as a typed value.
#[derive(Deserialize)]
#[serde(untagged)]
enum Description {
    Text(String),
    Typed { value: String },
}

/// A fetch's outcome and when it happened, by ISBN.
type Fetched = (Instant, Result<BookDetails, DetailsError>);

/// A fetch every view of the same book waits on.
type InFlight = Shared<BoxFuture<'static, Result<BookDetails, DetailsError>>>;

#[derive(Clone)]
pub struct CatalogClient {
    base_url: Option<Arc<str>>,
    covers_url: Arc<str>,
    http: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, Fetched>>>,
    in_flight: Arc<Mutex<HashMap<String, InFlight>>>,
    upstream: Arc<Semaphore>,
}

impl CatalogClient {
    pub fn new(base_url: Option<String>, covers_url: String) -> CatalogClient {
        let http = reqwest::Client::builder()
            .timeout(DEADLINE)
            .connect_timeout(DEADLINE)
            .user_agent(concat!("livecart/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        CatalogClient {
            base_url: base_url.map(Arc::from),
            covers_url: Arc::from(covers_url.trim_end_matches('/')),
            http,
            cache: Arc::default(),
            in_flight: Arc::default(),
            upstream: Arc::new(Semaphore::new(UPSTREAM_AT_ONCE)),
        }
    }

    /// Whether an upstream catalog is configured at all.
    pub fn is_on(&self) -> bool {
        self.base_url.is_some()
    }

    /// The details of the book with this ISBN; None when no catalog is set.
    pub async fn details(&self, isbn: &str) -> Option<Result<BookDetails, DetailsError>> {
        let base = self.base_url.clone()?;
        if let Some(cached) = self.cached(isbn) {
            return Some(cached);
        }
        let fetch = {
            let mut flying = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            flying
                .entry(isbn.to_string())
                .or_insert_with(|| {
                    let (client, isbn) = (self.clone(), isbn.to_string());
                    async move {
                        let fetched = client.fetch(&base, &isbn).await;
                        if let Err(e) = &fetched {
                            tracing::warn!(isbn, error = %e, "book details unavailable");
                        }
                        client
                            .cache
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(isbn.clone(), (Instant::now(), fetched.clone()));
                        client
                            .in_flight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&isbn);
                        fetched
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        Some(fetch.await)
    }

    fn cached(&self, isbn: &str) -> Option<Result<BookDetails, DetailsError>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, result) = cache.get(isbn)?;
        let keep = if result.is_ok() {
            KEEP_FOUND
        } else {
            KEEP_FAILED
        };
        (at.elapsed() < keep).then(|| result.clone())
    }

    async fn fetch(&self, base: &str, isbn: &str) -> Result<BookDetails, DetailsError> {
        let url = format!("{base}/isbn/{isbn}.json");
        let request = async {
            // Waiting for a turn counts against the same deadline.
            let _turn = self
                .upstream
                .acquire()
                .await
                .map_err(|e| DetailsError::Unreachable(e.to_string()))?;
            let mut response = self.http.get(&url).send().await.map_err(describe)?;
            if !response.status().is_success() {
                return Err(DetailsError::Status(response.status().as_u16()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(describe)? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(DetailsError::Malformed("the answer is too large".into()));
                }
            }
            Ok(body)
        };
        // The client's timeout covers the whole exchange; this makes sure of it.
        let body = tokio::time::timeout(DEADLINE, request)
            .await
            .map_err(|_| DetailsError::TimedOut)??;
        let edition: Edition =
            serde_json::from_slice(&body).map_err(|e| DetailsError::Malformed(e.to_string()))?;
        Ok(BookDetails {
            description: edition.description.map(|d| match d {
                Description::Text(text) | Description::Typed { value: text } => text,
            }),
            pages: edition.number_of_pages,
            cover_url: edition
                .covers
                .iter()
                .find(|id| **id > 0)
                .map(|id| format!("{}/b/id/{id}-M.jpg", self.covers_url)),
        })
    }
}

fn describe(e: reqwest::Error) -> DetailsError {
    if e.is_timeout() {
        DetailsError::TimedOut
    } else {
        DetailsError::Unreachable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes_of_description() {
        let typed: Edition = serde_json::from_str(
            r#"{"description":{"type":"/type/text","value":"A book."},"covers":[-1,42]}"#,
        )
        .unwrap();
        assert!(
            matches!(typed.description, Some(Description::Typed { ref value }) if value == "A book.")
        );
        let text: Edition =
            serde_json::from_str(r#"{"description":"Plain.","number_of_pages":254}"#).unwrap();
        assert!(matches!(text.description, Some(Description::Text(ref t)) if t == "Plain."));
        assert_eq!(text.number_of_pages, Some(254));
    }
}

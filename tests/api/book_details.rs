//! Book details from a real upstream HTTP server that can be slow, silent or
//! broken: the page and its live count never wait for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::helpers::*;

const TORNADO: &str = "introduction-to-tornado";

#[derive(Clone, Copy)]
enum Upstream {
    Answers,
    /// Answers after 300 ms.
    Unhurried,
    Slow,
    Silent,
    Broken,
}

struct Catalog {
    behaves: Upstream,
    hits: AtomicUsize,
}

async fn edition(State(catalog): State<Arc<Catalog>>, Path(file): Path<String>) -> Response {
    catalog.hits.fetch_add(1, Ordering::SeqCst);
    if file != "9781449309077.json" {
        return StatusCode::NOT_FOUND.into_response();
    }
    match catalog.behaves {
        Upstream::Answers => {}
        Upstream::Unhurried => tokio::time::sleep(Duration::from_millis(300)).await,
        Upstream::Slow => tokio::time::sleep(Duration::from_secs(5)).await,
        Upstream::Silent => std::future::pending::<()>().await,
        Upstream::Broken => {
            return (
                [("content-type", "application/json")],
                "{\"title\": \"Intro",
            )
                .into_response()
        }
    }
    let body = r#"{"title":"Introduction to Tornado","number_of_pages":136,
        "description":{"type":"/type/text","value":"Walks through Tornado's asynchronous web services."},
        "covers":[7286012]}"#;
    ([("content-type", "application/json")], body).into_response()
}

async fn start_upstream(behaves: Upstream) -> (String, Arc<Catalog>) {
    let catalog = Arc::new(Catalog {
        behaves,
        hits: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/isbn/{file}", get(edition))
        .with_state(catalog.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), catalog)
}

/// Reads the page as it streams: when the count arrived, and the whole page.
async fn read_page(app: &TestApp, path: &str) -> (Duration, Duration, String) {
    let started = Instant::now();
    let mut response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut html = String::new();
    let mut count_at = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        html.push_str(&String::from_utf8_lossy(&chunk));
        if count_at.is_none() && html.contains("Only 12 left") {
            count_at = Some(started.elapsed());
        }
    }
    (
        count_at.expect("the count is in the page"),
        started.elapsed(),
        html,
    )
}

#[tokio::test]
async fn details_from_the_catalog_stream_into_the_page() {
    let (url, catalog) = start_upstream(Upstream::Answers).await;
    let app = spawn_app_with(|s| {
        s.catalog_url = Some(url);
        s.covers_url = "https://covers.example".into();
    })
    .await;
    let (_, _, html) = read_page(&app, &format!("/books/{TORNADO}")).await;
    assert!(
        html.contains("Walks through Tornado&#x27;s asynchronous web services.")
            || html.contains("Walks through Tornado's asynchronous web services.")
    );
    assert!(
        html.contains("136 pages") || html.contains("136<!> pages"),
        "page count"
    );
    assert!(html.contains("https://covers.example/b/id/7286012-M.jpg"));
    read_page(&app, &format!("/books/{TORNADO}")).await;
    assert_eq!(
        catalog.hits.load(Ordering::SeqCst),
        1,
        "the second view is served from the cache"
    );
}

async fn page_does_not_wait_for(behaves: Upstream) {
    let (url, _) = start_upstream(behaves).await;
    let app = spawn_app_with(|s| s.catalog_url = Some(url)).await;

    let page = {
        let app = &app;
        async move { read_page(app, &format!("/books/{TORNADO}")).await }
    };
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        assert_eq!(burts_cart(&app, "meanwhile", "add").await.status(), 200);
        let snapshot = stock(&app).await;
        (started.elapsed(), snapshot)
    };
    let ((count_at, whole, html), (other_work, snapshot)) = tokio::join!(page, meanwhile);
    assert!(
        count_at < Duration::from_secs(1),
        "the count came at once, not after the upstream: {count_at:?}"
    );
    // Given up on at its 2 s deadline (and half a second for scheduling).
    assert!(
        whole <= Duration::from_millis(2_500),
        "the upstream is given up on at its deadline: {whole:?}"
    );
    assert!(html.contains("details are unavailable"), "the page says so");
    assert!(
        other_work < Duration::from_millis(500),
        "other requests went on: {other_work:?}"
    );
    assert_eq!(snapshot.available(FEATURED), Some(9));
}

#[tokio::test]
async fn a_slow_upstream_does_not_hold_up_the_page() {
    page_does_not_wait_for(Upstream::Slow).await;
}

#[tokio::test]
async fn a_silent_upstream_does_not_hold_up_the_page() {
    page_does_not_wait_for(Upstream::Silent).await;
}

#[tokio::test]
async fn broken_json_from_upstream_is_reported_as_unavailable() {
    page_does_not_wait_for(Upstream::Broken).await;
}

#[tokio::test]
async fn without_a_catalog_there_is_no_details_section() {
    let app = spawn_app().await;
    let (_, _, html) = read_page(&app, &format!("/books/{TORNADO}")).await;
    assert!(!html.contains("details are unavailable"));
    assert!(!html.contains("class=\"details\""));
}

#[tokio::test]
async fn views_of_one_uncached_book_at_once_share_one_upstream_request() {
    let (url, catalog) = start_upstream(Upstream::Unhurried).await;
    let app = spawn_app_with(|s| s.catalog_url = Some(url)).await;
    let path = format!("/books/{TORNADO}");
    let views = (0..20).map(|_| read_page(&app, &path));
    for (_, _, html) in futures::future::join_all(views).await {
        assert!(html.contains("136 pages") || html.contains("136<!> pages"));
    }
    assert_eq!(
        catalog.hits.load(Ordering::SeqCst),
        1,
        "one request for 20 views"
    );
}

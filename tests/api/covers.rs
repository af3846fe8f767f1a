//! `/covers/{id}.svg`: the covers the shop draws. Every card and book page
//! shows one; its address names what it is drawn from, so it is cached for
//! good, and a changed title is a new drawing at a new address.

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use reqwest::StatusCode;

use crate::helpers::*;

/// The cover address a page shows for `book` (the first `src` naming it).
fn cover_src(html: &str, book: &str) -> String {
    let start = html
        .find(&format!("/covers/{book}.svg?v="))
        .unwrap_or_else(|| panic!("no cover of {book} in the page"));
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_string()
}

/// `path` asked for with one request header, as a browser would send it.
async fn get_with(
    app: &TestApp,
    path: &str,
    name: reqwest::header::HeaderName,
    value: &str,
) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header(name, value)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cover_is_drawn_for_each_book_and_cached_at_its_address() {
    let app = spawn_app().await;
    let shelf = page_html(&app, "/").await;
    let book_page = page_html(&app, &format!("/books/{FEATURED}")).await;
    let src = cover_src(&shelf, FEATURED);
    assert_eq!(
        src,
        cover_src(&book_page, FEATURED),
        "one address per cover"
    );
    assert_eq!(
        shelf.matches("class=\"cover\"").count(),
        cards(&shelf),
        "every card has its cover"
    );

    let cover = app.http.get(app.url(&src)).send().await.unwrap();
    assert_eq!(cover.status(), 200);
    let headers = cover.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "image/svg+xml");
    assert_eq!(
        headers[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers[CONTENT_SECURITY_POLICY], "default-src 'none'");
    let tag = src.rsplit("v=").next().unwrap();
    assert_eq!(headers[ETAG], format!("W/\"{tag}\"").as_str());
    let svg = cover.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    assert!(
        svg.contains(">The Definitive<"),
        "the title is drawn: {svg}"
    );

    // Asked again with its ETag: nothing to send.
    let again = get_with(&app, &src, IF_NONE_MATCH, headers[ETAG].to_str().unwrap()).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // The 304 says what the 200 would: its caching, and that it varies.
    assert_eq!(again.headers()[ETAG], headers[ETAG]);
    assert_eq!(
        again.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(again.headers()[VARY], "accept-encoding");
    assert!(again.bytes().await.unwrap().is_empty());
    // A browser may send its ETags as a list, strong or weak, or `*`.
    let etag = headers[ETAG].to_str().unwrap();
    for (asked, answered) in [
        (format!("\"x\", {etag}"), StatusCode::NOT_MODIFIED),
        (format!("W/\"x\",\"{tag}\""), StatusCode::NOT_MODIFIED),
        ("*".to_string(), StatusCode::NOT_MODIFIED),
        ("\"x\", W/\"y\"".to_string(), StatusCode::OK),
        (format!("\"{tag}x\""), StatusCode::OK),
    ] {
        let answer = get_with(&app, &src, IF_NONE_MATCH, &asked).await;
        assert_eq!(answer.status(), answered, "If-None-Match: {asked}");
    }

    // Compressed like the other assets, when the browser takes it.
    for encoding in ["br", "gzip"] {
        let packed = get_with(&app, &src, ACCEPT_ENCODING, encoding).await;
        assert_eq!(packed.headers()[CONTENT_ENCODING], encoding);
        let size = packed.bytes().await.unwrap().len();
        assert!(size < svg.len() && size <= 4096, "{encoding}: {size} bytes");
    }

    // Any other address of the same book (an old page's, or none) gets the
    // cover as it is now, to be checked on each use.
    for stale in [
        format!("/covers/{FEATURED}.svg"),
        format!("/covers/{FEATURED}.svg?v=0000000000000000"),
    ] {
        let answer = app.http.get(app.url(&stale)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{stale}");
        assert_eq!(
            answer.headers()[CACHE_CONTROL],
            "public, no-cache",
            "{stale}"
        );
        assert_eq!(answer.text().await.unwrap(), svg, "{stale}");
    }
}

/// `livecart books import` of one book, `dune`, titled `title`.
async fn import_dune(app: &TestApp, title: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    std::fs::write(
        &file,
        format!("id,title,author,price,copies\ndune,{title},Frank Herbert,9.99,4\n"),
    )
    .unwrap();
    assert!(import_books(&app.database_url, &file)
        .await
        .status
        .success());
}

#[tokio::test]
async fn a_changed_title_is_a_new_cover_at_a_new_address() {
    let app = spawn_app().await;
    import_dune(&app, "Dune").await;
    let before = cover_src(&page_html(&app, "/books/dune").await, "dune");
    let old = app.http.get(app.url(&before)).send().await.unwrap();
    let old_etag = old.headers()[ETAG].clone();
    assert!(old.text().await.unwrap().contains(">Dune<"));

    import_dune(&app, "Dune Messiah").await;
    let after = cover_src(&page_html(&app, "/books/dune").await, "dune");
    assert_ne!(before, after, "a new title, a new address");
    let new = get_with(&app, &after, IF_NONE_MATCH, old_etag.to_str().unwrap()).await;
    assert_eq!(new.status(), 200, "the old ETag no longer matches");
    assert_ne!(new.headers()[ETAG], old_etag);
    assert_eq!(
        new.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable",
        "the new address is cached for good in its turn"
    );
    assert!(new.text().await.unwrap().contains("Messiah"));
    // The old address now draws the new title, and says to check each time.
    let stale = app.http.get(app.url(&before)).send().await.unwrap();
    assert_eq!(stale.headers()[CACHE_CONTROL], "public, no-cache");
    assert!(stale.text().await.unwrap().contains("Messiah"));
    // A browser that checks the old address with the old ETag (an old page
    // kept open) gets the new drawing, not a 304 for the old one.
    let rechecked = get_with(&app, &before, IF_NONE_MATCH, old_etag.to_str().unwrap()).await;
    assert_eq!(rechecked.status(), 200);
    assert!(rechecked.text().await.unwrap().contains("Messiah"));
}

#[tokio::test]
async fn a_cover_of_no_book_is_a_short_404() {
    let app = spawn_app().await;
    for path in [
        "/covers/no-such-book.svg",
        "/covers/dune",
        "/covers/.svg",
        "/covers/Bad%20Id!.svg",
        "/covers/..%2F..%2Fetc%2Fpasswd.svg",
        &format!("/covers/{FEATURED}.png"),
    ] {
        let answer = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
        let body = answer.text().await.unwrap();
        assert!(body.len() < 200, "{path}: {body}");
    }
    let doubled = app
        .http
        .get(app.url(&format!("/covers/{FEATURED}.svg?v=a&v=b")))
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), 400);
}

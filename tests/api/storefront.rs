//! The storefront's pages and its Add to cart / Return.

use crate::helpers::*;

const RUST_BOOK: &str = "the-rust-programming-language";

#[tokio::test]
async fn the_catalog_page_is_rendered_with_every_live_count() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a shopper cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("livecart_shopper="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("livecart_shopper=");
    assert_eq!(value.len(), 32, "128 bits in hex");

    let html = response.text().await.unwrap();
    let books = stock(&app).await;
    assert!(
        books.stock.len() >= 6,
        "the featured book and at least five more"
    );
    assert!(html.contains("The Definitive Guide to the Internet"));
    assert!(html.contains("Only 10 left"));
    assert!(html.contains("aria-live=\"polite\""));
    assert!(html.contains("/pkg/livecart.js"), "the page hydrates");
}

#[tokio::test]
async fn reserve_and_return_move_the_count_and_the_cart() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    let start = before.available(RUST_BOOK).unwrap();

    let (status, body) = reserve(&app, &app.http, RUST_BOOK).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["copies"], 1);
    let after = stock(&app).await;
    assert_eq!(after.available(RUST_BOOK), Some(start - 1));
    assert!(after.version > before.version);

    let page = app
        .http
        .get(app.url(&format!("/books/{RUST_BOOK}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("Only {} left", start - 1)),
        "the detail page shows the new count"
    );
    assert!(page.contains("You hold 1 copy."));
    let cart = app
        .http
        .get(app.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cart.contains("The Rust Programming Language"),
        "the cart lists the book"
    );

    let (status, body) = return_copy(&app, &app.http, RUST_BOOK).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["copies"], 0);
    assert_eq!(available(&app, RUST_BOOK).await, start);
    let cart = app
        .http
        .get(app.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cart.contains("Your cart is empty"));
}

#[tokio::test]
async fn a_shopper_holds_at_most_the_configured_number_of_copies() {
    let app = spawn_app().await;
    reserve(&app, &app.http, RUST_BOOK).await;
    let before = stock(&app).await;
    let (status, body) = reserve(&app, &app.http, RUST_BOOK).await;
    assert_eq!(status, 409);
    assert_eq!(body, serde_json::json!({"LimitReached": 1}));
    assert_eq!(stock(&app).await, before, "a refusal changes nothing");

    let app = spawn_app_with(|s| s.max_copies_per_shopper = 3).await;
    for copies in 1..=3 {
        let (status, body) = reserve(&app, &app.http, RUST_BOOK).await;
        assert_eq!((status, body["copies"].as_u64()), (200, Some(copies)));
    }
    assert_eq!(reserve(&app, &app.http, RUST_BOOK).await.0, 409);
}

#[tokio::test]
async fn reserving_at_zero_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let book = "structure-and-interpretation-of-computer-programs";
    let copies = available(&app, book).await;
    for _ in 0..copies {
        let buyer = shopper_client();
        assert_eq!(reserve(&app, &buyer, book).await.0, 200);
    }
    let before = stock(&app).await;
    assert_eq!(before.available(book), Some(0));
    let (status, body) = reserve(&app, &shopper_client(), book).await;
    assert_eq!(status, 409);
    assert_eq!(body, serde_json::json!("SoldOut"));
    assert_eq!(stock(&app).await, before, "same counts, same version");
}

#[tokio::test]
async fn returning_a_copy_not_held_is_refused() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    let (status, body) = return_copy(&app, &app.http, RUST_BOOK).await;
    assert_eq!(status, 409);
    assert_eq!(body, serde_json::json!("NotHeld"));
    assert_eq!(stock(&app).await, before);
}

#[tokio::test]
async fn without_javascript_the_form_reserves_and_comes_back_to_the_page() {
    let app = spawn_app().await;
    let page = app.url(&format!("/books/{RUST_BOOK}"));
    app.http.get(&page).send().await.unwrap();
    let start = available(&app, RUST_BOOK).await;

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = format!("livecart_shopper={}", "ab".repeat(16));
    // What a browser sends when it posts the form itself.
    let post_form = || {
        no_redirects
            .post(app.url("/api/cart/reserve"))
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", &page)
            .header("cookie", &cookie)
            .form(&[("book", RUST_BOOK)])
            .send()
    };
    let response = post_form().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/books/{RUST_BOOK}?notice=reserved"));

    let html = no_redirects
        .get(app.url(&location))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("Only {} left", start - 1)));
    assert!(html.contains("Reserved: the copy is held in your cart."));

    // A refused form comes back with the reason.
    let response = post_form().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        format!("/books/{RUST_BOOK}?notice=limit-1").as_str()
    );

    // From a page of a search, the form comes back to that page of it; the
    // last notice and anything else in the address are left behind.
    let response = no_redirects
        .post(app.url("/api/cart/return"))
        .header("accept", "text/html")
        .header(
            "referer",
            app.url("/?q=data%20intensive&page=2&notice=reserved&next=//evil"),
        )
        .header("cookie", &cookie)
        .form(&[("book", RUST_BOOK)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "/?q=data%20intensive&page=2&notice=returned"
    );
}

#[tokio::test]
async fn unknown_pages_and_books_answer_404() {
    let app = spawn_app().await;
    assert_eq!(
        app.http
            .get(app.url("/books/no-such-book"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.http
            .get(app.url("/books/Not%20A%20Slug"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.http
            .get(app.url("/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn requests_and_commits_are_traced_when_the_log_asks_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let wait = std::time::Duration::from_secs(5);
    let mut shop = ServerProcess::start_with(
        &db_path(&dir),
        &[("LIVECART_LOG", "info,tower_http=debug,livecart=debug")],
    )
    .await;
    assert_eq!(burts_cart(&shop, "traced", "add").await.status(), 200);
    let request = shop
        .logged(
            &["method=POST", "uri=/cart", "status=200", "latency="],
            wait,
        )
        .await;
    assert!(request.is_some(), "the request is traced");
    shop.kill_hard().await;

    // The default filter (info) traces neither.
    let mut quiet = ServerProcess::start(&db_path(&dir)).await;
    assert_eq!(burts_cart(&quiet, "traced", "remove").await.status(), 200);
    assert_eq!(
        quiet
            .logged(&["status=200"], std::time::Duration::from_millis(500))
            .await,
        None
    );
    quiet.kill_hard().await;
}

#[tokio::test]
async fn each_commit_group_has_a_span_at_debug_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop =
        ServerProcess::start_with(&db_path(&dir), &[("LIVECART_LOG", "info,livecart=debug")]).await;
    assert_eq!(burts_cart(&shop, "spanned", "add").await.status(), 200);
    let version = stock(&shop).await.version;
    let commit = shop
        .logged(
            &[
                "commit{changes=1}",
                "committed",
                &format!("version={version}"),
            ],
            std::time::Duration::from_secs(5),
        )
        .await;
    assert!(
        commit.is_some(),
        "the commit group's span and its outcome are logged"
    );
    shop.kill_hard().await;
}

#[tokio::test]
async fn the_sites_files_go_out_precompressed_and_hashed_names_are_cached_for_a_year() {
    // A built site as a release build (scripts/build-release.sh) leaves it.
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("livecart.abc123.wasm"), b"\0asm the whole module").unwrap();
    std::fs::write(pkg.join("livecart.abc123.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("livecart.abc123.wasm.gz"), b"gzip bytes").unwrap();
    let root = site.path().display().to_string();
    let hashed = {
        let root = root.clone();
        spawn_app_with_site(
            |_| {},
            move |o| {
                o.site_root = root.into();
                o.hash_files = true;
            },
        )
        .await
    };
    let client = reqwest::Client::new();
    let get = |app: &TestApp, encodings: &'static str| {
        let request = client.get(app.url("/pkg/livecart.abc123.wasm"));
        let request = if encodings.is_empty() {
            request
        } else {
            request.header("accept-encoding", encodings)
        };
        request.send()
    };
    for (asked, encoding, body) in [
        ("br, gzip", Some("br"), &b"brotli bytes"[..]),
        ("gzip, deflate", Some("gzip"), &b"gzip bytes"[..]),
        ("", None, &b"\0asm the whole module"[..]),
    ] {
        let answer = get(&hashed, asked).await.unwrap();
        assert_eq!(answer.status(), 200, "{asked}");
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(header("content-encoding").as_deref(), encoding, "{asked}");
        assert_eq!(header("content-type").as_deref(), Some("application/wasm"));
        assert!(header("vary")
            .unwrap_or_default()
            .contains("accept-encoding"));
        assert_eq!(
            header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(&answer.bytes().await.unwrap()[..], body, "{asked}");
    }
    // Names without a hash (a debug build) are checked again on every use.
    let unhashed = spawn_app_with_site(|_| {}, move |o| o.site_root = root.into()).await;
    let answer = get(&unhashed, "br").await.unwrap();
    assert_eq!(answer.headers()["cache-control"], "no-cache");
    assert_eq!(
        reqwest::get(unhashed.url("/pkg/no-such-file.wasm"))
            .await
            .unwrap()
            .status(),
        404
    );
}

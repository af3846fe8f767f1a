//! `/api/stock`, `/api/books` and the stock WebSocket.

use std::time::Duration;

use livecart::shared::stock::StockSnapshot;

use crate::helpers::*;

#[tokio::test]
async fn stock_and_books_have_the_public_shapes() {
    let app = spawn_app().await;
    let raw: serde_json::Value = reqwest::get(app.url("/api/stock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(raw["version"].is_u64());
    assert_eq!(raw["stock"][FEATURED], 10);

    let books: serde_json::Value = reqwest::get(app.url("/api/books"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let books = books.as_array().expect("a list of books");
    assert!(books.len() >= 6);
    let featured: Vec<_> = books.iter().filter(|b| b["featured"] == true).collect();
    assert_eq!(featured.len(), 1);
    let book = featured[0];
    assert_eq!(book["id"], FEATURED);
    assert_eq!(book["title"], "The Definitive Guide to the Internet");
    assert_eq!(book["author"], "Anonymous");
    assert_eq!(book["price"], "20.00");
    assert_eq!(book["total"], 10);
}

#[tokio::test]
async fn the_socket_sends_the_snapshot_on_open_then_every_newer_one() {
    let app = spawn_app().await;
    let mut socket = open_socket(&app, "/api/stock/ws").await;
    let first: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first, stock(&app).await);

    book_cart(&app, "s1", "add").await;
    let second: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(second.version > first.version);
    assert_eq!(second.available(FEATURED), Some(9));

    book_cart(&app, "s1", "remove").await;
    let third: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(third.version > second.version);
    assert_eq!(third.available(FEATURED), Some(10));
}

#[tokio::test]
async fn a_socket_from_another_site_is_refused() {
    let app = spawn_app().await;
    for path in ["/api/stock/ws", "/cart/status", "/cart/status?session=abc"] {
        let url = app.url(path).replacen("http://", "ws://", 1);
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
                .unwrap();
        request
            .headers_mut()
            .insert("origin", "http://evil.example".parse().unwrap());
        let err = tokio_tungstenite::connect_async(request)
            .await
            .expect_err("refused");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                assert_eq!(response.status(), 403, "{path}")
            }
            other => panic!("{path}: expected a 403, got {other}"),
        }
    }
    // The same sockets from the shop's own pages open.
    let mut open = Vec::new();
    for path in ["/api/stock/ws", "/cart/status"] {
        let url = app.url(path).replacen("http://", "ws://", 1);
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
                .unwrap();
        let own = format!("http://{}", app.addr);
        request.headers_mut().insert("origin", own.parse().unwrap());
        open.push(
            tokio_tungstenite::connect_async(request)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}")),
        );
    }
    assert_eq!(
        gauge_reaches(&app, BOOK_WEBSOCKETS, 1, std::time::Duration::from_secs(5)).await,
        1
    );
}

#[tokio::test]
async fn a_change_the_browser_marks_cross_site_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let before = available(&app, FEATURED).await;
    let post = |site: &'static str| {
        reqwest::Client::new()
            .post(app.url("/cart"))
            .header("sec-fetch-site", site)
            .form(&[("session", "framed"), ("action", "add")])
            .send()
    };
    // No Origin at all, but the browser says another site made the request.
    let refused = post("cross-site").await.unwrap();
    assert_eq!(refused.status(), 403);
    // The refusal is an answer like any other: it cannot be framed either.
    assert_eq!(refused.headers()["x-frame-options"], "DENY");
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    assert_eq!(available(&app, FEATURED).await, before, "nothing changed");
    assert_eq!(post("same-origin").await.unwrap().status(), 200);
    assert_eq!(available(&app, FEATURED).await, before - 1);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let answers = [
        client.get(app.url("/")).send().await.unwrap(),
        client.get(app.url("/api/stock")).send().await.unwrap(),
        client.get(app.url("/burts-books")).send().await.unwrap(),
        client.get(app.url("/no-such-page")).send().await.unwrap(),
        client
            .post(app.url("/cart"))
            .form(&[("session", "x")])
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let what = format!("{} {}", answer.url().path(), answer.status());
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(
            header("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_pages_scripts_all_carry_the_nonce_its_policy_names() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for path in ["/", "/cart", "/books/definitive-guide-to-the-internet"] {
        let answer = reqwest::get(app.url(path)).await.unwrap();
        let policy = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = answer.text().await.unwrap();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_string();
        assert!(
            policy.contains("script-src 'self' 'nonce-") && policy.contains("'wasm-unsafe-eval'"),
            "{path}: {policy}"
        );
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path} has its hydration scripts");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries the nonce"
        );
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a new nonce for every page");
}

#[tokio::test]
async fn a_node_that_can_take_changes_is_healthy_and_ready() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let answer = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap(), "ok\n");
    }
}

#[tokio::test]
async fn over_https_cookies_are_secure_host_only_and_hsts_is_sent() {
    let app = spawn_app_with(|s| s.behind_https = true).await;
    let client = reqwest::Client::new();
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(
        page.headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap()),
        Some("max-age=31536000")
    );
    let set = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.starts_with("__Host-livecart_shopper="), "{set}");
    assert!(
        set.contains("; Path=/") && set.ends_with("; Secure"),
        "{set}"
    );
    assert!(!set.contains("Domain"), "{set}");
    // The prefixed cookie names the shopper on the next request.
    let cookie = set.split(';').next().unwrap().to_string();
    let reserved = client
        .post(app.url("/api/cart/reserve"))
        .header("cookie", &cookie)
        .form(&[("book", FEATURED)])
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 200);
    let cart = client
        .get(app.url("/cart"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        cart.headers().get("set-cookie").is_none(),
        "the same shopper"
    );
    assert!(cart
        .text()
        .await
        .unwrap()
        .contains("The Definitive Guide to the Internet"));

    // Over plain HTTP (the default) neither is sent.
    let plain = spawn_app().await;
    let page = client.get(plain.url("/")).send().await.unwrap();
    assert!(page.headers().get("strict-transport-security").is_none());
    let set = page.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        set.starts_with("livecart_shopper=") && !set.contains("Secure"),
        "{set}"
    );
}

//! Requests another site makes are refused (403) and change nothing: posts,
//! staff changes and sockets whose Origin is another site's, and changes the
//! browser marks cross-site (Sec-Fetch-Site); the shop's own pages get in.

use crate::helpers::*;

#[tokio::test]
async fn a_post_from_another_site_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    for path in ["/cart", "/api/cart/reserve"] {
        let response = reqwest::Client::new()
            .post(app.url(path))
            .header("origin", "http://evil.example")
            .form(&[("session", "abc"), ("action", "add"), ("book", FEATURED)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    assert_eq!(stock(&app).await, before);
}

#[tokio::test]
async fn a_staff_change_from_another_site_is_refused_though_signed_in() {
    let app = spawn_app().await;
    let (name, password) = ("burt", "correct horse battery staple");
    app.add_staff(name, password).await;
    let before = stock(&app).await;
    // Signed in, but the request comes from another site.
    let staff = app.staff_client(name, password).await;
    let response = staff
        .post(app.url("/api/admin/restock"))
        .header("origin", "http://evil.example")
        .form(&[("book", FEATURED), ("copies", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(stock(&app).await, before, "nothing changed");
}

#[tokio::test]
async fn a_socket_from_another_site_is_refused() {
    let app = spawn_app().await;
    for path in ["/api/stock/ws", "/cart/status", "/cart/status?session=abc"] {
        let url = app.ws_url(path);
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
        let url = app.ws_url(path);
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
        gauge_reaches(&app, BURTS_WEBSOCKETS, 1, std::time::Duration::from_secs(5)).await,
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

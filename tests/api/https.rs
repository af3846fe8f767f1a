//! Behind HTTPS: the shopper cookie is `__Host-` prefixed and Secure, and
//! HSTS is sent; over plain HTTP neither.

use crate::helpers::*;

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

//! Bad input gets a 4xx with a short message and changes nothing.

use crate::helpers::*;

async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn assert_short_4xx(case: &str, (status, message): &(u16, String)) {
    assert!((400..500).contains(status), "{case}: status {status}");
    assert!(!message.trim().is_empty(), "{case}: a message");
    assert!(
        message.len() < 300,
        "{case}: a short message, got {} bytes",
        message.len()
    );
}

#[tokio::test]
async fn burts_protocol_refuses_bad_input_without_changing_anything() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    let form = "application/x-www-form-urlencoded";
    let long_session = "x".repeat(10 * 1024);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty session", form, b"session=&action=add".to_vec()),
        ("missing session", form, b"action=add".to_vec()),
        (
            "10 KB session",
            form,
            format!("session={long_session}&action=add").into_bytes(),
        ),
        ("unknown action", form, b"session=abc&action=steal".to_vec()),
        ("missing action", form, b"session=abc".to_vec()),
        (
            "non-UTF-8 body",
            form,
            b"session=\xff\xfe\xfd&action=add".to_vec(),
        ),
        (
            "percent-encoded non-UTF-8",
            form,
            b"session=%ff%fe&action=add".to_vec(),
        ),
        ("malformed form", form, b"%%%&&&===".to_vec()),
        (
            "not a form",
            "application/json",
            br#"{"session":"abc","action":"add"}"#.to_vec(),
        ),
        (
            "duplicate fields",
            form,
            b"session=a&session=b&action=add".to_vec(),
        ),
    ];
    for (case, content_type, body) in cases {
        let answer = post_raw(&app, "/cart", content_type, body).await;
        assert_short_4xx(case, &answer);
        assert_eq!(answer.0, 400, "{case}: {}", answer.1);
    }
    // A good request, padded past the 64 KiB body limit: refused for its
    // size alone (without the limit it would hold a copy).
    let mut padded = b"session=padded&action=add&padding=".to_vec();
    padded.resize(65 * 1024, b'a');
    let too_big = post_raw(&app, "/cart", form, padded).await;
    assert_short_4xx("oversized body", &too_big);
    assert_eq!(too_big.0, 413, "{}", too_big.1);

    let status = reqwest::get(app.url(&format!("/cart/status?session={long_session}")))
        .await
        .unwrap();
    assert_eq!(status.status(), 400, "a 10 KB session on the long poll");
    assert_eq!(stock(&app).await, before, "nothing changed");
}

#[tokio::test]
async fn the_storefront_refuses_bad_input_without_changing_anything() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unknown book", b"book=no-such-book".to_vec(), 404),
        ("not a book id", b"book=..%2F..%2Fetc".to_vec(), 404),
        ("missing book", b"title=x".to_vec(), 400),
        ("non-UTF-8 body", b"book=\xff\xfe".to_vec(), 400),
        ("empty body", Vec::new(), 400),
    ];
    for (case, body, expected) in cases {
        for path in ["/api/cart/reserve", "/api/cart/return"] {
            let answer = post_raw(&app, path, form, body.clone()).await;
            assert_short_4xx(case, &answer);
            assert_eq!(answer.0, expected, "{path} {case}: {}", answer.1);
        }
    }
    assert_eq!(stock(&app).await, before, "nothing changed");
}

//! Burt's protocol (the Tornado book's), exactly: `POST /cart`, the long poll and the
//! WebSocket on `/cart/status`, all on the same inventory as the pages.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn add_and_remove_are_one_copy_per_session_and_idempotent() {
    let app = spawn_app().await;
    let response = burts_cart(&app, "7f1c0c9e-2b0a-4e0e-8d8b-6c1d7d2a9f10", "add").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"inventoryCount":"9"}"#);
    assert_eq!(
        burts_cart(&app, "7f1c0c9e-2b0a-4e0e-8d8b-6c1d7d2a9f10", "add")
            .await
            .status(),
        200
    );
    assert_eq!(
        available(&app, FEATURED).await,
        9,
        "adding twice holds one copy"
    );

    assert_eq!(
        burts_cart(&app, "7f1c0c9e-2b0a-4e0e-8d8b-6c1d7d2a9f10", "remove")
            .await
            .status(),
        200
    );
    assert_eq!(
        burts_cart(&app, "7f1c0c9e-2b0a-4e0e-8d8b-6c1d7d2a9f10", "remove")
            .await
            .status(),
        200
    );
    assert_eq!(available(&app, FEATURED).await, 10);
}

#[tokio::test]
async fn add_with_nothing_left_answers_409_and_changes_nothing() {
    let app = spawn_app().await;
    for i in 0..10 {
        assert_eq!(
            burts_cart(&app, &format!("session-{i}"), "add")
                .await
                .status(),
            200
        );
    }
    let before = stock(&app).await;
    assert_eq!(before.available(FEATURED), Some(0));
    let response = burts_cart(&app, "one-too-many", "add").await;
    assert_eq!(response.status(), 409);
    assert_eq!(stock(&app).await, before);
    // A session that holds a copy may still "add" it again: that is no change.
    assert_eq!(burts_cart(&app, "session-0", "add").await.status(), 200);
    assert_eq!(stock(&app).await, before);
}

#[tokio::test]
async fn the_long_poll_answers_when_the_featured_count_next_changes() {
    let app = spawn_app().await;
    let poll = tokio::spawn(reqwest::get(app.url("/cart/status?session=watcher")));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    assert!(!poll.is_finished(), "held until the count changes");

    // Another book's change is not the featured count's: had the poll been
    // answered by it, the answer below would say 10.
    let (status, _) = reserve(&app, &app.http, "the-pragmatic-programmer").await;
    assert_eq!(status, 200);
    assert_eq!(gauge(&app, BURTS_LONG_POLLS).await, 1, "still held");

    burts_cart(&app, "buyer", "add").await;
    let response = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"inventoryCount":"9"}"#);
}

#[tokio::test]
async fn the_websocket_pushes_the_exact_json_on_every_change() {
    let app = spawn_app().await;
    let mut with_session = open_socket(&app, "/cart/status?session=watcher").await;
    let mut like_the_book = open_socket(&app, "/cart/status").await;

    burts_cart(&app, "buyer", "add").await;
    for socket in [&mut with_session, &mut like_the_book] {
        assert_eq!(
            next_text(socket, Duration::from_secs(5)).await.as_deref(),
            Some(r#"{"inventoryCount":"9"}"#)
        );
    }
    burts_cart(&app, "buyer", "remove").await;
    for socket in [&mut with_session, &mut like_the_book] {
        assert_eq!(
            next_text(socket, Duration::from_secs(5)).await.as_deref(),
            Some(r#"{"inventoryCount":"10"}"#)
        );
    }
}

#[tokio::test]
async fn the_books_client_and_the_storefront_see_each_others_changes() {
    let app = spawn_app().await;
    // The storefront reserves the featured book; the book's long poll hears it.
    let poll = tokio::spawn(reqwest::get(app.url("/cart/status?session=old-client")));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    let (status, _) = reserve(&app, &app.http, FEATURED).await;
    assert_eq!(status, 200);
    let response = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.text().await.unwrap(), r#"{"inventoryCount":"9"}"#);

    // The book's client adds; the storefront page and its socket show it.
    let mut socket = open_socket(&app, "/api/stock/ws").await;
    next_text(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    burts_cart(&app, "old-client", "add").await;
    let pushed = next_text(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(pushed.contains(&format!("\"{FEATURED}\":8")), "{pushed}");
    let page = app
        .http
        .get(app.url(&format!("/books/{FEATURED}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Only 8 left"));
}

#[tokio::test]
async fn viewing_the_books_page_remembers_nothing_answering_a_poll_does() {
    let app = spawn_app().await;
    for _ in 0..20 {
        let page = reqwest::get(app.url("/burts-books")).await.unwrap();
        assert!(page
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("livecart_featured_seen=")));
    }
    assert_eq!(gauge(&app, "livecart_burts_sessions").await, 0);
    let poll = tokio::spawn(reqwest::get(app.url("/cart/status?session=remembered")));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    assert_eq!(burts_cart(&app, "buyer", "add").await.status(), 200);
    assert_eq!(poll.await.unwrap().unwrap().status(), 200);
    assert_eq!(gauge(&app, "livecart_burts_sessions").await, 1);
}

#[tokio::test]
async fn a_poll_held_fifty_seconds_is_answered_with_the_count_as_it_stands() {
    let app = spawn_app().await;
    // Another book changes meanwhile: not the featured count, so the poll
    // stays held until its cap.
    let started = tokio::time::Instant::now();
    let poll = tokio::spawn(reqwest::get(app.url("/cart/status?session=patient")));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    let (status, _) = reserve(&app, &app.http, "the-pragmatic-programmer").await;
    assert_eq!(status, 200);
    tokio::time::sleep_until(started + Duration::from_secs(49)).await;
    assert!(!poll.is_finished(), "held for its fifty seconds");
    let response = tokio::time::timeout(Duration::from_millis(1_500), poll)
        .await
        .expect("answered at fifty seconds (and half a second for scheduling)")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"inventoryCount":"10"}"#);
}

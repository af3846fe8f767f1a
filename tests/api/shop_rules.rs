//! The shop's real rules: holds that lapse, checkout, and the last copy.

use std::time::{Duration, Instant};

use futures::future::join_all;
use livecart::shared::stock::StockSnapshot;
use sqlx::Connection;

use crate::helpers::*;

const SICP: &str = "structure-and-interpretation-of-computer-programs";

#[tokio::test]
async fn a_hold_lapses_after_its_ttl_and_subscribers_are_told() {
    let app = spawn_app_with(|s| s.reservation_ttl = Duration::from_secs(2)).await;
    let mut socket = open_socket(&app, "/api/stock/ws").await;
    let first: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();

    assert_eq!(burts_cart(&app, "forgetful", "add").await.status(), 200);
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    let reserved_at = Instant::now();
    assert_eq!(available(&app, FEATURED).await, 9);
    assert_eq!(available(&app, SICP).await, 2);

    // Pushed once when reserved (maybe twice), then once more when they lapse.
    let mut lapsed = None;
    let mut pushes = vec![first];
    while let Some(text) = next_text(&mut socket, Duration::from_secs(6)).await {
        pushes.push(serde_json::from_str(&text).unwrap());
        let snapshot: StockSnapshot = merged(pushes.iter().cloned());
        if snapshot.available(FEATURED) == Some(10) && snapshot.available(SICP) == Some(3) {
            lapsed = Some(reserved_at.elapsed());
            break;
        }
    }
    let lapsed = lapsed.expect("the freed copies are pushed");
    assert!(
        lapsed >= Duration::from_millis(1900),
        "not before the deadline: {lapsed:?}"
    );
    assert!(
        lapsed <= Duration::from_millis(3000),
        "within a second of the deadline: {lapsed:?}"
    );
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
async fn touching_the_cart_renews_every_hold() {
    const HELD: [(&str, &str); 3] = [
        (SICP, "Structure and Interpretation"),
        (FEATURED, "The Definitive Guide to the Internet"),
        ("the-pragmatic-programmer", "The Pragmatic Programmer"),
    ];
    let app = spawn_app_with(|s| s.reservation_ttl = Duration::from_secs(2)).await;
    let before = stock(&app).await;
    for (book, _) in HELD {
        assert_eq!(reserve(&app, &app.http, book).await.0, 200);
    }
    // Each look comes after more than half the TTL: only a renewal of every
    // hold keeps them all through three looks (3.6 s against 2 s).
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let cart = app
            .http
            .get(app.url("/cart"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for (_, title) in HELD {
            assert!(
                cart.contains(title),
                "{title} still held after looking at the cart"
            );
        }
        assert!(
            cart.contains("held for 0:0") || cart.contains("held for 0:1"),
            "the time left shows"
        );
    }
    let after = stock(&app).await;
    for (book, _) in HELD {
        assert_eq!(
            after.available(book),
            before.available(book).map(|n| n - 1),
            "{book}"
        );
    }
}

#[tokio::test]
async fn checkout_turns_holds_into_an_order_that_never_lapses() {
    let app = spawn_app_with(|s| {
        s.reservation_ttl = Duration::from_secs(2);
        s.max_copies_per_shopper = 2;
    })
    .await;
    reserve(&app, &app.http, SICP).await;
    reserve(&app, &app.http, SICP).await;
    reserve(&app, &app.http, FEATURED).await;
    let (status, order) = post_form(&app, &app.http, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["total_cents"], 2 * 5500 + 2000);
    let lines = order["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);

    let page = app
        .http
        .get(app.url(&format!("/orders/{}", order["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Structure and Interpretation of Computer Programs"));
    assert!(html.contains("Total paid: $130.00"));

    // Another shopper cannot see it.
    let stranger = shopper_client();
    let other = stranger
        .get(app.url(&format!("/orders/{}", order["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        available(&app, SICP).await,
        1,
        "sold copies never come back"
    );
    assert_eq!(available(&app, FEATURED).await, 9);
    let (status, body) = post_form(&app, &app.http, "/api/cart/checkout", &[]).await;
    assert_eq!((status, body), (409, serde_json::json!("EmptyCart")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shoppers_racing_for_the_last_copy_one_wins_it_at_reserve_and_orders_it() {
    for round in 0..10 {
        let app = spawn_app().await;
        // Leave one copy.
        reserve(&app, &shopper_client(), SICP).await;
        reserve(&app, &shopper_client(), SICP).await;
        assert_eq!(available(&app, SICP).await, 1, "round {round}");

        let racers = (0..2).map(|_| {
            let app = &app;
            async move {
                let me = shopper_client();
                reserve(app, &me, SICP).await;
                post_form(app, &me, "/api/cart/checkout", &[]).await.0
            }
        });
        let statuses = join_all(racers).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(available(&app, SICP).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_out_twice_at_once_makes_exactly_one_order() {
    for round in 0..10 {
        let app = spawn_app().await;
        let shopper = shopper_client();
        assert_eq!(reserve(&app, &shopper, SICP).await.0, 200);
        // A double click: two checkouts of the same cart race.
        let racers = (0..2).map(|_| {
            let (app, shopper) = (&app, &shopper);
            async move { post_form(app, shopper, "/api/cart/checkout", &[]).await }
        });
        let answers = join_all(racers).await;
        let orders: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
        assert_eq!(orders.len(), 1, "round {round}: {answers:?}");
        assert!(
            answers
                .iter()
                .any(|a| *a == (409, serde_json::json!("EmptyCart"))),
            "round {round}: the other finds the cart empty: {answers:?}"
        );
        assert_eq!(orders[0].1["lines"][0]["copies"], 1, "round {round}");
        assert_eq!(available(&app, SICP).await, 2, "sold once");
    }
}

#[tokio::test]
async fn a_cart_view_never_revives_a_hold_past_its_deadline() {
    // A long TTL, so only the deadline written below can end the hold.
    let app = spawn_app().await;
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    let held = available(&app, SICP).await;
    // The hold's deadline passes (written straight into the shop's file, as
    // time would), and the cart is looked at before the clock comes round
    // (it looks at most every half second).
    let mut db = sqlx::sqlite::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 1_000;
    sqlx::query("UPDATE reservations SET expires_at = ?")
        .bind(past)
        .execute(&mut db)
        .await
        .unwrap();
    let cart = app.http.get(app.url("/cart")).send().await.unwrap();
    assert_eq!(cart.status(), 200);
    // The clock ends it: the copy is back within its half second.
    let started = std::time::Instant::now();
    while available(&app, SICP).await != held + 1 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the lapsed hold was renewed by the cart view instead of ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

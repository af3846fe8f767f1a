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

    assert_eq!(book_cart(&app, "forgetful", "add").await.status(), 200);
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

#[tokio::test]
async fn an_order_past_four_billion_cents_is_charged_exactly() {
    // $999,999.99 (the highest price staff can set) times 50 copies is
    // 4,999,999,950 cents: past what 32 bits hold.
    let app = spawn_app_with(|s| s.max_copies_per_shopper = 50).await;
    app.add_staff("ada", "correct horse battery").await;
    let staff = app.staff_client("ada", "correct horse battery").await;
    for (path, field, value) in [
        ("/api/admin/total", "total", "60"),
        ("/api/admin/price", "price", "999999.99"),
    ] {
        let (status, body) = post_form(&app, &staff, path, &[("book", SICP), (field, value)]).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    for _ in 0..50 {
        assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    }
    assert!(page_html(&app, "/cart")
        .await
        .contains("Total: $49999999.50"));
    let (status, order) = post_form(&app, &app.http, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["total_cents"], 4_999_999_950u64);
    let page = page_html(&app, &format!("/orders/{}", order["id"].as_str().unwrap())).await;
    assert!(page.contains("Total paid: $49999999.50"), "{page}");
    // The writer is alive: the next change goes through.
    assert_eq!(book_cart(&app, "after", "add").await.status(), 200);
}

#[tokio::test]
async fn a_cart_past_its_books_is_refused_with_429_and_nothing_changes() {
    let app = spawn_app_with(|s| s.max_books_per_cart = 2).await;
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    assert_eq!(reserve(&app, &app.http, FEATURED).await.0, 200);
    let before = stock(&app).await;
    let (status, body) = reserve(&app, &app.http, "the-pragmatic-programmer").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body, serde_json::json!({"CartFull": 2}));
    let after = stock(&app).await;
    assert_eq!(after.version, before.version, "nothing changed");
    // Another cart, and the book's protocol, are not held back by it.
    assert_eq!(
        reserve(&app, &shopper_client(), "the-pragmatic-programmer")
            .await
            .0,
        200
    );
    assert_eq!(book_cart(&app, "session", "add").await.status(), 200);
}

#[tokio::test]
async fn a_hold_ends_at_its_maximum_age_however_often_it_is_renewed() {
    let app = spawn_app_with(|s| {
        s.reservation_ttl = Duration::from_secs(2);
        s.max_hold_age = Duration::from_secs(3);
    })
    .await;
    let before = available(&app, SICP).await;
    let taken = Instant::now();
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    // Renewed by looking at the cart well within each TTL: it outlives one
    // TTL (2 s)...
    while taken.elapsed() < Duration::from_millis(2600) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        app.http.get(app.url("/cart")).send().await.unwrap();
    }
    assert_eq!(
        available(&app, SICP).await,
        before - 1,
        "renewed past one TTL"
    );
    // ...but not its maximum age (3 s): back on the shelf within the clock's
    // half second of it, although the last renewal promised 2 s more.
    while available(&app, SICP).await != before {
        assert!(
            taken.elapsed() < Duration::from_millis(4000),
            "still held {:?} after it was taken",
            taken.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

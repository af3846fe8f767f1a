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

    burts_cart(&app, "s1", "add").await;
    let second: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(second.version > first.version);
    assert_eq!(second.available(FEATURED), Some(9));

    burts_cart(&app, "s1", "remove").await;
    let third: StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(third.version > second.version);
    assert_eq!(third.available(FEATURED), Some(10));
}

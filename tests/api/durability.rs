//! Acknowledged changes survive a restart and a `kill -9`.

use crate::helpers::*;

#[tokio::test]
async fn acknowledged_reservations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let shop = ServerProcess::start(&db).await;
    let web_shopper = shopper_client();
    let book = "the-rust-programming-language";
    let rust_start = available(&shop, book).await;

    // Acknowledged one after the other, then killed at once.
    for i in 0..7 {
        assert_eq!(
            book_cart(&shop, &format!("kept-{i}"), "add").await.status(),
            200
        );
    }
    assert_eq!(reserve(&shop, &web_shopper, book).await.0, 200);
    let acknowledged = stock(&shop).await;
    shop.kill_hard().await;

    let shop = ServerProcess::start(&db).await;
    let after = stock(&shop).await;
    assert_eq!(after.available(FEATURED), Some(3));
    assert_eq!(after.available(book), Some(rust_start - 1));
    assert!(
        after.version >= acknowledged.version,
        "versions never go back after a restart"
    );

    // The holds are the same shoppers', not just the same counts.
    assert_eq!(book_cart(&shop, "kept-0", "remove").await.status(), 200);
    assert_eq!(available(&shop, FEATURED).await, 4);
    assert_eq!(give_back(&shop, &web_shopper, book).await.0, 200);

    // The next change after the restart gets a greater version.
    assert!(stock(&shop).await.version > acknowledged.version);
    shop.kill_hard().await;
}

#[tokio::test]
async fn a_burst_of_concurrent_reservations_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let shop = ServerProcess::start(&db).await;
    let shop_ref = &shop;
    let acks = futures::future::join_all((0..10).map(|i| async move {
        book_cart(shop_ref, &format!("burst-{i}"), "add")
            .await
            .status()
    }));
    let statuses = acks.await;
    let acknowledged = statuses.iter().filter(|s| s.as_u16() == 200).count() as u32;
    shop.kill_hard().await;

    let shop = ServerProcess::start(&db).await;
    assert_eq!(available(&shop, FEATURED).await, 10 - acknowledged);
    shop.kill_hard().await;
}

#[tokio::test]
async fn a_clean_restart_keeps_everything_and_closes_sockets_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let shop = ServerProcess::start(&db).await;
    book_cart(&shop, "stays", "add").await;
    let mut socket = open_socket(&shop, "/api/stock/ws").await;
    next_text(&mut socket, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let poll = tokio::spawn(reqwest::get(format!(
        "{}/cart/status?session=waiting",
        shop.base()
    )));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let status = shop.stop().await;
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    // The socket was told the server is going away.
    use futures::StreamExt;
    let mut close_code = None;
    while let Some(Ok(message)) = socket.next().await {
        if let tokio_tungstenite::tungstenite::Message::Close(Some(frame)) = message {
            close_code = Some(u16::from(frame.code));
        }
    }
    assert_eq!(close_code, Some(1001));
    assert!(
        poll.await.unwrap().is_ok(),
        "the long poll was answered, not cut"
    );

    let shop = ServerProcess::start(&db).await;
    assert_eq!(available(&shop, FEATURED).await, 9);
    shop.kill_hard().await;
}

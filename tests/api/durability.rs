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
            burts_cart(&shop, &format!("kept-{i}"), "add")
                .await
                .status(),
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
    assert_eq!(burts_cart(&shop, "kept-0", "remove").await.status(), 200);
    assert_eq!(available(&shop, FEATURED).await, 4);
    assert_eq!(return_copy(&shop, &web_shopper, book).await.0, 200);

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
        burts_cart(shop_ref, &format!("burst-{i}"), "add")
            .await
            .status()
    }));
    let statuses = acks.await;
    let acknowledged = statuses.iter().filter(|s| s.as_u16() == 200).count() as u32;
    assert_eq!(acknowledged, 10, "every copy was taken: {statuses:?}");
    shop.kill_hard().await;

    let shop = ServerProcess::start(&db).await;
    assert_eq!(available(&shop, FEATURED).await, 0);
    shop.kill_hard().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_in_the_middle_of_a_stream_of_reservations_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let shop = ServerProcess::start(&db).await;
    let base = shop.url("");
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Four clients, each adding fresh sessions one after the other, so that
    // requests are always in flight; each reports the sessions acknowledged.
    let streams: Vec<_> = (0..4)
        .map(|stream| {
            let (base, acked) = (base.clone(), acked_tx.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..100 {
                    let session = format!("stream-{stream}-{i}");
                    let sent = client
                        .post(format!("{base}/cart"))
                        .form(&[("session", session.as_str()), ("action", "add")])
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            let _ = acked.send(session);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    drop(acked_tx);
    // Killed once a few are acknowledged, with more on their way.
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 3 {
        acknowledged.push(acked_rx.recv().await.expect("acknowledgements"));
    }
    shop.kill_hard().await;
    for stream in streams {
        stream.await.unwrap();
    }
    while let Ok(session) = acked_rx.try_recv() {
        acknowledged.push(session);
    }
    // At least three by the loop above: the kill came with more in flight.
    let acknowledged = acknowledged.len() as u32;

    let shop = ServerProcess::start(&db).await;
    let held = 10 - available(&shop, FEATURED).await;
    assert!(
        held >= acknowledged,
        "{acknowledged} acknowledged before the kill, {held} held after it"
    );
    shop.kill_hard().await;
}

#[tokio::test]
async fn every_connection_commits_durably_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_path(&dir).display());
    let store = livecart::server::store::Store::open(&url).await.unwrap();
    let settings = store.sqlite_durability().await.unwrap();
    assert!(settings.len() >= 2, "several connections: {settings:?}");
    for (journal_mode, synchronous) in settings {
        assert_eq!(journal_mode, "wal");
        assert_eq!(synchronous, 2, "synchronous = FULL");
    }
}

#[tokio::test]
async fn a_clean_restart_keeps_everything_and_closes_sockets_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let shop = ServerProcess::start(&db).await;
    burts_cart(&shop, "stays", "add").await;
    let mut socket = open_socket(&shop, "/api/stock/ws").await;
    next_text(&mut socket, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let poll = tokio::spawn(reqwest::get(shop.url("/cart/status?session=waiting")));
    assert_eq!(
        gauge_reaches(
            &shop,
            BURTS_LONG_POLLS,
            1,
            std::time::Duration::from_secs(5)
        )
        .await,
        1
    );

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
    let answer = poll
        .await
        .unwrap()
        .expect("the long poll was answered, not cut");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        r#"{"inventoryCount":"9"}"#,
        "with the count as it stood"
    );

    let shop = ServerProcess::start(&db).await;
    assert_eq!(available(&shop, FEATURED).await, 9);
    shop.kill_hard().await;
}

#[tokio::test]
async fn a_request_that_never_finishes_cannot_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start_with(&db_path(&dir), &[("LIVECART_SHUTDOWN_DEADLINE", "1s")]).await;
    // Half a request, then silence: its handler waits for the rest forever.
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        b"POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nsession=",
    )
    .await
    .unwrap();
    assert_eq!(burts_cart(&server, "kept", "add").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let asked = std::time::Instant::now();
    let status = server.stop().await;
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    println!("stopped {took:?} after it was asked to");
    // The deadline (1 s) plus at most 0.5 s for scheduling and the process's
    // exit: scripts/test.sh runs this test alone.
    assert!(
        took <= std::time::Duration::from_millis(1500),
        "stopped by the 1 s deadline, not held up by the stalled request: {took:?}"
    );
    // The change acknowledged before the stop is there after it.
    let again = ServerProcess::start(&db_path(&dir)).await;
    assert_eq!(available(&again, FEATURED).await, 9);
    drop(stalled);
}

/// On SQLite a transaction runs its own BEGIN … COMMIT on a pooled
/// connection. One given up midway (an error, a group's deadline) must roll
/// back and must not go back to the pool still inside its transaction: the
/// next group given that connection would fail to begin, or commit the
/// abandoned writes with its own.
#[tokio::test]
async fn a_transaction_given_up_midway_leaves_nothing_and_no_connection_inside_it() {
    use livecart::server::store::Store;
    use livecart::shared::stock::FEATURED_BOOK;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_path(&dir).display());
    let store = Store::open(&url).await.unwrap();
    livecart::server::inventory::stock_opening_books(&store)
        .await
        .unwrap();
    let before = store.stock().await.unwrap();
    let available =
        |s: &livecart::shared::stock::StockSnapshot| s.available(FEATURED_BOOK).unwrap();

    // More abandoned transactions than the pool has connections (8).
    for _ in 0..20 {
        let mut tx = store.begin().await.unwrap();
        assert!(tx.restock(FEATURED_BOOK, 5).await.unwrap());
        drop(tx);
    }
    assert_eq!(
        store.stock().await.unwrap(),
        before,
        "nothing abandoned was kept"
    );

    // Every connection still begins, writes and commits.
    for _ in 0..20 {
        let mut tx = store.begin().await.unwrap();
        assert!(tx.restock(FEATURED_BOOK, 1).await.unwrap());
        tx.finish_and_commit(&[FEATURED_BOOK], false, livecart::server::clock::now_ms())
            .await
            .unwrap();
    }
    let after = store.stock().await.unwrap();
    assert_eq!(available(&after), available(&before) + 20);
    assert_eq!(after.version, before.version + 20);
}

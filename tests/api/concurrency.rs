//! Many buyers at once: never an oversell, never a negative count pushed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use livecart::server::inventory::shopper::{BurtsSession, Shopper};
use livecart::server::inventory::BookId;
use livecart::shared::stock::{StockSnapshot, FEATURED_BOOK};

use crate::helpers::*;

/// Collects every snapshot the stock socket pushes, until it has the version
/// it is sent (the stock's version once the race is over).
async fn record_snapshots(
    mut socket: Socket,
    last: tokio::sync::oneshot::Receiver<u64>,
) -> Vec<StockSnapshot> {
    let mut seen: Vec<StockSnapshot> = Vec::new();
    let mut until = None;
    let mut last = Some(last);
    loop {
        if let (Some(until), Some(newest)) = (until, seen.last()) {
            if newest.version >= until {
                return seen;
            }
        }
        tokio::select! {
            version = async { last.as_mut().expect("pending").await }, if last.is_some() => {
                until = Some(version.expect("the last version"));
                last = None;
            }
            text = next_text(&mut socket, Duration::from_secs(10)) => {
                let text = text.expect("every change is pushed within 10 s");
                seen.push(serde_json::from_str(&text).expect("every push parses (no negative count)"));
            }
        }
    }
}

fn assert_pushes_were_sane(pushes: &[StockSnapshot], book: &str, copies: u32) {
    assert!(!pushes.is_empty());
    // What a page held after each push: the first is whole, each next one a
    // change that follows on.
    let seen: Vec<StockSnapshot> = (1..=pushes.len())
        .map(|n| merged(pushes[..n].iter().cloned()))
        .collect();
    for pair in seen.windows(2) {
        assert!(pair[1].version > pair[0].version, "versions only grow");
        let (a, b) = (
            pair[0].available(book).unwrap(),
            pair[1].available(book).unwrap(),
        );
        assert!(b <= a, "only buyers were at work: the count never rises");
    }
    assert!(seen.iter().all(|s| s.available(book).unwrap() <= copies));
    assert_eq!(seen.last().unwrap().available(book), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_burts_clients_race_for_ten_copies() {
    let app = spawn_app().await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let recorder = tokio::spawn(record_snapshots(
        open_socket(&app, "/api/stock/ws").await,
        stopped,
    ));

    let buyers = (0..200).map(|i| {
        let base = app.url("/cart");
        async move {
            reqwest::Client::new()
                .post(base)
                .form(&[
                    ("session", format!("buyer-{i}")),
                    ("action", "add".to_string()),
                ])
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(buyers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "exactly ten buyers get a copy"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        190,
        "everyone else is told none are left"
    );
    assert_eq!(available(&app, FEATURED).await, 0);

    let _ = stop.send(stock(&app).await.version);
    let seen = recorder.await.unwrap();
    assert_pushes_were_sane(&seen, FEATURED, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_shoppers_race_for_five_copies_through_the_storefront() {
    let app = spawn_app().await;
    let book = "designing-data-intensive-applications";
    let copies = available(&app, book).await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let recorder = tokio::spawn(record_snapshots(
        open_socket(&app, "/api/stock/ws").await,
        stopped,
    ));

    let shoppers = (0..200).map(|_| {
        let app = &app;
        async move { reserve(app, &shopper_client(), book).await.0 }
    });
    let statuses = join_all(shoppers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count() as u32,
        copies
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count() as u32,
        200 - copies
    );
    assert_eq!(available(&app, book).await, 0);

    let _ = stop.send(stock(&app).await.version);
    let seen = recorder.await.unwrap();
    assert_pushes_were_sane(&seen, book, copies);
}

/// Group commit: changes asked for in the same moment share one commit (one
/// fsync). The writer is woken by the first of them while the others are
/// still on their way, so it must let them arrive before it starts.
/// One worker thread, so "the same moment" is one turn of the scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn changes_asked_for_in_the_same_moment_share_one_commit() {
    const BUYERS: usize = 16;
    let shop = InventoryOnDisk::start(1, 10).await;
    let (inventory, metrics) = (&shop.inventory, &shop.metrics);
    let book = BookId::parse(FEATURED_BOOK).unwrap();
    inventory.set_total(&book, BUYERS as u32).await.unwrap();

    // The buyers and this test meet at a barrier; whoever arrives last
    // wakes all the others at once.
    let start = Arc::new(tokio::sync::Barrier::new(BUYERS + 1));
    let buyers: Vec<_> = (0..BUYERS)
        .map(|i| {
            let (inventory, book, start) = (inventory.clone(), book.clone(), start.clone());
            let shopper = Shopper::Burts(BurtsSession::parse(&format!("same-moment-{i}")).unwrap());
            tokio::spawn(async move {
                start.wait().await;
                inventory.reserve(&shopper, &book).await
            })
        })
        .collect();
    let commits_before = metrics.commits.get();
    start.wait().await;
    for buyer in join_all(buyers).await {
        buyer.unwrap().expect("every buyer gets a copy");
    }
    assert_eq!(
        metrics.commits.get() - commits_before,
        1,
        "{BUYERS} reserves asked for in one moment went into one commit"
    );
}

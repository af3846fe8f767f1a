//! What changed since a version: one indexed query over the books'
//! `changed_at`, and the writer publishing only what a commit changed.

use std::collections::BTreeSet;
use std::time::Duration;

use livecart::server::store::Store;

use crate::helpers::*;

const SICP: &str = "structure-and-interpretation-of-computer-programs";
const PRAGMATIC: &str = "the-pragmatic-programmer";

fn books(snapshot: &livecart::shared::stock::StockSnapshot) -> BTreeSet<&str> {
    snapshot.stock.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn changes_since_a_version_are_exactly_the_books_changed_after_it() {
    let app = spawn_app().await;
    let store = Store::open(&app.database_url).await.unwrap();
    let v0 = stock(&app).await.version;
    assert!(
        store.changes_since(v0).await.unwrap().stock.is_empty(),
        "nothing changed after the current version"
    );

    assert_eq!(book_cart(&app, "s1", "add").await.status(), 200);
    let v1 = stock(&app).await.version;
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    let v2 = stock(&app).await.version;
    assert_eq!(reserve(&app, &shopper_client(), SICP).await.0, 200);
    let now = stock(&app).await;

    let since_v0 = store.changes_since(v0).await.unwrap();
    assert_eq!(since_v0.version, now.version);
    assert_eq!(books(&since_v0), BTreeSet::from([FEATURED, SICP]));
    let since_v1 = store.changes_since(v1).await.unwrap();
    assert_eq!(books(&since_v1), BTreeSet::from([SICP]));
    let since_v2 = store.changes_since(v2).await.unwrap();
    assert_eq!(books(&since_v2), BTreeSet::from([SICP]));
    for (book, count) in &since_v0.stock {
        assert_eq!(now.available(book), Some(*count), "{book}");
    }
    assert!(store
        .changes_since(now.version)
        .await
        .unwrap()
        .stock
        .is_empty());
    // A version from before the first start still answers (every book).
    assert_eq!(
        store.changes_since(0).await.unwrap().stock,
        store.stock().await.unwrap().stock
    );
}

/// The published stock and the stock on disk, read at the same version (a
/// commit may land between two reads: then both are read again).
async fn published_and_on_disk(
    app: &TestApp,
    store: &Store,
) -> (
    livecart::shared::stock::StockSnapshot,
    livecart::shared::stock::StockSnapshot,
) {
    loop {
        let published = stock(app).await;
        let on_disk = store.stock().await.unwrap();
        if published.version == on_disk.version {
            return (published, on_disk);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_stock_always_equals_the_stock_on_disk() {
    let app = spawn_app_with(|s| {
        s.reservation_ttl = Duration::from_secs(1);
        s.max_copies_per_shopper = 2;
    })
    .await;
    let store = Store::open(&app.database_url).await.unwrap();
    // Reserves, returns and refusals from many shoppers at once, and holds
    // lapsing meanwhile: every kind of change to the counts.
    let shoppers: Vec<reqwest::Client> = (0..8).map(|_| shopper_client()).collect();
    for round in 0..6 {
        let moves = shoppers.iter().enumerate().map(|(i, shopper)| {
            let app = &app;
            async move {
                let book = [FEATURED, SICP, PRAGMATIC][(i + round) % 3];
                if (i + round) % 4 == 3 {
                    give_back(app, shopper, book).await.0
                } else {
                    reserve(app, shopper, book).await.0
                }
            }
        });
        futures::future::join_all(moves).await;
        let (published, on_disk) = published_and_on_disk(&app, &store).await;
        assert_eq!(published, on_disk, "round {round}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every hold lapses; the clock's commits are published the same way.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (published, on_disk) = published_and_on_disk(&app, &store).await;
        assert_eq!(published, on_disk);
        let mut all_back = true;
        for book in [FEATURED, SICP, PRAGMATIC] {
            let total = listed_book(&app, book).await["total"].as_u64();
            all_back &= on_disk.available(book).map(u64::from) == total;
        }
        if all_back {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the holds lapse within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

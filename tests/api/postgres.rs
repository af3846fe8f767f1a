//! The same rules on PostgreSQL, with two servers sharing one database (the
//! way livecart scales out). They need a server to create throwaway
//! databases on, named by LIVECART_TEST_POSTGRES: `scripts/test.sh` sets it
//! and runs them (`--include-ignored`) when PostgreSQL answers on
//! 127.0.0.1:5432, and `.ci/run` insists that it does. Each test gets its
//! own database and drops it when it ends, passed or failed.

use futures::future::join_all;
use sqlx::Connection;

use crate::helpers::*;

#[tokio::test]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn the_rules_hold_on_postgresql() {
    let db = TestDatabase::create().await;
    let app = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let before = stock(&app).await;
    assert_eq!(before.available(FEATURED), Some(10));

    let (status, body) = reserve(&app, &app.http, FEATURED).await;
    assert_eq!((status, body["copies"].as_u64()), (200, Some(1)));
    assert_eq!(reserve(&app, &app.http, FEATURED).await.0, 409, "the limit");
    assert_eq!(burts_cart(&app, "s1", "add").await.status(), 200);
    assert_eq!(available(&app, FEATURED).await, 8);
    let (status, order) = post_form(&app, &app.http, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(burts_cart(&app, "s1", "remove").await.status(), 200);
    let after = stock(&app).await;
    assert_eq!(after.available(FEATURED), Some(9));
    assert!(after.version > before.version);

    // Search runs on PostgreSQL's full text: by author, title start, ISBN.
    for (query, title) in [
        ("kleppmann", "Designing Data-Intensive Applications"),
        ("pragm", "The Pragmatic Programmer"),
        ("9780262510875", "Structure and Interpretation"),
    ] {
        let html = page_html(&app, &format!("/?q={query}")).await;
        assert_eq!(cards(&html), 1, "{query}");
        assert!(html.contains(title), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn two_servers_on_one_database_never_oversell() {
    let db = TestDatabase::create().await;
    let first = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let second = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let buyers = (0..200).map(|i| {
        let shop = if i % 2 == 0 { &first } else { &second };
        async move {
            burts_cart(shop, &format!("node-buyer-{i}"), "add")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(buyers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 190);
    // Two buyers give their copy back, one through each server. Each server
    // reads the shared count inside its own change, so each shows the copies
    // both servers have put back by then.
    let winners: Vec<usize> = (0..200).filter(|i| statuses[*i] == 200).collect();
    let back = |i: usize| format!("node-buyer-{i}");
    assert_eq!(
        burts_cart(&first, &back(winners[0]), "remove")
            .await
            .text()
            .await
            .unwrap(),
        r#"{"inventoryCount":"1"}"#
    );
    assert_eq!(stock(&first).await.available(FEATURED), Some(1));
    assert_eq!(
        burts_cart(&second, &back(winners[1]), "remove")
            .await
            .text()
            .await
            .unwrap(),
        r#"{"inventoryCount":"2"}"#
    );
    assert_eq!(stock(&second).await.available(FEATURED), Some(2));
    // A change on the first server to another book, then one on the second:
    // the second's commit publishes what the first changed in between too.
    let sicp = "structure-and-interpretation-of-computer-programs";
    let copies = stock(&first).await.available(sicp).unwrap();
    assert_eq!(reserve(&first, &first.http, sicp).await.0, 200);
    assert_eq!(
        burts_cart(&second, &back(winners[1]), "add").await.status(),
        200
    );
    assert_eq!(
        stock(&second).await.available(sicp),
        Some(copies - 1),
        "the second server shows the first's change with its own"
    );
    // The database holds exactly that: a server started now reads it.
    let third = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let truth = stock(&third).await;
    assert_eq!(truth.available(FEATURED), Some(1));
    assert!(truth.version >= stock(&second).await.version);
    for shop in [&first, &second, &third] {
        let featured = listed_book(shop, FEATURED).await;
        assert_eq!(featured["total"], 10, "no copy made or lost");
    }
}

/// Two nodes decide on the same book at once: the one that reads second
/// must wait for the first to commit and then read what it wrote, or both
/// decide on the same copies. The second's read is started while the first
/// holds the row, and the first commits only once the second is seen
/// waiting on a lock (or has already answered, which is the failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_node_deciding_on_a_book_another_is_deciding_on_waits_and_reads_its_commit() {
    use livecart::server::store::Store;
    let db = TestDatabase::create().await;
    let (first, second) = (
        Store::open(&db.url).await.unwrap(),
        Store::open(&db.url).await.unwrap(),
    );
    livecart::server::inventory::stock_opening_books(&first)
        .await
        .unwrap();
    // load_holds answers available copies by book (and holds): the one book's.
    let copies = |loaded: livecart::server::store::LoadedHolds| loaded.available[0].1;

    let mut deciding = first.begin().await.unwrap();
    let before = copies(deciding.load_holds(&[FEATURED], &["nobody"]).await.unwrap());
    let mut reading = tokio::spawn(async move {
        let mut tx = second.begin().await.unwrap();
        let shelf = tx.load_holds(&[FEATURED], &["nobody"]).await.unwrap();
        drop(tx);
        copies(shelf)
    });

    // Until the second read is either waiting on a lock or done.
    let mut admin = db.admin().await;
    use std::time::Duration;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&db.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(20), &mut reading).await {
            panic!(
                "the second node read {} copies while the first was still deciding on them",
                read.unwrap()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second read neither waited nor answered"
        );
    }

    assert!(deciding.restock(FEATURED, 5).await.unwrap());
    deciding
        .finish_and_commit(&[FEATURED], false, livecart::server::clock::now_ms())
        .await
        .unwrap();
    assert_eq!(
        reading.await.unwrap(),
        before + 5,
        "the second read what the first committed"
    );
}

/// The next change a live-stock socket receives, merged onto what it held.
async fn next_change(socket: &mut Socket, held: &mut livecart::shared::stock::StockSnapshot) {
    let text = next_text(socket, std::time::Duration::from_secs(5))
        .await
        .expect("a change within 5 s");
    let change: livecart::shared::stock::StockSnapshot = serde_json::from_str(&text).unwrap();
    held.absorb(change);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_change_on_one_node_reaches_the_pages_of_the_others() {
    use std::time::Duration;
    let db = TestDatabase::create().await;
    let a = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let b = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let c = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    for node in [&a, &b, &c] {
        assert_eq!(
            gauge_reaches(node, "livecart_listener_up", 1, Duration::from_secs(5)).await,
            1
        );
    }
    let start = stock(&a).await;
    let mut held = stock(&b).await;
    let mut socket = open_socket(&b, &format!("/api/stock/ws?since={}", held.version)).await;
    next_change(&mut socket, &mut held).await; // the empty change on open
    let poll = tokio::spawn(reqwest::get(c.url(&format!(
        "/api/stock/poll?since={}&timeout=10",
        start.version
    ))));
    assert_eq!(
        gauge_reaches(&c, LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );

    let events = reqwest::get(c.url(&format!("/api/stock/events?since={}", start.version)))
        .await
        .unwrap();
    assert_eq!(
        gauge_reaches(
            &c,
            r#"livecart_subscribers{transport="Sse"}"#,
            1,
            Duration::from_secs(5)
        )
        .await,
        1
    );

    assert_eq!(burts_cart(&a, "across", "add").await.status(), 200);
    next_change(&mut socket, &mut held).await;
    assert_eq!(
        held.available(FEATURED),
        Some(9),
        "node B's page heard node A"
    );
    let answer = poll.await.unwrap().unwrap();
    let change: livecart::shared::stock::StockSnapshot = answer.json().await.unwrap();
    assert_eq!(
        change.available(FEATURED),
        Some(9),
        "node C's long poll too"
    );
    assert_eq!(
        change.version,
        stock(&a).await.version,
        "one version on every node"
    );
    // And node C's event stream: its first event is what changed since.
    let mut events = events;
    let mut text = String::new();
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(json) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str::<livecart::shared::stock::StockSnapshot>(json)
                    .unwrap();
            }
        }
        panic!("the stream ended");
    })
    .await
    .expect("node C's SSE client hears node A within 5 s");
    assert_eq!(
        heard.available(FEATURED),
        Some(9),
        "node C's SSE client too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_node_whose_listener_is_cut_catches_up_by_itself() {
    use std::time::{Duration, Instant};
    let db = TestDatabase::create().await;
    let a = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let b = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    assert_eq!(
        gauge_reaches(&b, "livecart_listener_up", 1, Duration::from_secs(5)).await,
        1
    );
    let mut held = stock(&b).await;
    let mut socket = open_socket(&b, &format!("/api/stock/ws?since={}", held.version)).await;
    next_change(&mut socket, &mut held).await;

    // New connections to the database are refused, every listener's backend
    // (both nodes') is ended, and the stock changes on A (through connections
    // its pool already has) while no listener can be back: those
    // notifications are lost. Then connections are allowed again.
    let mut admin = db.admin().await;
    db.allow_connections(false).await;
    assert!(
        sqlx::postgres::PgConnection::connect(&db.url)
            .await
            .is_err(),
        "new connections are refused"
    );
    let cut = Instant::now();
    // A listener caught between two connections shows no LISTEN for a
    // moment: look again until one is ended. What the test needs is that
    // node B's listener is down, and B's own gauge says so.
    loop {
        let ended: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&db.name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        if !ended.is_empty() || cut.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        gauge_reaches(&b, "livecart_listener_up", 0, Duration::from_secs(5)).await,
        0,
        "node B's listener is cut"
    );
    for i in 0..3 {
        assert_eq!(
            burts_cart(&a, &format!("gap-{i}"), "add").await.status(),
            200
        );
    }
    // The listeners try to come back meanwhile, and cannot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.allow_connections(true).await;
    let truth = stock(&a).await;
    while held.version < truth.version {
        next_change(&mut socket, &mut held).await;
    }
    let recovered = cut.elapsed();
    println!("node B's page caught up {recovered:?} after its listener was cut");
    assert_eq!(held.available(FEATURED), truth.available(FEATURED));
    assert_eq!(held.available(FEATURED), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_node_whose_listener_goes_silent_notices_by_its_heartbeat() {
    use std::time::{Duration, Instant};
    let db = TestDatabase::create().await;
    let a = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    let b = spawn_app_with(|s| s.database_url = db.url.clone()).await;
    for node in [&a, &b] {
        assert_eq!(
            gauge_reaches(node, "livecart_listener_up", 1, Duration::from_secs(5)).await,
            1
        );
    }
    let mut held = stock(&b).await;
    let mut socket = open_socket(&b, &format!("/api/stock/ws?since={}", held.version)).await;
    next_change(&mut socket, &mut held).await;

    // The listeners' backends stop without a word (SIGSTOP): their
    // connections stay open, no error comes, and no notification either, as
    // when a network path dies silently.
    let mut admin = db.admin().await;
    let listeners: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&db.name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(listeners.len(), 2, "one listener per node");
    /// Stops the backends, and resumes them when dropped, even when the
    /// test fails: a stopped backend would block the database's drop.
    struct Stopped(Vec<i32>);
    impl Stopped {
        fn signal(pids: &[i32], signal: &str) {
            for pid in pids {
                let _ = std::process::Command::new("kill")
                    .args([signal, &pid.to_string()])
                    .status();
            }
        }
    }
    impl Drop for Stopped {
        fn drop(&mut self) {
            Stopped::signal(&self.0, "-CONT");
        }
    }
    let stopped = Stopped(listeners.iter().map(|(pid,)| *pid).collect());
    Stopped::signal(&stopped.0, "-STOP");
    let changed = Instant::now();
    assert_eq!(burts_cart(&a, "unheard", "add").await.status(), 200);
    let truth = stock(&a).await;
    let heard = tokio::time::timeout(Duration::from_secs(8), async {
        while held.version < truth.version {
            next_change(&mut socket, &mut held).await;
        }
    })
    .await;
    let took = changed.elapsed();
    drop(stopped);
    assert!(
        heard.is_ok(),
        "node B noticed its silent listener and caught up"
    );
    println!("node B's page on the true count {took:?} after a change its silent listener missed");
    assert_eq!(held.available(FEATURED), Some(9));
    assert!(
        took >= Duration::from_secs(1),
        "heard through the heartbeat's reconnect, not the stopped listener: {took:?}"
    );
}

/// `livecart books import` beside a running cluster: its commit NOTIFYs
/// like the writers' do, so every node's open pages show what it wrote
/// within a second of the import's end (plus 0.5 s for scheduling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn an_import_reaches_the_open_pages_of_every_node() {
    use std::time::{Duration, Instant};
    let db = TestDatabase::create().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(spawn_app_with(|s| s.database_url = db.url.clone()).await);
    }
    let mut pages = Vec::new();
    for node in &nodes {
        assert_eq!(
            gauge_reaches(node, "livecart_listener_up", 1, Duration::from_secs(5)).await,
            1
        );
        let mut held = stock(node).await;
        let mut socket = open_socket(node, &format!("/api/stock/ws?since={}", held.version)).await;
        next_change(&mut socket, &mut held).await; // the empty change on open
        pages.push((socket, held));
        // Each node counts the shelf now (seven books, one page) and keeps
        // the count: the import on no node of theirs must still move it.
        assert!(page_html(node, "/").await.contains("Page 1 of 1"));
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    // Dune and 20 more: 28 books, two pages.
    let mut csv =
        String::from("id,title,author,isbn,price,copies\ndune,Dune,Frank Herbert,,9.99,4\n");
    for i in 0..20 {
        csv.push_str(&format!("more-{i},More {i},Someone Else,,1.00,1\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let import = import_books(&db.url, &file).await;
    assert!(import.status.success(), "{import:?}");
    let imported = Instant::now();

    let deadline = Duration::from_millis(1_500);
    for (node, (socket, held)) in pages.iter_mut().enumerate() {
        while held.available("dune").is_none() {
            let left = deadline.saturating_sub(imported.elapsed());
            let text = next_text(socket, left).await.unwrap_or_else(|| {
                panic!("node {node}'s page did not show the import within {deadline:?}")
            });
            held.absorb(serde_json::from_str(&text).unwrap());
        }
        assert_eq!(held.available("dune"), Some(4), "node {node}");
    }
    for (node, app) in nodes.iter().enumerate() {
        let shelf = page_html(app, "/").await;
        assert!(
            shelf.contains("Page 1 of 2"),
            "node {node} counts the import's books"
        );
    }
}

//! Many nodes on one PostgreSQL, some behind Debian's nginx running the
//! shipped `deploy/nginx/livecart.conf`: every page live whichever node
//! serves it, nothing oversold, each lapsed hold released once, and the
//! pages back on the true count after a node is killed or the database goes
//! away. Like `postgres.rs`, each test has a database of its own, dropped
//! when it ends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::StreamExt;
use livecart::shared::stock::{Absorbed, StockSnapshot};
use sqlx::Connection;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Debian's nginx with the shipped config, in front of `nodes`.
pub struct Balancer {
    pub addr: SocketAddr,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl RunningShop for Balancer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Balancer {
    pub async fn start(nodes: &[SocketAddr]) -> Balancer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let ports = nodes.iter().map(|node| node.port().to_string());
        let child =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/nginx.sh"))
                .arg(dir.path())
                .arg(port.to_string())
                .args(ports)
                .spawn()
                .expect("scripts/nginx.sh starts (nginx installed by scripts/setup.sh)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx listens within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Balancer {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    /// SIGTERM: nginx's master stops its workers before it exits.
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What a live page keeps: the stock as it last heard it, and every count of
/// one book it was ever sent.
#[derive(Clone)]
struct Page {
    held: watch::Receiver<StockSnapshot>,
    shown: Arc<Mutex<Vec<u32>>>,
}

impl Page {
    /// Follows the live stock at `base` from version `from` with the
    /// transport the pages use, reconnecting (from the version it holds) as
    /// a page does whenever its connection ends or a change does not follow.
    fn follow(
        base: String,
        transport: &'static str,
        from: StockSnapshot,
        book: &'static str,
    ) -> Page {
        let (tx, held) = watch::channel(from);
        let shown = Arc::new(Mutex::new(Vec::new()));
        let page = Page {
            held,
            shown: shown.clone(),
        };
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let since = tx.borrow().version;
                let absorb = |change: StockSnapshot| -> bool {
                    // Every count the node sent, in the order it sent them.
                    if let Some(n) = change.available(book) {
                        shown.lock().unwrap().push(n);
                    }
                    let mut fresh = true;
                    tx.send_modify(|held| fresh = held.absorb(change) != Absorbed::Gap);
                    fresh
                };
                match transport {
                    "ws" => {
                        let url = format!("{base}/api/stock/ws?since={since}")
                            .replacen("http://", "ws://", 1);
                        if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await {
                            while let Some(Ok(message)) = socket.next().await {
                                if let Message::Text(text) = message {
                                    let change = serde_json::from_str(&text).expect("a change");
                                    if !absorb(change) {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    "sse" => {
                        let answer = client
                            .get(format!("{base}/api/stock/events?since={since}"))
                            .send()
                            .await;
                        if let Ok(mut answer) = answer.and_then(|a| a.error_for_status()) {
                            let mut pending = String::new();
                            'stream: while let Ok(Some(chunk)) = answer.chunk().await {
                                pending.push_str(&String::from_utf8_lossy(&chunk));
                                while let Some(end) = pending.find("\n\n") {
                                    let event: String = pending.drain(..end + 2).collect();
                                    for line in event.lines() {
                                        if let Some(json) = line.strip_prefix("data: ") {
                                            let change =
                                                serde_json::from_str(json).expect("a change");
                                            if !absorb(change) {
                                                break 'stream;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {
                        let answer = client
                            .get(format!("{base}/api/stock/poll?since={since}&timeout=20"))
                            .send()
                            .await;
                        if let Ok(answer) = answer.and_then(|a| a.error_for_status()) {
                            if let Ok(change) = answer.json::<StockSnapshot>().await {
                                absorb(change);
                                continue;
                            }
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                // A page waits a moment before it tries again.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        page
    }

    /// Waits until the page shows `count` copies of `book`; how long it took.
    async fn shows(&mut self, book: &str, count: u32, within: Duration) -> Duration {
        let started = Instant::now();
        let waited = tokio::time::timeout(
            within,
            self.held
                .wait_for(|held| held.available(book) == Some(count)),
        )
        .await
        .map(|seen| seen.map(|_| ()));
        assert!(
            matches!(waited, Ok(Ok(()))),
            "the page shows {:?} copies, not {count}, after {within:?}",
            self.held.borrow().available(book)
        );
        started.elapsed()
    }
}

async fn pg_node(db: &TestDatabase) -> TestApp {
    spawn_app_with(|s| s.database_url = db.url.clone()).await
}

async fn listening(nodes: &[&TestApp]) {
    for node in nodes {
        assert_eq!(
            gauge_reaches(*node, "livecart_listener_up", 1, Duration::from_secs(5)).await,
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_thousand_buyers_over_three_nodes_buy_exactly_ten_and_no_page_sees_the_count_rise() {
    let db = TestDatabase::create().await;
    let nodes = [pg_node(&db).await, pg_node(&db).await, pg_node(&db).await];
    listening(&[&nodes[0], &nodes[1], &nodes[2]]).await;
    let start = stock(&nodes[0]).await;
    let mut pages: Vec<Page> = nodes
        .iter()
        .map(|node| Page::follow(node.url(""), "ws", start.clone(), FEATURED))
        .collect();
    for node in &nodes {
        assert_eq!(
            gauge_reaches(node, WEBSOCKETS, 1, Duration::from_secs(5)).await,
            1
        );
    }

    let buyers = (0..1000).map(|i| {
        let node = &nodes[i % 3];
        async move {
            burts_cart(node, &format!("buyer-{i}"), "add")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(buyers).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 990);

    for (i, page) in pages.iter_mut().enumerate() {
        page.shows(FEATURED, 0, Duration::from_secs(5)).await;
        let shown = page.shown.lock().unwrap().clone();
        assert!(
            shown.windows(2).all(|w| w[1] <= w[0]),
            "node {i} published a rising count for a book that only sells: {shown:?}"
        );
    }
    let mut admin = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let (available, held): (i64, i64) = sqlx::query_as(
        "SELECT available, (SELECT COALESCE(SUM(copies), 0)::BIGINT FROM reservations WHERE book_id = $1) \
         FROM books WHERE id = $1",
    )
    .bind(FEATURED)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!((available, held), (0, 10), "the database agrees");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn every_lapsed_hold_is_released_by_exactly_one_of_three_nodes() {
    let db = TestDatabase::create().await;
    // 200 copies to hold: four books of 50, imported before the nodes start.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    let mut csv = String::from("id,title,author,price,copies\n");
    let books = ["lapse-a", "lapse-b", "lapse-c", "lapse-d"];
    for book in books {
        csv.push_str(&format!("{book},Title {book},Author,9.99,50\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let imported = import_books(&db.url, &file).await;
    assert!(imported.status.success(), "{imported:?}");

    let ttl = Duration::from_secs(2);
    let node = || {
        spawn_app_with(|s| {
            s.database_url = db.url.clone();
            s.reservation_ttl = ttl;
        })
    };
    let nodes = [node().await, node().await, node().await];
    listening(&[&nodes[0], &nodes[1], &nodes[2]]).await;

    let holds = (0..200).map(|i| {
        let node = &nodes[i % 3];
        let book = books[i % 4];
        async move { reserve(node, &shopper_client(), book).await.0 }
    });
    let statuses = join_all(holds).await;
    let held_at = Instant::now();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    for book in books {
        assert_eq!(available(&nodes[0], book).await, 0);
    }

    // Each node's clock ends what it claims; together, every hold once.
    let released = || async {
        let mut sum = 0;
        for node in &nodes {
            sum += gauge(node, "livecart_holds_released_total").await;
        }
        sum
    };
    while released().await < 200 {
        assert!(
            held_at.elapsed() < ttl + Duration::from_secs(3),
            "every hold released within a second of its deadline ({} so far)",
            released().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "200 holds released {:?} after they were taken (deadline {ttl:?}), by node: {:?}",
        held_at.elapsed(),
        [
            gauge(&nodes[0], "livecart_holds_released_total").await,
            gauge(&nodes[1], "livecart_holds_released_total").await,
            gauge(&nodes[2], "livecart_holds_released_total").await,
        ]
    );
    // Later runs of the clocks find nothing more to release.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(released().await, 200, "each hold released exactly once");
    for node in &nodes {
        for book in books {
            assert_eq!(
                available(node, book).await,
                50,
                "every node shows {book} back"
            );
        }
    }
    let mut admin = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reservations")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_burts_re_poll_that_reaches_another_node_is_answered_at_once() {
    let db = TestDatabase::create().await;
    let (a, b) = (pg_node(&db).await, pg_node(&db).await);
    listening(&[&a, &b]).await;
    // One browser: it keeps the cookies the nodes set, as the book's page does.
    let browser = shopper_client();
    let status = |node: &TestApp| {
        browser
            .get(node.url("/cart/status?session=reader"))
            .timeout(Duration::from_secs(3))
            .send()
    };
    browser.get(a.url("/burts-books")).send().await.unwrap();
    let first = tokio::spawn(status(&a));
    assert_eq!(
        gauge_reaches(&a, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    assert_eq!(burts_cart(&b, "buyer-1", "add").await.status(), 200);
    let answer = first.await.unwrap().expect("answered on the change");
    assert_eq!(answer.text().await.unwrap(), r#"{"inventoryCount":"9"}"#);

    // A change before the client polls again, and its re-poll lands on B,
    // which never answered it: it learns of the change at once.
    assert_eq!(burts_cart(&a, "buyer-2", "add").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let answer = status(&b).await.expect("answered at once, not after 3 s");
    assert_eq!(answer.text().await.unwrap(), r#"{"inventoryCount":"8"}"#);
    assert!(started.elapsed() < Duration::from_secs(1));
    // And a re-poll with nothing new waits on any node.
    assert!(
        status(&a).await.is_err(),
        "nothing changed since: the poll waits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn pages_behind_nginx_end_on_the_true_count_after_a_node_is_killed() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("LIVECART_DATABASE_URL", db.url.as_str())];
    let first = ServerProcess::start_with(&db_path(&dir), &env).await;
    let second = ServerProcess::start_with(&db_path(&dir), &env).await;
    let balancer = Balancer::start(&[first.addr, second.addr]).await;

    // Three pages of each transport through nginx, spread over both nodes.
    let start = stock(&balancer).await;
    let mut pages: Vec<Page> = ["ws", "sse", "poll"]
        .iter()
        .flat_map(|t| std::iter::repeat_n(*t, 3))
        .map(|t| Page::follow(balancer.url(""), t, start.clone(), FEATURED))
        .collect();
    let subscribed = |node: &ServerProcess| {
        let node = Node(node.addr);
        async move {
            gauge(&node, WEBSOCKETS).await
                + gauge(&node, r#"livecart_subscribers{transport="Sse"}"#).await
                + gauge(&node, LONG_POLLS).await
        }
    };
    let started = Instant::now();
    while subscribed(&first).await + subscribed(&second).await < 9 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "every page connects"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_first = subscribed(&first).await;
    assert!(
        on_first > 0 && on_first < 9,
        "both nodes serve pages ({on_first} on the first)"
    );
    assert_eq!(burts_cart(&balancer, "before", "add").await.status(), 200);
    for page in &mut pages {
        page.shows(FEATURED, 9, Duration::from_secs(5)).await;
    }

    first.kill_hard().await;
    // Acknowledged through nginx after the kill: the next POST may reach
    // the dead node first; nginx passes it on to the live one.
    assert_eq!(burts_cart(&balancer, "after", "add").await.status(), 200);
    let changed = Instant::now();
    for page in &mut pages {
        page.shows(FEATURED, 8, Duration::from_secs(5)).await;
    }
    println!(
        "every page (ws, sse, poll) on the true count {:?} after the change that followed the kill",
        changed.elapsed()
    );
    // The killed node's pages came back through nginx: all nine are the
    // live node's now (a long poll between two requests is counted as soon
    // as it is sent again).
    let back = Instant::now();
    while subscribed(&second).await < 9 {
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the killed node's pages are followed by the live one ({} of 9)",
            subscribed(&second).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stock(&second).await.available(FEATURED),
        Some(8),
        "the change acknowledged before the kill is kept"
    );
}

/// A node's address, for the helpers that take a shop.
struct Node(SocketAddr);

impl RunningShop for Node {
    fn addr(&self) -> SocketAddr {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn while_the_database_is_gone_changes_get_503_quickly_and_every_node_recovers() {
    let db = TestDatabase::create().await;
    let (a, b) = (pg_node(&db).await, pg_node(&db).await);
    listening(&[&a, &b]).await;
    let start = stock(&b).await;
    let mut page = Page::follow(b.url(""), "ws", start, FEATURED);
    assert_eq!(burts_cart(&a, "kept", "add").await.status(), 200);
    page.shows(FEATURED, 9, Duration::from_secs(5)).await;

    // First the database stops answering without going away: an operator's
    // transaction holds the stock table locked. A change waits for it a
    // bounded time, then gets a 503, and nothing is changed.
    let mut locker = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE books IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let asked = Instant::now();
    let stuck = reqwest::Client::new()
        .post(a.url("/cart"))
        .form(&[("session", "stuck"), ("action", "add")])
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("answered before the client gives up");
    let waited = asked.elapsed();
    assert_eq!(stuck.status(), 503);
    // The group's deadline, 5 s, and half a second for scheduling; not
    // before it (the change was tried, not refused out of hand).
    assert!(
        waited >= Duration::from_millis(4_900) && waited <= Duration::from_millis(5_500),
        "a change on a database that does not answer is refused at the group's deadline: {waited:?}"
    );
    println!("a change asked for while the stock table was locked: 503 after {waited:?}");
    lock.rollback().await.unwrap();
    drop(locker);

    // Then the database goes away as a restart looks to its clients: every
    // connection ended, and no new one accepted for a while.
    let mut admin = db.admin().await;
    db.allow_connections(false).await;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db.name)
        .execute(&mut admin)
        .await
        .unwrap();
    let asked = Instant::now();
    let refused = burts_cart(&a, "during", "add").await;
    let waited = asked.elapsed();
    assert_eq!(refused.status(), 503, "a clear 503");
    // Connections refused: at once (half a second for scheduling).
    assert!(
        waited <= Duration::from_millis(500),
        "answered at once when the database refuses connections: {waited:?}"
    );
    println!("a change asked for while the database was gone: 503 after {waited:?}");
    assert_eq!(
        gauge_reaches(&a, "livecart_listener_up", 0, Duration::from_secs(5)).await,
        0,
        "the node reports its listener down"
    );
    let health = |path: &'static str| {
        let url = a.url(path);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(
        health("/healthz").await,
        503,
        "not healthy without its database"
    );
    assert_eq!(health("/readyz").await, 503, "not ready either");

    db.allow_connections(true).await;
    let back = Instant::now();
    // The first change after the outage goes through (the pool reconnects).
    let mut status = 0;
    while status != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "changes work again"
        );
        status = burts_cart(&a, "after", "add").await.status().as_u16();
    }
    listening(&[&a, &b]).await;
    assert_eq!(health("/healthz").await, 200);
    assert_eq!(health("/readyz").await, 200);
    let caught_up = page.shows(FEATURED, 8, Duration::from_secs(5)).await;
    println!(
        "node B's page on the true count {:?} after the database came back",
        back.elapsed().max(caught_up)
    );
    let truth = stock(&a).await;
    assert_eq!(
        truth.available(FEATURED),
        Some(8),
        "the acknowledged change kept, the refused one not made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn the_holds_of_a_node_that_died_are_released_by_another_on_time() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let doomed = ServerProcess::start_with(
        &db_path(&dir),
        &[
            ("LIVECART_DATABASE_URL", db.url.as_str()),
            ("LIVECART_RESERVATION_TTL", "2s"),
        ],
    )
    .await;
    let survivor = pg_node(&db).await;
    listening(&[&survivor]).await;
    for i in 0..10 {
        let session = format!("doomed-{i}");
        assert_eq!(burts_cart(&doomed, &session, "add").await.status(), 200);
    }
    let held_at = Instant::now();
    doomed.kill_hard().await;
    let mut page = Page::follow(survivor.url(""), "ws", stock(&survivor).await, FEATURED);
    page.shows(FEATURED, 0, Duration::from_secs(2)).await;

    // The deadline is in the database, and every node's clock reads it.
    let back = page.shows(FEATURED, 10, Duration::from_secs(4)).await;
    let after = held_at.elapsed();
    println!("the dead node's 10 holds back on the survivor's page {after:?} after they were taken (deadline 2 s)");
    assert!(
        after < Duration::from_secs(3),
        "within a second of the deadline: {after:?} ({back:?})"
    );
    assert_eq!(
        gauge(&survivor, "livecart_holds_released_total").await,
        10,
        "the survivor released them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn nodes_started_together_on_a_new_database_stock_the_opening_books_once() {
    let db = TestDatabase::create().await;
    // As scripts/cluster.sh starts them: at once, on a database just made.
    let dir = tempfile::tempdir().unwrap();
    let env = [("LIVECART_DATABASE_URL", db.url.as_str())];
    let file = db_path(&dir);
    let nodes = join_all((0..4).map(|_| ServerProcess::start_with(&file, &env))).await;
    for node in &nodes {
        let books = listed_books(node).await;
        assert_eq!(books.len(), 7, "the opening books, once");
        assert_eq!(available(node, FEATURED).await, 10);
    }
}

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

    assert_eq!(burts_cart(&app, "s1", "add").await.status(), 200);
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
                    return_copy(app, shopper, book).await.0
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

/// `livecart books import FILE` against the shop's database.
async fn import(app: &TestApp, file: &std::path::Path) -> std::process::Output {
    import_books(&app.database_url, file).await
}

async fn book_ids(app: &TestApp) -> Vec<String> {
    listed_books(app)
        .await
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

const GOOD: &str = "id,title,author,isbn,price,copies\n\
    dune,Dune,Frank Herbert,9780441013593,9.99,4\n\
    ,The Left Hand of Darkness,Ursula K. Le Guin,,12.50,2\n\
    neuromancer,Neuromancer,William Gibson,978-0441569595,$8,0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_catalog_is_listed_and_pushed_to_open_pages() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    std::fs::write(&file, GOOD).unwrap();
    let mut socket = open_socket(&app, "/api/stock/ws").await;
    let first: livecart::shared::stock::StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap(),
    )
    .unwrap();

    let out = import(&app, &file).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("imported 3 books") && said.contains("3 added, 0 updated"),
        "{said}"
    );

    // The running shop publishes what the import wrote, within a second or two.
    let pushed: livecart::shared::stock::StockSnapshot = serde_json::from_str(
        &next_text(&mut socket, Duration::from_secs(5))
            .await
            .expect("pushed"),
    )
    .unwrap();
    assert!(pushed.version > first.version);
    assert_eq!(pushed.available("dune"), Some(4));
    assert_eq!(
        pushed.available("the-left-hand-of-darkness"),
        Some(2),
        "id made from the title"
    );
    assert_eq!(pushed.available("neuromancer"), Some(0));
    assert!(
        pushed.catalog_version > first.catalog_version,
        "pages fetch the catalog again"
    );
    let dune = listed_book(&app, "dune").await;
    assert_eq!(
        (
            dune["title"].as_str(),
            dune["price"].as_str(),
            dune["isbn"].as_str()
        ),
        (Some("Dune"), Some("9.99"), Some("9780441013593"))
    );
    assert_eq!(
        listed_book(&app, "neuromancer").await["isbn"],
        "9780441569595"
    );

    // The same file again: the same books, none twice.
    let before = book_ids(&app).await;
    let out = import(&app, &file).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("0 added, 3 updated"),
        "{said}"
    );
    assert_eq!(book_ids(&app).await, before);

    // An import records each book's count for the hour, as a change does:
    // Dune came in at 4 and, imported again with 1 copy then 6, closes the
    // hour at 6, having been as low as 1.
    for copies in [1, 6] {
        std::fs::write(&file, GOOD.replace("9.99,4", &format!("9.99,{copies}"))).unwrap();
        assert!(import(&app, &file).await.status.success());
    }
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    // (Read across hours, in case one turned between the imports.)
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT opened FROM stock_by_hour WHERE book_id = 'dune' ORDER BY hour LIMIT 1), \
                (SELECT closed FROM stock_by_hour WHERE book_id = 'dune' ORDER BY hour DESC LIMIT 1), \
                (SELECT MIN(low) FROM stock_by_hour WHERE book_id = 'dune')",
    )
    .fetch_one(&mut db)
    .await
    .expect("Dune's record");
    assert_eq!(row, (4, 6, 1));
}

#[tokio::test]
async fn a_file_with_a_bad_line_imports_nothing_and_names_the_line() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    let mut text = String::from("title,author,price,copies\n");
    // Line 1 is the header: book i is on line i + 2.
    for i in 0..3004 {
        let price = if i + 2 == 3001 { "free" } else { "10.00" };
        text.push_str(&format!("Book number {i},Some Author,{price},3\n"));
    }
    std::fs::write(&file, text).unwrap();
    let (ids, version) = (book_ids(&app).await, stock(&app).await.version);

    let out = import(&app, &file).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("line 3001") && said.contains("\"free\""),
        "{said}"
    );
    assert!(said.contains("nothing was imported"), "{said}");
    assert_eq!(book_ids(&app).await, ids);
    assert_eq!(stock(&app).await.version, version);
}

#[tokio::test]
async fn an_import_refuses_a_total_below_the_copies_held_and_sold() {
    let app = spawn_app().await;
    assert_eq!(burts_cart(&app, "holder", "add").await.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    std::fs::write(
        &file,
        format!(
            "id,title,author,price,copies\nnew-one,New One,An Author,1.00,5\n\
             {FEATURED},The Definitive Guide to the Internet,Anonymous,20.00,0\n"
        ),
    )
    .unwrap();
    let before = (book_ids(&app).await, stock(&app).await);
    let out = import(&app, &file).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("line 3") && said.contains("held or sold"),
        "{said}"
    );
    assert_eq!(
        (book_ids(&app).await, stock(&app).await),
        before,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fifty_thousand_books_a_change_is_pushed_in_under_200_bytes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    let mut text = String::from("id,title,author,isbn,price,copies\n");
    for i in 0..50_000 {
        text.push_str(&format!(
            "shelf-book-{i},Shelf book {i},An Author,,12.00,3\n"
        ));
    }
    std::fs::write(&file, text).unwrap();
    let out = import(&app, &file).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running shop publishes the import (within a second), then a page
    // that resumes from there hears only what changes after.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stock(&app).await.stock.len() < 50_007 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import is published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = stock(&app).await.version;
    let mut socket = open_socket(&app, &format!("/api/stock/ws?since={v}")).await;
    let opened = next_text(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(opened.len() < 200, "nothing changed since: {opened}");

    assert_eq!(reserve(&app, &app.http, "shelf-book-777").await.0, 200);
    let pushed = next_text(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(pushed.len() <= 200, "{} bytes: {pushed}", pushed.len());
    let change: livecart::shared::stock::StockSnapshot = serde_json::from_str(&pushed).unwrap();
    assert_eq!(change.since, Some(v));
    assert_eq!(change.stock, [("shelf-book-777".to_string(), 2)].into());
}

#[tokio::test]
async fn a_client_resuming_from_a_version_gets_exactly_what_changed_after_it() {
    let app = spawn_app().await;
    let v0 = stock(&app).await.version;
    assert_eq!(burts_cart(&app, "s1", "add").await.status(), 200);
    let v1 = stock(&app).await.version;
    assert_eq!(reserve(&app, &app.http, SICP).await.0, 200);
    let now = stock(&app).await;
    for (since, books) in [
        (v0, BTreeSet::from([FEATURED, SICP])),
        (v1, BTreeSet::from([SICP])),
        (now.version, BTreeSet::new()),
    ] {
        let mut socket = open_socket(&app, &format!("/api/stock/ws?since={since}")).await;
        let text = next_text(&mut socket, Duration::from_secs(5))
            .await
            .unwrap();
        let change: livecart::shared::stock::StockSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!((change.version, change.since), (now.version, Some(since)));
        assert_eq!(self::books(&change), books, "since {since}");
        for (book, count) in &change.stock {
            assert_eq!(now.available(book), Some(*count));
        }
    }
    // A version the server has not reached yet (another node may be ahead):
    // told where this one is, with nothing to take.
    let ahead = now.version + 5;
    let mut socket = open_socket(&app, &format!("/api/stock/ws?since={ahead}")).await;
    let text = next_text(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    let change: livecart::shared::stock::StockSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (change.version, change.since),
        (now.version, Some(now.version))
    );
    assert!(change.stock.is_empty());
    let refused = tokio_tungstenite::connect_async(app.ws_url("/api/stock/ws?since=abc"))
        .await
        .expect_err("a since that is not a version");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected a 400, got {other}"),
    }
    let status = reqwest::get(app.url("/api/stock/events?since=-1"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_shelf_is_paged_and_searched_without_javascript() {
    let app = spawn_app().await;
    // The seven books a new shop opens with: one page (the count read now
    // must not outlive the import below).
    assert!(page_html(&app, "/").await.contains("Page 1 of 1"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.csv");
    let mut text = String::from("title,author,price,copies\n");
    for i in 0..60 {
        // The first 24 (a page exactly) also answer to "dozen".
        let dozen = if i < 24 { " dozen" } else { "" };
        text.push_str(&format!("Paged book {i}{dozen},Writer Number{i},5.00,1\n"));
    }
    std::fs::write(&file, text).unwrap();
    assert!(import(&app, &file).await.status.success());

    // 67 books: 24, 24 and 19, linked both ways.
    let first = page_html(&app, "/").await;
    assert_eq!(cards(&first), 24);
    assert!(
        first.contains("href=\"/?page=2\""),
        "a link to the next page"
    );
    assert!(!first.contains("rel=\"prev\""));
    // Where this page is, and the way to the last.
    let pager = &first[first.find("class=\"pager\"").unwrap()..];
    assert!(
        first.contains("Page 1 of 3"),
        "{}",
        &pager[..pager.find("</nav>").unwrap()]
    );
    assert!(
        first.contains("href=\"/?page=3\" class=\"last\""),
        "{}",
        &pager[..pager.find("</nav>").unwrap()]
    );
    assert!(!first.contains("class=\"first\""));
    let second = page_html(&app, "/?page=2").await;
    assert!(second.contains("Page 2 of 3"));
    assert!(second.contains("href=\"/\" class=\"first\""));
    assert_eq!(cards(&second), 24);
    assert!(second.contains("href=\"/\"") && second.contains("href=\"/?page=3\""));
    let last = page_html(&app, "/?page=3").await;
    assert_eq!(cards(&last), 19);
    assert!(!last.contains("rel=\"next\""));
    assert!(last.contains("Paged book 59"));
    assert!(last.contains("Page 3 of 3") && !last.contains("class=\"last\""));

    // By author, by title, by ISBN, as words or their beginnings.
    let by_author = page_html(&app, "/?q=kleppmann").await;
    assert_eq!(cards(&by_author), 1);
    assert!(by_author.contains("Designing Data-Intensive Applications"));
    assert_eq!(cards(&page_html(&app, "/?q=Writer%20Number59").await), 1);
    assert_eq!(
        cards(&page_html(&app, "/?q=Number4").await),
        11,
        "number4 and number40–49"
    );
    assert_eq!(
        cards(&page_html(&app, "/?q=9781449373320").await),
        1,
        "by ISBN"
    );
    assert_eq!(cards(&page_html(&app, "/?q=pragm").await), 1);
    let paged = page_html(&app, "/?q=paged").await;
    assert_eq!(cards(&paged), 24, "a search is paged too");
    assert!(
        paged.contains("href=\"/?q=paged&amp;page=2\" rel=\"next\""),
        "a search with more to come links to its next page"
    );
    // Exactly a page's worth: one page, and no next.
    let dozen = page_html(&app, "/?q=dozen").await;
    assert_eq!(cards(&dozen), 24);
    assert!(dozen.contains("Page 1 of 1") && !dozen.contains("rel=\"next\""));
    let searched = page_html(&app, "/?q=paged&page=3").await;
    assert!(searched.contains("rel=\"prev\""));
    assert!(searched.contains("Page 3 of 3"), "60 matches, 24 a page");
    assert!(page_html(&app, "/?q=Number4").await.contains("Page 1 of 1"));
    // Past the last page: the way back to it.
    let past = page_html(&app, "/?page=9").await;
    assert!(past.contains("Page 9 of 3") && past.contains("href=\"/?page=3\" class=\"last\""));
    assert!(
        past.contains("href=\"/?page=3\" rel=\"prev\""),
        "previous from past the end is the last page"
    );
    let none = page_html(&app, "/?q=%22%20OR%20*%20--").await;
    assert_eq!(cards(&none), 0);
    assert!(none.contains("No books match"));

    let too_far = app
        .http
        .get(app.url("/api/pages/catalog?page=100001"))
        .send()
        .await
        .unwrap();
    assert_eq!(too_far.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_from_a_version_this_server_has_not_reached_waits_for_it() {
    let app = spawn_app().await;
    let now = stock(&app).await.version;
    // Another node may be two changes ahead of this one.
    let ahead = now + 2;
    let poll = tokio::spawn(reqwest::get(
        app.url(&format!("/api/stock/poll?since={ahead}&timeout=10")),
    ));
    assert_eq!(
        gauge_reaches(&app, LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    for action in ["add", "remove"] {
        assert_eq!(burts_cart(&app, "ahead", action).await.status(), 200);
    }
    assert_eq!(stock(&app).await.version, ahead);
    assert_eq!(gauge(&app, LONG_POLLS).await, 1, "still waiting at {ahead}");
    assert!(!poll.is_finished());
    assert_eq!(burts_cart(&app, "ahead", "add").await.status(), 200);
    let answer = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let change: livecart::shared::stock::StockSnapshot = answer.json().await.unwrap();
    assert_eq!((change.version, change.since), (ahead + 1, Some(ahead)));
    assert_eq!(change.available(FEATURED), Some(9));
}

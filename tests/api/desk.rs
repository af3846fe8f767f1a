//! The staff desk's live figures (`/api/admin/desk/ws`): staff only, the
//! figures as they stand when it opens, then every move of a hold, a sale or
//! a lapse pushed without a reload; on PostgreSQL, a sale on one node moves
//! the desk on another.

use std::time::Duration;

use sqlx::Connection;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";
const SICP: &str = "structure-and-interpretation-of-computer-programs";
const PRAGMATIC: &str = "the-pragmatic-programmer";
/// Long enough for a loaded machine; the desk reads at most twice a second.
const WAIT: Duration = Duration::from_secs(5);

/// The owner "burt" and the clerk "clara", with 10 copies of each book.
async fn staff_with_stock(app: &TestApp, books: &[&str]) -> reqwest::Client {
    app.add_staff("burt", PASSWORD).await;
    let clerk = Some(livecart::server::staff::StaffRole::Clerk);
    app.add_staff_as("clara", PASSWORD, clerk).await;
    let owner = app.staff_client("burt", PASSWORD).await;
    for book in books {
        let form = [("book", *book), ("total", "10")];
        let (status, body) = post_form(app, &owner, "/api/admin/total", &form).await;
        assert_eq!(status, 200, "{body}");
    }
    owner
}

#[tokio::test]
async fn the_desk_is_for_staff_only() {
    let app = spawn_app().await;
    staff_with_stock(&app, &[]).await;
    for cookie in [None, Some("livecart_staff=forged")] {
        match desk_socket(&app, cookie).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{cookie:?}")
            }
            other => panic!("{cookie:?}: expected 401, got {:?}", other.map(|_| ())),
        }
    }
    // A clerk sees the figures (they show no prices).
    let clerk = staff_cookie(&app, "clara", PASSWORD).await;
    let mut desk = desk_socket(&app, Some(&clerk)).await.expect("opens");
    let first = desk_until(&mut desk, WAIT, |_| true)
        .await
        .expect("figures at once");
    assert_eq!(first.copies_held, 0);
    // This node is listed, up.
    let me = app.addr().to_string();
    let listed: Vec<(&str, bool)> = first
        .nodes
        .iter()
        .map(|n| (n.address.as_str(), n.up))
        .collect();
    assert_eq!(listed, [(me.as_str(), true)]);
}

#[tokio::test]
async fn the_desk_follows_holds_sales_and_lapses_as_they_happen() {
    let app = spawn_app_with(|s| {
        s.reservation_ttl = Duration::from_secs(3);
        s.max_copies_per_shopper = 3;
    })
    .await;
    staff_with_stock(&app, &[SICP, PRAGMATIC]).await;
    let cookie = staff_cookie(&app, "burt", PASSWORD).await;
    let mut desk = desk_socket(&app, Some(&cookie)).await.expect("opens");
    let opening = desk_until(&mut desk, WAIT, |_| true)
        .await
        .expect("figures");
    assert_eq!(
        (
            opening.copies_held,
            opening.sold_today,
            opening.orders_today
        ),
        (0, 0, 0)
    );
    assert_eq!(opening.orders_per_minute.len(), 60);

    // Holds: two copies of one book, one of another.
    let buyer = shopper_client();
    let other = shopper_client();
    for (who, book) in [(&buyer, SICP), (&buyer, SICP), (&other, PRAGMATIC)] {
        assert_eq!(reserve(&app, who, book).await.0, 200);
    }
    let held = desk_until(&mut desk, WAIT, |f| f.copies_held == 3)
        .await
        .expect("figures");
    assert_eq!(held.copies_held, 3, "{held:?}");
    let most: Vec<(&str, u64)> = held
        .most_held
        .iter()
        .map(|(id, _, n)| (id.as_str(), *n))
        .collect();
    assert_eq!(most, [(SICP, 2), (PRAGMATIC, 1)], "most held first");

    // A sale: two copies in one order, in the chart's newest minute.
    let (status, body) = post_form(&app, &buyer, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{body}");
    let sold = desk_until(&mut desk, WAIT, |f| f.sold_today == 2)
        .await
        .expect("figures");
    assert_eq!(
        (sold.sold_today, sold.orders_today, sold.copies_held),
        (2, 1, 1),
        "{sold:?}"
    );
    assert_eq!(sold.orders_last_hour(), 1);
    // The order is in the newest minute, or (read as a minute turned) the
    // one before it.
    let newest: u32 = sold.orders_per_minute[58..].iter().sum();
    assert_eq!(newest, 1, "{:?}", sold.orders_per_minute);

    // The other hold lapses: counted once, and no longer held.
    let lapsed = desk_until(&mut desk, 2 * WAIT, |f| f.lapsed_today == 1)
        .await
        .expect("figures");
    assert_eq!(
        (lapsed.lapsed_today, lapsed.copies_held),
        (1, 0),
        "{lapsed:?}"
    );
    assert!(lapsed.most_held.is_empty(), "{lapsed:?}");
    assert_eq!(lapsed.sold_today, 2, "a lapse is not a sale");

    // The page renders the same figures before any script runs.
    let staff = app.staff_client("burt", PASSWORD).await;
    let html = text_as(&app, &staff, "/admin").await;
    assert!(html.contains(r#"data-figure="sold_today">2<"#), "{html}");
    assert!(html.contains(r#"data-figure="lapsed_today">1<"#), "{html}");
    // Each ledger row's sparkline: the book's count over today. The
    // opening books came in today (SICP with 3 copies, the Pragmatic
    // Programmer with 7), then went to 10 each; SICP is at 8 (two sold),
    // the other back at 10 (its hold lapsed).
    let row = |book: &str| {
        html.split("<tr")
            .find(|row| row.contains("ledger-line") && row.contains(&format!(r#""{book}""#)))
            .expect("the book's row")
            .to_string()
    };
    for (book, label) in [
        (
            SICP,
            "3 available at the day's start, 8 now, 3 at the lowest",
        ),
        (
            PRAGMATIC,
            "7 available at the day's start, 10 now, 7 at the lowest",
        ),
    ] {
        assert!(
            row(book).contains(&format!(r#"aria-label="{label}""#)),
            "{}",
            row(book)
        );
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LIVECART_TEST_POSTGRES); scripts/test.sh runs it when one answers"]
async fn a_sale_on_one_node_moves_the_desk_on_another() {
    let db = TestDatabase::create().await;
    let node = |s: &mut livecart::server::config::Settings| {
        s.database_url = db.url.clone();
        s.max_copies_per_shopper = 3;
    };
    let a = spawn_app_with(node).await;
    let b = spawn_app_with(node).await;
    staff_with_stock(&a, &[SICP]).await;
    let cookie = staff_cookie(&b, "burt", PASSWORD).await;
    let mut desk_b = desk_socket(&b, Some(&cookie)).await.expect("opens");
    let opening = desk_until(&mut desk_b, WAIT, |_| true)
        .await
        .expect("figures");
    assert_eq!(opening.sold_today, 0);

    let shopper = shopper_client();
    for _ in 0..3 {
        assert_eq!(reserve(&a, &shopper, SICP).await.0, 200);
    }
    let held = desk_until(&mut desk_b, WAIT, |f| f.copies_held == 3).await;
    assert_eq!(
        held.map(|f| f.copies_held),
        Some(3),
        "node B's desk sees A's holds"
    );
    let (status, body) = post_form(&a, &shopper, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{body}");
    let sold = desk_until(&mut desk_b, WAIT, |f| f.sold_today == 3)
        .await
        .expect("figures");
    assert_eq!(
        (sold.sold_today, sold.orders_today, sold.copies_held),
        (3, 1, 0),
        "node B's desk sees A's sale: {sold:?}"
    );
    // And node A's own desk reads the same numbers.
    let cookie_a = staff_cookie(&a, "burt", PASSWORD).await;
    let mut desk_a = desk_socket(&a, Some(&cookie_a)).await.expect("opens");
    let on_a = desk_until(&mut desk_a, WAIT, |_| true)
        .await
        .expect("figures");
    assert_eq!(
        (on_a.sold_today, on_a.orders_today, on_a.copies_held),
        (3, 1, 0)
    );
    // A third node starts (a process of its own: nodes in one process
    // share an id), and is listed up on B's desk; killed, it is marked gone
    // there within 15 s, without B's desk asking.
    let c = ServerProcess::start_with(
        std::path::Path::new("unused"),
        &[("LIVECART_DATABASE_URL", db.url.as_str())],
    )
    .await;
    let c_addr = c.addr().to_string();
    let listed = |f: &livecart::shared::views::DeskFigures, up: bool| {
        f.nodes.iter().any(|n| n.address == c_addr && n.up == up)
    };
    let seen = desk_until(&mut desk_b, WAIT, |f| listed(f, true)).await;
    assert!(
        seen.as_ref().is_some_and(|f| listed(f, true)),
        "C ({c_addr}) is listed up: {seen:?}"
    );
    c.kill_hard().await;
    let gone = desk_until(&mut desk_b, Duration::from_secs(15), |f| listed(f, false)).await;
    assert!(
        gone.as_ref().is_some_and(|f| listed(f, false)),
        "C ({c_addr}) shows as gone: {gone:?}"
    );

    // Node B's ledger draws SICP's day as node A recorded it: 3 copies as
    // the shop opened, 10 once restocked, 7 after the sale.
    let staff_b = b.staff_client("burt", PASSWORD).await;
    let html = text_as(&b, &staff_b, &format!("/admin?q={SICP}")).await;
    assert!(
        html.contains(r#"aria-label="3 available at the day's start, 7 now, 3 at the lowest""#),
        "{html}"
    );
}

/// The figures' days, hours and minutes, read at a fixed moment from rows
/// put straight in the tables: an order a millisecond before midnight is
/// yesterday's, one at midnight today's; the chart's first minute starts 59
/// minutes before the minute under way, and the minute before it is out.
#[tokio::test]
async fn today_and_the_last_hour_end_where_the_clock_says() {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    let app = spawn_app().await;
    let store = livecart::server::store::Store::open(&app.database_url)
        .await
        .unwrap();
    let midnight = 20_800 * 86_400_000_i64;
    // 12:34:56.789 UTC.
    let now = midnight + 12 * HOUR + 34 * MINUTE + 56_789;
    let this_minute = midnight + 12 * HOUR + 34 * MINUTE;
    let chart_from = this_minute - 59 * MINUTE;
    let mut db = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    for (id, at, book, copies) in [
        ("yesterday", midnight - 1, SICP, 5),
        ("midnight", midnight, SICP, 1),
        ("before-the-chart", chart_from - 1, PRAGMATIC, 2),
        ("first-minute", chart_from, SICP, 3),
        ("this-minute", this_minute, PRAGMATIC, 1),
    ] {
        sqlx::query(
            "INSERT INTO orders (id, shopper, placed_at, total_cents) VALUES (?, 'w:test', ?, 100)",
        )
        .bind(id)
        .bind(at)
        .execute(&mut db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO order_lines (order_id, book_id, title, price_cents, copies) VALUES (?, ?, 'A book', 100, ?)",
        )
        .bind(id)
        .bind(book)
        .bind(copies)
        .execute(&mut db)
        .await
        .unwrap();
    }
    for (at, holds) in [(midnight - 1, 4), (midnight, 2)] {
        sqlx::query(
            "INSERT INTO hold_lapses (lapsed_at, book_id, holds, copies) VALUES (?, ?, ?, ?)",
        )
        .bind(at)
        .bind(SICP)
        .bind(holds)
        .bind(holds)
        .execute(&mut db)
        .await
        .unwrap();
    }

    let figures = store.desk_figures(now).await.unwrap();
    assert_eq!(
        (
            figures.orders_today,
            figures.sold_today,
            figures.lapsed_today
        ),
        (4, 7, 2)
    );
    let mut chart = vec![0u32; 60];
    chart[0] = 1;
    chart[59] = 1;
    assert_eq!(figures.orders_per_minute, chart);

    // The ledger's sparklines: yesterday's hours (the hour before
    // midnight, and the slot of 13:00 from a day ago) are out; the hour
    // starting at midnight is in, and so is the one under way.
    sqlx::query("DELETE FROM stock_by_hour")
        .execute(&mut db)
        .await
        .unwrap();
    for (book, hour, opened, closed, low) in [
        (SICP, midnight - HOUR, 9, 8, 1),
        (SICP, midnight - 11 * HOUR, 0, 0, 0),
        (SICP, midnight, 8, 6, 5),
        (SICP, midnight + 11 * HOUR, 6, 4, 4),
        (PRAGMATIC, midnight + 12 * HOUR, 7, 5, 2),
    ] {
        sqlx::query(
            "INSERT INTO stock_by_hour (book_id, slot, hour, opened, closed, low) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(book)
        .bind(hour.rem_euclid(86_400_000) / HOUR)
        .bind(hour)
        .bind(opened)
        .bind(closed)
        .bind(low)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let day = store
        .stock_over_day(&[(SICP, 4), (PRAGMATIC, 3), ("book-4", 9)], now)
        .await
        .unwrap();
    let sicp = &day[SICP];
    assert_eq!((sicp.opened, sicp.low), (8, 4), "{sicp:?}");
    let mut hours = vec![6; 11];
    hours.extend([4, 4]);
    assert_eq!(
        sicp.hours, hours,
        "midnight's hour to 12:00's, the last now"
    );
    let pragmatic = &day[PRAGMATIC];
    assert_eq!((pragmatic.opened, pragmatic.low), (7, 2), "{pragmatic:?}");
    let mut hours = vec![7; 12];
    hours.push(3);
    assert_eq!(pragmatic.hours, hours);
    // A book with no record today stood at its count all day.
    assert_eq!(day["book-4"].hours, vec![9; 13]);
    assert_eq!((day["book-4"].opened, day["book-4"].low), (9, 9));
}

/// SICP's total set to `total` by a commit made at `at_ms`.
async fn set_total_at(store: &livecart::server::store::Store, total: u32, at_ms: i64) {
    let mut tx = store.begin().await.unwrap();
    assert!(tx.set_total(SICP, total).await.unwrap());
    tx.finish_and_commit(&[SICP], false, at_ms).await.unwrap();
}

/// Each commit records the count in the hour it was made: the hour's first
/// opens it at the count before, the others move its close and its low; an
/// hour without a commit keeps the count; the same hour a day later starts
/// afresh.
#[tokio::test]
async fn each_commit_records_the_count_in_the_hour_it_was_made() {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    // The opening books came in just now, SICP with 3 copies; these commits
    // are made at moments after that.
    let app = spawn_app().await;
    let store = livecart::server::store::Store::open(&app.database_url)
        .await
        .unwrap();
    let midnight = 20_800 * DAY;
    for (total, at) in [
        (6, midnight + HOUR + 5 * MINUTE),
        (2, midnight + HOUR + 50 * MINUTE),
        (5, midnight + 2 * HOUR - 1),
        (4, midnight + 3 * HOUR),
    ] {
        set_total_at(&store, total, at).await;
    }
    let day = store
        .stock_over_day(&[(SICP, 4)], midnight + 3 * HOUR + 30 * MINUTE)
        .await
        .unwrap();
    let sicp = &day[SICP];
    assert_eq!(
        (sicp.opened, sicp.hours.clone(), sicp.low),
        (3, vec![3, 5, 5, 4], 2),
        "opened at 3; hour 1 ended at 5 having dipped to 2; hour 2 kept 5; now 4"
    );

    // The next day: its 01:00 overwrites the day before's, opening at the
    // count the book last closed at (4, at 03:00 the day before).
    set_total_at(&store, 7, midnight + DAY + HOUR + MINUTE).await;
    let day = store
        .stock_over_day(&[(SICP, 7)], midnight + DAY + 2 * HOUR)
        .await
        .unwrap();
    let sicp = &day[SICP];
    assert_eq!(
        (sicp.opened, sicp.hours.clone(), sicp.low),
        (4, vec![4, 7, 7], 4),
        "yesterday's low (2) and 01:00 are not today's"
    );
}

/// A burst of changes costs the desk at most four readings a second, and an
/// idle shop sends it none (a node's beat is not news).
#[tokio::test]
async fn a_burst_costs_a_few_readings_and_an_idle_shop_none() {
    let app = spawn_app().await;
    staff_with_stock(&app, &[SICP]).await;
    let cookie = staff_cookie(&app, "burt", PASSWORD).await;
    let mut desk = desk_socket(&app, Some(&cookie)).await.expect("opens");
    assert!(desk_until(&mut desk, WAIT, |_| true).await.is_some());
    // The opening's readings, then quiet.
    while next_text(&mut desk, Duration::from_millis(500))
        .await
        .is_some()
    {}
    let idle = next_text(&mut desk, Duration::from_secs(3)).await;
    assert_eq!(idle, None, "an idle shop sends the desk nothing");

    let shopper = shopper_client();
    let started = std::time::Instant::now();
    let counting = tokio::spawn(async move {
        let mut readings = 0;
        while next_text(&mut desk, Duration::from_millis(1_000))
            .await
            .is_some()
        {
            readings += 1;
        }
        readings
    });
    for _ in 0..40 {
        assert_eq!(reserve(&app, &shopper, SICP).await.0, 200);
        assert_eq!(return_copy(&app, &shopper, SICP).await.0, 200);
    }
    let burst = started.elapsed();
    let readings = counting.await.unwrap();
    // Four a second over the burst and the second after it, and one more.
    let most = (burst.as_millis() as usize + 1_000) / 250 + 1;
    assert!(
        readings <= most,
        "{readings} readings for 80 changes in {burst:?} (at most {most})"
    );
    assert!(readings >= 1, "the burst was seen");
}

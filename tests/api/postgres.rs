//! The same rules on PostgreSQL, with two servers sharing one database (the
//! way livecart scales out). These run when LIVECART_TEST_POSTGRES names a
//! server to create throwaway databases on (scripts/test.sh sets it when
//! PostgreSQL answers on 127.0.0.1:5432); each test gets its own database.

use futures::future::join_all;
use sqlx::Connection;

use crate::helpers::*;

/// A fresh database on the test PostgreSQL, or None when none is configured.
async fn fresh_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("LIVECART_TEST_POSTGRES") else {
        eprintln!("LIVECART_TEST_POSTGRES is not set: PostgreSQL tests not run");
        return None;
    };
    let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL answers");
    let name = format!("livecart_test_{:016x}", rand_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base.to_string())
        .unwrap_or(admin_url);
    Some(format!("{base}/{name}"))
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

#[tokio::test]
async fn the_rules_hold_on_postgresql() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let app = spawn_app_with(|s| s.database_url = url).await;
    let before = stock(&app).await;
    assert_eq!(before.available(FEATURED), Some(10));

    let (status, body) = reserve(&app, &app.http, FEATURED).await;
    assert_eq!((status, body["copies"].as_u64()), (200, Some(1)));
    assert_eq!(reserve(&app, &app.http, FEATURED).await.0, 409, "the limit");
    assert_eq!(book_cart(&app, "s1", "add").await.status(), 200);
    assert_eq!(available(&app, FEATURED).await, 8);
    let (status, order) = post_form(&app, &app.http, "/api/cart/checkout", &[]).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(book_cart(&app, "s1", "remove").await.status(), 200);
    let after = stock(&app).await;
    assert_eq!(after.available(FEATURED), Some(9));
    assert!(after.version > before.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_never_oversell() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let first = spawn_app_with(|s| s.database_url = url.clone()).await;
    let second = spawn_app_with(|s| s.database_url = url).await;
    let buyers = (0..200).map(|i| {
        let shop = if i % 2 == 0 { &first } else { &second };
        async move {
            book_cart(shop, &format!("node-buyer-{i}"), "add")
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
    // Two buyers give their copy back, one through each server; the second
    // server's next change reads the true count from the shared database.
    let winners: Vec<usize> = (0..200).filter(|i| statuses[*i] == 200).collect();
    let back = |i: usize| format!("node-buyer-{i}");
    assert_eq!(
        book_cart(&first, &back(winners[0]), "remove")
            .await
            .status(),
        200
    );
    assert_eq!(
        book_cart(&second, &back(winners[1]), "remove")
            .await
            .status(),
        200
    );
    let on_second = stock(&second).await;
    assert_eq!(on_second.available(FEATURED), Some(2));
    assert_eq!(
        reqwest::get(first.url("/api/books"))
            .await
            .unwrap()
            .status(),
        200
    );
}

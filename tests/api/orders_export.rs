//! The orders export: `/admin/orders.csv` for the owner, and `livecart
//! orders export`, each every acknowledged order with its exact cents.

use std::collections::BTreeMap;

use livecart::shared::stock::Order;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";
const SICP: &str = "structure-and-interpretation-of-computer-programs";
const PRAGMATIC: &str = "the-pragmatic-programmer";

/// An order as the CSV tells it: its total and, by book, (copies, price,
/// line total), all in cents.
type Exported = BTreeMap<String, (u64, BTreeMap<String, (u32, u64, u64)>)>;

fn cents(text: &str) -> u64 {
    let (whole, fraction) = text.split_once('.').expect("money with cents");
    assert_eq!(fraction.len(), 2, "{text}");
    whole.parse::<u64>().unwrap() * 100 + fraction.parse::<u64>().unwrap()
}

fn read_csv(text: &str) -> Exported {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        livecart::server::order_export::HEADER
    );
    let mut orders = Exported::new();
    for row in reader.records() {
        let row = row.expect("a CSV row");
        let order = orders.entry(row[0].to_string()).or_default();
        order.0 = cents(&row[7]);
        let copies: u32 = row[4].parse().unwrap();
        order
            .1
            .insert(row[2].to_string(), (copies, cents(&row[5]), cents(&row[6])));
    }
    orders
}

/// Adds the owner "burt" and the clerk "clara"; signed in as the owner, puts
/// 100 copies of each book on the shelf, at its price when one is given.
async fn owner_with_stock(app: &TestApp, books: &[(&str, Option<&str>)]) -> reqwest::Client {
    app.add_staff("burt", PASSWORD).await;
    let clerk = Some(livecart::server::staff::StaffRole::Clerk);
    app.add_staff_as("clara", PASSWORD, clerk).await;
    let owner = app.staff_client("burt", PASSWORD).await;
    for (book, price) in books {
        if let Some(price) = price {
            let form = [("book", *book), ("price", *price)];
            let (status, body) = post_form(app, &owner, "/api/admin/price", &form).await;
            assert_eq!(status, 200, "{body}");
        }
        let form = [("book", *book), ("total", "100")];
        let (status, body) = post_form(app, &owner, "/api/admin/total", &form).await;
        assert_eq!(status, 200, "{body}");
    }
    owner
}

/// Every order the shop acknowledged comes out once, with its books,
/// copies, prices and total to the cent (19.99 × 2 and 0.05 among them),
/// over HTTP for the owner and from the command line alike. A clerk is
/// refused it, so is nobody, and a bad `since` is a 400.
#[tokio::test]
async fn every_order_comes_out_once_with_exact_cents() {
    let app = spawn_app_with(|s| s.max_copies_per_shopper = 2).await;
    let owner = owner_with_stock(
        &app,
        &[
            (SICP, Some("19.99")),
            (PRAGMATIC, Some("0.05")),
            (FEATURED, Some("1234.56")),
        ],
    )
    .await;
    let mut acknowledged: Vec<Order> = Vec::new();
    for i in 0..12 {
        let shopper = shopper_client();
        let books: &[&str] = match i % 3 {
            0 => &[SICP, SICP],
            1 => &[PRAGMATIC],
            _ => &[FEATURED, SICP, PRAGMATIC],
        };
        for book in books {
            let (status, body) = reserve(&app, &shopper, book).await;
            assert_eq!(status, 200, "{book}: {body}");
        }
        let (status, order) = post_form(&app, &shopper, "/api/cart/checkout", &[]).await;
        assert_eq!(status, 200, "{order}");
        acknowledged.push(serde_json::from_value(order).expect("an order"));
    }
    let expected: Exported = acknowledged
        .iter()
        .map(|order| {
            let lines = order
                .lines
                .iter()
                .map(|l| {
                    let line_total = u64::from(l.price_cents) * u64::from(l.copies);
                    (
                        l.book_id.clone(),
                        (l.copies, u64::from(l.price_cents), line_total),
                    )
                })
                .collect();
            (order.id.clone(), (order.total_cents, lines))
        })
        .collect();
    assert_eq!(expected[&acknowledged[0].id].0, 3998, "19.99 × 2");

    let response = owner
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let over_http = response.text().await.unwrap();
    assert_eq!(read_csv(&over_http), expected, "{over_http}");

    // The command line writes the same file, its logs (every query, here)
    // kept off it.
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"))
        .args(["orders", "export", "--since", "2000-01-01"])
        .env("LIVECART_DATABASE_URL", &app.database_url)
        .env("LIVECART_LOG", "debug")
        .output()
        .await
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(String::from_utf8(cli.stdout).unwrap(), over_http);
    assert!(String::from_utf8_lossy(&cli.stderr).contains("12 orders exported"));

    // From a date after them all: the header alone.
    let later = text_as(&app, &owner, "/admin/orders.csv?since=2999-01-01").await;
    assert_eq!(read_csv(&later), Exported::new());
    assert_eq!(later.lines().count(), 1, "{later}");

    // Refused: a bad date, a clerk, nobody.
    let bad = owner
        .get(app.url("/admin/orders.csv?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not a date"));
    let clerk = app.staff_client("clara", PASSWORD).await;
    let status = clerk
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403, "a clerk");
    let status = shopper_client()
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "nobody signed in");
    let bad_cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"))
        .args(["orders", "export", "--since", "yesterday"])
        .env("LIVECART_DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(!bad_cli.status.success());
    assert!(String::from_utf8_lossy(&bad_cli.stderr).contains("not a date"));
}

/// The order ids a desk page lists, in its order.
fn listed_orders(html: &str) -> Vec<String> {
    html.split(r#"data-order=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// `/admin/orders`: the owner pages through every order, 25 a page, and
/// finds by book (its id, or words of its title) the orders holding it, each
/// with its books and total; a search for LIKE's own characters finds them
/// literally. A clerk is refused (403), nobody signed in 401.
#[tokio::test]
async fn the_owner_pages_through_the_orders_and_finds_them_by_book() {
    let app = spawn_app().await;
    let owner = owner_with_stock(&app, &[(SICP, None), (PRAGMATIC, None)]).await;
    let mut with_sicp = std::collections::BTreeSet::new();
    let mut all = std::collections::BTreeSet::new();
    for i in 0..30 {
        let shopper = shopper_client();
        let book = if i % 3 == 0 { SICP } else { PRAGMATIC };
        assert_eq!(reserve(&app, &shopper, book).await.0, 200);
        let (status, order) = post_form(&app, &shopper, "/api/cart/checkout", &[]).await;
        assert_eq!(status, 200, "{order}");
        let id = order["id"].as_str().expect("an id").to_string();
        if book == SICP {
            with_sicp.insert(id.clone());
        }
        all.insert(id);
    }

    let first = text_as(&app, &owner, "/admin/orders").await;
    let second = text_as(&app, &owner, "/admin/orders?page=2").await;
    let (first, second) = (listed_orders(&first), listed_orders(&second));
    assert_eq!((first.len(), second.len()), (25, 5));
    let listed: std::collections::BTreeSet<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(listed, all, "every order once over the two pages");

    for search in ["structure%20and", SICP] {
        let found = text_as(&app, &owner, &format!("/admin/orders?q={search}")).await;
        let found: std::collections::BTreeSet<String> = listed_orders(&found).into_iter().collect();
        assert_eq!(found, with_sicp, "searched {search}");
    }
    let page = text_as(&app, &owner, &format!("/admin/orders?q={SICP}")).await;
    assert!(page.contains("1 × Structure and Interpretation"), "{page}");
    let literal = text_as(&app, &owner, "/admin/orders?q=%25").await;
    assert!(listed_orders(&literal).is_empty() && literal.contains("No orders."));

    let clerk = app.staff_client("clara", PASSWORD).await;
    let refused = clerk.get(app.url("/admin/orders")).send().await.unwrap();
    assert_eq!(refused.status(), 403, "a clerk");
    assert!(listed_orders(&refused.text().await.unwrap()).is_empty());
    let nobody = shopper_client()
        .get(app.url("/admin/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401, "nobody signed in");
}

//! Every node records itself in the shared database: `livecart nodes` and
//! the staff desk list each, with its open connections, and a node that
//! died shows as gone once it has been silent for more than 10 s.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";

/// `livecart nodes` on the database at `db`: per node, its address, state
/// and connections (`transport=n` each).
async fn nodes(db: &Path) -> Vec<(String, String, Vec<String>)> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"))
        .arg("nodes")
        .env(
            "LIVECART_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                fields[1].to_string(),
                fields[5].to_string(),
                fields[6..].iter().map(|f| f.to_string()).collect(),
            )
        })
        .collect()
}

/// Asks `livecart nodes` until `wanted` holds, for `within` at most.
async fn nodes_until(
    db: &Path,
    within: Duration,
    wanted: impl Fn(&[(String, String, Vec<String>)]) -> bool,
) -> Vec<(String, String, Vec<String>)> {
    let deadline = Instant::now() + within;
    loop {
        let seen = nodes(db).await;
        if wanted(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn state_of<'a>(seen: &'a [(String, String, Vec<String>)], addr: &str) -> Option<&'a str> {
    seen.iter()
        .find(|(a, _, _)| a == addr)
        .map(|(_, s, _)| s.as_str())
}

#[tokio::test]
async fn every_node_is_listed_and_a_dead_one_shows_as_gone_within_fifteen_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let first = ServerProcess::start(&db).await;
    let first_addr = first.addr.to_string();
    let _sockets = [
        open_socket(&first, "/api/stock/ws").await,
        open_socket(&first, "/api/stock/ws").await,
    ];
    // Up, with its two sockets counted, within a beat or two.
    let seen = nodes_until(&db, Duration::from_secs(6), |seen| {
        seen.iter()
            .any(|(a, s, c)| *a == first_addr && s == "up" && c.contains(&"websocket=2".into()))
    })
    .await;
    assert_eq!(seen.len(), 1, "{seen:?}");

    first.kill_hard().await;
    let killed = Instant::now();
    let second = ServerProcess::start(&db).await;
    let second_addr = second.addr.to_string();
    // Not gone at once: a beat missed is not a node down.
    let early = nodes(&db).await;
    if killed.elapsed() < Duration::from_secs(7) {
        assert_eq!(state_of(&early, &first_addr), Some("up"), "{early:?}");
    }
    nodes_until(&db, Duration::from_secs(15), |seen| {
        state_of(seen, &first_addr) == Some("gone") && state_of(seen, &second_addr) == Some("up")
    })
    .await;
    assert!(killed.elapsed() < Duration::from_secs(16));

    // The desk on the node still up says the same.
    let store = livecart::server::store::Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let name = livecart::server::staff::StaffName::parse("ada").unwrap();
    livecart::server::staff::put_staff(&store, &name, PASSWORD, None)
        .await
        .unwrap();
    let staff = shopper_client();
    let (status, _) = sign_in(&second, &staff, "ada", PASSWORD).await;
    assert_eq!(status, 200);
    let desk = text_as(&second, &staff, "/admin").await;
    let row_of = |addr: &str| {
        desk.split("<tr ")
            .find(|row| row.contains(&format!("<td>{addr}</td>")))
            .map(|row| row.split("</tr>").next().unwrap_or_default().to_string())
    };
    let first_row = row_of(&first_addr).expect("the dead node is listed");
    assert!(first_row.contains(r#"data-state="gone""#), "{first_row}");
    let second_row = row_of(&second_addr).expect("the live node is listed");
    assert!(second_row.contains(r#"data-state="up""#), "{second_row}");
    second.kill_hard().await;
}

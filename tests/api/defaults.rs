//! A shop started with no settings runs with the defaults the README's
//! settings table gives: read from what the node reports it runs with
//! (`livecart_limit` on /metrics), against the README's figures written out
//! here, never against the constants in the code.

use crate::helpers::*;

fn limit(name: &str) -> String {
    format!("livecart_limit{{limit=\"{name}\"}}")
}

/// The hard open-file limit of this process, which the server raises its
/// own (soft) limit to.
fn hard_open_file_limit() -> i64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open-file limit");
    line.split_whitespace()
        .nth(4)
        .expect("a hard limit")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn with_no_settings_the_shop_runs_with_the_documented_defaults() {
    let app = spawn_app().await;
    let readme = [
        ("header_read_timeout_seconds", 10),
        ("max_connections_per_address", 1_000),
        ("send_deadline_seconds", 10),
        ("shutdown_deadline_seconds", 10),
        ("ws_ping_interval_seconds", 20),
        ("reservation_ttl_seconds", 15 * 60),
        ("max_copies_per_shopper", 1),
        ("max_books_per_cart", 20),
        ("max_hold_age_seconds", 60 * 60),
        ("holds_per_minute_per_address", 600),
        ("line_offer_ttl_seconds", 10 * 60),
        ("line_places_per_address", 4),
        ("max_body_bytes", 64 * 1024),
        ("burts_sessions_remembered", 100_000),
        ("burts_session_forget_after_seconds", 5 * 60),
        // The open-file limit less 512 for the database and the rest.
        ("max_connections", hard_open_file_limit() - 512),
    ];
    for (name, want) in readme {
        assert_eq!(gauge(&app, &limit(name)).await, want, "{name}");
    }
}

#[tokio::test]
async fn a_setting_given_is_the_limit_in_force() {
    let app = spawn_app_with(|s| {
        s.header_read_timeout = std::time::Duration::from_secs(3);
        s.max_connections = Some(77);
        s.line_places_per_address = 9;
    })
    .await;
    assert_eq!(gauge(&app, &limit("header_read_timeout_seconds")).await, 3);
    assert_eq!(gauge(&app, &limit("max_connections")).await, 77);
    assert_eq!(gauge(&app, &limit("line_places_per_address")).await, 9);
}

/// `LIVECART_CONFIG` names the file the shop reads its `[livecart]`
/// settings from (the README's settings table), not only the default
/// `./Leptos.toml`: a value there is the limit the running shop reports.
#[tokio::test]
async fn a_file_named_by_livecart_config_sets_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.toml");
    std::fs::write(&file, "[livecart]\nline_places_per_address = 7\n").unwrap();
    let config = file.to_str().unwrap();
    let node = ServerProcess::start_with(&db_path(&dir), &[("LIVECART_CONFIG", config)]).await;
    assert_eq!(gauge(&node, &limit("line_places_per_address")).await, 7);
}

/// A file named by `LIVECART_CONFIG` that cannot be read stops the command
/// with its name: a typo in the path never runs the shop on defaults.
#[tokio::test]
async fn a_named_config_file_that_is_missing_stops_the_command_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.toml");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"))
        .args(["lines", "list"])
        .env("LIVECART_CONFIG", &missing)
        .env(
            "LIVECART_DATABASE_URL",
            format!("sqlite://{}", db_path(&dir).display()),
        )
        .env("LIVECART_LOG", "warn")
        .output()
        .await
        .expect("livecart lines list runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stderr}");
    assert!(
        stderr.contains(&format!("cannot read {}", missing.display())),
        "names the file: {stderr}"
    );
}

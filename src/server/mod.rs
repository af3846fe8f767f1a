//! Everything that runs only on the server, and its composition root: this
//! file builds the shop's parts and serves them; `routes` lists every route
//! and is the one place on the server that names the pages (it renders `App`
//! inside `shell`).

pub mod book_details;
pub mod clock;
pub mod config;
pub mod covers;
pub mod desk;
pub mod import;
pub mod inventory;
pub mod metrics;
pub mod network;
pub mod nodes;
pub mod notifier;
pub mod order_export;
pub mod orders;
mod routes;
pub mod staff;
pub mod store;
pub mod web;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::*;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::shared::stock::FEATURED_BOOK;
use config::Settings;
use inventory::{Inventory, Rules};
use metrics::Metrics;
use notifier::Notifier;
use store::{Store, StoreError};
use web::client_address::TrustedProxies;
use web::connections::{default_max_connections, open_file_limit, ConnectionLimits};
use web::live::burts::sessions::AnsweredVersions;
use web::live::socket::{start_fan_out, Upkeep};

pub use routes::app;

/// What every handler and server function can reach. Cloned for every
/// request, so it is one shared pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shop>);

impl Shop {
    /// How the shop's cookies are named and marked (the `behind_https` setting).
    pub fn cookies(&self) -> web::cookies::CookiePolicy {
        web::cookies::CookiePolicy {
            https: self.settings.behind_https,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shop;

    fn deref(&self) -> &Shop {
        &self.0
    }
}

/// The running shop's parts.
pub struct Shop {
    pub leptos_options: LeptosOptions,
    /// Decides and writes every change.
    pub inventory: Inventory,
    /// The newest snapshot, for every transport; the inventory publishes
    /// into it.
    pub notifier: Notifier,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub staff: staff::StaffDesk,
    /// The orders, as staff read them.
    pub orders: orders::OrderBook,
    /// The staff desk's live figures.
    pub desk: desk::DeskFeed,
    pub catalog: book_details::CatalogClient,
    /// Burt's long-poll sessions and the version each was last told.
    pub answered: Arc<AnsweredVersions>,
    /// Shared by every WebSocket: one pointer each instead of a copy.
    pub upkeep: Arc<Upkeep>,
    /// How fast each address may take new holds.
    pub hold_rate: web::hold_rate::HoldRate,
    /// Proxies believed about the client they forward for (the per-request
    /// address and the connection caps both ask).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Cancelled when the server begins to shut down, so long polls answer
    /// and sockets close with 1001 instead of holding the exit up.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("leptos settings: {0}")]
    Leptos(String),
    #[error("cannot start the sockets' thread: {0}")]
    FanOut(std::io::Error),
}

/// Every limit the node runs with on `/metrics` (`livecart_limit`), as the
/// settings give them or by default, so an operator (and a test) reads what
/// is in force rather than what was meant.
fn show_limits(state: &AppState) {
    let (settings, metrics) = (&state.settings, &state.metrics);
    let seconds = |d: std::time::Duration| d.as_secs();
    let (sessions, forget_after) = state.answered.limits();
    for (limit, value) in [
        (
            "header_read_timeout_seconds",
            seconds(settings.header_read_timeout),
        ),
        (
            "max_connections_per_address",
            settings.max_connections_per_address as u64,
        ),
        ("send_deadline_seconds", seconds(settings.ws_send_timeout)),
        (
            "shutdown_deadline_seconds",
            seconds(settings.shutdown_deadline),
        ),
        (
            "ws_ping_interval_seconds",
            seconds(settings.ws_ping_interval),
        ),
        ("reservation_ttl_seconds", seconds(settings.reservation_ttl)),
        (
            "max_copies_per_shopper",
            u64::from(settings.max_copies_per_shopper),
        ),
        ("max_books_per_cart", u64::from(settings.max_books_per_cart)),
        ("max_hold_age_seconds", seconds(settings.max_hold_age)),
        (
            "holds_per_minute_per_address",
            u64::from(settings.holds_per_minute_per_address),
        ),
        ("line_offer_ttl_seconds", seconds(settings.line_offer_ttl)),
        (
            "line_places_per_address",
            u64::from(settings.line_places_per_address),
        ),
        ("max_body_bytes", settings.max_body_bytes as u64),
        ("burts_sessions_remembered", sessions as u64),
        ("burts_session_forget_after_seconds", seconds(forget_after)),
    ] {
        metrics.set_limit(limit, value);
    }
}

/// The shop's rules, as the settings give them.
fn rules(settings: &Settings) -> Rules {
    Rules {
        max_copies_per_shopper: settings.max_copies_per_shopper,
        max_books_per_cart: settings.max_books_per_cart,
        reservation_ttl: settings.reservation_ttl,
        max_hold_age: settings.max_hold_age,
        line_offer_ttl: settings.line_offer_ttl,
        line_places_per_address: settings.line_places_per_address,
    }
}

/// The inventory without a server, for a command (`livecart lines …`): its
/// changes go through a writer of its own, committed like a node's, and
/// every running node publishes them within a second (as it does an import).
pub async fn open_inventory(settings: &Settings) -> Result<Inventory, StartError> {
    let store = Store::open(&settings.database_url).await?;
    inventory::stock_opening_books(&store).await?;
    let notifier = Notifier::new(store.stock().await?, FEATURED_BOOK);
    let rules = rules(settings);
    let (writer, _sessions) = writer::start(store.clone(), notifier, rules.clone(), Metrics::new());
    Ok(Inventory::new(store, rules, writer))
}

/// A built server: its database open, its port bound.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> Result<Application, StartError> {
        let mut store = Store::open(&settings.database_url).await?;
        if !settings.pg_notify {
            store = store.without_notify();
        }
        inventory::stock_opening_books(&store).await?;
        let notifier = Notifier::new(store.stock().await?, FEATURED_BOOK);
        let rules = rules(&settings);
        let lines_read = store.line_read_counts();
        let metrics = Metrics::counting_line_reads(lines_read.asks, lines_read.reads);
        let hold_rate = web::hold_rate::HoldRate::new(settings.holds_per_minute_per_address);
        let trusted_proxies = Arc::new(TrustedProxies::new(settings.trusted_proxies.clone()));
        // The database's one writer, beneath the two parts that ask it for
        // changes: the inventory (with its rules) and the staff desk.
        let (writer, sessions) = writer::start(
            store.clone(),
            notifier.clone(),
            rules.clone(),
            metrics.clone(),
        );
        let inventory = Inventory::new(store.clone(), rules, writer);
        let addr = leptos_options.site_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let shutdown = CancellationToken::new();
        let fan_out = start_fan_out(shutdown.clone()).map_err(StartError::FanOut)?;
        // Bound first, so the node records the address it really serves
        // (port 0 in tests becomes the one given).
        let bound = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        tokio::spawn(nodes::beat(
            store.clone(),
            metrics.clone(),
            nodes::ThisNode::new(bound.to_string()),
            shutdown.clone(),
        ));
        let state = AppState(Arc::new(Shop {
            leptos_options,
            orders: orders::OrderBook::new(store.clone()),
            desk: desk::DeskFeed::start(
                store.clone(),
                nodes::NodeList::new(store.clone()),
                notifier.clone(),
                shutdown.clone(),
            ),
            staff: staff::StaffDesk::new(store, sessions, settings.sign_in_concurrency),
            inventory,
            notifier,
            upkeep: Arc::new(Upkeep {
                ping_every: settings.ws_ping_interval,
                shutdown: shutdown.clone(),
                fan_out,
            }),
            catalog: book_details::CatalogClient::new(
                settings.catalog_url.clone(),
                settings.covers_url.clone(),
            ),
            settings: Arc::new(settings),
            answered: Arc::new(AnsweredVersions::new(metrics.burts_sessions.clone())),
            hold_rate,
            trusted_proxies,
            metrics,
            shutdown,
        }));
        show_limits(&state);
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves, then closes sockets and long polls and
    /// lets requests in flight finish — for `shutdown_deadline` at most: a
    /// client that never finishes its request cannot keep the process alive.
    /// (Every change acknowledged was committed before its answer.)
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let settings = self.state.settings.clone();
        let limits = ConnectionLimits {
            max_open: settings
                .max_connections
                .unwrap_or_else(|| default_max_connections(open_file_limit())),
            per_address: settings.max_connections_per_address,
            header_read_timeout: settings.header_read_timeout,
            send_deadline: settings.ws_send_timeout,
            send_buffer: settings.socket_send_buffer,
            trusted_proxies: self.state.trusted_proxies.clone(),
        };
        tracing::info!(
            max_connections = limits.max_open,
            per_address = limits.per_address,
            "accepting connections"
        );
        // Worked out here (from the open-file limit) when not set.
        self.state
            .metrics
            .set_limit("max_connections", limits.max_open as u64);
        let shutdown = self.state.shutdown.clone();
        let metrics = self.state.metrics.clone();
        let router = app(self.state);
        web::connections::serve(
            self.listener,
            router,
            limits,
            metrics,
            stop,
            shutdown,
            settings.shutdown_deadline,
        )
        .await;
        Ok(())
    }
}

/// Leptos's own settings from the LEPTOS_* environment (cargo-leptos sets them
/// when it runs the server), with defaults that serve the built site from
/// `target/site` on 127.0.0.1:3000.
pub fn leptos_options() -> Result<LeptosOptions, StartError> {
    let mut options = leptos::config::get_configuration(None)
        .map(|conf| conf.leptos_options)
        .map_err(|e| StartError::Leptos(e.to_string()))?;
    // A release build with LEPTOS_HASH_FILES=true names the site's files by
    // their hash and writes the hashes beside the binary; a binary started
    // without cargo-leptos's environment (scripts/run.sh, the tests) finds
    // them there. `cargo leptos watch` says LEPTOS_HASH_FILES=false itself.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        options.hash_files = site_is_hashed(&options);
    }
    Ok(options)
}

/// Whether the hash file beside the binary names files the site has. A later
/// build without hashes leaves an earlier one's file behind: believed, it
/// would link every page to files that are gone.
fn site_is_hashed(options: &LeptosOptions) -> bool {
    let Some(hashes) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(options.hash_file.as_ref())))
        .and_then(|file| std::fs::read_to_string(file).ok())
    else {
        return false;
    };
    let pkg = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    hashed_files_present(&hashes, &pkg, &options.output_name)
}

/// Whether `pkg` holds the JS, wasm and CSS that `hashes` (cargo-leptos's
/// `js: <hash>` lines) names.
fn hashed_files_present(hashes: &str, pkg: &std::path::Path, output_name: &str) -> bool {
    let mut named = 0;
    for (ext, hash) in hashes.lines().filter_map(|line| line.split_once(':')) {
        let (ext, hash) = (ext.trim(), hash.trim());
        if matches!(ext, "js" | "wasm" | "css") {
            if !pkg.join(format!("{output_name}.{hash}.{ext}")).is_file() {
                return false;
            }
            named += 1;
        }
    }
    named > 0
}

#[cfg(test)]
mod tests {
    use super::hashed_files_present;

    #[test]
    fn a_hash_file_is_believed_only_while_the_site_has_its_files() {
        let pkg = tempfile::tempdir().unwrap();
        let hashes = "js: aaa\nwasm: bbb\ncss: ccc\n";
        assert!(!hashed_files_present(hashes, pkg.path(), "livecart"));
        for name in ["livecart.aaa.js", "livecart.bbb.wasm"] {
            std::fs::write(pkg.path().join(name), "").unwrap();
        }
        // An unhashed build since: its CSS under the plain name.
        std::fs::write(pkg.path().join("livecart.css"), "").unwrap();
        assert!(!hashed_files_present(hashes, pkg.path(), "livecart"));
        std::fs::write(pkg.path().join("livecart.ccc.css"), "").unwrap();
        assert!(hashed_files_present(hashes, pkg.path(), "livecart"));
        assert!(!hashed_files_present("", pkg.path(), "livecart"));
    }
}

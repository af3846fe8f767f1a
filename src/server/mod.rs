//! Everything that runs only on the server: the inventory and its store, the
//! notifier, and the HTTP surface around them.

pub mod backoffice;
pub mod book_details;
pub mod config;
pub mod error;
pub mod forms;
pub mod inventory;
pub mod legacy;
pub mod metrics;
pub mod notifier;
pub mod opening_shelf;
pub mod origin;
pub mod shopper;
pub mod socket;
pub mod staff;
pub mod stock_api;
pub mod store;
pub mod storefront;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{shell, App};
use config::Settings;
use inventory::{Inventory, Rules};
use metrics::Metrics;
use origin::OriginPolicy;
use store::{Store, StoreError};

/// What every handler and server function can reach. Cloned for every
/// request, so it is one shared pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shop>);

impl std::ops::Deref for AppState {
    type Target = Shop;

    fn deref(&self) -> &Shop {
        &self.0
    }
}

/// The running shop's parts.
pub struct Shop {
    pub leptos_options: LeptosOptions,
    pub inventory: Inventory,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub staff: staff::StaffDesk,
    pub catalog: book_details::CatalogClient,
    /// The book's long-poll sessions and the version each was last told.
    pub answered: Arc<legacy::AnsweredVersions>,
    pub upkeep: socket::Upkeep,
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
}

/// The whole site: pages, server functions, the stock API, the book's
/// protocol and static files.
pub fn app(state: AppState) -> Router {
    let routes = route_list();
    let shell_options = state.leptos_options.clone();
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, || {}, move || shell(shell_options.clone()))
        .layer(from_fn(forms::status_from_shop_error))
        .layer(from_fn(shopper::shopper_cookie));

    let origins = OriginPolicy::new(state.settings.allowed_origins.clone());
    let body_limit = state.settings.max_body_bytes;
    pages
        .route("/cart", post(legacy::post_cart))
        .route("/cart/status", get(legacy::cart_status))
        .route("/burts-books", get(legacy::book_page))
        .route("/api/stock", get(stock_api::stock))
        .route("/api/books", get(stock_api::books))
        .route("/api/stock/ws", get(stock_api::stock_socket))
        .route("/api/stock/events", get(stock_api::events))
        .route("/metrics", get(stock_api::metrics))
        .route("/healthz", get(healthz))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(from_fn_with_state(origins, origin::check_origin))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The pages' routes, found once per process by rendering the app. Leptos
/// suppresses resource loading process-wide while it does so, so it must
/// never overlap a real render (several servers share a process in tests).
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
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
        let store = Store::open(&settings.database_url).await?;
        let rules = Rules {
            max_copies_per_shopper: settings.max_copies_per_shopper,
            reservation_ttl: settings.reservation_ttl,
        };
        let metrics = Metrics::new();
        let inventory = Inventory::open(store.clone(), rules, metrics.clone()).await?;
        let addr = leptos_options.site_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let state = AppState(Arc::new(Shop {
            leptos_options,
            staff: staff::StaffDesk::new(store, inventory.clone()),
            inventory,
            upkeep: socket::Upkeep {
                ping_every: settings.ws_ping_interval,
                send_deadline: settings.ws_send_timeout,
            },
            catalog: book_details::CatalogClient::new(
                settings.catalog_url.clone(),
                settings.covers_url.clone(),
            ),
            settings: Arc::new(settings),
            metrics,
            answered: Arc::new(legacy::AnsweredVersions::new()),
            shutdown: CancellationToken::new(),
        }));
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves, then closes sockets and long polls and
    /// lets requests in flight finish.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let shutdown = self.state.shutdown.clone();
        let router = app(self.state);
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            shutdown.cancel();
        })
        .await
    }
}

/// Leptos's own settings from the LEPTOS_* environment (cargo-leptos sets them
/// when it runs the server), with defaults that serve the built site from
/// `target/site` on 127.0.0.1:3000.
pub fn leptos_options() -> Result<LeptosOptions, StartError> {
    leptos::config::get_configuration(None)
        .map(|conf| conf.leptos_options)
        .map_err(|e| StartError::Leptos(e.to_string()))
}

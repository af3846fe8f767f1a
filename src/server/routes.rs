//! Every route of the site, in one table, in the order of their URLs. Each
//! handler lives in `web/`, in the file its URL names; this file only wires
//! them, with the layers every request passes.
//!
//! | URL | handler |
//! |---|---|
//! | `/`, `/books/:id`, `/cart`, `/orders/:id`, `/admin`, `/admin/orders` (GET) | the pages (`app`), rendered with the shopper cookie |
//! | `GET /admin/orders.csv` | `web::orders` (the owner's export) |
//! | `GET /api/admin/desk/ws` | `web::desk` (the staff desk's live figures) |
//! | `/api/pages/*`, `/api/cart/*`, `/api/admin/*` | the pages' server functions, declared in `app/api.rs`, run by `web::storefront`, `web::backoffice` |
//! | `GET /api/stock` | `web::live::stock` |
//! | `GET /api/stock/poll` | `web::live::poll` |
//! | `GET /api/stock/ws` | `web::live::websocket` |
//! | `GET /api/stock/events` | `web::live::sse` |
//! | `GET /api/books` | `web::catalog` |
//! | `POST /api/lines/join`, `/api/lines/leave` (server functions), `GET /api/lines/:book` | `web::lines` |
//! | `POST /cart`, `GET /cart/status` | `web::live::burts` (Burt's protocol) |
//! | `GET /burts-books` | `web::live::burts::page` |
//! | `GET /covers/:id.svg` | `web::covers` (the covers the shop draws, compressed as they go) |
//! | `GET /metrics`, `/healthz`, `/readyz` | `web::operator` |
//! | `/pkg/*` | `web::assets` (the built site, precompressed) |
//! | anything else | files under `public/` (`/burts-books/*.js` among them), else the pages' 404 |

use std::sync::OnceLock;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use super::web::origin::OriginPolicy;
use super::web::{self, checkpoint::Checked, cookies::ShopperCookie, front_door::FrontDoor};
use super::AppState;
use crate::app::{shell, App};
use crate::shared::views::RenderedAt;

/// The whole site: pages, server functions, the stock API, Burt's protocol
/// and static files.
pub fn app(state: AppState) -> Router {
    let routes = route_list();
    let shell_options = state.leptos_options.clone();
    let notifier = state.notifier.clone();
    let rendered_at = move || {
        provide_context(RenderedAt(notifier.version()));
        web::headers::allow_page_scripts();
    };
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, rendered_at, move || {
            shell(shell_options.clone())
        })
        .layer(Checked(ShopperCookie(state.cookies())));

    let origins = OriginPolicy::new(state.settings.allowed_origins.clone());
    let body_limit = state.settings.max_body_bytes;
    let router = pages
        .route("/api/stock", get(web::live::stock))
        .route("/api/stock/poll", get(web::live::poll::poll_stock))
        .route("/api/stock/ws", get(web::live::websocket::stock_socket))
        .route("/api/stock/events", get(web::live::sse::events))
        .route("/api/books", get(web::catalog::books))
        .route("/api/lines/{book}", get(web::lines::line))
        .route("/admin/orders.csv", get(web::orders::orders_csv))
        .route("/api/admin/desk/ws", get(web::desk::desk_socket))
        .route("/cart", post(web::live::burts::post_cart))
        .route("/cart/status", get(web::live::burts::cart_status))
        .route("/burts-books", get(web::live::burts::page::burts_page))
        .route(
            "/covers/{file}",
            get(web::covers::cover).layer(CompressionLayer::new()),
        )
        .route("/metrics", get(web::operator::metrics))
        .route("/healthz", get(web::operator::healthz))
        .route("/readyz", get(web::operator::readyz))
        .nest("/pkg", web::assets::pkg_files(&state.leptos_options))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // One layer, so one wrapper around each route: the door, with axum's
        // body limit inside it.
        .layer(
            ServiceBuilder::new()
                .layer(Checked(FrontDoor {
                    origins,
                    trusted_proxies: state.trusted_proxies.clone(),
                    https: state.cookies().https,
                }))
                .layer(DefaultBodyLimit::max(body_limit)),
        );
    // Method, path, status and latency of every request, at debug level
    // (LIVECART_LOG=info,tower_http=debug). The log filter is fixed at start,
    // so when it leaves request traces off the layer is not added at all and
    // costs the hot paths nothing.
    let router = if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        router.layer(TraceLayer::new_for_http())
    } else {
        router
    };
    router.with_state(state)
}

/// The pages' routes, found once per process by rendering the app. Leptos
/// suppresses resource loading process-wide while it does so, so it must
/// never overlap a real render (several servers share a process in tests).
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

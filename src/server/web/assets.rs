//! The site's built files under `/pkg` (the wasm and the split islands'
//! wasm chunks, their JS loaders, the CSS): sent precompressed when the
//! browser takes it (brotli, then gzip: a release build,
//! `scripts/build-release.sh`, writes the `.br` and `.gz` beside each
//! file), and cached for a year when their names
//! carry their hash (`hash-files`), since a new build then has new names.
//! Unhashed names (a debug build) are revalidated on every use instead.

use axum::http::header::{CACHE_CONTROL, VARY};
use axum::http::HeaderValue;
use axum::Router;
use leptos::config::LeptosOptions;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// A year: the longest lifetime browsers honour.
const HASHED: &str = "public, max-age=31536000, immutable";
const UNHASHED: &str = "no-cache";

/// `/pkg/*` from `{site_root}/{site_pkg_dir}`.
pub fn pkg_files<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let lifetime = if options.hash_files { HASHED } else { UNHASHED };
    Router::new()
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static(lifetime),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
}

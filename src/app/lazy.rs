//! Islands whose code comes apart from the page's. In a release build
//! (`split`: scripts/build-release.sh) the book's counter, the cart, the
//! staff's live figures and the desk are each a wasm chunk of their own,
//! fetched by the pages that show them, so the wasm every page loads holds
//! only what every page needs (the badge, the offer banner, the shelf).
//!
//! Such an island hydrates a moment after the page's others, once its chunk
//! has come. The page names its chunks (preloads early in its body) so they
//! come alongside the main wasm rather than after it ([`IslandChunks`]), and each marks
//! when it has hydrated ([`hydrated`]), which is what tests wait for before
//! they use it.

use leptos::prelude::*;

/// False as the server renders and while this island hydrates, true once
/// it has. (An effect runs only in the browser, and only after the island's
/// view has hydrated.)
///
/// What an island shows as it hydrates must be what the server rendered:
/// hydration takes the server's text as it stands and changes it only when
/// the value next changes. A live count read at once would be the newest
/// the page has heard of, which for an island that hydrates late (a split
/// one, whose chunk comes after the page's socket is live) may already
/// differ from the page's, and the page would keep the old text. So live
/// values are read once this is true (`live::HeardStock`).
pub fn hydration_done() -> ReadSignal<bool> {
    let (done, set_done) = signal(false);
    Effect::new(move |_| set_done.set(true));
    done
}

/// "no" as the server renders it, "yes" once this island runs in the
/// browser: its `data-hydrated`.
pub fn hydrated() -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
    let done = hydration_done();
    move || if done.get() { "yes" } else { "no" }
}

/// Preloads the chunks of the named islands (their names in snake case:
/// `book_counter`), each file once, and the script that loads them. Without
/// a split build there are none and this renders nothing. Name only the
/// islands the page will show: a chunk preloaded and not used is a warning
/// in the browser's console.
#[component]
pub fn IslandChunks(islands: Vec<&'static str>) -> impl IntoView {
    preloads(islands)
}

#[cfg(not(feature = "ssr"))]
fn preloads(_islands: Vec<&'static str>) -> AnyView {
    ().into_any()
}

#[cfg(feature = "ssr")]
fn preloads(islands: Vec<&'static str>) -> AnyView {
    // Leptos reads the split build's manifest (chunks by lazy function,
    // named `{island}_loader_{hash}`) when it renders the hydration
    // scripts, and keeps it in this context; it is public, though
    // undocumented, for integrations such as this one.
    let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else {
        return ().into_any();
    };
    let Some(read) = manifest.0.try_read_value() else {
        return ().into_any();
    };
    let (pkg, chunks, loader) = &*read;
    let mut files: Vec<String> = chunks
        .iter()
        .filter(|(key, _)| {
            islands.iter().any(|island| {
                key.strip_prefix(island)
                    .is_some_and(|rest| rest.starts_with("_loader_"))
            })
        })
        .flat_map(|(_, files)| files.iter().cloned())
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return ().into_any();
    }
    // As the loader fetches them (`fetch`, same origin, CORS mode), so the
    // preloaded response is the one it uses.
    // Plain links where the component stands, not `leptos_meta::Link`: a
    // book's page streams in order, and its head has gone out before the
    // book (and so whether there is a counter to load) is rendered. A
    // preload in the body is honoured as the parser meets it, still long
    // before the page's scripts run.
    let links = files
        .into_iter()
        .map(|file| {
            view! {
                <link rel="preload" href=format!("{pkg}/{file}.wasm") r#as="fetch"
                    type="application/wasm" crossorigin="anonymous"/>
            }
        })
        .collect_view();
    let loader = format!("{pkg}/{loader}");
    view! {
        {links}
        <link rel="modulepreload" href=loader crossorigin="anonymous"/>
    }
    .into_any()
}

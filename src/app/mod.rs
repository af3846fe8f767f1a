//! The storefront's pages. They render on the server with every count in the
//! HTML, then hydrate and follow the stock live.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

pub mod book;
pub mod cart;
pub mod catalog;
pub mod error;
pub mod live;

pub use error::{Notice, ShopError};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = live::LiveStock::provide();
    // Effects run only in the browser, once the page is hydrated.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        live::subscribe(live);
        #[cfg(not(feature = "hydrate"))]
        let _ = live;
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/livecart.css"/>
        <Title formatter=|page: String| if page.is_empty() { "livecart".to_string() } else { format!("{page} · livecart") }/>
        <Router>
            <header class="masthead">
                <A href="/" attr:class="brand">"livecart"</A>
                <nav>
                    <A href="/">"Books"</A>
                    <A href="/cart">"Your cart"</A>
                </nav>
                <live::ConnectionBadge/>
            </header>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=catalog::CatalogPage ssr=SsrMode::Async/>
                    <Route path=path!("/books/:id") view=book::BookPage ssr=SsrMode::Async/>
                    <Route path=path!("/cart") view=cart::CartPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The page for a path or book that does not exist; answers 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <h1>"Not found"</h1>
        <p>"There is nothing here. " <A href="/">"Back to the books"</A></p>
    }
}

/// The message a form left: the action's answer when JavaScript ran it, or
/// the `?notice=` the server sent the browser back with when it did not.
#[component]
fn FormNotice(#[prop(into)] notice: Signal<Option<Notice>>) -> impl IntoView {
    view! {
        <p class="notice" role="status" aria-live="polite">
            {move || notice.get().map(|n| {
                let class = if n.is_refusal() { "refused" } else { "done" };
                view! { <span class=class>{n.message()}</span> }
            })}
        </p>
    }
}

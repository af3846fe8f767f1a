//! The storefront's pages. They render on the server with every count in the
//! HTML, then hydrate and follow the stock live.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

pub mod admin;
pub mod api;
pub mod book;
pub mod cart;
pub mod catalog;
pub mod live;
pub mod order;
pub mod shelf;

use crate::shared::views::RenderedAt;
use crate::shared::{Notice, ShopError};
use api::{ReserveCopy, ReturnCopy};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
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
    // The version the server rendered this page at (carried into the
    // browser): the live subscription asks only for what changed since.
    let rendered_at =
        SharedValue::new(|| use_context::<RenderedAt>().unwrap_or_default()).into_inner();
    live.rendered_at(rendered_at.0);
    let clock = Clock::provide();
    // Effects run only in the browser, once the page is hydrated.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            live::subscribe(live);
            clock.start();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (live, clock);
    });

    view! {
        <Title formatter=|page: String| if page.is_empty() { "livecart".to_string() } else { format!("{page} · livecart") }/>
        <Router>
            <header class="masthead">
                <A href="/" attr:class="brand">"livecart"</A>
                <nav>
                    <A href="/">"Books"</A>
                    <A href="/cart">"Your cart"</A>
                    <A href="/admin">"Staff"</A>
                </nav>
                <live::ConnectionBadge/>
            </header>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=catalog::CatalogPage ssr=SsrMode::Async/>
                    <Route path=path!("/books/:id") view=book::BookPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/cart") view=cart::CartPage ssr=SsrMode::Async/>
                    <Route path=path!("/orders/:id") view=order::OrderPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=admin::AdminPage ssr=SsrMode::Async/>
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

/// An action's latest answer, once it has one.
pub type ActionAnswer = Signal<Option<Result<(), ShopError>>>;

/// The notice to show: the answer of whichever action finished last, else
/// the `?notice=` the server sent a browser without JavaScript back with.
pub fn action_notice(actions: Vec<(ActionAnswer, Notice)>) -> Signal<Option<Notice>> {
    let last = RwSignal::new(None::<Notice>);
    for (result, success) in actions {
        Effect::new(move |_| {
            if let Some(result) = result.get() {
                last.set(Some(
                    result
                        .map(|_| success.clone())
                        .unwrap_or_else(Notice::Refused),
                ));
            }
        });
    }
    let query = leptos_router::hooks::use_query_map();
    Signal::derive(move || {
        last.get().or_else(|| {
            query
                .read()
                .get("notice")
                .and_then(|c| Notice::from_code(&c))
        })
    })
}

/// The notice of the latest Add or Return.
pub fn form_notice(
    reserve: ServerAction<ReserveCopy>,
    give_back: ServerAction<ReturnCopy>,
) -> Signal<Option<Notice>> {
    let reserved = Signal::derive(move || reserve.value().get().map(|r| r.map(|_| ())));
    let returned = Signal::derive(move || give_back.value().get().map(|r| r.map(|_| ())));
    action_notice(vec![
        (reserved, Notice::Reserved),
        (returned, Notice::Returned),
    ])
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

/// The browser's clock, ticking once a second once the page is live; on the
/// server (and before hydration) there is none and pages use the server's.
#[derive(Clone, Copy)]
pub struct Clock(RwSignal<Option<f64>>);

impl Clock {
    fn provide() -> Clock {
        let clock = Clock(RwSignal::new(None));
        provide_context(clock);
        clock
    }

    pub fn expect() -> Clock {
        expect_context::<Clock>()
    }

    /// Milliseconds since the epoch, by the browser.
    pub fn now_ms(&self) -> Option<f64> {
        self.0.get()
    }

    /// How far the server's clock was ahead of the browser's when the page
    /// was rendered (0 on the server).
    pub fn skew_from(&self, server_now_ms: i64) -> f64 {
        #[cfg(feature = "hydrate")]
        return server_now_ms as f64 - js_sys::Date::now();
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = server_now_ms;
            0.0
        }
    }

    #[cfg(feature = "hydrate")]
    fn start(self) {
        self.0.set(Some(js_sys::Date::now()));
        gloo_timers::callback::Interval::new(1000, move || self.0.set(Some(js_sys::Date::now())))
            .forget();
    }
}

//! The storefront's pages. They render on the server with every count in the
//! HTML; only their islands (`#[island]`: the live counts, the connection
//! badge, the shelf, a book's and the cart's forms) hydrate in the browser,
//! so the wasm holds those alone. Everything else is plain HTML: links and
//! the staff's forms load pages as they would without JavaScript.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

pub mod admin;
pub mod api;
pub mod book;
pub mod cart;
pub mod catalog;
pub mod desk;
pub mod lazy;
pub mod live;
pub mod order;
pub mod orders_desk;
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
                <HydrationScripts options islands=true/>
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
    // The islands read these; in the browser `provide_in_browser` gives
    // them the same contexts.
    live::LiveStock::provide();
    Clock::provide();
    // The version the server renders this page at: the badge's island
    // starts the live subscription there, so it is sent only what changed.
    let rendered_at = use_context::<RenderedAt>().unwrap_or_default().0;

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
                <live::ConnectionBadge rendered_at/>
            </header>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=catalog::CatalogPage ssr=SsrMode::Async/>
                    <Route path=path!("/books/:id") view=book::BookPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/cart") view=cart::CartPage ssr=SsrMode::Async/>
                    <Route path=path!("/orders/:id") view=order::OrderPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=admin::AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/orders") view=orders_desk::OrdersDeskPage ssr=SsrMode::Async/>
                </Routes>
            </main>
            // After the page in the document: in-order streaming runs each
            // suspense in document order, and a banner before the page let
            // the head go out before the page had set its title.
            <OfferBanner/>
        </Router>
    }
}

/// On every page, the copies lines hold for this shopper: a copy offered
/// is bought by checking out before its deadline. Asked for by the browser
/// once the page is live, never during the server's render: a resource
/// beside the page's own let the streamed head go out before the page had
/// set its title. Without JavaScript the offer shows on the book's page and
/// in the cart.
#[island]
fn OfferBanner() -> impl IntoView {
    let offers = RwSignal::new(Vec::<crate::shared::lines::Offer>::new());
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(held) = api::get_offers().await {
                offers.set(held);
            }
        });
    });
    view! {
        <aside class="offer-banner" role="status" hidden=move || offers.with(Vec::is_empty)>
            {move || offers.get().into_iter().map(|offer| view! {
                <p>"A copy of " <strong>{offer.title}</strong> " is held for you until "
                    {utc_time(offer.offer_until)} " UTC: " <a href="/cart">"check out"</a></p>
            }).collect_view()}
        </aside>
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

/// What every island of a page shares, once per page in the browser: the
/// live stock and the clock, on the root the islands hydrate under.
#[cfg(feature = "hydrate")]
pub fn provide_in_browser() {
    live::LiveStock::provide();
    Clock::provide().start();
}

/// The `?notice=` the server sent a browser back with after it posted a
/// form itself (server side: islands get it as a prop).
pub fn query_notice() -> Option<String> {
    leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("notice")
}

/// The notice to show: the answer of whichever action finished last, else
/// the `?notice=` (`from_query`) the page was rendered with.
pub fn action_notice(
    actions: Vec<(ActionAnswer, Notice)>,
    from_query: Option<String>,
) -> Signal<Option<Notice>> {
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
    let from_query = from_query.as_deref().and_then(Notice::from_code);
    Signal::derive(move || last.get().or_else(|| from_query.clone()))
}

/// The notice of the latest Add or Return.
pub fn form_notice(
    reserve: ServerAction<ReserveCopy>,
    return_copy: ServerAction<ReturnCopy>,
    from_query: Option<String>,
) -> Signal<Option<Notice>> {
    let reserved = Signal::derive(move || reserve.value().get().map(|r| r.map(|_| ())));
    let returned = Signal::derive(move || return_copy.value().get().map(|r| r.map(|_| ())));
    action_notice(
        vec![(reserved, Notice::Reserved), (returned, Notice::Returned)],
        from_query,
    )
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

/// A form posting to a server function. Without JavaScript (and outside
/// an island) the browser posts it and is sent back to the page; in an
/// island, Submit dispatches `input` to `action` instead. Unlike Leptos'
/// `ActionForm` it never parses its own fields in the browser: each form
/// here knows its input, and that parser was a fifth of the islands' wasm.
#[component]
pub fn PostForm<S>(
    action: ServerAction<S>,
    input: impl Fn() -> S + Send + Sync + 'static,
    children: Children,
) -> impl IntoView
where
    S: server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(input());
    };
    view! { <form action=S::url() method="post" on:submit=submit>{children()}</form> }
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

/// "2026-12-24 10:00:00" for a Unix time in milliseconds, in UTC.
pub fn utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_in_utc() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc_time(1_798_106_400_000), "2026-12-24 10:00:00");
        assert_eq!(super::utc_time(951_782_400_000), "2000-02-29 00:00:00");
    }
}

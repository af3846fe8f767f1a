//! `/books/:id`: one book, its live count, and Add to cart / Return (the
//! island), with the upstream catalog's details streamed in after.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::api::{
    get_book, get_book_details, get_line, JoinLine, LeaveLine, ReserveCopy, ReturnCopy,
};
use super::lazy::{hydrated, IslandChunks};
use super::live::{follow_catalog, HeardStock, LiveStock, StockLine};
use super::{action_notice, query_notice, utc_time, Clock, FormNotice, NotFound, PostForm};
use crate::shared::lines::{LineState, LineStatus, LineView, Place};
use crate::shared::stock::BookDetails;
use crate::shared::views::{AsJson, BookView};
use crate::shared::Notice;
use crate::shared::ShopError;

#[component]
pub fn BookPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    // Blocking: the status (404 for an unknown book) is known before the
    // first byte goes out.
    let page = Resource::new_blocking(id, get_book);
    // Fetched apart, so the page (and its live count) never waits for the
    // upstream catalog: the details stream in when they come.
    let details = Resource::new(id, get_book_details);
    let notice = query_notice();
    // The title from the blocking resource, read outside the suspense: it
    // is resolved before the head goes out, so the head always has it. Set
    // inside the suspense, in-order streaming sent the head without it on
    // about one render in four.
    let title = move || match page.get() {
        Some(Ok(view)) => view.book.title,
        Some(Err(ShopError::UnknownBook)) => "Not found".to_string(),
        _ => String::new(),
    };
    // The page is one grid (`.book-page`; the article lays its children
    // out in it): the drawn cover, the book's words and counter, and the
    // upstream details below them, streamed in apart so that neither the
    // page nor its count waits for the upstream catalog. A real cover from
    // it is placed in the drawn cover's cell, over it.
    view! {
        <Title text=title/>
        <div class="book-page">
        <Transition fallback=|| view! { <p>"Fetching the book…"</p> }>
            {move || {
                let notice = notice.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(view) => {
                            let (id, title, author) =
                                (view.book.id.clone(), view.book.title.clone(), view.book.author.clone());
                            let cover = view.book.cover_href();
                            // Without JavaScript, a page in a line shows it
                            // live by loading itself again every few seconds.
                            let refresh = view.line.is_some().then(|| view! {
                                <noscript><meta http-equiv="refresh" content="5"/></noscript>
                            });
                            view! {
                                {refresh}
                                // Only for a book there is.
                                <IslandChunks islands=vec!["book_counter"]/>
                                <article class="book-detail" data-book=id>
                                    <figure class="cover">
                                        <img class="drawn" src=cover alt="" width="200" height="300"/>
                                    </figure>
                                    <div class="about">
                                        <h1>{title}</h1>
                                        <p class="author">{author}</p>
                                        <BookCounter view=AsJson(view) notice/>
                                    </div>
                                </article>
                            }.into_any()
                        }
                        Err(ShopError::UnknownBook) => view! { <NotFound/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
        <BookDetailsPart details title/>
        </div>
    }
}

/// The upstream catalog's description, page count and real cover,
/// streamed in when they come.
#[component]
fn BookDetailsPart(
    details: Resource<Result<Option<BookDetails>, ShopError>>,
    title: impl Fn() -> String + Send + Sync + Copy + 'static,
) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p class="details loading">"Fetching the book's details…"</p> }>
            {move || Suspend::new(async move {
                match details.await {
                    Ok(Some(details)) => view! { <Details details title=title()/> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(_) => view! {
                        <p class="details unavailable">"The book's details are unavailable right now."</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Details(details: BookDetails, title: String) -> impl IntoView {
    let BookDetails {
        description,
        pages,
        cover_url,
    } = details;
    view! {
        // In the drawn cover's cell (see `.book-page`), over it, the same size.
        {cover_url.map(|src| view! {
            <img class="real-cover" src=src alt=format!("Cover of {title}") width="200" height="300"/>
        })}
        <section class="details">
            {description.map(|text| view! { <p class="description">{text}</p> })}
            {pages.map(|n| view! { <p class="pages">{n} " pages"</p> })}
        </section>
    }
}

/// A book's price, live count, what this shopper holds, and Add to cart /
/// Return; while the book has a line, the line instead: join it, your place
/// and your turn. Held copies come back with each answer; the price is
/// fetched again when staff change the catalog. The line's state comes with
/// the live stock (one broadcast for every page in it); the page works out
/// its own place and turn from it, and asks for its own offer only when its
/// turn has come.
#[cfg_attr(feature = "split", island(lazy))]
#[cfg_attr(not(feature = "split"), island)]
fn BookCounter(view: AsJson<BookView>, notice: Option<String>) -> impl IntoView {
    let AsJson(view) = view;
    let live = LiveStock::expect();
    let clock = Clock::expect();
    let reserve = ServerAction::<ReserveCopy>::new();
    let return_copy = ServerAction::<ReturnCopy>::new();
    let join = ServerAction::<JoinLine>::new();
    let leave = ServerAction::<LeaveLine>::new();
    let id = view.book.id.clone();
    let skew = clock.skew_from(view.now_ms);
    let server_now = view.now_ms;
    let rendered_line = view.line.clone();
    let shown = follow_catalog(view, |v| v.catalog_version, {
        let id = id.clone();
        move || get_book(id.clone())
    });
    for answer in [reserve.value(), return_copy.value()] {
        Effect::new(move |_| {
            if let Some(Ok(holding)) = answer.get() {
                shown.update(|v| (v.held, v.limit) = (holding.copies, holding.limit));
            }
        });
    }
    let heard = HeardStock::new();
    let count = Memo::new(move |_| {
        shown.with(|v| {
            heard
                .available_after(&v.book.id, v.version)
                .unwrap_or(v.available)
        })
    });
    // The line: the newest the page heard of, else the one a join or leave
    // answered, else the one it was rendered with.
    let answered = RwSignal::new(None::<LineView>);
    let mine = RwSignal::new(rendered_line.as_ref().and_then(|l| l.you));
    for answer in [join.value(), leave.value()] {
        Effect::new(move |_| {
            if let Some(Ok(view)) = answer.get() {
                mine.set(view.you);
                answered.set(Some(view));
            }
        });
    }
    let line = Memo::new({
        let id = id.clone();
        move |_| {
            let version = shown.with(|v| v.version);
            match heard.line_after(&id, version) {
                Some(heard) => heard,
                None => answered
                    .with(|a| a.as_ref().map(|a| a.line))
                    .or(rendered_line.as_ref().map(|l| l.line)),
            }
            .filter(|l| l.state != LineStatus::Ended)
        }
    });
    follow_my_turn(id.clone(), live, line, mine);
    let held = move || shown.with(|v| v.held);
    let at_limit = move || shown.with(|v| v.held >= v.limit);
    let busy = move || {
        reserve.pending().get()
            || return_copy.pending().get()
            || join.pending().get()
            || leave.pending().get()
    };
    let holds = |a: ServerAction<ReserveCopy>| {
        Signal::derive(move || a.value().get().map(|r| r.map(|_| ())))
    };
    let returns = Signal::derive(move || return_copy.value().get().map(|r| r.map(|_| ())));
    let joins = Signal::derive(move || join.value().get().map(|r| r.map(|_| ())));
    let leaves = Signal::derive(move || leave.value().get().map(|r| r.map(|_| ())));
    let notice = action_notice(
        vec![
            (holds(reserve), Notice::Reserved),
            (returns, Notice::Returned),
            (joins, Notice::Joined),
            (leaves, Notice::Left),
        ],
        notice,
    );
    let now = move || clock.now_ms().map_or(server_now as f64, |t| t + skew);
    // A rough wait, from the admissions this page has watched: places
    // served since it first saw the line open, over the time since.
    let first_seen = StoredValue::new(None::<(u32, f64)>);
    let rough_wait = move || {
        let state = line.get().filter(|l| l.state == LineStatus::Open)?;
        let number = mine.get()?.place?;
        let now = now();
        let Some((serving, since)) = first_seen.get_value() else {
            first_seen.set_value(Some((state.serving, now)));
            return None;
        };
        let served = state.serving.saturating_sub(serving);
        let seconds = (now - since) / 1000.0;
        if served == 0 || seconds < 5.0 || state.has_reached(number) {
            return None;
        }
        let wait = f64::from(state.ahead_of(number) + 1) * seconds / f64::from(served);
        Some(match wait {
            w if w < 90.0 => "about a minute".to_string(),
            w if w < 5400.0 => format!("about {} minutes", (w / 60.0).round()),
            w => format!("about {} hours", (w / 3600.0).round()),
        })
    };
    let return_id = id.clone();
    let line_id = id.clone();
    let hydrated = hydrated();
    view! {
        <p class="price" data-hydrated=hydrated>{move || shown.with(|v| v.book.display_price())}</p>
        <StockLine count/>
        <p class="held">{move || match held() {
            0 => String::new(),
            1 => "You hold 1 copy.".to_string(),
            n => format!("You hold {n} copies."),
        }}</p>
        {move || match line.get() {
            Some(state) => view! {
                <LineBox book=line_id.clone() state mine=mine.get() now wait=rough_wait join leave busy/>
            }.into_any(),
            None => {
                let id = id.clone();
                let tell_id = id.clone();
                let return_id = return_id.clone();
                view! {
                    <div class="actions">
                        {move || {
                            let id = id.clone();
                            view! {
                            <PostForm action=reserve input={
                                let book = id.clone();
                                move || ReserveCopy { book: book.clone() }
                            }>
                                <input type="hidden" name="book" value=id.clone()/>
                                <button type="submit" class="add" disabled=move || busy() || at_limit() || count.get() == 0>
                                    "Add to cart"
                                </button>
                            </PostForm>
                        }}}
                        // Kept in the layout (hidden) while copies are left,
                        // so the count reaching 0 moves nothing around it.
                        {move || (held() == 0).then(|| view! {
                            <div class="tell" class:unneeded=move || count.get() != 0>
                                <JoinForm book=tell_id.clone() join busy label="Tell me when it's back"/>
                            </div>
                        })}
                        {move || (held() > 0).then(|| {
                            let book = return_id.clone();
                            view! {
                                <PostForm action=return_copy input={
                                    let book = book.clone();
                                    move || ReturnCopy { book: book.clone() }
                                }>
                                    <input type="hidden" name="book" value=book/>
                                    <button type="submit" class="return" disabled=busy>"Return"</button>
                                </PostForm>
                            }
                        })}
                    </div>
                }.into_any()
            }
        }}
        <FormNotice notice/>
    }
}

/// Asks for this shopper's own place once when it can have changed in a way
/// the broadcast cannot tell: the draw at the opening (a number is given),
/// and the broadcast reaching its number (a copy is offered). A page live
/// on its WebSocket asks over it; one without asks over HTTP, spread over
/// half a second at the opening, when every page in the line asks at once.
fn follow_my_turn(
    book: String,
    live: LiveStock,
    line: Memo<Option<LineState>>,
    mine: RwSignal<Option<Place>>,
) {
    // What the page's socket answers from now on (an answer heard before
    // this page was shown is older than what it was rendered with); an
    // answer about another book is another page's.
    Effect::new({
        let book = book.clone();
        move |first_run: Option<()>| {
            let answer = live.line_answer();
            if first_run.is_none() {
                return;
            }
            if let Some(view) = answer.filter(|view| view.book == book) {
                mine.set(view.you);
            }
        }
    });
    Effect::new(move |asked: Option<Option<(u32, LineStatus)>>| {
        let asked = asked.flatten();
        let (Some(state), Some(place)) = (line.get(), mine.get()) else {
            return asked;
        };
        let due = match place.place {
            None => state.state != LineStatus::Scheduled,
            Some(number) => place.offer_until.is_none() && state.has_reached(number),
        };
        let key = (state.serving, state.state);
        if !due || asked == Some(key) {
            return asked;
        }
        // Over the socket when the page is live on one; else over HTTP.
        if live.ask_line(&book) {
            return Some(key);
        }
        let book = book.clone();
        leptos::task::spawn_local(async move {
            #[cfg(feature = "hydrate")]
            if place.place.is_none() {
                let jitter = (js_sys::Math::random() * 500.0) as u32;
                gloo_timers::future::TimeoutFuture::new(jitter).await;
            }
            if let Ok(Some(view)) = get_line(book).await {
                mine.set(view.you);
            }
        });
        Some(key)
    });
}

/// The line as one shopper sees it: before the opening a countdown; then
/// their place and how many are ahead, the copies left, a rough wait; their
/// turn; or that no copy is left for now.
#[component]
fn LineBox(
    book: String,
    state: LineState,
    mine: Option<Place>,
    /// The clock, for the countdown: only the countdown's text follows it,
    /// so the polite live region is not announced on every tick.
    now: impl Fn() -> f64 + Send + Sync + Copy + 'static,
    /// A rough wait for this shopper's turn, once the page has seen some.
    wait: impl Fn() -> Option<String> + Send + Sync + Copy + 'static,
    join: ServerAction<JoinLine>,
    leave: ServerAction<LeaveLine>,
    busy: impl Fn() -> bool + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let counts = format!(
        "{} waiting · {} {} left, {} being offered",
        state.waiting,
        state.copies_left,
        if state.copies_left == 1 {
            "copy"
        } else {
            "copies"
        },
        state.offers_open
    );
    let place_line = match (state.state, mine) {
        (_, Some(Place { offer_until: Some(until), .. })) => view! {
            <p class="your-turn">"A copy is held for you until " {utc_time(until)} " UTC: "
                <a href="/cart">"check out"</a></p>
        }.into_any(),
        (LineStatus::Scheduled, Some(_)) => view! {
            <p class="your-place">"You are in the line. Places are drawn at random at the opening: joining early is worth nothing, and nothing is lost by joining later before it."</p>
        }.into_any(),
        (_, Some(Place { place: Some(number), ahead, .. })) => {
            let ahead = ahead.min(state.ahead_of(number));
            let closed = (state.state == LineStatus::Closed).then(|| view! {
                <p class="line-closed">"Sold out: no copy is left for the line now. You keep your place if one comes back."</p>
            });
            view! {
                <p class="your-place">"Your place: " <strong class="place">{number}</strong> " · "
                    <span class="ahead">{ahead}</span> " ahead of you"</p>
                {closed}
            }.into_any()
        }
        (_, Some(_)) => view! { <p class="your-place">"You are in the line; your place is being drawn."</p> }.into_any(),
        (LineStatus::Closed, None) => view! {
            <p class="line-closed">"Sold out: no copy is left for the line now."</p>
        }.into_any(),
        (_, None) => ().into_any(),
    };
    let opens_at = state.opens_at;
    let countdown = (state.state == LineStatus::Scheduled).then(|| {
        let left = move || {
            let left = ((opens_at as f64 - now()) / 1000.0).max(0.0) as i64;
            format!("{}:{:02}:{:02}", left / 3600, left / 60 % 60, left % 60)
        };
        view! {
            <p class="countdown">"Launch at " {utc_time(opens_at)} " UTC · opens in "
                <span class="time-left">{left}</span></p>
        }
    });
    let label = if state.state == LineStatus::Scheduled {
        "Join the line"
    } else if state.copies_left == 0 {
        "Tell me when it's back"
    } else {
        "Join the line"
    };
    view! {
        <section class="line" data-line-state=state.state.as_str()>
            {countdown}
            <p class="line-counts">{counts} <span class="wait">{move || wait().map(|w| format!(" · your turn in {w}"))}</span></p>
            <div aria-live="polite">{place_line}</div>
            <div class="actions">
                {match mine {
                    None => view! { <JoinForm book=book.clone() join busy label/> }.into_any(),
                    Some(place) => {
                        let label = if place.offer_until.is_some() { "Decline the copy" } else { "Leave the line" };
                        view! {
                            <PostForm action=leave input={
                                let book = book.clone();
                                move || LeaveLine { book: book.clone() }
                            }>
                                <input type="hidden" name="book" value=book.clone()/>
                                <button type="submit" class="return" disabled=busy>{label}</button>
                            </PostForm>
                        }.into_any()
                    }
                }}
            </div>
        </section>
    }
}

#[component]
fn JoinForm(
    book: String,
    join: ServerAction<JoinLine>,
    busy: impl Fn() -> bool + Send + Sync + 'static,
    label: &'static str,
) -> impl IntoView {
    view! {
        <PostForm action=join input={
            let book = book.clone();
            move || JoinLine { book: book.clone() }
        }>
            <input type="hidden" name="book" value=book/>
            <button type="submit" class="join" disabled=busy>{label}</button>
        </PostForm>
    }
}

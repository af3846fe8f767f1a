//! `/books/:id`: one book, its live count, and Add to cart / Return (the
//! island), with the upstream catalog's details streamed in after.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::api::{get_book, get_book_details, ReserveCopy, ReturnCopy};
use super::live::{follow_catalog, LiveStock, StockLine};
use super::{form_notice, query_notice, FormNotice, NotFound, PostForm};
use crate::shared::stock::BookDetails;
use crate::shared::views::{AsJson, BookView};
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
    view! {
        <Transition fallback=|| view! { <p>"Fetching the book…"</p> }>
            {move || {
                let notice = notice.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(view) => {
                            let (id, title, author) =
                                (view.book.id.clone(), view.book.title.clone(), view.book.author.clone());
                            view! {
                                <Title text=title.clone()/>
                                <article class="book-detail" data-book=id>
                                    <h1>{title}</h1>
                                    <p class="author">{author}</p>
                                    <BookCounter view=AsJson(view) notice/>
                                </article>
                            }.into_any()
                        }
                        Err(ShopError::UnknownBook) => view! { <NotFound/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
        <Suspense fallback=|| view! { <p class="details loading">"Fetching the book's details…"</p> }>
            {move || Suspend::new(async move {
                match details.await {
                    Ok(Some(details)) => view! { <Details details/> }.into_any(),
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
fn Details(details: BookDetails) -> impl IntoView {
    let BookDetails {
        description,
        pages,
        cover_url,
    } = details;
    view! {
        <section class="details">
            {cover_url.map(|src| view! { <img class="cover" src=src alt="Cover"/> })}
            {description.map(|text| view! { <p class="description">{text}</p> })}
            {pages.map(|n| view! { <p class="pages">{n} " pages"</p> })}
        </section>
    }
}

/// A book's price, live count, what this shopper holds, and Add to cart /
/// Return. Held copies come back with each answer; the price is fetched
/// again when staff change the catalog.
#[island]
fn BookCounter(view: AsJson<BookView>, notice: Option<String>) -> impl IntoView {
    let AsJson(view) = view;
    let live = LiveStock::expect();
    let reserve = ServerAction::<ReserveCopy>::new();
    let return_copy = ServerAction::<ReturnCopy>::new();
    let id = view.book.id.clone();
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
    let count = Memo::new(move |_| {
        shown.with(|v| {
            live.available_after(&v.book.id, v.version)
                .unwrap_or(v.available)
        })
    });
    let held = move || shown.with(|v| v.held);
    let at_limit = move || shown.with(|v| v.held >= v.limit);
    let busy = move || reserve.pending().get() || return_copy.pending().get();
    let notice = form_notice(reserve, return_copy, notice);
    let return_id = id.clone();
    view! {
        <p class="price">{move || shown.with(|v| v.book.display_price())}</p>
        <StockLine count/>
        <p class="held">{move || match held() {
            0 => String::new(),
            1 => "You hold 1 copy.".to_string(),
            n => format!("You hold {n} copies."),
        }}</p>
        <div class="actions">
            <PostForm action=reserve input={
                let book = id.clone();
                move || ReserveCopy { book: book.clone() }
            }>
                <input type="hidden" name="book" value=id/>
                <button type="submit" class="add" disabled=move || busy() || at_limit() || count.get() == 0>
                    "Add to cart"
                </button>
            </PostForm>
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
        <FormNotice notice/>
    }
}

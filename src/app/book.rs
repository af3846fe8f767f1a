//! `/books/:id`: one book, its live count, and Add to cart / Return.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::api::{get_book, get_book_details, ReserveCopy, ReturnCopy};
use super::live::{live_count, LiveStock, StockLine};
use super::{form_notice, FormNotice, NotFound};
use crate::shared::stock::{Book, BookDetails};
use crate::shared::views::BookView;
use crate::shared::ShopError;

#[component]
pub fn BookPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let reserve = ServerAction::<ReserveCopy>::new();
    let give_back = ServerAction::<ReturnCopy>::new();
    let live = LiveStock::expect();
    // Blocking: the status (404 for an unknown book) is known before the
    // first byte goes out.
    let page = Resource::new_blocking(
        move || {
            (
                id(),
                reserve.version().get(),
                give_back.version().get(),
                live.catalog_changes(),
            )
        },
        |(id, _, _, _)| get_book(id),
    );
    // Fetched apart, so the page (and its live count) never waits for the
    // upstream catalog: the details stream in when they come.
    let details = Resource::new(id, get_book_details);
    let notice = form_notice(reserve, give_back);
    view! {
        <Transition fallback=|| view! { <p>"Fetching the book…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(view) => {
                        live.rendered_catalog(view.catalog_version);
                        view! { <BookDetail view reserve give_back/> }.into_any()
                    }
                    Err(ShopError::UnknownBook) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <FormNotice notice/>
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

#[component]
fn BookDetail(
    view: BookView,
    reserve: ServerAction<ReserveCopy>,
    give_back: ServerAction<ReturnCopy>,
) -> impl IntoView {
    let BookView {
        book,
        available,
        version,
        held,
        limit,
        ..
    } = view;
    let count = live_count(book.id.clone(), available, version);
    let at_limit = held >= limit;
    let busy = move || reserve.pending().get() || give_back.pending().get();
    let held_line = match held {
        0 => String::new(),
        1 => "You hold 1 copy.".to_string(),
        n => format!("You hold {n} copies."),
    };
    let price = book.display_price();
    let Book {
        id, title, author, ..
    } = book;
    let (add_id, return_id) = (id.clone(), id.clone());
    view! {
        <Title text=title.clone()/>
        <article class="book-detail" data-book=id>
            <h1>{title}</h1>
            <p class="author">{author}</p>
            <p class="price">{price}</p>
            <StockLine count/>
            <p class="held">{held_line}</p>
            <div class="actions">
                <ActionForm action=reserve>
                    <input type="hidden" name="book" value=add_id/>
                    <button type="submit" class="add" disabled=move || busy() || at_limit || count.get() == 0>
                        "Add to cart"
                    </button>
                </ActionForm>
                {(held > 0).then(|| view! {
                    <ActionForm action=give_back>
                        <input type="hidden" name="book" value=return_id/>
                        <button type="submit" class="return" disabled=busy>"Return"</button>
                    </ActionForm>
                })}
            </div>
        </article>
    }
}

//! `/books/:id`: one book, its live count, and Add to cart / Return.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use server_fn::codec::GetUrl;

use super::cart::{form_notice, ReserveCopy, ReturnCopy};
use super::live::{live_count, StockLine};
use super::{FormNotice, NotFound, ShopError};
use crate::stock::Book;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookView {
    pub book: Book,
    pub available: u32,
    pub version: u64,
    /// Copies this shopper holds, and the most they may.
    pub held: u32,
    pub limit: u32,
}

#[server(endpoint = "pages/book", input = GetUrl)]
pub async fn get_book(id: String) -> Result<BookView, ShopError> {
    crate::server::storefront::book(id).await
}

#[component]
pub fn BookPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let reserve = ServerAction::<ReserveCopy>::new();
    let give_back = ServerAction::<ReturnCopy>::new();
    let page = Resource::new(
        move || (id(), reserve.version().get(), give_back.version().get()),
        |(id, _, _)| get_book(id),
    );
    let notice = form_notice(reserve, give_back);
    view! {
        <Transition fallback=|| view! { <p>"Fetching the book…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(view) => view! { <BookDetail view reserve give_back/> }.into_any(),
                    Err(ShopError::UnknownBook) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <FormNotice notice/>
    }
}

#[component]
fn BookDetail(view: BookView, reserve: ServerAction<ReserveCopy>, give_back: ServerAction<ReturnCopy>) -> impl IntoView {
    let BookView { book, available, version, held, limit } = view;
    let count = live_count(book.id.clone(), available, version);
    let at_limit = held >= limit;
    let busy = move || reserve.pending().get() || give_back.pending().get();
    let held_line = match held {
        0 => String::new(),
        1 => "You hold 1 copy.".to_string(),
        n => format!("You hold {n} copies."),
    };
    let price = book.display_price();
    let Book { id, title, author, .. } = book;
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

//! `/`: every book on the shelf with its live count.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::api::get_catalog;
use super::live::{live_count, LiveStock, StockLine};
use crate::shared::stock::Book;
use crate::shared::views::CatalogView;

#[component]
pub fn CatalogPage() -> impl IntoView {
    let live = LiveStock::expect();
    let catalog = Resource::new(move || live.catalog_changes(), |_| get_catalog());
    view! {
        <Title text="Books"/>
        <h1>"Books"</h1>
        <Suspense fallback=|| view! { <p>"Fetching the shelf…"</p> }>
            {move || Suspend::new(async move {
                match catalog.await {
                    Ok(CatalogView { books, stock }) => {
                        live.rendered_catalog(stock.catalog_version);
                        view! {
                        <ul class="shelf">
                            {books.into_iter().map(|book| {
                                let available = stock.available(&book.id).unwrap_or(0);
                                view! { <BookCard book available version=stock.version/> }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BookCard(book: Book, available: u32, version: u64) -> impl IntoView {
    let count = live_count(book.id.clone(), available, version);
    let href = format!("/books/{}", book.id);
    let price = book.display_price();
    let Book {
        id,
        title,
        author,
        featured,
        ..
    } = book;
    view! {
        <li class="book-card" class:featured=featured data-book=id>
            <h2><A href=href>{title}</A></h2>
            <p class="author">{author}</p>
            <p class="price">{price}</p>
            <StockLine count/>
        </li>
    }
}

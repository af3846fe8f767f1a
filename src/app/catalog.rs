//! `/`: one page of the shelf (or of a search by title, author or ISBN),
//! each book with its live count. Paging and search are plain links and a
//! GET form, so they work without JavaScript; the shelf itself is an island
//! that follows the counts and, when the catalog changes, fetches itself again.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::get_catalog;
use super::live::{follow_catalog, live_count, HeardStock, StockLine};
use super::shelf::{Pager, SearchForm};
use super::utc_time;
use crate::shared::lines::{LineState, LineStatus};
use crate::shared::stock::Book;
use crate::shared::views::{AsJson, CatalogView};

#[component]
pub fn CatalogPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").filter(|q| !q.trim().is_empty());
    let page = move || query.read().get("page").and_then(|p| p.parse::<u32>().ok());
    let catalog = Resource::new(
        move || (search(), page()),
        |(search, page)| get_catalog(search, page),
    );
    view! {
        <Title text="Books"/>
        <h1>"Books"</h1>
        <SearchForm action="/" search=search().unwrap_or_default()/>
        <Suspense fallback=|| view! { <p>"Fetching the shelf…"</p> }>
            {move || Suspend::new(async move {
                match catalog.await {
                    Ok(view) => {
                        let shelf = view.shelf.clone();
                        let none = view.books.is_empty().then(|| view! {
                            <p class="empty">{if shelf.search.is_empty() {
                                "There are no books on this page.".to_string()
                            } else {
                                format!("No books match “{}”.", shelf.search)
                            }}</p>
                        });
                        view! {
                            {none}
                            <Shelf view=AsJson(view)/>
                            <Pager shelf base="/"/>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The books of one page with their live counts; fetched again (same page,
/// same search) when staff change the catalog.
#[island]
fn Shelf(view: AsJson<CatalogView>) -> impl IntoView {
    let AsJson(view) = view;
    let search = Some(view.shelf.search.clone()).filter(|s| !s.is_empty());
    let page = Some(view.shelf.page);
    let shown = follow_catalog(
        view,
        |v| v.stock.catalog_version,
        move || get_catalog(search.clone(), page),
    );
    view! {
        <ul class="shelf">
            {move || shown.with(|CatalogView { books, stock, .. }| {
                books.iter().map(|book| {
                    let available = stock.available(&book.id).unwrap_or(0);
                    let line = stock.line(&book.id).copied();
                    view! { <BookCard book=book.clone() available line version=stock.version/> }
                }).collect_view()
            })}
        </ul>
    }
}

#[component]
fn BookCard(book: Book, available: u32, line: Option<LineState>, version: u64) -> impl IntoView {
    let heard = HeardStock::new();
    let count = live_count(heard, book.id.clone(), available, version);
    let id_for_line = book.id.clone();
    // The book's line as the page last heard of it, else as rendered.
    let line = Memo::new(move |_| {
        heard
            .line_after(&id_for_line, version)
            .unwrap_or(line)
            .filter(|l| l.state != LineStatus::Ended)
    });
    let href = format!("/books/{}", book.id);
    let price = book.display_price();
    let cover = book.cover_href();
    let Book {
        id,
        title,
        author,
        featured,
        ..
    } = book;
    view! {
        <li class="book-card" class:featured=featured data-book=id>
            // Decorative beside the title (alt=""); sized before it loads,
            // so the card never moves when it comes.
            <img class="cover" src=cover alt="" width="200" height="300" loading="lazy"/>
            <h2><a href=href>{title}</a></h2>
            <p class="author">{author}</p>
            <p class="price">{price}</p>
            <StockLine count/>
            {move || line.get().map(|l| view! {
                <p class="line-badge">{match l.state {
                    LineStatus::Scheduled => format!("Launch at {} UTC · {} waiting", utc_time(l.opens_at), l.waiting),
                    _ => format!("In line: {} waiting", l.waiting),
                }}</p>
            })}
        </li>
    }
}

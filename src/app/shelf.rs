//! The shelf's search form and pager, shared by `/` and `/admin`.

use leptos::prelude::*;
use leptos_router::components::{Form, A};

// Both render on the server only (neither is inside an island): the form
// is a plain GET form, the pager plain links.

use crate::shared::views::ShelfPage;

/// Search by title, author or ISBN: a GET form, so it works without
/// JavaScript and its results have an address.
#[component]
pub fn SearchForm(action: &'static str, search: String) -> impl IntoView {
    view! {
        <Form action=action attr:class="search" attr:role="search">
            <input type="search" name="q" value=search
                placeholder="Title, author or ISBN" aria-label="Search the books"/>
            <button type="submit">"Search"</button>
        </Form>
    }
}

/// Previous and next pages of the same shelf or search.
#[component]
pub fn Pager(shelf: ShelfPage, base: &'static str) -> impl IntoView {
    let previous = (shelf.page > 1).then(|| {
        let href = shelf.link(base, shelf.page - 1);
        view! { <A href=href attr:rel="prev" attr:class="previous">"← Previous"</A> }
    });
    let next = shelf.has_next.then(|| {
        let href = shelf.link(base, shelf.page + 1);
        view! { <A href=href attr:rel="next" attr:class="next">"Next →"</A> }
    });
    view! {
        <nav class="pager" aria-label="Pages">
            {previous}
            <span class="page">{format!("Page {}", shelf.page)}</span>
            {next}
        </nav>
    }
}

//! The shelf's search form and pager, shared by `/` and `/admin`.

use leptos::prelude::*;
use leptos_router::components::Form;

// Both render on the server only (neither is inside an island): the form
// is a plain GET form, the pager plain links (not the router's `A`, which
// marks every link to the same path, whatever its query, as the current
// page).

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

/// First, previous, next and last pages of the same shelf or search, and
/// where this one is among them ("Page 2 of 2,084" where they are counted).
#[component]
pub fn Pager(shelf: ShelfPage, base: &'static str) -> impl IntoView {
    let first = (shelf.page > 1).then(|| {
        let href = shelf.link(base, 1);
        view! { <a href=href class="first">"« First"</a> }
    });
    // Past the end, "previous" is the last page there is, not another
    // empty one.
    let previous = (shelf.page > 1).then(|| {
        let back = shelf
            .pages
            .map_or(shelf.page - 1, |last| last.min(shelf.page - 1));
        let href = shelf.link(base, back);
        view! { <a href=href rel="prev" class="previous">"← Previous"</a> }
    });
    let next = shelf.has_next.then(|| {
        let href = shelf.link(base, shelf.page + 1);
        view! { <a href=href rel="next" class="next">"Next →"</a> }
    });
    let last = shelf.pages.filter(|last| *last != shelf.page).map(|last| {
        let href = shelf.link(base, last);
        view! { <a href=href class="last">"Last »"</a> }
    });
    let here = match shelf.pages {
        Some(pages) => format!("Page {} of {}", thousands(shelf.page), thousands(pages)),
        None => format!("Page {}", thousands(shelf.page)),
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {first}
            {previous}
            <span class="page" aria-current="page">{here}</span>
            {next}
            {last}
        </nav>
    }
}

/// 2084 as "2,084".
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn page_numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2084), "2,084");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(u32::MAX), "4,294,967,295");
    }
}

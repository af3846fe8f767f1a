//! `/cart`: what this shopper holds, with the time each hold has left, and
//! Check out.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

use super::api::{get_cart, Checkout, ReturnCopy};
use super::lazy::{hydrated, IslandChunks};
use super::{action_notice, query_notice, FormNotice, Notice, PostForm};
use crate::shared::stock::{decimal_price, line_cents, total_cents, CartLine};
use crate::shared::views::CartView;

#[component]
pub fn CartPage() -> impl IntoView {
    let cart = Resource::new(|| (), |_| get_cart());
    let notice = query_notice();
    view! {
        <Title text="Your cart"/>
        <IslandChunks islands=vec!["cart_lines"]/>
        <h1>"Your cart"</h1>
        <Suspense fallback=|| view! { <p>"Fetching your cart…"</p> }>
            {move || {
                let notice = notice.clone();
                Suspend::new(async move {
                    match cart.await {
                        Ok(view) => view! { <CartLines view notice/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// The holds with their time left, Return, the total and Check out; a
/// checkout goes on to its order.
#[cfg_attr(feature = "split", island(lazy))]
#[cfg_attr(not(feature = "split"), island)]
fn CartLines(view: CartView, notice: Option<String>) -> impl IntoView {
    let return_copy = ServerAction::<ReturnCopy>::new();
    let check_out = ServerAction::<Checkout>::new();
    let shown = RwSignal::new(view);
    // A Return answers with what the shopper still holds of that book.
    Effect::new(move |_| {
        if let Some(Ok(holding)) = return_copy.value().get() {
            shown.update(|view| {
                view.lines
                    .retain(|l| l.book_id != holding.book_id || holding.copies > 0);
                for line in view
                    .lines
                    .iter_mut()
                    .filter(|l| l.book_id == holding.book_id)
                {
                    line.copies = holding.copies;
                }
            });
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(order)) = check_out.value().get() {
            #[cfg(feature = "hydrate")]
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign(&format!("/orders/{}", order.id));
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = order;
        }
    });
    let returned = Signal::derive(move || return_copy.value().get().map(|r| r.map(|_| ())));
    let notice = action_notice(vec![(returned, Notice::Returned)], notice);
    let refused = move || {
        check_out
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
        <FormNotice notice attr:data-hydrated=hydrated()/>
        // Either, not into_any: an AnyView carries every way of rendering
        // its content, and the island's wasm would carry them all.
        {move || shown.with(|view| if view.lines.is_empty() {
            Either::Left(view! {
                <p class="empty">"Your cart is empty. " <a href="/">"Browse the books"</a></p>
            })
        } else {
            let total = total_cents(view.lines.iter().map(|l| (l.price_cents, l.copies)))
                .map_or_else(|| "too large to charge".to_string(), |c| format!("${}", decimal_price(c)));
            let now_ms = view.now_ms;
            Either::Right(view! {
                <ul class="cart">
                    {view.lines.iter().cloned().map(|line| view! { <CartRow line return_copy now_ms/> }).collect_view()}
                </ul>
                <p class="total">{format!("Total: {total}")}</p>
                <PostForm action=check_out input=|| Checkout {}>
                    <button type="submit" class="checkout" disabled=move || check_out.pending().get()>"Check out"</button>
                </PostForm>
                <p class="notice refused" role="alert">{refused}</p>
            })
        })}
    }
}

#[component]
fn CartRow(line: CartLine, return_copy: ServerAction<ReturnCopy>, now_ms: i64) -> impl IntoView {
    let expires_at_ms = line.expires_at_ms;
    let href = format!("/books/{}", line.book_id);
    let copies = if line.copies == 1 {
        "1 copy".to_string()
    } else {
        format!("{} copies", line.copies)
    };
    let price = decimal_price(line_cents(line.price_cents, line.copies));
    let CartLine { book_id, title, .. } = line;
    let book_field = book_id.clone();
    view! {
        <li class="cart-line" data-book=book_id>
            <a href=href>{title}</a>
            <span class="copies">{copies}</span>
            <span class="price">{format!("${price}")}</span>
            <TimeLeft expires_at_ms server_now_ms=now_ms/>
            <PostForm action=return_copy input={
                let book = book_field.clone();
                move || ReturnCopy { book: book.clone() }
            }>
                <input type="hidden" name="book" value=book_field/>
                <button type="submit">"Return"</button>
            </PostForm>
        </li>
    }
}

/// "held for 14:59", counting down in the browser.
#[component]
fn TimeLeft(expires_at_ms: i64, server_now_ms: i64) -> impl IntoView {
    let clock = super::Clock::expect();
    let skew = clock.skew_from(server_now_ms);
    let left = move || {
        let now = clock.now_ms().map_or(server_now_ms as f64, |n| n + skew);
        ((expires_at_ms as f64 - now) / 1000.0).ceil() as i64
    };
    view! {
        <span class="time-left">
            {move || match left() {
                secs if secs > 0 => format!("held for {}:{:02}", secs / 60, secs % 60),
                _ => "hold lapsed".to_string(),
            }}
        </span>
    }
}

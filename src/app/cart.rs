//! `/cart`: what this shopper holds, with the time each hold has left, and
//! Check out.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::api::{get_cart, Checkout, ReserveCopy, ReturnCopy};
use super::{form_notice, FormNotice};
use crate::shared::stock::{decimal_price, line_cents, total_cents, CartLine};

#[component]
pub fn CartPage() -> impl IntoView {
    let reserve = ServerAction::<ReserveCopy>::new();
    let give_back = ServerAction::<ReturnCopy>::new();
    let check_out = ServerAction::<Checkout>::new();
    let cart = Resource::new(
        move || {
            (
                reserve.version().get(),
                give_back.version().get(),
                check_out.version().get(),
            )
        },
        |_| get_cart(),
    );
    let notice = form_notice(reserve, give_back);
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(order)) = check_out.value().get() {
            navigate(&format!("/orders/{}", order.id), Default::default());
        }
    });
    let refused = move || {
        check_out
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
        <Title text="Your cart"/>
        <h1>"Your cart"</h1>
        <FormNotice notice/>
        <Transition fallback=|| view! { <p>"Fetching your cart…"</p> }>
            {move || Suspend::new(async move {
                match cart.await {
                    Ok(view) if view.lines.is_empty() => view! {
                        <p class="empty">"Your cart is empty. " <A href="/">"Browse the books"</A></p>
                    }.into_any(),
                    Ok(view) => {
                        let total = total_cents(view.lines.iter().map(|l| (l.price_cents, l.copies)))
                            .map_or_else(|| "too large to charge".to_string(), |c| format!("${}", decimal_price(c)));
                        let now_ms = view.now_ms;
                        view! {
                            <ul class="cart">
                                {view.lines.into_iter().map(|line| view! { <CartRow line give_back now_ms/> }).collect_view()}
                            </ul>
                            <p class="total">{format!("Total: {total}")}</p>
                            <ActionForm action=check_out>
                                <button type="submit" class="checkout" disabled=move || check_out.pending().get()>"Check out"</button>
                            </ActionForm>
                            <p class="notice refused" role="alert">{refused}</p>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CartRow(line: CartLine, give_back: ServerAction<ReturnCopy>, now_ms: i64) -> impl IntoView {
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
            <A href=href>{title}</A>
            <span class="copies">{copies}</span>
            <span class="price">{format!("${price}")}</span>
            <TimeLeft expires_at_ms server_now_ms=now_ms/>
            <ActionForm action=give_back>
                <input type="hidden" name="book" value=book_field/>
                <button type="submit">"Return"</button>
            </ActionForm>
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

//! `/cart`: what this shopper holds, and the two actions every page uses to
//! change it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use server_fn::codec::GetUrl;

use super::{FormNotice, Notice, ShopError};
use crate::stock::{decimal_price, CartLine};

/// What a shopper holds of a book after Add or Return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingView {
    pub book_id: String,
    pub copies: u32,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    pub now_ms: i64,
}

/// Reserves one more copy of `book` for this shopper.
#[server(endpoint = "cart/reserve")]
pub async fn reserve_copy(book: String) -> Result<HoldingView, ShopError> {
    crate::server::storefront::reserve(book).await
}

/// Puts one of this shopper's copies of `book` back on the shelf.
#[server(endpoint = "cart/return")]
pub async fn return_copy(book: String) -> Result<HoldingView, ShopError> {
    crate::server::storefront::give_back(book).await
}

#[server(endpoint = "pages/cart", input = GetUrl)]
pub async fn get_cart() -> Result<CartView, ShopError> {
    crate::server::storefront::cart().await
}

/// The notice to show: the latest answer of either action, else the one the
/// server left in the URL for a browser without JavaScript.
pub fn form_notice(reserve: ServerAction<ReserveCopy>, give_back: ServerAction<ReturnCopy>) -> Signal<Option<Notice>> {
    let query = use_query_map();
    // Whichever action finished last speaks.
    let last = RwSignal::new(None::<Notice>);
    Effect::new(move |_| {
        if let Some(result) = reserve.value().get() {
            last.set(Some(result.map(|_| Notice::Reserved).unwrap_or_else(Notice::Refused)));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = give_back.value().get() {
            last.set(Some(result.map(|_| Notice::Returned).unwrap_or_else(Notice::Refused)));
        }
    });
    Signal::derive(move || {
        last.get().or_else(|| query.read().get("notice").and_then(|code| Notice::from_code(&code)))
    })
}

#[component]
pub fn CartPage() -> impl IntoView {
    let reserve = ServerAction::<ReserveCopy>::new();
    let give_back = ServerAction::<ReturnCopy>::new();
    let cart = Resource::new(move || (reserve.version().get(), give_back.version().get()), |_| get_cart());
    let notice = form_notice(reserve, give_back);
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
                        let total: u32 = view.lines.iter().map(|l| l.price_cents * l.copies).sum();
                        view! {
                            <ul class="cart">
                                {view.lines.into_iter().map(|line| view! { <CartRow line give_back/> }).collect_view()}
                            </ul>
                            <p class="total">"Total: $" {decimal_price(total)}</p>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CartRow(line: CartLine, give_back: ServerAction<ReturnCopy>) -> impl IntoView {
    let href = format!("/books/{}", line.book_id);
    let copies = if line.copies == 1 { "1 copy".to_string() } else { format!("{} copies", line.copies) };
    let price = decimal_price(line.price_cents * line.copies);
    let CartLine { book_id, title, .. } = line;
    let book_field = book_id.clone();
    view! {
        <li class="cart-line" data-book=book_id>
            <A href=href>{title}</A>
            <span class="copies">{copies}</span>
            <span class="price">"$" {price}</span>
            <ActionForm action=give_back>
                <input type="hidden" name="book" value=book_field/>
                <button type="submit">"Return"</button>
            </ActionForm>
        </li>
    }
}

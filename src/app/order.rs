//! `/orders/:id`: what a shopper bought.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::api::get_order;
use super::NotFound;
use crate::shared::stock::{decimal_price, line_cents, Order};
use crate::shared::ShopError;

#[component]
pub fn OrderPage() -> impl IntoView {
    let params = use_params_map();
    let order = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        get_order,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Fetching your order…"</p> }>
            {move || Suspend::new(async move {
                match order.await {
                    Ok(order) => view! { <OrderSummary order/> }.into_any(),
                    Err(ShopError::UnknownOrder) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OrderSummary(order: Order) -> impl IntoView {
    let Order {
        id,
        lines,
        total_cents,
        ..
    } = order;
    view! {
        <Title text="Your order"/>
        <h1>"Thank you for your order"</h1>
        <p class="order-id">"Order " <code>{id}</code></p>
        <table class="order">
            <thead><tr><th>"Book"</th><th>"Copies"</th><th>"Price"</th></tr></thead>
            <tbody>
                {lines.into_iter().map(|line| {
                    let href = format!("/books/{}", line.book_id);
                    view! {
                        <tr class="order-line">
                            <td><A href=href>{line.title}</A></td>
                            <td>{line.copies}</td>
                            <td>{format!("${}", decimal_price(line_cents(line.price_cents, line.copies)))}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <p class="total">{format!("Total paid: ${}", decimal_price(total_cents))}</p>
    }
}

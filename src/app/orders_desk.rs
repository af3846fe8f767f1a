//! `/admin/orders`: the owner's orders, newest first, 25 a page, searchable
//! by book (its id, or words of its title), each with its books, copies,
//! total and time; and the CSV of them all (`/admin/orders.csv`). Plain
//! HTML: nothing on it changes in the browser, so shoppers' wasm holds none
//! of it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::get_orders;
use super::shelf::{Pager, SearchForm};
use super::utc_time;
use crate::shared::stock::{decimal_price, Order};
use crate::shared::views::OrdersView;

#[component]
pub fn OrdersDeskPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").filter(|q| !q.trim().is_empty());
    let page = move || query.read().get("page").and_then(|p| p.parse::<u32>().ok());
    let orders = Resource::new(
        move || (search(), page()),
        |(search, page)| get_orders(search, page),
    );
    view! {
        <Title text="Orders"/>
        <h1>"Orders"</h1>
        <p><a href="/admin">"← The staff desk"</a> " · " <a href="/admin/orders.csv" download>"All orders as CSV"</a></p>
        <Suspense fallback=|| view! { <p>"Fetching the orders…"</p> }>
            {move || Suspend::new(async move {
                match orders.await {
                    Ok(OrdersView { orders, shelf }) => {
                        let none = orders.is_empty();
                        view! {
                            <SearchForm action="/admin/orders" search=shelf.search.clone()/>
                            {none.then(|| view! { <p class="no-orders">"No orders."</p> })}
                            <table class="orders">
                                <thead><tr>
                                    <th>"Placed (UTC)"</th><th>"Order"</th><th>"Books"</th><th>"Total"</th>
                                </tr></thead>
                                <tbody>
                                    {orders.into_iter().map(|order| view! { <OrderRow order/> }).collect_view()}
                                </tbody>
                            </table>
                            <Pager shelf base="/admin/orders"/>
                        }.into_any()
                    }
                    Err(e) => view! {
                        <p class="error">{e.to_string()}</p>
                        <p><a href="/admin">"Sign in on the staff desk"</a></p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OrderRow(order: Order) -> impl IntoView {
    let Order {
        id,
        placed_at_ms,
        lines,
        total_cents,
    } = order;
    let data_order = id.clone();
    view! {
        <tr class="order" data-order=data_order>
            <td>{utc_time(placed_at_ms)}</td>
            <td><code>{id}</code></td>
            <td>
                <ul class="order-books">
                    {lines.into_iter().map(|line| view! {
                        <li data-book=line.book_id.clone()>
                            {format!("{} × {} at ${}", line.copies, line.title, decimal_price(u64::from(line.price_cents)))}
                        </li>
                    }).collect_view()}
                </ul>
            </td>
            <td class="order-total">{format!("${}", decimal_price(total_cents))}</td>
        </tr>
    }
}

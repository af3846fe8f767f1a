//! The staff desk's live figures on `/admin`: counters, a chart of orders a
//! minute over the last hour, the books most held, and the lines. The
//! server renders them as they stand; in the browser the island follows
//! `/api/admin/desk/ws`, which pushes every reading in which a figure moved
//! (`server::desk`).
//!
//! The chart is a small SVG component of our own rather than a chart crate:
//! it has to move in the browser with each reading, so it must be in the
//! wasm, where 60 rectangles cost a few hundred bytes and a crate (charts-rs
//! renders on the server only) would cost far more than the shop's page
//! budget has left.

use leptos::prelude::*;

use super::lazy::hydrated;
use super::utc_time;
use crate::shared::views::{DeskFigures, NodeView, StockDay};

/// The desk's figures, live.
#[cfg_attr(feature = "split", island(lazy))]
#[cfg_attr(not(feature = "split"), island)]
pub fn LiveDesk(figures: DeskFigures) -> impl IntoView {
    let shown = RwSignal::new(figures);
    let live = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(follow::run(shown, live));
    // One closure type for every figure, so the wasm holds one copy of it.
    let figure = move |read: fn(&DeskFigures) -> u64| Signal::derive(move || shown.with(read));
    view! {
        <section class="desk" aria-labelledby="desk-heading" data-hydrated=hydrated()>
            <h2 id="desk-heading">
                "Now "
                <span class="desk-live" data-live=move || live.get().to_string()>
                    {move || if live.get() { "(live)" } else { "" }}
                </span>
            </h2>
            <dl class="desk-figures">
                <Figure name="copies_held" label="Copies held now" value=figure(|f| f.copies_held)/>
                <Figure name="sold_today" label="Copies sold today" value=figure(|f| f.sold_today)/>
                <Figure name="orders_today" label="Orders today" value=figure(|f| f.orders_today)/>
                <Figure name="orders_last_hour" label="Orders in the last hour" value=figure(DeskFigures::orders_last_hour)/>
                <Figure name="lapsed_today" label="Holds lapsed today" value=figure(|f| f.lapsed_today)/>
                <Figure name="line_waiting" label="Waiting in lines" value=figure(|f| f.line_waiting)/>
                <Figure name="line_offered" label="Offered a copy" value=figure(|f| f.line_offered)/>
                <Figure name="line_sold" label="Sold from lines" value=figure(|f| f.line_sold)/>
            </dl>
            <OrdersChart per_minute=Signal::derive(move || shown.with(|f| f.orders_per_minute.clone()))/>
            <h3>"Most held now"</h3>
            <ol class="most-held">
                {move || {
                    let most = shown.with(|f| f.most_held.clone());
                    if most.is_empty() {
                        view! { <li class="none">"Nothing is held."</li> }.into_any()
                    } else {
                        most.into_iter()
                            .map(|(id, title, held)| view! {
                                <li data-book=id>{title} " · " <span class="held">{held}</span> " held"</li>
                            })
                            .collect_view()
                            .into_any()
                    }
                }}
            </ol>
            <Nodes nodes=Signal::derive(move || shown.with(|f| f.nodes.clone()))/>
        </section>
    }
}

/// The shop's nodes as each records itself every 2 s: address, version,
/// start, open subscribers by transport, and whether it is up (gone after
/// 10 s of silence). Live with the rest of the desk; the beats themselves
/// are not pushed (`livecart nodes` prints each node's last beat).
#[component]
fn Nodes(nodes: Signal<Vec<NodeView>>) -> impl IntoView {
    view! {
            <h3>"Nodes"</h3>
            <table class="nodes">
                <thead><tr>
                    <th>"Node"</th><th>"Address"</th><th>"Version"</th><th>"Started (UTC)"</th>
    <th>"Open connections"</th><th>"State"</th>
                </tr></thead>
                <tbody>
                    {move || nodes.get().into_iter().map(|node| {
                        let connections = node
                            .connections
                            .iter()
                            .filter(|(_, n)| *n > 0)
                            .map(|(transport, n)| format!("{n} {transport}"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let connections = if connections.is_empty() { "none".to_string() } else { connections };
                        let state = if node.up { "up" } else { "gone" };
                        let (id, address) = (node.id.clone(), node.address.clone());
                        view! {
                            <tr class="node" data-node=id data-address=address data-state=state>
                                <td>{node.id}</td>
                                <td>{node.address}</td>
                                <td>{node.version}</td>
                                <td>{utc_time(node.started_at)}</td>
                                <td>{connections}</td>
                                <td class=format!("node-state {state}")>{state}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
}

#[component]
fn Figure(name: &'static str, label: &'static str, value: Signal<u64>) -> impl IntoView {
    view! {
        <div class="figure">
            <dt>{label}</dt>
            <dd data-figure=name>{value}</dd>
        </div>
    }
}

/// Bars of orders a minute, oldest on the left. Its text alternative gives
/// the figures a reader would take from it.
#[component]
fn OrdersChart(per_minute: Signal<Vec<u32>>) -> impl IntoView {
    const WIDTH: usize = 600;
    const HEIGHT: u32 = 80;
    let label = move || {
        per_minute.with(|m| {
            let total: u32 = m.iter().sum();
            let most = m.iter().copied().max().unwrap_or(0);
            let now = m.last().copied().unwrap_or(0);
            format!(
                "Orders a minute over the last {} minutes: {total} in all, \
                 at most {most} in one minute, {now} in this minute",
                m.len()
            )
        })
    };
    view! {
        <figure class="orders-chart">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=label
                data-orders=move || per_minute.with(|m| m.iter().sum::<u32>())>
                {move || per_minute.with(|m| {
                    let most = m.iter().copied().max().unwrap_or(0).max(1);
                    let step = WIDTH / m.len().max(1);
                    m.iter().enumerate().map(|(i, n)| {
                        let h = (n * (HEIGHT - 2)).div_ceil(most);
                        let (x, y, w) = (i * step, HEIGHT - h, step.saturating_sub(2).max(1));
                        view! { <rect x=x y=y width=w height=h/> }
                    }).collect_view()
                })}
            </svg>
            <figcaption>"Orders a minute, the last hour (now on the right)"</figcaption>
        </figure>
    }
}

#[cfg(feature = "hydrate")]
mod follow {
    //! The desk's socket: each text is a reading; the newest is kept. A
    //! dropped socket is opened again after a pause that grows to ten
    //! seconds.

    use std::time::Duration;

    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use gloo_timers::future::sleep;
    use leptos::prelude::*;

    use crate::app::live::transport::socket_url;
    use crate::shared::views::DeskFigures;

    pub async fn run(shown: RwSignal<DeskFigures>, live: RwSignal<bool>) {
        let mut pause = Duration::from_millis(500);
        loop {
            if let Some(Ok(mut socket)) =
                socket_url("/api/admin/desk/ws").map(|u| WebSocket::open(&u))
            {
                while let Some(Ok(message)) = socket.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    if let Ok(figures) = serde_json::from_str::<DeskFigures>(&text) {
                        live.set(true);
                        pause = Duration::from_millis(500);
                        if figures.at >= shown.with_untracked(|f| f.at) {
                            shown.set(figures);
                        }
                    }
                }
            }
            live.set(false);
            sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }
}

/// A book's available count over today, as a line a few words wide on the
/// ledger: from midnight at the left to the end of the day at the right,
/// one point at the end of each hour so far, the last at the count now; the
/// foot is 0 (sold out). Drawn on the server with the page (it does not
/// move live), so it adds nothing to the wasm; its `aria-label` gives the
/// figures.
#[component]
pub fn Sparkline(day: StockDay) -> impl IntoView {
    const WIDTH: f32 = 96.0;
    const HEIGHT: f32 = 20.0;
    let StockDay { opened, hours, low } = day;
    let now = hours.last().copied().unwrap_or(opened);
    let top = hours.iter().copied().fold(opened, u32::max).max(1) as f32;
    let point = |hour: usize, count: u32| {
        let x = hour as f32 * WIDTH / 24.0;
        let y = HEIGHT - 1.0 - count as f32 * (HEIGHT - 2.0) / top;
        format!("{x:.1},{y:.1}")
    };
    let points = std::iter::once(point(0, opened))
        .chain(hours.iter().enumerate().map(|(i, n)| point(i + 1, *n)))
        .collect::<Vec<_>>()
        .join(" ");
    let label = format!("{opened} available at the day's start, {now} now, {low} at the lowest");
    view! {
        <svg class="sparkline" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=label
            data-opened=opened data-now=now data-low=low>
            <polyline points=points/>
        </svg>
    }
}

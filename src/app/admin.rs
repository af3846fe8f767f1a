//! `/admin`: staff sign in, follow the shop's live figures (`desk`),
//! restock, set totals and prices, and add books.
//! Every change is pushed live to every open page. The page is plain HTML
//! but for its live counts: each form posts and comes back with a notice.
//! A clerk is shown only the forms a clerk may use (the server refuses the
//! others with 403 whatever is posted).

use leptos_router::hooks::use_query_map;

use super::api::{
    get_admin, AddBook, EndLine, LaunchLine, Restock, SetPrice, SetTotal, SignIn, SignOut,
};
use super::desk::{LiveDesk, Sparkline};
use super::lazy::{hydrated, IslandChunks};
use super::live::{HeardStock, LiveStockLine};
use super::shelf::{Pager, SearchForm};
use super::{query_notice, utc_time, FormNotice, Notice};
use crate::shared::lines::{LineState, LineStatus};
use crate::shared::stock::LedgerLine;
use crate::shared::views::{AdminView, LineSummary, StockDay};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AdminPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let sign_out = ServerAction::<SignOut>::new();
    let restock = ServerAction::<Restock>::new();
    let set_total = ServerAction::<SetTotal>::new();
    let set_price = ServerAction::<SetPrice>::new();
    let add_book = ServerAction::<AddBook>::new();
    let launch = ServerAction::<LaunchLine>::new();
    let end_line = ServerAction::<EndLine>::new();
    let query = use_query_map();
    let search = move || query.read().get("q").filter(|q| !q.trim().is_empty());
    let page = move || query.read().get("page").and_then(|p| p.parse::<u32>().ok());
    let admin = Resource::new(
        move || (search(), page()),
        |(search, page)| get_admin(search, page),
    );
    // The forms are plain HTML forms (no island): a post comes back to this
    // page with its `?notice=`, as it would without JavaScript.
    let notice = query_notice().as_deref().and_then(Notice::from_code);
    view! {
        <Title text="Staff"/>
        <h1>"Staff"</h1>
        <FormNotice notice/>
        <Transition fallback=|| view! { <p>"Fetching the ledger…"</p> }>
            {move || Suspend::new(async move {
                match admin.await {
                    Ok(AdminView { staff: None, .. }) => view! { <SignInForm sign_in/> }.into_any(),
                    Ok(AdminView { staff: Some(name), role, ledger, version, shelf, lines, desk, stock_today }) => {
                    let owner = role.as_deref() == Some("owner");
                    // Signed in: the desk's chunks, and the counts' and the
                    // lines' where there are some.
                    let mut chunks = vec!["live_desk"];
                    chunks.extend((!ledger.is_empty()).then_some("live_stock_line"));
                    chunks.extend((!lines.is_empty()).then_some("live_line_figures"));
                    view! {
                        <IslandChunks islands=chunks/>
                        <p class="signed-in">"Signed in as " <strong>{name}</strong> {format!(" ({})", role.unwrap_or_default())}</p>
                        <ActionForm action=sign_out><button type="submit" class="return">"Sign out"</button></ActionForm>
                        {owner.then(|| view! { <p><a href="/admin/orders">"Orders"</a></p> })}
                        <LiveDesk figures=desk/>
                        <SearchForm action="/admin" search=shelf.search.clone()/>
                        <table class="ledger">
                            <thead><tr>
                                <th>"Book"</th><th>"Available"</th><th>"Held"</th><th>"Sold"</th>
                                <th>"Total"</th><th>"Price"</th><th>"Available today"</th><th>"Change"</th>
                            </tr></thead>
                            <tbody>
                                {ledger.into_iter().map(|line| {
                                    let day = stock_today.get(&line.book.id).cloned().unwrap_or_default();
                                    view! { <LedgerRow line version owner day restock set_total set_price/> }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <Pager shelf base="/admin"/>
                        <Lines lines version owner launch end_line/>
                        {owner.then(|| view! { <AddBookForm add_book/> })}
                    }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SignInForm(sign_in: ServerAction<SignIn>) -> impl IntoView {
    view! {
        <ActionForm action=sign_in attr:class="sign-in">
            <label>"Name " <input type="text" name="name" autocomplete="username" required/></label>
            <label>"Password " <input type="password" name="password" autocomplete="current-password" required/></label>
            <button type="submit" disabled=move || sign_in.pending().get()>"Sign in"</button>
        </ActionForm>
    }
}

#[component]
fn LedgerRow(
    line: LedgerLine,
    version: u64,
    /// Only an owner may set prices.
    owner: bool,
    /// Its available count over today.
    day: StockDay,
    restock: ServerAction<Restock>,
    set_total: ServerAction<SetTotal>,
    set_price: ServerAction<SetPrice>,
) -> impl IntoView {
    let LedgerLine {
        book,
        available,
        held,
        sold,
    } = line;
    let (id_restock, id_total, id_price) = (book.id.clone(), book.id.clone(), book.id.clone());
    view! {
        <tr class="ledger-line" data-book=book.id.clone()>
            <td>{book.title.clone()}</td>
            <td class="available"><LiveStockLine book=book.id.clone() available version/></td>
            <td>{held}</td>
            <td>{sold}</td>
            <td>{book.total}</td>
            <td>{book.display_price()}</td>
            <td class="stock-today"><Sparkline day/></td>
            <td class="changes">
                <ActionForm action=restock>
                    <input type="hidden" name="book" value=id_restock/>
                    <input type="number" name="copies" min="1" value="1" aria-label="Copies to add"/>
                    <button type="submit">"Restock"</button>
                </ActionForm>
                <ActionForm action=set_total>
                    <input type="hidden" name="book" value=id_total/>
                    <input type="number" name="total" min="0" value=book.total aria-label="Total copies"/>
                    <button type="submit">"Set total"</button>
                </ActionForm>
                {owner.then(|| view! {
                    <ActionForm action=set_price>
                        <input type="hidden" name="book" value=id_price/>
                        <input type="text" name="price" value=book.price.clone() size="7" aria-label="Price"/>
                        <button type="submit">"Set price"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
fn AddBookForm(add_book: ServerAction<AddBook>) -> impl IntoView {
    view! {
        <h2>"Add a book"</h2>
        <ActionForm action=add_book attr:class="add-book">
            <label>"Id " <input type="text" name="id" placeholder="the-book-slug" required/></label>
            <label>"Title " <input type="text" name="title" required/></label>
            <label>"Author " <input type="text" name="author" required/></label>
            <label>"ISBN " <input type="text" name="isbn"/></label>
            <label>"Price " <input type="text" name="price" placeholder="20.00" required/></label>
            <label>"Copies " <input type="number" name="copies" min="0" value="1" required/></label>
            <button type="submit">"Add book"</button>
        </ActionForm>
    }
}

/// Lines: schedule a launch, and each line's counts, its draw, and End.
#[component]
fn Lines(
    lines: Vec<LineSummary>,
    version: u64,
    /// Only an owner may launch or end a line.
    owner: bool,
    launch: ServerAction<LaunchLine>,
    end_line: ServerAction<EndLine>,
) -> impl IntoView {
    view! {
        <h2>"Lines"</h2>
        {owner.then(|| view! {
            <ActionForm action=launch attr:class="launch">
                <label>"Book id " <input type="text" name="book" placeholder="the-book-slug" required/></label>
                <label>"Copies " <input type="number" name="copies" min="0" value="100" required/></label>
                <label>"Opens at (UTC, or +30s) " <input type="text" name="opens_at" placeholder="2026-12-24T10:00:00Z" required/></label>
                <button type="submit">"Schedule the launch"</button>
            </ActionForm>
        })}
        <table class="lines">
            <thead><tr>
                <th>"Book"</th><th>"Line"</th><th>"Opens (UTC)"</th><th>"Now (live)"</th>
                <th>"Places (at load)"</th><th>"Draw"</th><th><span class="visually-hidden">"End"</span></th>
            </tr></thead>
            <tbody>
                {lines.into_iter().map(|summary| {
                    let LineSummary { book_id, title, kind, line, places, draw } = summary;
                    let live = owner && line.state != LineStatus::Ended;
                    let end_id = book_id.clone();
                    let places = places.iter().map(|(state, n)| format!("{n} {state}")).collect::<Vec<_>>().join(", ");
                    view! {
                        <tr class="line" data-book=book_id.clone()>
                            <td>{title}</td>
                            <td>{kind}</td>
                            <td>{utc_time(line.opens_at)}</td>
                            <td><LiveLineFigures book=book_id.clone() line version/></td>
                            <td class="line-places">{places}</td>
                            <td>
                                <details>
                                    <summary>"Places"</summary>
                                    <ol class="draw">
                                        {draw.into_iter().map(|(place, who, state)| view! {
                                            <li>{place.map_or("–".to_string(), |p| p.to_string())} " · " {who} " · " {state}</li>
                                        }).collect_view()}
                                    </ol>
                                </details>
                            </td>
                            <td>{live.then(|| view! {
                                <ActionForm action=end_line>
                                    <input type="hidden" name="book" value=end_id.clone()/>
                                    <button type="submit" class="return">"End the line"</button>
                                </ActionForm>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A line's figures as every page in it sees them, following the live
/// stream: state, now serving, copies left and offered, and waiting. (What
/// became of each place is read from the database, at load.)
#[cfg_attr(feature = "split", island(lazy))]
#[cfg_attr(not(feature = "split"), island)]
fn LiveLineFigures(book: String, line: LineState, version: u64) -> impl IntoView {
    let heard = HeardStock::new();
    let line = Memo::new(move |_| match heard.line_after(&book, version) {
        Some(heard) => heard.unwrap_or_else(LineState::ended),
        None => line,
    });
    view! {
        <span class="line-state" data-state=move || line.get().state.as_str() data-hydrated=hydrated()>
            {move || line.get().state.as_str()}
        </span>
        {move || {
            let l = line.get();
            format!(
                " · serving {} · {} copies left ({} offered) · {} waiting",
                l.serving, l.copies_left, l.offers_open, l.waiting
            )
        }}
    }
}

//! The staff pages' server functions, on the server side: every one but
//! sign-in needs a signed-in staff session; each change goes through the
//! inventory, which pushes it live to every open page.

use std::net::IpAddr;

use http::header::SET_COOKIE;
use http::HeaderValue;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use super::client_address::ClientAddress;
use super::cookies::{clear_staff_cookie, set_staff_cookie, staff_token};
use super::forms::{answer_form, request, shelf_request, state, with_status};
use crate::server::clock::now_ms;
use crate::server::inventory::lines::parse_opening;
use crate::server::inventory::{new_book, BookId, MAX_COPIES};
use crate::server::staff::{StaffAction, StaffError, StaffMember};
use crate::server::AppState;
use crate::shared::stock::parse_price;
use crate::shared::views::{AdminView, DeskFigures, LineSummary, OrdersView};
use crate::shared::{Notice, ShopError};

const ADMIN: &str = "/admin";

pub async fn overview(search: Option<String>, page: Option<u32>) -> Result<AdminView, ShopError> {
    let state = state()?;
    let (search, mut shelf) = shelf_request(search, page)?;
    let version = state.notifier.latest().version();
    let Some(staff) = signed_in(&state).await? else {
        return Ok(AdminView {
            staff: None,
            role: None,
            ledger: Vec::new(),
            version,
            shelf,
            lines: Vec::new(),
            desk: DeskFigures::default(),
            stock_today: Default::default(),
        });
    };
    let ledger = state
        .inventory
        .shelf_page(search.as_ref(), shelf.page)
        .await
        .map_err(with_status)?
        .paging(&mut shelf);
    let books: Vec<(&str, u32)> = ledger
        .iter()
        .map(|l| (l.book.id.as_str(), l.available))
        .collect();
    let stock_today = state
        .desk
        .stock_over_day(&books, now_ms())
        .await
        .map_err(|e| with_status(ShopError::from(e)))?;
    Ok(AdminView {
        staff: Some(staff.name.as_str().to_string()),
        role: Some(staff.role.as_str().to_string()),
        ledger,
        version,
        shelf,
        lines: line_summaries(&state).await.map_err(with_status)?,
        desk: state
            .desk
            .now()
            .await
            .map_err(|e| with_status(ShopError::from(e)))?,
        stock_today,
    })
}

/// Orders on the desk, a page at a time.
const ORDERS_PER_PAGE: u32 = 25;

/// `/admin/orders`: a page of orders, newest first, only those holding a
/// book matching `search` (its id, or words of its title) when given. The
/// owner's: a clerk is refused (403), nobody signed in 401.
pub async fn orders(search: Option<String>, page: Option<u32>) -> Result<OrdersView, ShopError> {
    let state = state()?;
    let (_, mut shelf) = shelf_request(search, page)?;
    require_staff(&state, StaffAction::SeeOrders)
        .await
        .map_err(with_status)?;
    let book = Some(shelf.search.as_str()).filter(|s| !s.is_empty());
    let (orders, has_next) = state
        .orders
        .page(book, (shelf.page - 1) * ORDERS_PER_PAGE, ORDERS_PER_PAGE)
        .await
        .map_err(|e| with_status(ShopError::from(e)))?;
    shelf.has_next = has_next;
    Ok(OrdersView { orders, shelf })
}

/// The newest lines as staff see them: counts by state and the first
/// places of each draw.
async fn line_summaries(state: &AppState) -> Result<Vec<LineSummary>, ShopError> {
    const LINES: u32 = 10;
    const PLACES: u32 = 50;
    let mut summaries = Vec::new();
    for (line, title) in state.inventory.lines(LINES).await? {
        let (places, counts) = state.inventory.line_places(&line, PLACES).await?;
        summaries.push(LineSummary {
            book_id: line.book_id.clone(),
            title,
            kind: line.kind.clone(),
            line: line.state(),
            places: counts,
            draw: places
                .into_iter()
                .map(|p| (p.place, p.shopper.chars().take(8).collect(), p.state))
                .collect(),
        });
    }
    Ok(summaries)
}

/// Schedules a launch: `copies` more copies of `book`, all for its line,
/// which opens at `opens_at` (RFC 3339 in UTC, or a wait such as `+30s`).
pub async fn launch(book: String, copies: u32, opens_at: String) -> Result<(), ShopError> {
    change_book(&book, StaffAction::Launch, |state, id| async move {
        let at = parse_opening(&opens_at, now_ms()).map_err(ShopError::BadInput)?;
        state.inventory.launch(&id, copies, at).await
    })
    .await
}

/// Ends a book's line: its copies on the shelf are sold first come again.
pub async fn end_line(book: String) -> Result<(), ShopError> {
    change_book(&book, StaffAction::EndLine, |state, id| async move {
        state.inventory.end_line(&id).await
    })
    .await
}

pub async fn sign_in(name: String, password: String) -> Result<(), ShopError> {
    let result = async {
        let state = state()?;
        let from = client_address()?;
        let token = state
            .staff
            .sign_in(&name, &password, from)
            .await
            .map_err(staff_error)?;
        set_cookie(&set_staff_cookie(&token, state.cookies()));
        tracing::info!(staff = %name, "staff signed in");
        Ok(())
    }
    .await;
    answer_form(result, Notice::SignedIn, ADMIN, None)
}

pub async fn sign_out() -> Result<(), ShopError> {
    let result = async {
        let state = state()?;
        if let Some(token) = staff_token(&request()?.headers, state.cookies()) {
            state.staff.sign_out(&token).await.map_err(staff_error)?;
        }
        set_cookie(&clear_staff_cookie(state.cookies()));
        Ok(())
    }
    .await;
    answer_form(result, Notice::SignedOut, ADMIN, None)
}

pub async fn restock(book: String, copies: u32) -> Result<(), ShopError> {
    change_book(&book, StaffAction::Restock, |state, id| async move {
        if copies == 0 || copies > MAX_COPIES {
            return Err(ShopError::BadInput(format!(
                "copies must be 1 to {MAX_COPIES}"
            )));
        }
        state.inventory.restock(&id, copies).await
    })
    .await
}

pub async fn set_total(book: String, total: u32) -> Result<(), ShopError> {
    change_book(&book, StaffAction::SetTotal, |state, id| async move {
        if total > MAX_COPIES {
            return Err(ShopError::BadInput(format!(
                "a total is at most {MAX_COPIES}"
            )));
        }
        state.inventory.set_total(&id, total).await
    })
    .await
}

pub async fn set_price(book: String, price: String) -> Result<(), ShopError> {
    change_book(&book, StaffAction::SetPrice, |state, id| async move {
        let cents = parse_price(&price).map_err(ShopError::BadInput)?;
        state.inventory.set_price(&id, cents).await
    })
    .await
}

/// A signed-in staff member's change to one book, if their role allows
/// `action`, answered as a form.
async fn change_book<F, Fut>(book: &str, action: StaffAction, change: F) -> Result<(), ShopError>
where
    F: FnOnce(AppState, BookId) -> Fut,
    Fut: std::future::Future<Output = Result<(), ShopError>>,
{
    let result = async {
        let state = state()?;
        require_staff(&state, action).await?;
        let id = BookId::parse(book).map_err(|_| ShopError::UnknownBook)?;
        change(state, id).await
    }
    .await;
    answer_form(result, Notice::Saved, ADMIN, None)
}

pub async fn add_book(
    id: String,
    title: String,
    author: String,
    isbn: String,
    price: String,
    copies: u32,
) -> Result<(), ShopError> {
    let result = async {
        let state = state()?;
        require_staff(&state, StaffAction::AddBook).await?;
        let book =
            new_book(&id, &title, &author, &isbn, &price, copies).map_err(ShopError::BadInput)?;
        state.inventory.add_book(book).await
    }
    .await;
    answer_form(result, Notice::Saved, ADMIN, None)
}

async fn signed_in(state: &AppState) -> Result<Option<StaffMember>, ShopError> {
    staff_of(state, &request()?.headers).await
}

/// The staff member a request's cookie signs in, if the session is live
/// (the plain routes for staff ask this too: `web::orders`).
pub async fn staff_of(
    state: &AppState,
    headers: &http::HeaderMap,
) -> Result<Option<StaffMember>, ShopError> {
    let Some(token) = staff_token(headers, state.cookies()) else {
        return Ok(None);
    };
    state
        .staff
        .who(&token)
        .await
        .map_err(|e| with_status(staff_error(e)))
}

/// The signed-in staff member, if their role may make `action`.
async fn require_staff(state: &AppState, action: StaffAction) -> Result<StaffMember, ShopError> {
    let staff = signed_in(state).await?.ok_or(ShopError::NotSignedIn)?;
    if !staff.role.may(action) {
        tracing::warn!(staff = %staff.name.as_str(), ?action, "refused: owner only");
        return Err(ShopError::OwnerOnly);
    }
    Ok(staff)
}

fn client_address() -> Result<IpAddr, ShopError> {
    Ok(ClientAddress::of(&request()?))
}

fn set_cookie(cookie: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(cookie),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}

fn staff_error(e: StaffError) -> ShopError {
    match e {
        StaffError::WrongPassword | StaffError::BadName => ShopError::WrongPassword,
        StaffError::TooManyAttempts => ShopError::TooManyAttempts,
        StaffError::WeakPassword | StaffError::BadRole => ShopError::BadInput(e.to_string()),
        StaffError::Store(_) | StaffError::Hashing(_) | StaffError::Session(_) => {
            tracing::error!(error = %e, "staff sign-in failed");
            ShopError::Unavailable
        }
    }
}

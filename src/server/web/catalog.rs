//! `GET /api/books`: the catalog as JSON, every book with its title,
//! author, price, total and whether it is featured.

use axum::extract::State;
use axum::Json;

use crate::server::AppState;
use crate::shared::stock::Book;
use crate::shared::ShopError;

pub async fn books(State(state): State<AppState>) -> Result<Json<Vec<Book>>, ShopError> {
    Ok(Json(state.inventory.catalog().await?))
}

//! The one place a refusal becomes a plain HTTP answer (the JSON API and the
//! Burt's protocol): the status `ShopError::status` chooses, and its message
//! as short plain text. Server functions carry the same type and status as
//! JSON (see `forms`).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::shared::ShopError;

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

impl From<FormRejection> for ShopError {
    fn from(rejection: FormRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ShopError::TooLarge;
        }
        let why = match rejection {
            FormRejection::InvalidFormContentType(_) => {
                "the body must be a form (application/x-www-form-urlencoded)".to_string()
            }
            FormRejection::FailedToDeserializeForm(e) => {
                format!("malformed form: {}", short(&e.body_text()))
            }
            FormRejection::FailedToDeserializeFormBody(e) => {
                format!("malformed form: {}", short(&e.body_text()))
            }
            other => format!("unreadable body: {}", short(&other.body_text())),
        };
        ShopError::BadInput(why)
    }
}

impl From<QueryRejection> for ShopError {
    fn from(rejection: QueryRejection) -> Self {
        ShopError::BadInput(format!(
            "malformed query: {}",
            short(&rejection.body_text())
        ))
    }
}

/// Keeps messages short: a rejection may quote a long input back.
fn short(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

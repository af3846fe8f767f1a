//! The HTTP boundary's errors, and the one place they become responses: a
//! status and a short plain-text message.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::inventory::{InventoryError, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooMany(&'static str),
    #[error("the request body is too large")]
    TooLarge,
    #[error("the shop could not do that just now; please try again")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = format!("{self}\n");
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Refused(refusal @ Refusal::UnknownBook) => {
                ApiError::NotFound(refusal.to_string())
            }
            InventoryError::Refused(refusal) => ApiError::Conflict(refusal.to_string()),
            InventoryError::Storage(e) => {
                tracing::error!(error = %e, "storage failed under a request");
                ApiError::Unavailable
            }
            InventoryError::Stopped => ApiError::Unavailable,
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
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
        ApiError::BadRequest(why)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!(
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

//! JSON errors: `{ "code": ..., "message": ... }` with the matching HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::VisageError;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 503 answers.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// 400: the request itself is malformed (bad JSON, missing field, bad parameter type).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503 with Retry-After: all workers busy for too long.
    pub fn busy(retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "all workers are busy; retry shortly");
        e.retry_after = Some(retry_after);
        e
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            response.insert_header(("Retry-After", s.to_string()));
        }
        response.json(Body { code: self.code, message: &self.message })
    }
}

impl From<VisageError> for ApiError {
    fn from(e: VisageError) -> Self {
        use VisageError::*;
        let status = match &e {
            EmptyImage | CorruptImage(_) => StatusCode::BAD_REQUEST,
            UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            NotFound(_) => StatusCode::NOT_FOUND,
            Conflict { .. } => StatusCode::CONFLICT,
            Index(i) if i.is_client_error() => StatusCode::UNPROCESSABLE_ENTITY,
            SetupRequired { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.code(), "{e}");
        }
        Self::new(status, e.code(), e.to_string())
    }
}

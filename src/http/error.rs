//! JSON errors: `{ "code": ..., "message": ... }` with the status the code table
//! ([`crate::error::Code`]) gives, and Retry-After when the engine is busy.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::{Code, VisageError};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
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
    /// An error with its code (the status is the code's).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }
}

/// Why a body read ends when the client paused longer than `server.body_timeout_s`: the
/// payload of the [`std::io::ErrorKind::TimedOut`] error the body deadline yields.
#[derive(Debug, thiserror::Error)]
#[error("the request body paused longer than server.body_timeout_s")]
pub struct BodyTimedOut;

impl BodyTimedOut {
    /// The read error a body reader meets.
    pub fn io_error() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, Self)
    }
}

/// An error while receiving a body: 408 `request_timeout` when a timed-out read is anywhere in
/// the error's chain, otherwise `code` with the error's message.
pub fn body_error(e: &(dyn std::error::Error + 'static), code: Code) -> ApiError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return ApiError::new(Code::RequestTimeout, BodyTimedOut.to_string());
        }
        cause = c.source();
    }
    ApiError::new(code, e.to_string())
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(s) = self.retry_after {
            response.insert_header(("Retry-After", s.to_string()));
        }
        response.json(Body { code: self.code.as_str(), message: &self.message })
    }
}

impl From<VisageError> for ApiError {
    fn from(e: VisageError) -> Self {
        let code = e.code();
        if code == Code::IndexUnavailable {
            tracing::warn!(code = code.as_str(), "{e}");
        } else if !code.is_client_error() && code != Code::Busy {
            tracing::error!(code = code.as_str(), "{e}");
        }
        let retry_after = e.retry_after_s();
        Self { code, message: e.to_string(), retry_after }
    }
}

//! CompreFace's error shape, `{"message": ..., "code": N}`, with its numeric codes where it has
//! one for the case (28 no face, 31 several faces, 42 unknown subject, ...). The status is
//! CompreFace's for those; image and body errors keep Visage's status (400, 413, 415), busy keeps
//! 503 with Retry-After, and service failures keep their 5xx.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::{Code, VisageError};
use crate::http::error::ApiError;

/// CompreFace's numeric codes that Visage answers.
pub mod cf {
    /// Catch-all.
    pub const UNDEFINED: u16 = 0;
    /// No service has the given API key.
    pub const MODEL_NOT_FOUND: u16 = 10;
    /// No such image (face) id.
    pub const IMAGE_NOT_FOUND: u16 = 11;
    /// The API key header is missing.
    pub const MISSING_REQUEST_HEADER: u16 = 20;
    /// The file is not an image of a supported format.
    pub const UNAVAILABLE_FILE_EXTENSION: u16 = 21;
    /// The request breaks a constraint (empty, corrupt or too large image or body).
    pub const VALIDATION_CONSTRAINT_VIOLATION: u16 = 26;
    /// No face in the image.
    pub const NO_FACES_FOUND: u16 = 28;
    /// Several faces where one is expected.
    pub const TOO_MANY_FACES: u16 = 31;
    /// A required query parameter (`subject`) is missing.
    pub const MISSING_REQUEST_PARAMETER: u16 = 33;
    /// A required multipart part (`file`, ...) is missing.
    pub const MISSING_REQUEST_PART: u16 = 34;
    /// A parameter has a wrong value.
    pub const INCORRECT_ARGUMENT: u16 = 36;
    /// No such subject.
    pub const SUBJECT_NOT_FOUND: u16 = 42;
    /// The subject exists already.
    pub const SUBJECT_ALREADY_EXISTS: u16 = 43;
}

/// An error answered in CompreFace's shape.
#[derive(Debug)]
pub struct CfError {
    pub status: StatusCode,
    pub code: u16,
    pub message: String,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    code: u16,
}

impl CfError {
    /// An error with an explicit status and CompreFace code.
    pub fn new(status: StatusCode, code: u16, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// A wrong parameter value (400, code 36).
    pub fn argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, cf::INCORRECT_ARGUMENT, message)
    }

    /// An image id that names no face (404, code 11).
    pub fn image_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, cf::IMAGE_NOT_FOUND, format!("image {id:?} not found"))
    }
}

/// CompreFace's code and status for a Visage code; `None` keeps Visage's status.
fn translate(code: Code) -> (u16, Option<StatusCode>) {
    use cf::*;
    let bad = Some(StatusCode::BAD_REQUEST);
    let missing = Some(StatusCode::NOT_FOUND);
    match code {
        Code::NoFace => (NO_FACES_FOUND, bad),
        Code::MultipleFaces => (TOO_MANY_FACES, bad),
        Code::SubjectExists => (SUBJECT_ALREADY_EXISTS, bad),
        Code::SubjectNotFound => (SUBJECT_NOT_FOUND, missing),
        Code::NotFound | Code::CropNotKept => (IMAGE_NOT_FOUND, missing),
        Code::MissingField => (MISSING_REQUEST_PART, bad),
        Code::UnsupportedFormat => (UNAVAILABLE_FILE_EXTENSION, None),
        Code::EmptyImage
        | Code::CorruptImage
        | Code::ImageTooLarge
        | Code::BodyTooLarge
        | Code::EmptyBody
        | Code::InvalidBody
        | Code::InvalidMultipart
        | Code::UnsupportedMediaType => (VALIDATION_CONSTRAINT_VIOLATION, None),
        Code::InvalidJson
        | Code::InvalidQuery
        | Code::InvalidField
        | Code::InvalidBase64
        | Code::InvalidParameter
        | Code::InvalidId
        | Code::InvalidEmbedding
        | Code::DimensionMismatch
        | Code::InvalidVector
        | Code::ModelMismatch => (INCORRECT_ARGUMENT, bad),
        _ => (UNDEFINED, None),
    }
}

impl From<ApiError> for CfError {
    fn from(e: ApiError) -> Self {
        let (code, status) = translate(e.code);
        let status = status
            .unwrap_or_else(|| StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        // Clients match CompreFace's words for this one.
        let message = if code == cf::NO_FACES_FOUND { "No face is found in the given image".into() } else { e.message };
        Self { status, code, message, retry_after: e.retry_after }
    }
}

impl From<VisageError> for CfError {
    fn from(e: VisageError) -> Self {
        ApiError::from(e).into()
    }
}

impl std::fmt::Display for CfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl ResponseError for CfError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            response.insert_header(("Retry-After", s.to_string()));
        }
        response.json(Body { message: &self.message, code: self.code })
    }
}

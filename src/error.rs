//! The engine's error type. Every variant has a stable machine-readable `code`, which the CLI
//! prints and the HTTP layer maps to a status.

use std::path::PathBuf;

/// Errors the engine reports to callers. Input problems are distinguished from set-up problems
/// so that front ends can answer 4xx for the former and a clear operator message for the latter.
#[derive(Debug, thiserror::Error)]
pub enum VisageError {
    /// The request carried no bytes.
    #[error("the image is empty (0 bytes)")]
    EmptyImage,
    /// The bytes are not an image in a supported format.
    #[error("unsupported or unrecognised image format{0}")]
    UnsupportedFormat(String),
    /// The bytes look like an image but cannot be decoded (truncated, corrupt).
    #[error("the image could not be decoded: {0}")]
    CorruptImage(String),
    /// The encoded size, or the decoded pixel count, exceeds the configured limits.
    #[error("image too large: {0}")]
    ImageTooLarge(String),
    /// A model file or the ONNX Runtime library is missing or unusable.
    #[error("{what} not found at {path}: run ./scripts/setup.sh (or point the configuration at it)")]
    SetupRequired { what: &'static str, path: PathBuf },
    /// A model could be loaded but does not look like what the configuration says it is.
    #[error("model {path}: {reason}")]
    IncompatibleModel { path: PathBuf, reason: String },
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// ONNX Runtime failed while running a model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// A request that is well-formed but cannot be carried out as asked (no face, several faces,
    /// bad parameter values).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A subject or face that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the gallery's state (duplicate id, other model's embeddings).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The embedded database failed.
    #[error("gallery store: {0}")]
    Store(String),
    /// The vector index failed or refused the input.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
}

impl VisageError {
    /// Stable identifier of the error kind, part of the public API (JSON `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyImage => "empty_image",
            Self::UnsupportedFormat(_) => "unsupported_format",
            Self::CorruptImage(_) => "corrupt_image",
            Self::ImageTooLarge(_) => "image_too_large",
            Self::SetupRequired { .. } => "setup_required",
            Self::IncompatibleModel { .. } => "incompatible_model",
            Self::Config(_) => "invalid_config",
            Self::Inference(_) => "inference_failed",
            Self::Unprocessable { code, .. } | Self::Conflict { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::Store(_) => "store_error",
            Self::Index(e) => e.code(),
        }
    }

    /// True when the caller's input, not the service, is at fault.
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::EmptyImage
            | Self::UnsupportedFormat(_)
            | Self::CorruptImage(_)
            | Self::ImageTooLarge(_)
            | Self::Unprocessable { .. }
            | Self::NotFound(_)
            | Self::Conflict { .. } => true,
            Self::Index(e) => e.is_client_error(),
            _ => false,
        }
    }

    /// An [`VisageError::Unprocessable`] with its code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    /// A [`VisageError::Conflict`] with its code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
}

impl From<ort::Error> for VisageError {
    fn from(e: ort::Error) -> Self {
        Self::Inference(e.to_string())
    }
}

/// Result alias used throughout the engine.
pub type Result<T, E = VisageError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for VisageError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.to_string())
    }
}

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
        }
    }

    /// True when the caller's input, not the service, is at fault.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::EmptyImage | Self::UnsupportedFormat(_) | Self::CorruptImage(_) | Self::ImageTooLarge(_))
    }
}

impl From<ort::Error> for VisageError {
    fn from(e: ort::Error) -> Self {
        Self::Inference(e.to_string())
    }
}

/// Result alias used throughout the engine.
pub type Result<T, E = VisageError> = std::result::Result<T, E>;

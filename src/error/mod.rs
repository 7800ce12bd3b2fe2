//! The engine's error type. Every error has a stable machine-readable [`Code`] from one table
//! (`code.rs`), which the CLI prints and every HTTP door answers with the code's status.

mod code;

use std::path::PathBuf;

pub use code::Code;

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
    /// bad parameter values), or is refused (a path outside the allowed roots); the code says
    /// which and its status.
    #[error("{message}")]
    Unprocessable { code: Code, message: String },
    /// A subject that does not exist (by id or name).
    #[error("subject {0:?} not found")]
    SubjectNotFound(String),
    /// A face, job or review item that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the gallery's state (duplicate id, other model's embeddings).
    #[error("{message}")]
    Conflict { code: Code, message: String },
    /// The embedded database failed.
    #[error("gallery store: {0}")]
    Store(String),
    /// A file (or the gallery database) could not be read or written: `storage_full` when the
    /// disk is full (the write was refused, nothing half-done; it succeeds again once space is
    /// freed), `store_error` otherwise. `what` names the file.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The vector index failed or refused the input.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// Every model worker is busy and the queue is full or the wait timed out.
    #[error("all workers are busy; retry shortly")]
    Busy {
        /// Seconds after which a retry may succeed.
        retry_after_s: u64,
    },
    /// A failure of the machinery around the work (a worker thread that died).
    #[error("{0}")]
    Internal(String),
}

impl VisageError {
    /// Stable identifier of the error kind, part of the public API (JSON `code`); the table in
    /// `code.rs` gives its HTTP status.
    pub fn code(&self) -> Code {
        match self {
            Self::EmptyImage => Code::EmptyImage,
            Self::UnsupportedFormat(_) => Code::UnsupportedFormat,
            Self::CorruptImage(_) => Code::CorruptImage,
            Self::ImageTooLarge(_) => Code::ImageTooLarge,
            Self::SetupRequired { .. } => Code::SetupRequired,
            Self::IncompatibleModel { .. } => Code::IncompatibleModel,
            Self::Config(_) => Code::InvalidConfig,
            Self::Inference(_) => Code::InferenceFailed,
            Self::Unprocessable { code, .. } | Self::Conflict { code, .. } => *code,
            Self::SubjectNotFound(_) => Code::SubjectNotFound,
            Self::NotFound(_) => Code::NotFound,
            Self::Store(_) => Code::StoreError,
            Self::Io { source, .. } => Code::of_io(source),
            Self::Index(e) => Code::of_index(e),
            Self::Busy { .. } => Code::Busy,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// True when the caller's input, not the service, is at fault.
    pub fn is_client_error(&self) -> bool {
        self.code().is_client_error()
    }

    /// Seconds after which a retry may succeed (503 answers: busy, index unavailable).
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::Busy { retry_after_s } => Some(*retry_after_s),
            Self::Index(crate::index::IndexError::Unavailable { retry_after_s, .. }) => Some(*retry_after_s),
            _ => None,
        }
    }

    /// An [`VisageError::Unprocessable`] with its code.
    pub fn unprocessable(code: Code, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    /// A failed file write or read ([`VisageError::Io`]); `what` names the file.
    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io { what: what.to_string(), source }
    }

    /// A [`VisageError::Conflict`] with its code.
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
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

/// SQLite's "disk full" is an I/O failure of kind [`std::io::ErrorKind::StorageFull`], like any
/// other full-disk write; its other failures are [`VisageError::Store`].
impl From<rusqlite::Error> for VisageError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            Self::io("the gallery database", std::io::Error::new(std::io::ErrorKind::StorageFull, e))
        } else {
            Self::Store(e.to_string())
        }
    }
}

//! The service's own settings (`[server]`): where the gallery lives, how many model runs at once
//! and how long callers may queue, and what the HTTP door listens on and accepts.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config_list::list_or_csv;

/// The HTTP service.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// `host:port` to listen on.
    pub address: String,
    /// Where the gallery (database + index) lives.
    pub data_dir: PathBuf,
    /// Requests running models at once (0 = one per core); each gets its own model sessions.
    pub workers: usize,
    /// Requests allowed to wait for a worker; beyond that the answer is 503 at once.
    pub max_queue: usize,
    /// How long a request waits for a worker before 503 with Retry-After.
    pub queue_timeout_ms: u64,
    /// API keys accepted in the `X-API-Key` header; empty = no authentication. From the
    /// environment as a comma-separated list.
    #[serde(deserialize_with = "list_or_csv")]
    pub api_keys: Vec<String>,
    /// Seconds between background saves of the index (it is also saved at shutdown).
    pub persist_interval_s: u64,
}

/// Compatible APIs served beside the native one (`[compat]`).
#[derive(Debug, Clone, Deserialize)]
pub struct CompatSettings {
    /// Serve CompreFace's REST API under `/api/v1/`.
    pub compreface: bool,
    /// Keys accepted by CompreFace's recognition service only, besides `server.api_keys`. From
    /// the environment as a comma-separated list (likewise the two below).
    #[serde(deserialize_with = "list_or_csv")]
    pub recognition_keys: Vec<String>,
    /// Keys accepted by CompreFace's detection service only.
    #[serde(deserialize_with = "list_or_csv")]
    pub detection_keys: Vec<String>,
    /// Keys accepted by CompreFace's verification service only.
    #[serde(deserialize_with = "list_or_csv")]
    pub verification_keys: Vec<String>,
}

/// The web UI served at `/` (`[ui]`).
#[derive(Debug, Clone, Deserialize)]
pub struct UiSettings {
    /// Serve the single-page UI at `/` and its assets under `/ui/`.
    pub enabled: bool,
}

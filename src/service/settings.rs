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

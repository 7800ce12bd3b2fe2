//! The engine's keys of `[server]`: where the gallery lives, how many model runs at once, how
//! long callers may queue, how often the index is saved. The HTTP door reads its own keys of the
//! same table (what it listens on and accepts) from the same sources.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The engine's part of `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Where the gallery (database + index) lives.
    pub data_dir: PathBuf,
    /// Requests running models at once (0 = one per core); each gets its own model sessions.
    pub workers: usize,
    /// Requests allowed to wait for a worker; beyond that the answer is 503 at once.
    pub max_queue: usize,
    /// How long a request waits for a worker before 503 with Retry-After.
    pub queue_timeout_ms: u64,
    /// Seconds between background saves of the index (it is also saved at shutdown).
    pub persist_interval_s: u64,
}

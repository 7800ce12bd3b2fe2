//! The service's own settings (`[server]`): where the gallery lives, how many model runs at once
//! and how long callers may queue, and what the HTTP door listens on and accepts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::keys::KeyList;

/// The HTTP service.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Admin keys (every route), accepted in `X-API-Key` or `Authorization: Bearer`; each the
    /// key or `sha256:<hex>` of it. With no key at all (here or in `read_keys`) the API is open.
    /// From the environment as a comma-separated list (likewise `read_keys`).
    pub api_keys: KeyList,
    /// Read-only keys: detect, embed, verify, identify, search, evaluate and the gallery's reads;
    /// a write or a job with one of them is refused with 403 `forbidden`.
    pub read_keys: KeyList,
    /// `/metrics` needs a key (read or admin) when keys are configured.
    pub protect_metrics: bool,
    /// `/docs` and `/openapi.json` need a key (read or admin) when keys are configured.
    pub protect_docs: bool,
    /// Largest request body, bytes; 0 = two images of `limits.max_image_bytes` as base64 plus
    /// 1 MiB. Archives of bulk jobs have their own limit (`enroll.max_upload_bytes`).
    pub max_body_bytes: usize,
    /// Most parts of a multipart body (or keys of a JSON body).
    pub max_form_fields: usize,
    /// Largest text (non-image) part of a multipart body, bytes.
    pub max_field_bytes: usize,
    /// Time a client has to send a request's head (line and headers), milliseconds; then 408.
    pub client_request_timeout_ms: u64,
    /// Longest pause while a request's body is being received, seconds; then 408
    /// `request_timeout` (a slow upload holds no connection or worker for ever).
    pub body_timeout_s: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub keep_alive_s: u64,
    /// Seconds between background saves of the index (it is also saved at shutdown).
    pub persist_interval_s: u64,
}

/// Compatible APIs served beside the native one (`[compat]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompatSettings {
    /// Serve CompreFace's REST API under `/api/v1/`.
    pub compreface: bool,
    /// Keys accepted by CompreFace's recognition service only, besides `server.api_keys`. From
    /// the environment as a comma-separated list (likewise the two below).
    pub recognition_keys: KeyList,
    /// Keys accepted by CompreFace's detection service only.
    pub detection_keys: KeyList,
    /// Keys accepted by CompreFace's verification service only.
    pub verification_keys: KeyList,
}

/// The web UI served at `/` (`[ui]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UiSettings {
    /// Serve the single-page UI at `/` and its assets under `/ui/`.
    pub enabled: bool,
}

//! The HTTP door's settings: its keys of `[server]` (what it listens on, who may call, body
//! limits, slow clients), `[compat]` and `[ui]`. They come from the same sources as the engine's
//! ([`Sources`]), which reads its own keys of `[server]` (`crate::config::ServerSettings`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{KeyList, KeySet, ScopedKeys, HASH_PREFIX};
use crate::config::Sources;
use crate::error::{Result, VisageError};

/// Everything the HTTP door reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSettings {
    pub server: HttpServerSettings,
    pub compat: CompatSettings,
    pub ui: UiSettings,
}

/// The HTTP door's keys of `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpServerSettings {
    /// `host:port` to listen on.
    pub address: String,
    /// Admin keys (every route), accepted in `X-API-Key` or `Authorization: Bearer`; each the
    /// key or `sha256:<hex>` of it. With no key at all (here or in `read_keys`) the API is open.
    /// From the environment as a comma-separated list (likewise `read_keys`).
    pub api_keys: KeyList,
    /// Read-only keys: detect, embed, verify, identify, search, evaluate and the gallery's reads;
    /// a write or a job with one of them is refused with 403 `forbidden`.
    pub read_keys: KeyList,
    /// Keys that see only some collections, each with a role (read, write or admin there):
    /// `"<key or sha256:hex>" = { role = "write", collections = ["alpha"] }`. Another
    /// collection is 404 to them, as if it did not exist.
    #[serde(default)]
    pub scoped_keys: ScopedKeys,
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

impl HttpSettings {
    /// The door's settings from `sources`, checked (their keys are not: see [`Sources::check`]).
    pub fn read(sources: &Sources) -> Result<Self> {
        let settings: Self = sources.read()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The door's key tree (see [`Sources::known`]).
    pub fn known() -> Result<Value> {
        Sources::known::<Self>()
    }

    /// The first admin key given in clear, the one a client started here (a benchmark) sends.
    pub fn admin_key(&self) -> Option<String> {
        self.server.api_keys.iter().find(|k| !k.starts_with(HASH_PREFIX)).cloned()
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VisageError::Config(m));
        for (name, keys) in [
            ("server.api_keys", &self.server.api_keys),
            ("server.read_keys", &self.server.read_keys),
            ("compat.recognition_keys", &self.compat.recognition_keys),
            ("compat.detection_keys", &self.compat.detection_keys),
            ("compat.verification_keys", &self.compat.verification_keys),
        ] {
            if let Err(e) = KeySet::parse(keys) {
                return bad(format!("{name}: {e}"));
            }
        }
        let scoped: Vec<String> = self.server.scoped_keys.0.keys().cloned().collect();
        if let Err(e) = KeySet::parse(&scoped) {
            return bad(format!("server.scoped_keys: {e}"));
        }
        for scope in self.server.scoped_keys.0.values() {
            if scope.collections.is_empty() {
                return bad("server.scoped_keys: every key names the collections it sees (collections = [...])".into());
            }
            if let Some(id) = scope.collections.iter().find(|c| crate::service::collections::validate_id(c).is_err()) {
                return bad(format!("server.scoped_keys: {id:?} is not a collection id"));
            }
        }
        if self.server.max_form_fields == 0 || self.server.body_timeout_s == 0 {
            return bad("server.max_form_fields and server.body_timeout_s must be at least 1".into());
        }
        Ok(())
    }
}

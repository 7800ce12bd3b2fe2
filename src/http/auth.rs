//! Who may call what on the native API. Two roles: admin keys (`server.api_keys`, every route)
//! and read-only keys (`server.read_keys`: detect, embed, verify, identify, search, evaluate and
//! the gallery's reads). A missing or unknown key is 401 `unauthorized`; a read key on a write,
//! a job or an applied calibration is 403 `forbidden`. Keys are compared as digests in constant
//! time ([`KeySet`]) and never logged. Health probes and the UI's static files are always open;
//! `/metrics` and `/docs` are open unless `server.protect_metrics` / `protect_docs` say
//! otherwise. The CompreFace door checks its own per-service keys (`compreface::auth`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};

use super::error::ApiError;
use super::keys::KeySet;
use super::settings::HttpSettings;
use crate::error::Code;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

/// The keys in force, parsed once at start-up.
pub struct Keys {
    admin: KeySet,
    read: KeySet,
    protect_metrics: bool,
    protect_docs: bool,
    compreface: bool,
    /// CompreFace's per-service keys (recognition, detection, verification).
    pub compat: [KeySet; 3],
}

impl Keys {
    /// Parses the configured entries (validated when the settings were loaded).
    pub fn new(s: &HttpSettings) -> Result<Self, String> {
        let c = &s.compat;
        Ok(Self {
            admin: KeySet::parse(&s.server.api_keys)?,
            read: KeySet::parse(&s.server.read_keys)?,
            protect_metrics: s.server.protect_metrics,
            protect_docs: s.server.protect_docs,
            compreface: c.compreface,
            compat: [
                KeySet::parse(&c.recognition_keys)?,
                KeySet::parse(&c.detection_keys)?,
                KeySet::parse(&c.verification_keys)?,
            ],
        })
    }

    /// Admin keys: every route of both APIs.
    pub fn admin(&self) -> &KeySet {
        &self.admin
    }

    /// The role of a presented key, if it is one.
    fn role_of(&self, key: &str) -> Option<Role> {
        // Both sets are always checked, so the time does not tell a read key from an admin one.
        let (admin, read) = (self.admin.contains(key), self.read.contains(key));
        if admin {
            Some(Role::Admin)
        } else if read {
            Some(Role::Read)
        } else {
            None
        }
    }
}

/// What a route needs: nothing, any valid key, or a role.
#[derive(Debug, PartialEq, Eq)]
enum Need {
    Open,
    Role(Role),
}

/// The role a request needs. Anything not known to be a read needs admin (fail closed).
fn need(keys: &Keys, method: &Method, path: &str) -> Need {
    let any_key = Need::Role(Role::Read);
    match path {
        "/healthz" | "/readyz" | "/" => return Need::Open,
        "/metrics" => return if keys.protect_metrics { any_key } else { Need::Open },
        "/openapi.json" => return if keys.protect_docs { any_key } else { Need::Open },
        _ => {}
    }
    if path.starts_with("/docs") {
        return if keys.protect_docs { any_key } else { Need::Open };
    }
    // The UI's page and assets hold no data; it asks for a key and sends it to /v1.
    if path.starts_with("/ui/") {
        return Need::Open;
    }
    let Some(route) = path.strip_prefix("/v1/") else { return Need::Role(Role::Admin) };
    // A collection's gallery route needs what the same route of the default collection needs.
    let route = route.strip_prefix("collections/").and_then(|r| r.split_once('/')).map_or(route, |(_, rest)| rest);
    // Jobs, and the server folders a job may read (their paths are the admin's business).
    let jobs = route == "jobs" || route.starts_with("jobs/") || route == "folders";
    let read = match *method {
        Method::GET | Method::HEAD => !jobs,
        // `POST /v1/calibrate` only computes unless it applies; the handler checks `apply`.
        Method::POST => matches!(route, "detect" | "embed" | "verify" | "identify" | "search" | "eval" | "calibrate"),
        _ => false,
    };
    Need::Role(if read { Role::Read } else { Role::Admin })
}

/// The key a request presents: `X-API-Key`, else `Authorization: Bearer`.
fn presented(req: &ServiceRequest) -> Option<&str> {
    let headers = req.headers();
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")))
}

/// 403 for a read-only key.
fn forbidden() -> ApiError {
    ApiError::new(
        Code::Forbidden,
        "this API key is read-only: enrolment, deletion, renames, jobs, the server folder listing and applying a calibration need an admin key",
    )
}

/// Middleware: checks the key against the route's need and records the caller's role.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(keys) = req.app_data::<web::Data<Keys>>().cloned() {
        let open = keys.admin.is_empty() && keys.read.is_empty()
            // The CompreFace door checks its own keys (per service) and answers in its own shape.
            || (keys.compreface && req.path().starts_with("/api/"));
        if !open {
            if let Need::Role(needed) = need(&keys, req.method(), req.path()) {
                let Some(role) = presented(&req).and_then(|k| keys.role_of(k)) else {
                    return Err(ApiError::new(
                        Code::Unauthorized,
                        "a valid API key is required (X-API-Key or Authorization: Bearer)",
                    )
                    .into());
                };
                if role < needed {
                    return Err(forbidden().into());
                }
                req.extensions_mut().insert(role);
            }
        }
    }
    next.call(req).await
}

/// Refuses a read-only caller (for a route whose need depends on its body, like an applied
/// calibration). Open servers have no roles: everyone is admin.
pub fn require_admin(req: &HttpRequest) -> Result<(), ApiError> {
    match req.extensions().get::<Role>() {
        Some(Role::Read) => Err(forbidden()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(protect: bool) -> Keys {
        let parse = |k: &str| KeySet::parse(&[k.to_string()]).unwrap();
        Keys {
            admin: parse("admin"),
            read: parse("reader"),
            protect_metrics: protect,
            protect_docs: protect,
            compreface: true,
            compat: Default::default(),
        }
    }

    #[test]
    fn reads_need_a_read_key_and_everything_else_an_admin_key() {
        let k = keys(false);
        let read = Need::Role(Role::Read);
        let admin = Need::Role(Role::Admin);
        for (method, path, expected) in [
            (Method::POST, "/v1/identify", &read),
            (Method::POST, "/v1/search", &read),
            (Method::POST, "/v1/eval", &read),
            (Method::GET, "/v1/subjects", &read),
            (Method::GET, "/v1/faces/3/crop", &read),
            (Method::POST, "/v1/subjects/a/faces", &admin),
            (Method::POST, "/v1/subjects", &admin),
            (Method::PATCH, "/v1/subjects/a", &admin),
            (Method::DELETE, "/v1/faces/3", &admin),
            (Method::POST, "/v1/subjects/a/merge", &admin),
            (Method::GET, "/v1/jobs/j1", &admin),
            (Method::POST, "/v1/jobs/enroll", &admin),
            (Method::GET, "/v1/folders", &admin),
            (Method::POST, "/v1/collections/a/identify", &read),
            (Method::GET, "/v1/collections/a/subjects", &read),
            (Method::GET, "/v1/collections/a/jobs/j1", &admin),
            (Method::POST, "/v1/collections/a/subjects", &admin),
            (Method::GET, "/v1/collections", &read),
            (Method::GET, "/v1/collections/a", &read),
            (Method::POST, "/v1/collections", &admin),
            (Method::PATCH, "/v1/collections/a", &admin),
            (Method::DELETE, "/v1/collections/a", &admin),
            (Method::PUT, "/v1/anything", &admin),
            (Method::GET, "/elsewhere", &admin),
            (Method::GET, "/healthz", &Need::Open),
            (Method::GET, "/metrics", &Need::Open),
            (Method::GET, "/docs/", &Need::Open),
            (Method::GET, "/ui/app.js", &Need::Open),
        ] {
            assert_eq!(&need(&k, &method, path), expected, "{method} {path}");
        }
        let protected = keys(true);
        for path in ["/metrics", "/docs/", "/openapi.json"] {
            assert_eq!(need(&protected, &Method::GET, path), read, "{path}");
        }
        assert_eq!(k.role_of("admin"), Some(Role::Admin));
        assert_eq!(k.role_of("reader"), Some(Role::Read));
        assert_eq!(k.role_of("nobody"), None);
    }
}

//! Who may call what on the native API. Three roles: read (detect, embed, verify, identify,
//! search, evaluate and the gallery's reads), write (also enrolment, deletion, renames and
//! review) and admin (also jobs, the server folders, collection management and applied
//! calibrations). `server.api_keys` are admin keys and `server.read_keys` read keys, over every
//! collection; `server.scoped_keys` have a role of their own and see only the collections they
//! name (another one is 404, as if it did not exist). A missing or unknown key is 401
//! `unauthorized`; a key whose role is short of the route's is 403 `forbidden`. Keys are compared as digests in constant
//! time ([`KeySet`]) and never logged. Health probes and the UI's static files are always open;
//! `/metrics` and `/docs` are open unless `server.protect_metrics` / `protect_docs` say
//! otherwise. The CompreFace door checks its own per-service keys (`compreface::auth`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use std::sync::Arc;

use actix_web::{web, HttpMessage, HttpRequest};

use super::error::ApiError;
use super::keys::{KeySet, ScopedKey, ScopedRole};
use super::settings::HttpSettings;
use crate::error::Code;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl From<ScopedRole> for Role {
    fn from(r: ScopedRole) -> Self {
        match r {
            ScopedRole::Read => Self::Read,
            ScopedRole::Write => Self::Write,
            ScopedRole::Admin => Self::Admin,
        }
    }
}

/// The collections a scoped key sees (recorded on its requests; absent: every collection).
#[derive(Debug, Clone)]
pub struct Visible(Arc<[String]>);

impl Visible {
    /// Whether the caller of `req` sees collection `id`.
    pub fn allows(req: &HttpRequest, id: &str) -> bool {
        req.extensions().get::<Visible>().is_none_or(|v| v.0.iter().any(|c| c == id))
    }
}

/// The keys in force, parsed once at start-up.
pub struct Keys {
    admin: KeySet,
    read: KeySet,
    scoped: KeySet,
    /// `scoped`'s entries' roles and collections, in its order.
    scopes: Vec<ScopedKey>,
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
            scoped: KeySet::parse(&s.server.scoped_keys.0.keys().cloned().collect::<Vec<_>>())?,
            scopes: s.server.scoped_keys.0.values().cloned().collect(),
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

    /// No key configured at all: the API is open.
    fn open(&self) -> bool {
        self.admin.is_empty() && self.read.is_empty() && self.scoped.is_empty()
    }

    /// The role of a presented key, if it is one, and the collections it sees when it is scoped.
    fn role_of(&self, key: &str) -> Option<(Role, Option<Visible>)> {
        // Every set is always checked, so the time does not tell one kind of key from another.
        let (admin, read, scoped) = (self.admin.contains(key), self.read.contains(key), self.scoped.position(key));
        if admin {
            Some((Role::Admin, None))
        } else if read {
            Some((Role::Read, None))
        } else {
            let scope = &self.scopes[scoped?];
            Some((scope.role.into(), Some(Visible(scope.collections.clone().into()))))
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
    let route = gallery_route(route);
    // Jobs, and the server folders a job may read (their paths are the admin's business).
    let jobs = route == "jobs" || route.starts_with("jobs/") || route == "folders";
    let read = match *method {
        Method::GET | Method::HEAD => !jobs,
        // `POST /v1/calibrate` only computes unless it applies; the handler checks `apply`.
        Method::POST => matches!(route, "detect" | "embed" | "verify" | "identify" | "search" | "eval" | "calibrate"),
        _ => false,
    };
    Need::Role(if read {
        Role::Read
    } else if jobs || route == "collections" || route.starts_with("collections/") {
        Role::Admin
    } else {
        Role::Write
    })
}

/// A collection's gallery route as the same route of the default collection
/// (`collections/{c}/subjects` → `subjects`); other routes as they are.
fn gallery_route(route: &str) -> &str {
    route.strip_prefix("collections/").and_then(|r| r.split_once('/')).map_or(route, |(_, rest)| rest)
}

/// A scoped key's answer on collection management (`/v1/collections[/{c}]`, other than reads):
/// 404 for a collection it does not see, else 403 (only server admin keys manage collections).
fn scoped_management(visible: &Visible, role: Role, method: &Method, path: &str) -> Option<ApiError> {
    let route = path.strip_prefix("/v1/collections")?;
    if matches!(*method, Method::GET | Method::HEAD) || route.trim_start_matches('/').contains('/') {
        return None;
    }
    match route.strip_prefix('/') {
        Some(id) if !visible.0.iter().any(|c| c == id) => {
            Some(ApiError::new(Code::NotFound, format!("collection {id:?} not found")))
        }
        _ => Some(forbidden(role)),
    }
}

/// The key a request presents: `X-API-Key`, else `Authorization: Bearer`.
fn presented(req: &ServiceRequest) -> Option<&str> {
    let headers = req.headers();
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")))
}

/// 403 for a key whose `role` is short of the route's.
fn forbidden(role: Role) -> ApiError {
    let message = match role {
        Role::Read => "this API key is read-only: enrolment, deletion, renames and review need a write key; jobs, the server folder listing, collection management and applying a calibration need an admin key",
        _ => "this API key may not do this: jobs, the server folder listing, collection management and applying a calibration need an admin key (collection management a server one, not a key scoped to collections)",
    };
    ApiError::new(Code::Forbidden, message)
}

/// Middleware: checks the key against the route's need and records the caller's role.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(keys) = req.app_data::<web::Data<Keys>>().cloned() {
        let open = keys.open()
            // The CompreFace door checks its own keys (per service) and answers in its own shape.
            || (keys.compreface && req.path().starts_with("/api/"));
        if !open {
            if let Need::Role(needed) = need(&keys, req.method(), req.path()) {
                let Some((role, visible)) = presented(&req).and_then(|k| keys.role_of(k)) else {
                    return Err(ApiError::new(
                        Code::Unauthorized,
                        "a valid API key is required (X-API-Key or Authorization: Bearer)",
                    )
                    .into());
                };
                if let Some(refused) =
                    visible.as_ref().and_then(|v| scoped_management(v, role, req.method(), req.path()))
                {
                    return Err(refused.into());
                }
                if role < needed {
                    return Err(forbidden(role).into());
                }
                req.extensions_mut().insert(role);
                if let Some(visible) = visible {
                    req.extensions_mut().insert(visible);
                }
            }
        }
    }
    next.call(req).await
}

/// Refuses a caller short of admin (for a route whose need depends on its body, like an
/// applied calibration). Open servers have no roles: everyone is admin.
pub fn require_admin(req: &HttpRequest) -> Result<(), ApiError> {
    match req.extensions().get::<Role>() {
        Some(role) if *role < Role::Admin => Err(forbidden(*role)),
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
            scoped: parse("alpha-writer"),
            scopes: vec![ScopedKey { role: ScopedRole::Write, collections: vec!["alpha".into()] }],
            protect_metrics: protect,
            protect_docs: protect,
            compreface: true,
            compat: Default::default(),
        }
    }

    #[test]
    fn reads_need_a_read_key_writes_a_write_key_and_jobs_and_collections_an_admin_key() {
        let k = keys(false);
        let read = Need::Role(Role::Read);
        let write = Need::Role(Role::Write);
        let admin = Need::Role(Role::Admin);
        for (method, path, expected) in [
            (Method::POST, "/v1/identify", &read),
            (Method::POST, "/v1/search", &read),
            (Method::POST, "/v1/eval", &read),
            (Method::GET, "/v1/subjects", &read),
            (Method::GET, "/v1/faces/3/crop", &read),
            (Method::POST, "/v1/subjects/a/faces", &write),
            (Method::POST, "/v1/subjects", &write),
            (Method::PATCH, "/v1/subjects/a", &write),
            (Method::DELETE, "/v1/faces/3", &write),
            (Method::POST, "/v1/subjects/a/merge", &write),
            (Method::GET, "/v1/jobs/j1", &admin),
            (Method::POST, "/v1/jobs/enroll", &admin),
            (Method::GET, "/v1/folders", &admin),
            (Method::POST, "/v1/collections/a/identify", &read),
            (Method::GET, "/v1/collections/a/subjects", &read),
            (Method::GET, "/v1/collections/a/jobs/j1", &admin),
            (Method::POST, "/v1/collections/a/subjects", &write),
            (Method::GET, "/v1/collections", &read),
            (Method::GET, "/v1/collections/a", &read),
            (Method::POST, "/v1/collections", &admin),
            (Method::PATCH, "/v1/collections/a", &admin),
            (Method::DELETE, "/v1/collections/a", &admin),
            (Method::PUT, "/v1/anything", &write),
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
        let role = |key: &str| k.role_of(key).map(|(role, visible)| (role, visible.map(|v| v.0.to_vec())));
        assert_eq!(role("admin"), Some((Role::Admin, None)));
        assert_eq!(role("reader"), Some((Role::Read, None)));
        assert_eq!(role("alpha-writer"), Some((Role::Write, Some(vec!["alpha".to_string()]))));
        assert_eq!(role("nobody"), None);
    }

    #[test]
    fn a_scoped_key_cannot_manage_collections_and_never_learns_of_another() {
        let alpha = Visible(vec!["alpha".to_string()].into());
        let code = |method: Method, path: &str| scoped_management(&alpha, Role::Admin, &method, path).map(|e| e.code);
        assert_eq!(code(Method::POST, "/v1/collections"), Some(Code::Forbidden));
        assert_eq!(code(Method::DELETE, "/v1/collections/alpha"), Some(Code::Forbidden));
        assert_eq!(code(Method::DELETE, "/v1/collections/beta"), Some(Code::NotFound));
        assert_eq!(code(Method::PATCH, "/v1/collections/beta"), Some(Code::NotFound));
        assert_eq!(code(Method::GET, "/v1/collections/beta"), None, "reads are the handler's to filter");
        assert_eq!(code(Method::POST, "/v1/collections/alpha/subjects"), None);
    }
}

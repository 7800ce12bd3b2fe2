//! `x-api-key` for the CompreFace door: `server.api_keys` open every service, the
//! `compat.*_keys` one service each (recognition, detection, verification, as CompreFace's keys
//! are per service). With no key configured anywhere the API is open, exactly like `/v1`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::error::{cf, CfError};
use crate::http::auth::Keys;

/// Whether `key` opens the service of `path`: an admin key, or the service's own. `None` when
/// no key is configured at all (open). Every set is compared in constant time ([`KeySet`]).
///
/// [`KeySet`]: crate::http::keys::KeySet
fn accepts(keys: &Keys, path: &str, key: &str) -> Option<bool> {
    if keys.admin().is_empty() && keys.compat.iter().all(|k| k.is_empty()) {
        return None;
    }
    let service = path.strip_prefix("/api/v1/").and_then(|p| p.split('/').next()).unwrap_or_default();
    let own = match service {
        "recognition" => Some(&keys.compat[0]),
        "detection" => Some(&keys.compat[1]),
        "verification" => Some(&keys.compat[2]),
        _ => None,
    };
    let admin = keys.admin().contains(key);
    let own = own.is_some_and(|k| k.contains(key));
    Some(admin | own)
}

/// Refuses a request without a key its service accepts: 401, CompreFace code 20 (no key) or 10
/// (no service has this key).
pub async fn check_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(keys) = req.app_data::<web::Data<Keys>>() {
        let given = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
        match (accepts(keys, req.path(), given.unwrap_or_default()), given) {
            (None, _) | (Some(true), Some(_)) => {}
            (Some(_), None) => {
                return Err(CfError::new(
                    StatusCode::UNAUTHORIZED,
                    cf::MISSING_REQUEST_HEADER,
                    "Missing header: x-api-key",
                )
                .into())
            }
            (Some(false), Some(_)) => {
                return Err(CfError::new(
                    StatusCode::UNAUTHORIZED,
                    cf::MODEL_NOT_FOUND,
                    "No service found for this x-api-key",
                )
                .into())
            }
        }
    }
    next.call(req).await
}

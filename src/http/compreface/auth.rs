//! `x-api-key` for the CompreFace door: `server.api_keys` open every service, the
//! `compat.*_keys` one service each (recognition, detection, verification, as CompreFace's keys
//! are per service). With no key configured anywhere the API is open, exactly like `/v1`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::error::{cf, CfError};
use crate::config::Settings;
use crate::service::Engine;

/// The keys a path's service accepts; `None` when no key is configured at all (open).
fn accepted<'a>(s: &'a Settings, path: &str) -> Option<Vec<&'a str>> {
    let c = &s.compat;
    let all = [&s.server.api_keys, &c.recognition_keys, &c.detection_keys, &c.verification_keys];
    if all.iter().all(|k| k.is_empty()) {
        return None;
    }
    let service = path.strip_prefix("/api/v1/").and_then(|p| p.split('/').next()).unwrap_or_default();
    let own: &[String] = match service {
        "recognition" => &c.recognition_keys,
        "detection" => &c.detection_keys,
        "verification" => &c.verification_keys,
        _ => &[],
    };
    Some(s.server.api_keys.iter().chain(own).map(String::as_str).collect())
}

/// Refuses a request without a key its service accepts: 401, CompreFace code 20 (no key) or 10
/// (no service has this key).
pub async fn check_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(engine) = req.app_data::<web::Data<Engine>>() {
        if let Some(keys) = accepted(engine.settings(), req.path()) {
            let given = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
            match given {
                None => {
                    return Err(CfError::new(
                        StatusCode::UNAUTHORIZED,
                        cf::MISSING_REQUEST_HEADER,
                        "Missing header: x-api-key",
                    )
                    .into())
                }
                Some(k) if !keys.contains(&k) => {
                    return Err(CfError::new(
                        StatusCode::UNAUTHORIZED,
                        cf::MODEL_NOT_FOUND,
                        "No service found for this x-api-key",
                    )
                    .into())
                }
                Some(_) => {}
            }
        }
    }
    next.call(req).await
}

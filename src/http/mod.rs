//! The HTTP door (actix-web): request parsing, errors, auth and routing only. The engine
//! ([`crate::service::Engine`]) does the work and owns admission; its "busy" answer becomes 503
//! with Retry-After here.

pub mod api;
mod compreface;
pub mod doc;
pub mod error;
pub(crate) mod input;
mod metrics;
mod routes;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger, Next};
use actix_web::{web, App, HttpServer};

use crate::config::Settings;
use crate::error::Code;
use crate::service::Engine;
use error::ApiError;

/// Largest request body accepted: two images, base64-inflated, plus fields.
fn body_limit(engine: &Engine) -> usize {
    body_limit_for(&engine.settings().limits)
}

/// The body limit for `limits`: the largest image as base64, plus room for the other fields.
pub(crate) fn body_limit_for(limits: &crate::pipeline::decode::ImageLimits) -> usize {
    limits.max_image_bytes * 8 / 3 + (1 << 20)
}

/// Admits a `/v1` request only while fewer than workers + queue requests are in flight (their
/// bodies are what costs memory); otherwise 503 after the queue timeout.
async fn admit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(engine) = req.app_data::<web::Data<Engine>>().cloned() else {
        return next.call(req).await;
    };
    let _permit = engine.admit().await.map_err(ApiError::from)?;
    next.call(req).await
}

/// Checks `X-API-Key` (or `Authorization: Bearer`) when keys are configured; health probes are open.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let engine = req.app_data::<web::Data<Engine>>().cloned();
    let keys: &[String] = engine.as_ref().map_or(&[], |e| &e.settings().server.api_keys);
    // The CompreFace door checks its own keys (per service) and answers in its own shape.
    let compat = engine.as_ref().is_some_and(|e| e.settings().compat.compreface) && req.path().starts_with("/api/");
    let open = keys.is_empty()
        || compat
        || matches!(req.path(), "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || req.path().starts_with("/docs")
        // The UI's page and assets hold no data; it asks for a key and sends it to /v1.
        || req.path() == "/"
        || req.path().starts_with("/ui/");
    if !open {
        let headers = req.headers();
        let given = headers.get("x-api-key").and_then(|v| v.to_str().ok()).or_else(|| {
            headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        });
        if !given.is_some_and(|g| keys.iter().any(|k| k == g)) {
            return Err(ApiError::new(Code::Unauthorized, "a valid API key is required (X-API-Key header)").into());
        }
    }
    next.call(req).await
}

/// Serves until SIGINT/SIGTERM, saving the index periodically and at shutdown.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let address = settings.server.address.clone();
    let interval = Duration::from_secs(settings.server.persist_interval_s.max(1));
    let engine = web::block(move || Engine::open(settings)).await??.with_stage_hook(Arc::new(metrics::observe_stage));
    let engine = web::Data::new(engine);
    let background = engine.clone();
    let saver = actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(interval).await;
            if let Err(e) = background.persist().await {
                tracing::error!("saving the index failed: {e}");
            }
            background.follow_gallery_size().await;
        }
    });
    let app_engine = engine.clone();
    let compreface = engine.settings().compat.compreface;
    let ui = engine.settings().ui.enabled;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_engine.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(|e, _| ApiError::new(Code::InvalidJson, e.to_string()).into()),
            )
            .app_data(
                web::PathConfig::default().error_handler(|e, _| ApiError::new(Code::InvalidPath, e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::new(Code::InvalidQuery, e.to_string()).into()),
            )
            .wrap(from_fn(authenticate))
            .wrap(from_fn(metrics::track))
            .wrap(Logger::new("%r %s %b %Dms").log_target("visage::http"))
            .configure(|cfg| {
                if compreface {
                    compreface::configure(cfg)
                }
            })
            .configure(|cfg| {
                if ui {
                    ui::configure(cfg)
                }
            })
            .configure(routes::configure)
    })
    .bind(&address)?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}");
        eprintln!("visage: listening on http://{addr}");
    }
    server.run().await?;
    saver.abort();
    engine.shutdown().await?;
    tracing::info!("index saved; bye");
    Ok(())
}

//! The HTTP door (actix-web): request parsing, errors, auth and routing only. The engine
//! ([`crate::service::Engine`]) does the work and owns admission; its "busy" answer becomes 503
//! with Retry-After here.

pub mod api;
pub mod auth;
mod compreface;
pub mod doc;
pub mod error;
pub(crate) mod input;
pub mod keys;
mod metrics;
mod routes;
pub mod settings;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::{from_fn, Logger, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::config::Settings;
use crate::error::Code;
use crate::service::collections::Collections;
use crate::service::{Engine, Mode};
use error::ApiError;
use futures_util::StreamExt;
pub use settings::HttpSettings;

/// The limits of an image request's body, as [`serve`] set them (none at all, so every body
/// is refused, where they were not set).
fn form_limits(req: &HttpRequest) -> input::FormLimits {
    let none = input::FormLimits { body: 0, fields: 0, field_bytes: 0 };
    req.app_data::<web::Data<input::FormLimits>>().map_or(none, |limits| ***limits)
}

/// `server.max_body_bytes` (by default two images, base64-inflated, plus fields),
/// `server.max_form_fields` and `server.max_field_bytes`.
pub(crate) fn form_limits_for(
    server: &settings::HttpServerSettings,
    limits: &crate::pipeline::decode::ImageLimits,
) -> input::FormLimits {
    let body = match server.max_body_bytes {
        0 => limits.max_image_bytes * 8 / 3 + (1 << 20),
        n => n,
    };
    input::FormLimits { body, fields: server.max_form_fields, field_bytes: server.max_field_bytes }
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

/// A request body as actix streams it.
type Body = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>>;

/// Middleware: a request body that pauses longer than `server.body_timeout_s` ends with a
/// timed-out read, which every body reader answers as 408 `request_timeout` ([`error::body_error`]).
async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(http) = req.app_data::<web::Data<HttpSettings>>() {
        let idle = Duration::from_secs(http.server.body_timeout_s);
        let payload = req.take_payload();
        let timed = futures_util::stream::unfold((payload, false), move |(mut payload, over)| async move {
            if over {
                return None;
            }
            match actix_web::rt::time::timeout(idle, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, (payload, false))),
                Ok(None) => None,
                Err(_) => Some((Err(PayloadError::Io(error::BodyTimedOut::io_error())), (payload, true))),
            }
        })
        // actix may poll a finished body again; unfold alone must not be.
        .fuse();
        req.set_payload(Payload::from(Box::pin(timed) as Body));
    }
    next.call(req).await
}

/// Serves until SIGINT/SIGTERM with the door's own settings (read from the same sources as the
/// engine's), saving the index periodically and at shutdown.
pub async fn serve(settings: Settings, http: HttpSettings) -> anyhow::Result<()> {
    let address = http.server.address.clone();
    let limits = web::Data::new(form_limits_for(&http.server, &settings.limits));
    let interval = Duration::from_secs(settings.server.persist_interval_s.max(1));
    let engine = web::block(move || Engine::open(settings, Mode::Serve))
        .await??
        .with_stage_hook(Arc::new(metrics::observe_stage));
    let engine = Arc::new(engine);
    let collections = web::Data::new(Collections::new(engine.clone()));
    let background = collections.clone();
    let saver = actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(interval).await;
            if let Err(e) = background.persist().await {
                tracing::error!("saving the index failed: {e}");
            }
            background.follow_gallery_size().await;
        }
    });
    let keys = web::Data::new(auth::Keys::new(&http).map_err(anyhow::Error::msg)?);
    let (app_engine, app_collections) = (web::Data::from(engine), collections.clone());
    let (compreface, ui) = (http.compat.compreface, http.ui.enabled);
    let request_timeout = Duration::from_millis(http.server.client_request_timeout_ms);
    let keep_alive = Duration::from_secs(http.server.keep_alive_s);
    let http = web::Data::new(http);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_engine.clone())
            .app_data(app_collections.clone())
            .app_data(keys.clone())
            .app_data(http.clone())
            .app_data(limits.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(|e, _| error::body_error(&e, Code::InvalidJson).into()),
            )
            .app_data(
                web::PathConfig::default().error_handler(|e, _| ApiError::new(Code::InvalidPath, e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::new(Code::InvalidQuery, e.to_string()).into()),
            )
            .wrap(from_fn(body_deadline))
            .wrap(from_fn(auth::authenticate))
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
    .client_request_timeout(request_timeout)
    .keep_alive(keep_alive)
    .bind(&address)?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}");
        eprintln!("visage: listening on http://{addr}");
    }
    server.run().await?;
    saver.abort();
    collections.shutdown().await?;
    tracing::info!("index saved; bye");
    Ok(())
}

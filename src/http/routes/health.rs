//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};

use crate::http::api::{Health, Ready};
use crate::http::error::ApiError;
use crate::service::Engine;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Models are loaded and the index is ready (the engine only exists once both are).
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Ready)))]
pub async fn readyz(engine: web::Data<Engine>) -> Result<HttpResponse, ApiError> {
    let (pipeline, gallery) = (engine.pipeline()?, engine.gallery()?);
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready".into(),
        detector: pipeline.detector.model_id().into(),
        embedder: pipeline.embedder.model_id().into(),
        gallery_faces: gallery.len(),
        index: gallery.backend().to_string(),
        index_kernel: gallery.index_kernel().map(str::to_string),
        index_behind: gallery.index_behind(),
        keep_crops: engine.settings().gallery.keep_crops,
    }))
}

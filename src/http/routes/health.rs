//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};

use crate::http::api::{Health, Ready};
use crate::http::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Models are loaded and the index is ready (the state only exists once both are).
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Ready)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Ready {
        status: "ready".into(),
        detector: state.pipeline.detector.model_id().into(),
        embedder: state.pipeline.embedder.model_id().into(),
        gallery_faces: state.gallery.len(),
    })
}

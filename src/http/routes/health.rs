//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::AppState;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Models are loaded and the index is ready (the state only exists once both are).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "detector": state.pipeline.detector.model_id(),
        "embedder": state.pipeline.embedder.model_id(),
        "gallery_faces": state.gallery.len(),
    }))
}

//! `POST /v1/detect` and `POST /v1/embed`: faces of one image, without the gallery.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::analyze;
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::metrics::stage;
use crate::http::AppState;

/// Boxes, scores and landmarks of every face.
pub async fn detect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let bytes = form.image("image")?;
    let out = state
        .run(move |p, _| {
            let image = stage("decode", || p.decode(&bytes))?;
            let faces = stage("detect", || p.detect(&image))?;
            Ok(json!({ "width": image.width(), "height": image.height(), "detector": p.detector.model_id(), "faces": faces }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Every face with its embedding.
pub async fn embed(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let bytes = form.image("image")?;
    let out = state
        .run(move |p, _| {
            let (image, faces) = analyze(p, &bytes)?;
            Ok(json!({ "width": image.width(), "height": image.height(), "embedder": p.embedder.model_id(), "faces": faces }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

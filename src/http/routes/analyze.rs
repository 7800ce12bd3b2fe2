//! `POST /v1/detect` and `POST /v1/embed`: faces of one image, without the gallery.

use actix_web::{web, HttpRequest, HttpResponse};

use super::analyze;
use crate::http::api::{DetectResponse, EmbedResponse, ErrorBody, ImageForm};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::metrics::stage;
use crate::http::AppState;

/// Boxes, scores and landmarks of every face.
#[utoipa::path(post, path = "/v1/detect", tag = "faces",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = DetectResponse), (status = "4XX", body = ErrorBody)))]
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
            Ok(DetectResponse {
                width: image.width(),
                height: image.height(),
                detector: p.detector.model_id().into(),
                faces,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Every face with its embedding.
#[utoipa::path(post, path = "/v1/embed", tag = "faces",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = EmbedResponse), (status = "4XX", body = ErrorBody)))]
pub async fn embed(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let bytes = form.image("image")?;
    let out = state
        .run(move |p, _| {
            let (image, faces) = analyze(p, &bytes)?;
            Ok(EmbedResponse {
                width: image.width(),
                height: image.height(),
                embedder: p.embedder.model_id().into(),
                faces,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

//! `POST /v1/detect` and `POST /v1/embed`: faces of one image, without the gallery.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{aligned, attributes};
use crate::http::api::{DetectResponse, EmbedResponse, ErrorBody, ImageForm};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::service::Engine;

/// Boxes, scores and landmarks of every face.
#[utoipa::path(post, path = "/v1/detect", tag = "faces",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = DetectResponse), (status = "4XX", body = ErrorBody)))]
pub async fn detect(engine: web::Data<Engine>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let wanted = attributes(&req, &form)?;
    let out = engine.detect(form.image("image")?, aligned(&form)?, wanted).await?;
    Ok(HttpResponse::Ok().json(DetectResponse::from(out)))
}

/// Every face with its embedding.
#[utoipa::path(post, path = "/v1/embed", tag = "faces",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = EmbedResponse), (status = "4XX", body = ErrorBody)))]
pub async fn embed(engine: web::Data<Engine>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let wanted = attributes(&req, &form)?;
    let out = engine.embed(form.image("image")?, aligned(&form)?, wanted).await?;
    Ok(HttpResponse::Ok().json(EmbedResponse::from(out)))
}

//! `POST /v1/verify` (1:1), `POST /v1/identify` (1:N, open set) and `POST /v1/search` (top-k).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{aligned, attributes, InCollection};
use crate::http::api::{
    ErrorBody, IdentifyForm, IdentifyResponse, SearchForm, SearchResponse, VerifyForm, VerifyResponse,
};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::service::{IdentifyOptions, SearchOptions, SearchQuery, VerifyQuery};

/// Same person? Two images (`image_a`, `image_b`), or one `image` and a `subject_id`; the main
/// (largest) face of each image is compared.
#[utoipa::path(post, path = "/v1/verify", tag = "recognition",
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses((status = 200, body = VerifyResponse), (status = "4XX", body = ErrorBody)))]
pub async fn verify(engine: InCollection, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let threshold = form.get::<f32>("threshold")?;
    let query = match form.get::<String>("subject_id")? {
        Some(subject_id) => VerifyQuery::Subject { image: form.image("image")?, subject_id },
        None => VerifyQuery::Images { a: form.image("image_a")?, b: form.image("image_b")? },
    };
    let out = engine.verify(query, threshold, aligned(&form)?).await?;
    Ok(HttpResponse::Ok().json(VerifyResponse::from(out)))
}

/// Who is each face? Top-k subjects per face; `match` is null (unknown) below the threshold,
/// and two faces of one photo are never given the same subject.
#[utoipa::path(post, path = "/v1/identify", tag = "recognition",
    request_body(content = IdentifyForm, content_type = "multipart/form-data"),
    responses((status = 200, body = IdentifyResponse), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn identify(engine: InCollection, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let opts = IdentifyOptions {
        k: form.get("k")?,
        threshold: form.get("threshold")?,
        ef: form.get("ef")?,
        aligned: aligned(&form)?,
        attributes: attributes(&req, &form)?,
    };
    let out = engine.identify(form.image("image")?, opts).await?;
    Ok(HttpResponse::Ok().json(IdentifyResponse::from(out)))
}

/// The k most similar gallery faces (`by: "face"`, default) or subjects (`by: "subject"`) for
/// the main face of `image`, or for a given `embedding` of the gallery's model.
#[utoipa::path(post, path = "/v1/search", tag = "recognition",
    request_body(content = SearchForm, content_type = "multipart/form-data"),
    responses((status = 200, body = SearchResponse), (status = "4XX", body = ErrorBody)))]
pub async fn search(engine: InCollection, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let by = form.get::<String>("by")?.map(|b| b.parse()).transpose()?.unwrap_or_default();
    let opts = SearchOptions { k: form.get("k")?, ef: form.get("ef")?, by };
    let query = match form.get::<Vec<f32>>("embedding")? {
        Some(v) => SearchQuery::Embedding(v),
        None => SearchQuery::Image { bytes: form.image("image")?, aligned: aligned(&form)? },
    };
    let out = engine.search(query, opts).await?;
    Ok(HttpResponse::Ok().json(SearchResponse::from(out)))
}

//! `POST /v1/eval` (the evaluation protocol over the enrolled gallery) and `/v1/calibrate`
//! (thresholds from the gallery's own pairs; the ones in force).

use actix_web::{web, HttpRequest, HttpResponse};

use super::InCollection;
use crate::error::Code;
use crate::eval::{self, EvalOptions};
use crate::http::api::{CalibrateRequest, CalibrateResponse, ErrorBody, EvalForm, EvalQuery, ThresholdsReport};
use crate::http::error::ApiError;

/// Evaluates the gallery: subjects' first faces are the gallery, the rest probes. Top-k / CMC,
/// ROC / AUC / EER / TAR@FAR, P/R/F1, open set, distractors; JSON, or HTML with `?format=html`.
#[utoipa::path(post, path = "/v1/eval", tag = "evaluation", params(EvalQuery), request_body = EvalForm,
    responses((status = 200, description = "every figure (JSON) or the HTML report"), (status = "4XX", body = ErrorBody)))]
pub async fn evaluate(
    engine: InCollection,
    query: web::Query<EvalQuery>,
    body: web::Json<EvalOptions>,
) -> Result<HttpResponse, ApiError> {
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => return Err(ApiError::new(Code::InvalidQuery, format!("format {other:?}: json or html"))),
    };
    let report = engine.evaluate(body.into_inner()).await?;
    if html {
        let page = eval::html::render(&report, "Visage gallery evaluation");
        return Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// The decision thresholds in force, where they come from, and the FPIR the identify threshold
/// gives at the gallery's current size (sampled leave-one-subject-out searches).
#[utoipa::path(get, path = "/v1/calibrate", tag = "evaluation",
    responses((status = 200, body = ThresholdsReport)))]
pub async fn thresholds(engine: InCollection) -> Result<HttpResponse, ApiError> {
    let (thresholds, fpir_estimate) = engine.fpir_estimate().await?;
    Ok(HttpResponse::Ok().json(ThresholdsReport { thresholds, fpir_estimate }))
}

/// Calibrates the thresholds on the gallery's genuine and impostor pairs for a target FAR (1:1)
/// and FPIR (1:N, leave-one-subject-out); `apply` puts them in force (an admin key's right).
#[utoipa::path(post, path = "/v1/calibrate", tag = "evaluation", request_body = CalibrateRequest,
    responses((status = 200, body = CalibrateResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn calibrate(
    engine: InCollection,
    req: HttpRequest,
    body: web::Json<CalibrateRequest>,
) -> Result<HttpResponse, ApiError> {
    let CalibrateRequest { target_far, target_fpir, apply } = body.into_inner();
    if apply {
        crate::http::auth::require_admin(&req)?;
    }
    let out = engine.calibrate(target_far, target_fpir, apply).await?;
    Ok(HttpResponse::Ok().json(CalibrateResponse::from(out)))
}

//! `POST /v1/eval` (the evaluation protocol over the enrolled gallery) and `/v1/calibrate`
//! (thresholds from the gallery's own pairs; the ones in force).

use actix_web::{web, HttpResponse};

use crate::calibrate;
use crate::error::VisageError;
use crate::eval::{self, EvalOptions};
use crate::http::api::{CalibrateRequest, CalibrateResponse, ErrorBody, EvalForm, EvalQuery, ThresholdsReport};
use crate::http::error::ApiError;
use crate::http::AppState;

/// Faces an evaluation over HTTP reads at most (all pairs are scored); larger sets: `visage eval`.
const MAX_EVAL_FACES: usize = 20_000;

/// Evaluates the gallery: subjects' first faces are the gallery, the rest probes. Top-k / CMC,
/// ROC / AUC / EER / TAR@FAR, P/R/F1, open set, distractors; JSON, or HTML with `?format=html`.
#[utoipa::path(post, path = "/v1/eval", tag = "evaluation", params(EvalQuery), request_body = EvalForm,
    responses((status = 200, description = "every figure (JSON) or the HTML report"), (status = "4XX", body = ErrorBody)))]
pub async fn evaluate(
    state: web::Data<AppState>,
    query: web::Query<EvalQuery>,
    body: web::Json<EvalOptions>,
) -> Result<HttpResponse, ApiError> {
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => return Err(ApiError::bad_request("invalid_query", format!("format {other:?}: json or html"))),
    };
    let options = body.into_inner();
    // One request must not pin a thread for hours or exhaust memory.
    if options.max_rank > 1000 || options.distractors > 1_000_000 || options.max_impostor_pairs > 5_000_000 {
        return Err(VisageError::unprocessable(
            "invalid_parameter",
            "max_rank ≤ 1000, distractors ≤ 1000000 and max_impostor_pairs ≤ 5000000 over HTTP (visage eval has no cap)",
        )
        .into());
    }
    let report = state
        .blocking(move |g| {
            let samples = calibrate::gallery_samples(g, MAX_EVAL_FACES)?;
            eval::evaluate(&samples, None, &options)
                .map_err(|e| VisageError::unprocessable("invalid_evaluation", e.to_string()))
        })
        .await?;
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
pub async fn thresholds(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let fpir_estimate = state.fpir_estimate().await?;
    Ok(HttpResponse::Ok().json(ThresholdsReport { thresholds: state.thresholds(), fpir_estimate }))
}

/// Calibrates the thresholds on the gallery's genuine and impostor pairs for a target FAR (1:1)
/// and FPIR (1:N, leave-one-subject-out); `apply` puts them in force.
#[utoipa::path(post, path = "/v1/calibrate", tag = "evaluation", request_body = CalibrateRequest,
    responses((status = 200, body = CalibrateResponse), (status = 422, body = ErrorBody)))]
pub async fn calibrate(
    state: web::Data<AppState>,
    body: web::Json<CalibrateRequest>,
) -> Result<HttpResponse, ApiError> {
    let CalibrateRequest { target_far, target_fpir, apply } = body.into_inner();
    let far = target_far.or(state.settings.compare.target_far).unwrap_or(1e-3);
    let fpir = target_fpir.or(state.settings.identify.target_fpir).unwrap_or(1e-2);
    for rate in [far, fpir] {
        if !(rate > 0.0 && rate < 1.0) {
            return Err(
                VisageError::unprocessable("invalid_parameter", "target_far and target_fpir lie in (0, 1)").into()
            );
        }
    }
    let (calibration, thresholds) = state
        .blocking(move |g| {
            let (c, t) = calibrate::calibrate(g, far, fpir)?;
            match (&t, apply) {
                (Some(t), true) => calibrate::apply(g, t)?,
                (None, true) => {
                    return Err(VisageError::unprocessable(
                        "insufficient_data",
                        format!("the gallery is too small to measure these targets: {}", c.warnings.join("; ")),
                    ))
                }
                _ => {}
            }
            Ok((c, t))
        })
        .await?;
    if let (Some(t), true) = (&thresholds, apply) {
        tracing::info!(compare = t.compare, identify = t.identify, far, fpir, "calibrated thresholds in force");
        state.set_thresholds(t.clone());
    }
    Ok(HttpResponse::Ok().json(CalibrateResponse {
        calibration,
        thresholds,
        applied: apply,
        in_force: state.thresholds(),
    }))
}

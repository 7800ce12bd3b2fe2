//! Route table and the small helpers the handlers share.

pub mod analyze;
pub mod evaluate;
pub mod gallery;
pub mod health;
pub mod jobs;
pub mod recognize;

use actix_web::{web, HttpResponse};

use image::RgbImage;

use super::error::ApiError;
use super::input::Form;
use super::metrics::stage;
use crate::config::Settings;
use crate::error::VisageError;
use crate::pipeline::{Face, Pipeline};

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(super::metrics::render))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", <super::api::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .service(
            web::scope("/v1")
                .wrap(actix_web::middleware::from_fn(super::admit))
                .route("/detect", web::post().to(analyze::detect))
                .route("/embed", web::post().to(analyze::embed))
                .route("/verify", web::post().to(recognize::verify))
                .route("/identify", web::post().to(recognize::identify))
                .route("/search", web::post().to(recognize::search))
                .route("/subjects", web::post().to(gallery::create_subject))
                .route("/subjects", web::get().to(gallery::list_subjects))
                .route("/subjects/{id}", web::get().to(gallery::get_subject))
                .route("/subjects/{id}", web::patch().to(gallery::update_subject))
                .route("/subjects/{id}", web::delete().to(gallery::delete_subject))
                .route("/subjects/{id}/faces", web::post().to(gallery::add_face))
                .route("/subjects/{id}/faces", web::get().to(gallery::list_faces))
                .route("/faces/{id}", web::delete().to(gallery::delete_face))
                .route("/faces/{id}/crop", web::get().to(gallery::face_crop))
                .route("/jobs/enroll", web::post().to(jobs::create_job))
                .route("/jobs/{id}", web::get().to(jobs::get_job))
                .route("/jobs/{id}", web::delete().to(jobs::cancel_job))
                .route("/jobs/{id}/report", web::get().to(jobs::job_report))
                .route("/eval", web::post().to(evaluate::evaluate))
                .route("/calibrate", web::get().to(evaluate::thresholds))
                .route("/calibrate", web::post().to(evaluate::calibrate)),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such route"))
        }));
}

/// `k` from the request (default from settings), checked against the configured maximum.
fn k_of(form: &Form, settings: &Settings) -> Result<usize, ApiError> {
    let k = form.get::<usize>("k")?.unwrap_or(settings.identify.k);
    if k == 0 || k > settings.identify.max_k {
        return Err(VisageError::unprocessable(
            "invalid_parameter",
            format!("k must be 1..={}", settings.identify.max_k),
        )
        .into());
    }
    Ok(k)
}

/// A threshold from the request, else `default`; must be a cosine.
fn threshold_of(form: &Form, default: f32) -> Result<f32, ApiError> {
    let t = form.get::<f32>("threshold")?.unwrap_or(default);
    if !(-1.0..=1.0).contains(&t) {
        return Err(VisageError::unprocessable("invalid_parameter", "threshold must lie in [-1, 1]").into());
    }
    Ok(t)
}

/// Decodes an image and finds its faces with embeddings, timing each stage for `/metrics`.
fn analyze(p: &Pipeline, bytes: &[u8]) -> crate::Result<(RgbImage, Vec<Face>)> {
    let image = stage("decode", || p.decode(bytes))?;
    let detections = stage("detect", || p.detect(&image))?;
    let faces = stage("embed", || p.embed(&image, detections))?;
    Ok((image, faces))
}

/// The face a one-face operation uses: the first in the configured order (largest by default).
fn main_face(faces: Vec<Face>, which: &str) -> crate::Result<Face> {
    faces.into_iter().next().ok_or_else(|| VisageError::unprocessable("no_face", format!("no face found in {which}")))
}

//! Route table and the small helpers the handlers share.

pub mod analyze;
pub mod collections;
pub mod evaluate;
pub mod folders;
pub mod gallery;
pub mod health;
pub mod jobs;
pub mod recognize;
pub mod review;

use actix_web::{web, HttpRequest, HttpResponse};

pub use collections::InCollection;
use serde::Deserialize;

use super::error::ApiError;
use super::input::Form;
use crate::error::Code;
use crate::pipeline::attributes::AttributeSet;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(super::metrics::render))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", <super::doc::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .service(
            web::scope("/v1")
                .wrap(actix_web::middleware::from_fn(super::admit))
                .route("/detect", web::post().to(analyze::detect))
                .route("/embed", web::post().to(analyze::embed))
                .configure(folders::configure)
                .configure(|cfg| collections::configure(cfg, in_collection))
                .configure(in_collection),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::new(Code::RouteNotFound, "no such route"))
        }));
}

/// The routes that work on one collection's gallery, inside `/v1` (the default collection) and
/// inside `/v1/collections/{collection}`.
fn in_collection(cfg: &mut web::ServiceConfig) {
    cfg.route("/verify", web::post().to(recognize::verify))
        .route("/identify", web::post().to(recognize::identify))
        .route("/search", web::post().to(recognize::search))
        .route("/subjects", web::post().to(gallery::create_subject))
        .route("/subjects", web::get().to(gallery::list_subjects))
        .route("/subjects/{id}", web::get().to(gallery::get_subject))
        .route("/subjects/{id}", web::patch().to(gallery::update_subject))
        .route("/subjects/{id}", web::delete().to(gallery::delete_subject))
        .route("/subjects/{id}/merge", web::post().to(gallery::merge_subject))
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
        .route("/calibrate", web::post().to(evaluate::calibrate))
        .configure(review::configure);
}

/// A resource's id in a route's path (`{id}`), beside a `{collection}` when there is one.
#[derive(Deserialize)]
pub struct Id<T> {
    pub id: T,
}

/// The `aligned` field: the image already is an aligned face crop.
fn aligned(form: &Form) -> Result<bool, ApiError> {
    Ok(form.get::<bool>("aligned")?.unwrap_or(false))
}

/// `attributes`: a form (or JSON) field, else a query parameter, listing the attributes to
/// compute (`age,gender`; a JSON body may send a list). Absent: none, and no model runs.
fn attributes(req: &HttpRequest, form: &Form) -> Result<AttributeSet, ApiError> {
    let text = match form.get::<serde_json::Value>("attributes")? {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(()))
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|_| ApiError::new(Code::InvalidField, "field \"attributes\": a list of names, e.g. age,gender"))?
            .join(","),
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidField,
                format!("field \"attributes\": a list of names, e.g. age,gender, not {other}"),
            ))
        }
        None => web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("attributes").cloned())
            .unwrap_or_default(),
    };
    Ok(AttributeSet::parse(&text)?)
}

//! The OpenAPI document of the native API (served at `/openapi.json`, browsable at `/docs/`),
//! apart from the request and response types so that they and the routes import each other in
//! one direction only.

use utoipa::OpenApi;

use super::api::ErrorBody;
use crate::pipeline::attributes::{Age, Attributes, Gender};
use crate::pipeline::detect::BBox;
use crate::pipeline::embed::Embedding;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Visage",
        description = "Face recognition search: detect, embed, verify (1:1), identify (1:N, open set), search (top-k), gallery. Every gallery route also answers under /v1/collections/{collection}/ for that collection; without it, the collection named default."
    ),
    paths(
        crate::http::routes::health::healthz,
        crate::http::routes::health::readyz,
        crate::http::routes::analyze::detect,
        crate::http::routes::analyze::embed,
        crate::http::routes::recognize::verify,
        crate::http::routes::recognize::identify,
        crate::http::routes::recognize::search,
        crate::http::routes::gallery::create_subject,
        crate::http::routes::gallery::list_subjects,
        crate::http::routes::gallery::get_subject,
        crate::http::routes::gallery::update_subject,
        crate::http::routes::gallery::merge_subject,
        crate::http::routes::gallery::delete_subject,
        crate::http::routes::gallery::add_face,
        crate::http::routes::gallery::list_faces,
        crate::http::routes::gallery::delete_face,
        crate::http::routes::gallery::face_crop,
        crate::http::routes::jobs::create_job,
        crate::http::routes::jobs::get_job,
        crate::http::routes::jobs::job_report,
        crate::http::routes::jobs::cancel_job,
        crate::http::routes::evaluate::evaluate,
        crate::http::routes::evaluate::thresholds,
        crate::http::routes::evaluate::calibrate,
        crate::http::routes::folders::list_folders,
        crate::http::routes::review::list_groups,
        crate::http::routes::review::name_items,
        crate::http::routes::review::name_item,
        crate::http::routes::review::discard_items,
        crate::http::routes::review::discard_item,
        crate::http::routes::review::item_crop,
        crate::http::routes::collections::create,
        crate::http::routes::collections::list,
        crate::http::routes::collections::get,
        crate::http::routes::collections::update,
        crate::http::routes::collections::delete,
    ),
    components(schemas(BBox, Embedding, ErrorBody, Attributes, Gender, Age))
)]
pub struct ApiDoc;

//! `/v1/review`: faces identify answered "unknown" (kept with `review.enabled`), grouped by
//! similarity; name a group or one face as a subject (enrolled), or discard them.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Id, InCollection};
use crate::http::api::ErrorBody;
use crate::http::error::ApiError;
use crate::service::{Named, ReviewPage, ReviewTarget};

/// Registers the review routes (inside `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/review/groups", web::get().to(list_groups))
        .route("/review/name", web::post().to(name_items))
        .route("/review/discard", web::post().to(discard_items))
        .route("/review/items/{id}/name", web::post().to(name_item))
        .route("/review/items/{id}", web::delete().to(discard_item))
        .route("/review/items/{id}/crop", web::get().to(item_crop));
}

/// Paging of `GET /v1/review/groups`.
#[derive(Deserialize, IntoParams)]
pub struct GroupPage {
    /// Groups to skip.
    #[serde(default)]
    pub offset: u64,
    /// Page size, 1..=100 (default 20).
    pub limit: Option<u64>,
}

/// `POST /v1/review/name`: the kept faces `items` (a group) are whom `subject_id` or `name` says.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    /// Review item ids.
    pub items: Vec<u64>,
    /// An existing subject.
    pub subject_id: Option<String>,
    /// Or a name: the oldest subject of that name, created when there is none.
    pub name: Option<String>,
}

/// `POST /v1/review/items/{id}/name`: whom one kept face is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameOneRequest {
    pub subject_id: Option<String>,
    pub name: Option<String>,
}

/// `POST /v1/review/discard`: kept faces that are no one to keep.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    /// Review item ids.
    pub items: Vec<u64>,
}

/// How many kept faces were erased (with their crops).
#[derive(Serialize, ToSchema)]
pub struct Discarded {
    pub discarded: usize,
}

/// Groups of faces to review, largest first, a page at a time: faces that look like one person
/// (cosine to the group's mean at or above the verification threshold in force) are together.
#[utoipa::path(get, path = "/v1/review/groups", tag = "review", params(GroupPage),
    responses((status = 200, body = ReviewPage), (status = 422, body = ErrorBody)))]
pub async fn list_groups(engine: InCollection, page: web::Query<GroupPage>) -> Result<HttpResponse, ApiError> {
    let GroupPage { offset, limit } = page.into_inner();
    Ok(HttpResponse::Ok().json(engine.review_groups(offset, limit.unwrap_or(20)).await?))
}

/// Names kept faces (a group) as an existing or new subject: they are enrolled (store and
/// index) and leave review. All or none: an unknown item id answers 404 and changes nothing.
#[utoipa::path(post, path = "/v1/review/name", tag = "review", request_body = NameRequest,
    responses((status = 200, body = Named), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn name_items(engine: InCollection, body: web::Json<NameRequest>) -> Result<HttpResponse, ApiError> {
    let NameRequest { items, subject_id, name } = body.into_inner();
    Ok(HttpResponse::Ok().json(engine.name_review(items, ReviewTarget { subject_id, name }).await?))
}

/// Names one kept face as an existing or new subject (enrolled).
#[utoipa::path(post, path = "/v1/review/items/{id}/name", tag = "review", request_body = NameOneRequest,
    responses((status = 200, body = Named), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn name_item(
    engine: InCollection,
    id: web::Path<Id<u64>>,
    body: web::Json<NameOneRequest>,
) -> Result<HttpResponse, ApiError> {
    let NameOneRequest { subject_id, name } = body.into_inner();
    Ok(HttpResponse::Ok().json(engine.name_review(vec![id.into_inner().id], ReviewTarget { subject_id, name }).await?))
}

/// Discards kept faces ("not a person to keep"): items and crops are erased. All or none.
#[utoipa::path(post, path = "/v1/review/discard", tag = "review", request_body = DiscardRequest,
    responses((status = 200, body = Discarded), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn discard_items(engine: InCollection, body: web::Json<DiscardRequest>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Discarded { discarded: engine.discard_review(body.into_inner().items).await? }))
}

/// Discards one kept face and its crop.
#[utoipa::path(delete, path = "/v1/review/items/{id}", tag = "review",
    responses((status = 200, body = Discarded), (status = 404, body = ErrorBody)))]
pub async fn discard_item(engine: InCollection, id: web::Path<Id<u64>>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Discarded { discarded: engine.discard_review(vec![id.into_inner().id]).await? }))
}

/// The aligned 112×112 crop of a kept face (PNG).
#[utoipa::path(get, path = "/v1/review/items/{id}/crop", tag = "review",
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn item_crop(engine: InCollection, id: web::Path<Id<u64>>) -> Result<HttpResponse, ApiError> {
    let png = engine.review_crop(id.into_inner().id).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

//! Subjects and their faces: create, list (paged), get, rename, delete; enrol, list and delete faces.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{aligned, Id, InCollection};
use crate::gallery::{FaceRecord, Subject};
use crate::http::api::{
    EnrolForm, ErrorBody, FaceDeleted, FaceList, MergeRequest, NewSubject, Page, SubjectDeleted, SubjectPage,
    SubjectUpdate,
};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::service::EnrolOptions;

/// Creates a subject.
#[utoipa::path(post, path = "/v1/subjects", tag = "gallery", request_body = NewSubject,
    responses((status = 201, body = Subject), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_subject(engine: InCollection, body: web::Json<NewSubject>) -> Result<HttpResponse, ApiError> {
    let NewSubject { id, name, metadata } = body.into_inner();
    Ok(HttpResponse::Created().json(engine.create_subject(id, name, metadata).await?))
}

/// Lists subjects, oldest first, a page at a time; `q` keeps those whose name contains it.
#[utoipa::path(get, path = "/v1/subjects", tag = "gallery", params(Page),
    responses((status = 200, body = SubjectPage), (status = 422, body = ErrorBody)))]
pub async fn list_subjects(engine: InCollection, page: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    let Page { offset, limit, q } = page.into_inner();
    let limit = limit.unwrap_or(100);
    let (subjects, total) = engine.subjects(offset, limit, q).await?;
    Ok(HttpResponse::Ok().json(SubjectPage { subjects, total, offset, limit }))
}

/// One subject.
#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "gallery",
    responses((status = 200, body = Subject), (status = 404, body = ErrorBody)))]
pub async fn get_subject(engine: InCollection, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.subject(id.into_inner().id).await?))
}

/// Renames a subject and/or replaces its metadata.
#[utoipa::path(patch, path = "/v1/subjects/{id}", tag = "gallery", request_body = SubjectUpdate,
    responses((status = 200, body = Subject), (status = 404, body = ErrorBody)))]
pub async fn update_subject(
    engine: InCollection,
    id: web::Path<Id<String>>,
    body: web::Json<SubjectUpdate>,
) -> Result<HttpResponse, ApiError> {
    let SubjectUpdate { name, metadata } = body.into_inner();
    Ok(HttpResponse::Ok().json(engine.update_subject(id.into_inner().id, name, metadata).await?))
}

/// Merges a subject into another: its faces (and their embeddings) move to `into`, then the
/// subject is deleted. Answers `into` as it is afterwards.
#[utoipa::path(post, path = "/v1/subjects/{id}/merge", tag = "gallery", request_body = MergeRequest,
    responses((status = 200, body = Subject), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge_subject(
    engine: InCollection,
    id: web::Path<Id<String>>,
    body: web::Json<MergeRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.merge_subject(id.into_inner().id, body.into_inner().into).await?))
}

/// Deletes a subject: its faces and their embeddings are erased from the store and the index.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "gallery",
    responses((status = 200, body = SubjectDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete_subject(engine: InCollection, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().id;
    let deleted_faces = engine.delete_subject(id.clone()).await?;
    Ok(HttpResponse::Ok().json(SubjectDeleted { deleted: id, deleted_faces }))
}

/// `POST /v1/subjects/{id}/faces`: enrol the face of `image`. One face is expected; with
/// several, `face` (index, largest first) says which. `external_id` makes retries idempotent.
/// 201 when enrolled, 200 when the same face was already there.
#[utoipa::path(post, path = "/v1/subjects/{id}/faces", tag = "gallery",
    request_body(content = EnrolForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FaceRecord), (status = 200, body = FaceRecord), (status = "4XX", body = ErrorBody)))]
pub async fn add_face(
    engine: InCollection,
    id: web::Path<Id<String>>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, crate::http::form_limits(&req)).await?;
    let opts =
        EnrolOptions { face: form.get("face")?, external_id: form.get("external_id")?, aligned: aligned(&form)? };
    let (record, created) = engine.enrol_face(id.into_inner().id, form.image("image")?, opts).await?;
    Ok(if created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(record))
}

/// The faces enrolled for a subject.
#[utoipa::path(get, path = "/v1/subjects/{id}/faces", tag = "gallery",
    responses((status = 200, body = FaceList), (status = 404, body = ErrorBody)))]
pub async fn list_faces(engine: InCollection, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(FaceList { faces: engine.faces(id.into_inner().id).await? }))
}

/// Deletes one face: the record and its embedding are erased.
#[utoipa::path(delete, path = "/v1/faces/{id}", tag = "gallery",
    responses((status = 200, body = FaceDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete_face(engine: InCollection, id: web::Path<Id<u64>>) -> Result<HttpResponse, ApiError> {
    let face_id = id.into_inner().id;
    engine.delete_face(face_id).await?;
    Ok(HttpResponse::Ok().json(FaceDeleted { deleted: face_id }))
}

/// The aligned 112×112 crop of an enrolled face (PNG), when `gallery.keep_crops` is on.
#[utoipa::path(get, path = "/v1/faces/{id}/crop", tag = "gallery",
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn face_crop(engine: InCollection, id: web::Path<Id<u64>>) -> Result<HttpResponse, ApiError> {
    let png = engine.face_crop(id.into_inner().id).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

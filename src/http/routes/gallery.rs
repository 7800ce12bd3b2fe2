//! Subjects and their faces: create, list (paged), get, rename, delete; enrol, list and delete faces.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::analyze;
use crate::error::VisageError;
use crate::gallery::{FaceRecord, NewFace, Subject};
use crate::http::api::{
    EnrolForm, ErrorBody, FaceDeleted, FaceList, NewSubject, Page, SubjectDeleted, SubjectPage, SubjectUpdate,
};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::AppState;

/// Creates a subject.
#[utoipa::path(post, path = "/v1/subjects", tag = "gallery", request_body = NewSubject,
    responses((status = 201, body = Subject), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_subject(state: web::Data<AppState>, body: web::Json<NewSubject>) -> Result<HttpResponse, ApiError> {
    let NewSubject { id, name, metadata } = body.into_inner();
    let metadata = if metadata.is_null() { json!({}) } else { metadata };
    let subject = state.blocking(move |g| g.create_subject(id.as_deref(), &name, &metadata)).await?;
    Ok(HttpResponse::Created().json(subject))
}

/// Lists subjects, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/subjects", tag = "gallery", params(Page),
    responses((status = 200, body = SubjectPage), (status = 422, body = ErrorBody)))]
pub async fn list_subjects(state: web::Data<AppState>, page: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = (page.offset, page.limit.unwrap_or(100));
    if limit == 0 || limit > 1000 {
        return Err(VisageError::unprocessable("invalid_parameter", "limit must be 1..=1000").into());
    }
    let (subjects, total) = state.blocking(move |g| g.subjects(offset, limit)).await?;
    Ok(HttpResponse::Ok().json(SubjectPage { subjects, total, offset, limit }))
}

/// One subject.
#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "gallery",
    responses((status = 200, body = Subject), (status = 404, body = ErrorBody)))]
pub async fn get_subject(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let subject = state.blocking(move |g| g.subject(&id)).await?;
    Ok(HttpResponse::Ok().json(subject))
}

/// Renames a subject and/or replaces its metadata.
#[utoipa::path(patch, path = "/v1/subjects/{id}", tag = "gallery", request_body = SubjectUpdate,
    responses((status = 200, body = Subject), (status = 404, body = ErrorBody)))]
pub async fn update_subject(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<SubjectUpdate>,
) -> Result<HttpResponse, ApiError> {
    let SubjectUpdate { name, metadata } = body.into_inner();
    let subject = state.blocking(move |g| g.update_subject(&id, name.as_deref(), metadata.as_ref())).await?;
    Ok(HttpResponse::Ok().json(subject))
}

/// Deletes a subject: its faces and their embeddings are erased from the store and the index.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "gallery",
    responses((status = 200, body = SubjectDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete_subject(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let subject_id = id.clone();
    let deleted = state.blocking(move |g| g.delete_subject(&subject_id)).await?;
    Ok(HttpResponse::Ok().json(SubjectDeleted { deleted: id, deleted_faces: deleted }))
}

/// `POST /v1/subjects/{id}/faces`: enrol the face of `image`. One face is expected; with
/// several, `face` (index, largest first) says which. `external_id` makes retries idempotent.
/// 201 when enrolled, 200 when the same face was already there.
#[utoipa::path(post, path = "/v1/subjects/{id}/faces", tag = "gallery",
    request_body(content = EnrolForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FaceRecord), (status = 200, body = FaceRecord), (status = "4XX", body = ErrorBody)))]
pub async fn add_face(
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let which = form.get::<usize>("face")?;
    let external_id = form.get::<String>("external_id")?;
    let bytes = form.image("image")?;
    let subject_id = id.into_inner();
    let keep_crops = state.settings.gallery.keep_crops;
    let (record, created) = state
        .run(move |p, g| {
            g.subject(&subject_id)?; // 404 before spending a model run
            let mut faces = analyze(p, &bytes)?.1;
            let face = match (faces.len(), which) {
                (0, _) => return Err(VisageError::unprocessable("no_face", "no face found in the image")),
                (n, Some(i)) if i >= n => {
                    return Err(VisageError::unprocessable(
                        "invalid_parameter",
                        format!("face {i} requested, {n} found"),
                    ))
                }
                (_, Some(i)) => faces.swap_remove(i),
                (1, None) => faces.remove(0),
                (n, None) => {
                    return Err(VisageError::unprocessable(
                        "multiple_faces",
                        format!("{n} faces found; send a photo of one face or say which with \"face\" (0 = largest)"),
                    ))
                }
            };
            let hash = hex::encode(Sha256::digest(&bytes));
            let crop = if keep_crops { Some(crate::pipeline::draw::png(&face.crop)?) } else { None };
            let new = NewFace {
                model: &face.embedding.model,
                vector: &face.embedding.vector,
                detection: &face.detection,
                image_sha256: &hash,
                external_id: external_id.as_deref(),
                quality: Some(face.quality),
                crop: crop.as_deref(),
            };
            g.add_face(&subject_id, &face.embedding, new)
        })
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(record))
}

/// The faces enrolled for a subject.
#[utoipa::path(get, path = "/v1/subjects/{id}/faces", tag = "gallery",
    responses((status = 200, body = FaceList), (status = 404, body = ErrorBody)))]
pub async fn list_faces(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let faces = state.blocking(move |g| g.faces(&id)).await?;
    Ok(HttpResponse::Ok().json(FaceList { faces }))
}

/// Deletes one face: the record and its embedding are erased.
#[utoipa::path(delete, path = "/v1/faces/{id}", tag = "gallery",
    responses((status = 200, body = FaceDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete_face(state: web::Data<AppState>, id: web::Path<u64>) -> Result<HttpResponse, ApiError> {
    let face_id = id.into_inner();
    state.blocking(move |g| g.delete_face(face_id)).await?;
    Ok(HttpResponse::Ok().json(FaceDeleted { deleted: face_id }))
}

/// The aligned 112×112 crop of an enrolled face (PNG), when `gallery.keep_crops` is on.
#[utoipa::path(get, path = "/v1/faces/{id}/crop", tag = "gallery",
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn face_crop(state: web::Data<AppState>, id: web::Path<u64>) -> Result<HttpResponse, ApiError> {
    let face_id = id.into_inner();
    match state.blocking(move |g| g.crop(face_id)).await? {
        Some(png) => Ok(HttpResponse::Ok().content_type("image/png").body(png)),
        None => Err(VisageError::NotFound(format!("crop of face {face_id} (gallery.keep_crops is off)")).into()),
    }
}

//! Subjects and their faces: create, list (paged), get, rename, delete; enrol, list and delete faces.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::analyze;
use crate::error::VisageError;
use crate::gallery::NewFace;
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubject {
    id: Option<String>,
    name: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

/// `POST /v1/subjects` `{ "id"?: ..., "name": ..., "metadata"?: {...} }` → 201.
pub async fn create_subject(state: web::Data<AppState>, body: web::Json<NewSubject>) -> Result<HttpResponse, ApiError> {
    let NewSubject { id, name, metadata } = body.into_inner();
    let metadata = if metadata.is_null() { json!({}) } else { metadata };
    let subject = state.blocking(move |g| g.create_subject(id.as_deref(), &name, &metadata)).await?;
    Ok(HttpResponse::Created().json(subject))
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
}

/// `GET /v1/subjects?offset=&limit=` (limit 1..=1000, default 100).
pub async fn list_subjects(state: web::Data<AppState>, page: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = (page.offset, page.limit.unwrap_or(100));
    if limit == 0 || limit > 1000 {
        return Err(VisageError::unprocessable("invalid_parameter", "limit must be 1..=1000").into());
    }
    let (subjects, total) = state.blocking(move |g| g.subjects(offset, limit)).await?;
    Ok(HttpResponse::Ok().json(json!({ "subjects": subjects, "total": total, "offset": offset, "limit": limit })))
}

/// `GET /v1/subjects/{id}`.
pub async fn get_subject(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let subject = state.blocking(move |g| g.subject(&id)).await?;
    Ok(HttpResponse::Ok().json(subject))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectUpdate {
    name: Option<String>,
    metadata: Option<serde_json::Value>,
}

/// `PATCH /v1/subjects/{id}` `{ "name"?: ..., "metadata"?: {...} }`.
pub async fn update_subject(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<SubjectUpdate>,
) -> Result<HttpResponse, ApiError> {
    let SubjectUpdate { name, metadata } = body.into_inner();
    let subject = state.blocking(move |g| g.update_subject(&id, name.as_deref(), metadata.as_ref())).await?;
    Ok(HttpResponse::Ok().json(subject))
}

/// `DELETE /v1/subjects/{id}`: the subject, its faces and their embeddings are erased.
pub async fn delete_subject(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let subject_id = id.clone();
    let deleted = state.blocking(move |g| g.delete_subject(&subject_id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": id, "deleted_faces": deleted })))
}

/// `POST /v1/subjects/{id}/faces`: enrol the face of `image`. One face is expected; with
/// several, `face` (index, largest first) says which. `external_id` makes retries idempotent.
/// 201 when enrolled, 200 when the same face was already there.
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
            let new = NewFace {
                model: &face.embedding.model,
                vector: &face.embedding.vector,
                detection: &face.detection,
                image_sha256: &hash,
                external_id: external_id.as_deref(),
            };
            g.add_face(&subject_id, &face.embedding, new)
        })
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(record))
}

/// `GET /v1/subjects/{id}/faces`.
pub async fn list_faces(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let faces = state.blocking(move |g| g.faces(&id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "faces": faces })))
}

/// `DELETE /v1/faces/{id}`: the face and its embedding are erased.
pub async fn delete_face(state: web::Data<AppState>, id: web::Path<u64>) -> Result<HttpResponse, ApiError> {
    let face_id = id.into_inner();
    state.blocking(move |g| g.delete_face(face_id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": face_id })))
}

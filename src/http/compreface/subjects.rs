//! `/api/v1/recognition/subjects`: add, list, rename-or-merge, delete one, delete all. A
//! CompreFace subject is a Visage subject known by its name.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::CfError;
use super::json;
use super::model::SubjectName;
use crate::service::Engine;

/// `POST {"subject": name}` → 201 `{"subject": name}`.
pub async fn add(engine: web::Data<Engine>, body: web::Payload) -> Result<HttpResponse, CfError> {
    let SubjectName { subject } = json(body).await?;
    let created = engine.create_subject_named(subject).await?;
    Ok(HttpResponse::Created().json(SubjectName { subject: created.name }))
}

/// `GET` → `{"subjects": [names]}`.
pub async fn list(engine: web::Data<Engine>) -> Result<HttpResponse, CfError> {
    Ok(HttpResponse::Ok().json(json!({ "subjects": engine.subject_names().await? })))
}

/// `PUT /{subject} {"subject": new}`: renames, or merges into the subject already named so.
pub async fn rename(
    engine: web::Data<Engine>,
    subject: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let SubjectName { subject: to } = json(body).await?;
    engine.rename_or_merge_subject(subject.into_inner(), to).await?;
    Ok(HttpResponse::Ok().json(json!({ "updated": true })))
}

/// `DELETE /{subject}`: the subject and its faces → `{"subject": name}`.
pub async fn delete(engine: web::Data<Engine>, subject: web::Path<String>) -> Result<HttpResponse, CfError> {
    let subject = subject.into_inner();
    engine.delete_subject_named(subject.clone()).await?;
    Ok(HttpResponse::Ok().json(SubjectName { subject }))
}

/// `DELETE`: every subject and face → `{"deleted": count of subjects}`.
pub async fn delete_all(engine: web::Data<Engine>) -> Result<HttpResponse, CfError> {
    Ok(HttpResponse::Ok().json(json!({ "deleted": engine.delete_all_subjects().await? })))
}

//! `GET /v1/folders`: the server folders a bulk job may read (under `enroll.allowed_roots`),
//! for choosing one.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::service::{Engine, ServerFolder};

/// Registers the route (inside `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/folders", web::get().to(list_folders));
}

/// The folders a server job may read.
#[derive(Serialize, ToSchema)]
pub struct FolderList {
    /// Each allowed root, then the folders directly inside it; empty when the server reads no
    /// folders (then only uploaded archives).
    pub folders: Vec<ServerFolder>,
}

/// The allowed roots and the folders directly inside them (at most 1000): sources for
/// `POST /v1/jobs/enroll` with `{"source": {"folder": PATH}}`.
#[utoipa::path(get, path = "/v1/folders", tag = "jobs", responses((status = 200, body = FolderList)))]
pub async fn list_folders(engine: web::Data<Engine>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(FolderList { folders: engine.server_folders().await? }))
}

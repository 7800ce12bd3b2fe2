//! Bulk enrolment jobs: create (a server-side folder/manifest, or an uploaded archive), follow,
//! read the report, cancel. The use cases are the engine's; this reads bodies and streams uploads.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Id, InCollection};
use crate::error::Code;
use crate::http::api::{ErrorBody, JobReport, JobRequest, JobStatus, JobUploadQuery, ReportQuery};
use crate::http::error::{body_error, ApiError};
use crate::service::{job_id, JobSource, NewJob};

/// `POST /v1/jobs/enroll`: JSON naming a server-side source (under `enroll.allowed_roots`), or
/// an archive as the body. 202 with the new job, 200 when the caller's `id` exists already.
#[utoipa::path(post, path = "/v1/jobs/enroll", tag = "jobs", params(JobUploadQuery),
    request_body(content = JobRequest, description = "JSON, or a zip/tar/tar.gz archive as the body"),
    responses((status = 202, body = JobStatus), (status = 200, body = JobStatus), (status = "4XX", body = ErrorBody)))]
pub async fn create_job(
    engine: InCollection,
    req: HttpRequest,
    query: web::Query<JobUploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = req.mime_type().ok().flatten().map(|m| m.essence_str().to_string()).unwrap_or_default();
    let request = if content_type == "application/json" {
        let bytes = body
            .to_bytes_limited(1 << 20)
            .await
            .map_err(|_| ApiError::new(Code::BodyTooLarge, "a job request is at most 1 MiB of JSON"))?
            .map_err(|e| body_error(&e, Code::InvalidBody))?;
        let r: JobRequest =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::new(Code::InvalidJson, e.to_string()))?;
        NewJob {
            id: r.id,
            source: JobSource::Server(r.source),
            gate: r.gate,
            keep_crops: r.keep_crops,
            aligned: r.aligned,
        }
    } else if let Some(ext) = archive_extension(&content_type) {
        let q = query.into_inner();
        let id = job_id(q.id)?;
        if let Ok(job) = engine.job(id.clone()).await {
            return respond(&engine, job, StatusCode::OK);
        }
        let gate = serde_json::json!({
            "min_eye_distance": q.min_eye_distance, "min_score": q.min_score,
            "min_sharpness": q.min_sharpness, "multi_face": q.multi_face,
        });
        engine.gate_with(&gate)?; // refused before the upload is stored
        let path = engine.upload_path(&id, ext);
        save_upload(body, &path, engine.settings().enroll.max_upload_bytes).await?;
        NewJob { id: Some(id), source: JobSource::Upload(path), gate, keep_crops: q.keep_crops, aligned: q.aligned }
    } else {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "send JSON naming a source, or an archive as application/zip, application/x-tar or application/gzip",
        ));
    };
    let (job, created) = engine.create_job(request).await?;
    respond(&engine, job, if created { StatusCode::ACCEPTED } else { StatusCode::OK })
}

fn archive_extension(content_type: &str) -> Option<&'static str> {
    match content_type {
        "application/zip" | "application/x-zip-compressed" => Some("zip"),
        "application/x-tar" => Some("tar"),
        "application/gzip" | "application/x-gzip" | "application/x-compressed-tar" => Some("tar.gz"),
        _ => None,
    }
}

/// Streams the body to `path`: into a private `.part` file, synced, then linked to `path`
/// without replacing anything (a concurrent upload with the same id loses cleanly) and the
/// folder synced, so an acknowledged job's archive survives a power cut. At most `max` bytes.
async fn save_upload(mut body: web::Payload, path: &std::path::Path, max: u64) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::from(crate::error::VisageError::io("the uploaded archive", e));
    let dir = path.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let part = dir.join(format!(".{}.part", uuid::Uuid::new_v4()));
    let mut file = tokio::fs::File::create_new(&part).await.map_err(io)?;
    let mut written = 0u64;
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| body_error(&e, Code::InvalidBody))?;
            written += chunk.len() as u64;
            if written > max {
                return Err(ApiError::new(
                    Code::UploadTooLarge,
                    format!("archives are limited to {max} bytes (enroll.max_upload_bytes)"),
                ));
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        if written == 0 {
            return Err(ApiError::new(Code::EmptyBody, "the archive is empty"));
        }
        file.sync_all().await.map_err(io)?;
        match tokio::fs::hard_link(&part, path).await {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ApiError::new(Code::JobExists, "an upload with this job id exists already"))
            }
            other => other.map_err(io)?,
        }
        let dir = dir.clone();
        web::block(move || std::fs::File::open(&dir).and_then(|d| d.sync_all()))
            .await
            .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?
            .map_err(io)
    }
    .await;
    let _ = tokio::fs::remove_file(&part).await;
    result
}

fn respond(engine: &InCollection, job: JobStatus, code: StatusCode) -> Result<HttpResponse, ApiError> {
    let location = format!("{}/jobs/{}", engine.base(), job.id);
    Ok(HttpResponse::build(code).insert_header(("Location", location)).json(job))
}

/// A job's state, counts (processed, enrolled, skipped, rejected, failed), rate and ETA.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn get_job(engine: InCollection, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    respond(&engine, engine.job(id.into_inner().id).await?, StatusCode::OK)
}

/// A page of a job's report: one line per processed photo, in processing order.
#[utoipa::path(get, path = "/v1/jobs/{id}/report", tag = "jobs", params(ReportQuery),
    responses((status = 200, body = JobReport), (status = 404, body = ErrorBody)))]
pub async fn job_report(
    engine: InCollection,
    id: web::Path<Id<String>>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (job, offset, limit) = (id.into_inner().id, query.offset, query.limit.unwrap_or(1000));
    let items = engine.job_report(job.clone(), query.problems, offset, limit).await?;
    Ok(HttpResponse::Ok().json(JobReport { job, offset, limit, items }))
}

/// Cancels a queued or running job (photos in flight are finished and recorded); a finished
/// job is left as it is. Its report stays.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs",
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn cancel_job(engine: InCollection, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    respond(&engine, engine.cancel_job(id.into_inner().id).await?, StatusCode::OK)
}

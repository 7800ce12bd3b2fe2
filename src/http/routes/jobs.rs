//! Bulk enrolment jobs: create (a server-side folder/manifest, or an uploaded archive), follow,
//! read the report, cancel. The work itself is `crate::enroll`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::enroll::{self, manager, Gate, JobSpec, Source};
use crate::error::VisageError;
use crate::gallery::{validate_id, Gallery};
use crate::http::api::{ErrorBody, JobReport, JobRequest, JobStatus, JobUploadQuery, ReportQuery};
use crate::http::error::ApiError;
use crate::http::AppState;

/// A job's status: stored state and counts, plus live rate and ETA while it runs here.
fn status(g: &Gallery, jobs: &manager::Manager, id: &str) -> crate::Result<JobStatus> {
    let job = g.job(id)?;
    let spec = enroll::spec_of(&job)?;
    let counts = enroll::Counts::from_outcomes(g.job_counts(id)?);
    let live = jobs.progress(id);
    Ok(JobStatus {
        id: job.id,
        state: job.state,
        source: spec.source,
        gate: spec.gate,
        total: job.total,
        counts,
        rate: live.as_ref().map(|p| p.rate),
        eta_s: live.and_then(|p| p.eta_s),
        error: job.error,
        created_at: job.created_at,
        updated_at: job.updated_at,
        finished_at: job.finished_at,
    })
}

/// The configured gate with a request's overrides.
fn gate_with(base: Gate, overrides: &serde_json::Value) -> Result<Gate, ApiError> {
    let mut merged = serde_json::to_value(base).unwrap_or_default();
    match (overrides, merged.as_object_mut()) {
        (serde_json::Value::Null, _) => {}
        (serde_json::Value::Object(o), Some(m)) => {
            for (k, v) in o {
                if !m.contains_key(k) {
                    return Err(ApiError::bad_request("invalid_parameter", format!("unknown gate option {k:?}")));
                }
                if !v.is_null() {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        _ => return Err(ApiError::bad_request("invalid_parameter", "gate must be an object")),
    }
    let gate: Gate =
        serde_json::from_value(merged).map_err(|e| ApiError::bad_request("invalid_parameter", format!("gate: {e}")))?;
    gate.validate().map_err(|e| ApiError::bad_request("invalid_parameter", format!("gate: {e}")))?;
    Ok(gate)
}

/// `POST /v1/jobs/enroll`: JSON naming a server-side source (under `enroll.allowed_roots`), or
/// an archive as the body. 202 with the new job, 200 when the caller's `id` exists already.
#[utoipa::path(post, path = "/v1/jobs/enroll", tag = "jobs", params(JobUploadQuery),
    request_body(content = JobRequest, description = "JSON, or a zip/tar/tar.gz archive as the body"),
    responses((status = 202, body = JobStatus), (status = 200, body = JobStatus), (status = "4XX", body = ErrorBody)))]
pub async fn create_job(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<JobUploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let content_type = req.mime_type().ok().flatten().map(|m| m.essence_str().to_string()).unwrap_or_default();
    let (id, spec) = if content_type == "application/json" {
        let bytes = body
            .to_bytes_limited(1 << 20)
            .await
            .map_err(|_| {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "a job request is at most 1 MiB of JSON")
            })?
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        let request: JobRequest =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
        let roots = settings.enroll.allowed_roots.clone();
        let requested = request.source;
        let source = web::block(move || requested.check_allowed(&roots))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
            .map_err(forbidden)?;
        let gate = gate_with(settings.enroll.gate, &request.gate)?;
        let keep_crops = request.keep_crops.unwrap_or(settings.gallery.keep_crops);
        (job_id(request.id)?, JobSpec { source, gate, keep_crops, uploaded: false })
    } else if let Some(ext) = archive_extension(&content_type) {
        let q = query.into_inner();
        let id = job_id(q.id)?;
        let existing = id.clone();
        if let Ok(job) = state.blocking(move |g| g.job(&existing)).await {
            return respond(&state, &job.id, StatusCode::OK).await;
        }
        let overrides = serde_json::json!({
            "min_eye_distance": q.min_eye_distance, "min_score": q.min_score,
            "min_sharpness": q.min_sharpness, "multi_face": q.multi_face,
        });
        let gate = gate_with(settings.enroll.gate, &overrides)?;
        let path = settings.server.data_dir.join("uploads").join(format!("{id}.{ext}"));
        save_upload(body, &path, settings.enroll.max_upload_bytes).await?;
        let keep_crops = q.keep_crops.unwrap_or(settings.gallery.keep_crops);
        (id, JobSpec { source: Source::Archive(path), gate, keep_crops, uploaded: true })
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON naming a source, or an archive as application/zip, application/x-tar or application/gzip",
        ));
    };
    let job_key = id.clone();
    let upload = spec.uploaded.then(|| spec.source.path().to_path_buf());
    let created = state.blocking(move |g| enroll::create(g, &job_key, &spec, manager::ORIGIN)).await;
    if let (Some(path), Err(_) | Ok((_, false))) = (&upload, &created) {
        let _ = tokio::fs::remove_file(path).await; // this request's archive, not the job's
    }
    let (job, created) = created?;
    if created {
        state.jobs.submit(&job.id);
        tracing::info!(job = %job.id, "enrolment job queued");
    }
    respond(&state, &job.id, if created { StatusCode::ACCEPTED } else { StatusCode::OK }).await
}

fn forbidden(e: VisageError) -> ApiError {
    match e.code() {
        "path_not_allowed" => ApiError::new(StatusCode::FORBIDDEN, "path_not_allowed", e.to_string()),
        _ => e.into(),
    }
}

fn job_id(id: Option<String>) -> Result<String, ApiError> {
    match id {
        Some(id) => Ok(validate_id(&id)?.to_string()),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
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
    let io = |e: std::io::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e.to_string());
    let dir = path.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let part = dir.join(format!(".{}.part", uuid::Uuid::new_v4()));
    let mut file = tokio::fs::File::create_new(&part).await.map_err(io)?;
    let mut written = 0u64;
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
            written += chunk.len() as u64;
            if written > max {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "upload_too_large",
                    format!("archives are limited to {max} bytes (enroll.max_upload_bytes)"),
                ));
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        if written == 0 {
            return Err(ApiError::bad_request("empty_body", "the archive is empty"));
        }
        file.sync_all().await.map_err(io)?;
        match tokio::fs::hard_link(&part, path).await {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(VisageError::conflict("job_exists", "an upload with this job id exists already").into())
            }
            other => other.map_err(io)?,
        }
        let dir = dir.clone();
        web::block(move || std::fs::File::open(&dir).and_then(|d| d.sync_all()))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
            .map_err(io)
    }
    .await;
    let _ = tokio::fs::remove_file(&part).await;
    result
}

async fn respond(state: &web::Data<AppState>, id: &str, code: StatusCode) -> Result<HttpResponse, ApiError> {
    let (id, jobs) = (id.to_string(), state.jobs.clone());
    let location = format!("/v1/jobs/{id}");
    let body = state.blocking(move |g| status(g, &jobs, &id)).await?;
    Ok(HttpResponse::build(code).insert_header(("Location", location)).json(body))
}

/// A job's state, counts (processed, enrolled, skipped, rejected, failed), rate and ETA.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn get_job(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    respond(&state, &id, StatusCode::OK).await
}

/// A page of a job's report: one line per processed photo, in processing order.
#[utoipa::path(get, path = "/v1/jobs/{id}/report", tag = "jobs", params(ReportQuery),
    responses((status = 200, body = JobReport), (status = 404, body = ErrorBody)))]
pub async fn job_report(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return Err(VisageError::unprocessable("invalid_parameter", "limit must be 1..=10000").into());
    }
    let (job, offset, problems) = (id.into_inner(), query.offset, query.problems);
    let key = job.clone();
    let items = state
        .blocking(move |g| {
            g.job(&key)?;
            g.job_items(&key, problems, offset, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(JobReport { job, offset, limit, items }))
}

/// Cancels a queued or running job (photos in flight are finished and recorded); a finished
/// job is left as it is. Its report stays.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs",
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn cancel_job(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (key, jobs) = (id.clone(), state.jobs.clone());
    state.blocking(move |_| jobs.cancel(&key)).await?;
    respond(&state, &id, StatusCode::OK).await
}

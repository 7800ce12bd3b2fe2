//! Bulk enrolment jobs as use cases: create (a server-side source under the allowed roots, or
//! an archive a door has saved), follow, page the report, cancel. The work itself is
//! [`crate::enroll`]'s, run by the engine's job manager.

use std::path::PathBuf;

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Settings;
use crate::enroll::{self, manager, manager::Manager, Gate, JobSpec, Source};
use crate::error::{Code, Result, VisageError};
use crate::gallery::{validate_id, Gallery, JobState};
use crate::pipeline::Pipeline;

/// The origin tag of jobs run in a command's foreground (a server resumes only its own).
const FOREGROUND: &str = "cli";

/// A job's state and progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub id: String,
    pub state: crate::gallery::JobState,
    pub source: Source,
    pub gate: Gate,
    /// Photos in the source (known once the job has started).
    pub total: Option<u64>,
    pub counts: enroll::Counts,
    /// Photos per second in this run of the job (while it runs).
    pub rate: Option<f64>,
    /// Seconds left at that rate.
    pub eta_s: Option<f64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// Where a new job's photos are.
pub enum JobSource {
    /// A source on the server, confined to `enroll.allowed_roots`.
    Server(Source),
    /// An archive a door saved at [`super::Engine::upload_path`]; deleted when the job ends
    /// (or at once when no job is created).
    Upload(PathBuf),
}

/// A job to create.
pub struct NewJob {
    /// The caller's id: creating it again returns the same job (generated when absent).
    pub id: Option<String>,
    pub source: JobSource,
    /// Quality-gate overrides (a JSON object of [`Gate`]'s fields); unset ones come from
    /// `[enroll]`.
    pub gate: serde_json::Value,
    /// Keep the aligned crops (default `gallery.keep_crops`).
    pub keep_crops: Option<bool>,
    /// The photos already are aligned face crops.
    pub aligned: bool,
}

/// A job's status: stored state and counts, plus live rate and ETA while it runs here.
pub(super) fn status(g: &Gallery, jobs: &Manager, id: &str) -> Result<JobStatus> {
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

/// `base` with a request's overrides (a JSON object of the gate's fields).
pub fn gate_with(base: Gate, overrides: &serde_json::Value) -> Result<Gate> {
    let invalid = |m: String| VisageError::unprocessable(Code::InvalidOption, m);
    let mut merged = serde_json::to_value(base).unwrap_or_default();
    match (overrides, merged.as_object_mut()) {
        (serde_json::Value::Null, _) => {}
        (serde_json::Value::Object(o), Some(m)) => {
            for (k, v) in o {
                if !m.contains_key(k) {
                    return Err(invalid(format!("unknown gate option {k:?}")));
                }
                if !v.is_null() {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        _ => return Err(invalid("gate must be an object".into())),
    }
    let gate: Gate = serde_json::from_value(merged).map_err(|e| invalid(format!("gate: {e}")))?;
    gate.validate().map_err(|e| invalid(format!("gate: {e}")))?;
    Ok(gate)
}

/// The caller's job id, checked, or a new one.
pub fn job_id(id: Option<String>) -> Result<String> {
    match id {
        Some(id) => Ok(validate_id(&id)?.to_string()),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// Resolves a request into a job id and spec (the source confined to `roots`).
pub(super) fn spec_of(request: NewJob, roots: &[PathBuf], base: Gate, keep_crops: bool) -> Result<(String, JobSpec)> {
    let (source, uploaded) = match request.source {
        JobSource::Server(source) => (source.check_allowed(roots)?, false),
        JobSource::Upload(path) => (Source::Archive(path), true),
    };
    let gate = gate_with(base, &request.gate)?;
    let id = job_id(request.id)?;
    let keep_crops = request.keep_crops.unwrap_or(keep_crops);
    Ok((id, JobSpec { source, gate, keep_crops, uploaded, aligned: request.aligned }))
}

/// Creates the job unless it exists (an uploaded archive no job took is deleted); queues a
/// new one on `jobs`. True when created.
pub(super) fn create(g: &Gallery, jobs: &Manager, id: &str, spec: &JobSpec) -> Result<bool> {
    let created = enroll::create(g, id, spec, crate::enroll::manager::ORIGIN);
    if spec.uploaded && !matches!(created, Ok((_, true))) {
        let _ = std::fs::remove_file(spec.source.path()); // this request's archive, not the job's
    }
    let (job, created) = created?;
    if created {
        jobs.submit(&job.id);
        tracing::info!(job = %job.id, "enrolment job queued");
    }
    Ok(created)
}

/// What a job run in the foreground did.
#[derive(Debug)]
pub struct JobRun {
    pub state: JobState,
    /// This run's stage timings.
    pub times: enroll::StageTimes,
    /// The threads it ran on.
    pub workers: usize,
}

/// [`super::Engine::run_job`].
pub(super) fn run_here(
    g: &Gallery,
    pipeline: Option<&Pipeline>,
    id: &str,
    spec: &JobSpec,
    progress: &mut dyn FnMut(&enroll::Progress),
    settings: &Settings,
    workers: usize,
) -> Result<JobRun> {
    let (job, _) = enroll::create(g, id, spec, FOREGROUND)?;
    if job.state.is_final() {
        g.set_job_state(id, JobState::Queued, None)?;
        g.set_job_total(id, None)?;
    }
    let opts = enroll::Options { gate: spec.gate, ..super::assemble::job_options(settings, workers) };
    let mut times = enroll::StageTimes::default();
    let state = manager::drive(pipeline, g, id, &opts, progress, &mut times)?;
    Ok(JobRun { state, times, workers })
}

/// A folder on the server a job may read (`ROOT/<subject>/<photo>` inside).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerFolder {
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Folders directly inside: one per subject in a folder source.
    pub subfolders: u64,
}

/// Most folders listed.
const MAX_FOLDERS: usize = 1000;

/// The allowed roots and the folders directly inside them (not hidden), sorted, at most 1000:
/// the folders a server job may be given.
pub fn server_folders(roots: &[PathBuf]) -> Vec<ServerFolder> {
    let dirs = |p: &std::path::Path| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    };
    let folder = |path: PathBuf| ServerFolder { subfolders: dirs(&path).len() as u64, path };
    let mut out = Vec::new();
    for root in roots.iter().filter(|r| r.is_dir()) {
        out.push(folder(root.clone()));
        out.extend(dirs(root).into_iter().map(folder));
    }
    out.truncate(MAX_FOLDERS);
    out
}

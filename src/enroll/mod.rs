//! Bulk enrolment: durable, resumable jobs over a labelled folder, an archive or a manifest.
//! A job is a row in the gallery database; each item's outcome is recorded in the same
//! transaction as its face, so a job can be stopped at any instant and resumed, enrolling every
//! item exactly once. Re-running a finished source enrols nothing twice (the caller's external
//! id, else the photo's hash, identifies a face).

pub mod embeddings;
pub mod gate;
pub mod import;
pub mod manager;
pub mod process;
pub mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};
use crate::gallery::{Gallery, ItemWrite, JobRecord, JobState, NewFace};
use crate::pipeline::Pipeline;
pub use gate::{Gate, MultiFace, Outcome};
pub use process::{Options, StageTimes};
pub use source::{ArchiveLimits, EmbeddingsFile, ReadLimits, Source};

/// Bulk enrolment jobs: parallelism, the default quality gate and what a server may read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollSettings {
    /// Worker threads of a job (0 = one per core); each runs the models single-threaded.
    pub workers: usize,
    /// Photos per worker batch (their faces are embedded in one model run).
    pub batch: usize,
    /// Folders a server-side job may read (a folder, or a manifest's files); empty = none, only
    /// uploaded archives. The CLI reads anything its user can.
    #[serde(deserialize_with = "crate::config_list::list_or_csv_paths")]
    pub allowed_roots: Vec<PathBuf>,
    /// Largest archive accepted by `POST /v1/jobs/enroll`, bytes.
    pub max_upload_bytes: u64,
    /// Bytes an archive may decompress to in all (archive bombs).
    pub max_archive_bytes: u64,
    /// Entries a zip's central directory may list.
    pub max_archive_entries: u64,
    /// The default enrolment quality gate.
    #[serde(flatten)]
    pub gate: Gate,
}

impl EnrollSettings {
    /// What an archive source may cost.
    pub fn archive_limits(&self) -> ArchiveLimits {
        ArchiveLimits { bytes: self.max_archive_bytes, entries: self.max_archive_entries }
    }
}

/// What a job does: its source and its quality gate. Stored with the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSpec {
    pub source: Source,
    pub gate: Gate,
    /// Keep the aligned crops of enrolled faces.
    #[serde(default)]
    pub keep_crops: bool,
    /// The source is an archive uploaded to the service, deleted when the job ends.
    #[serde(default)]
    pub uploaded: bool,
    /// Each photo already is an aligned face crop (LFW-aligned, MegaFace-style 112×112):
    /// no detection, the whole photo is the face.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aligned: bool,
}

/// Deletes a finished job's uploaded archive (its report stays in the gallery).
pub(crate) fn discard_upload(spec: &JobSpec) {
    if spec.uploaded {
        match std::fs::remove_file(spec.source.path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("cannot delete the upload {}: {e}", spec.source.path().display())
            }
            _ => {}
        }
    }
}

/// A job's counters: every processed item is exactly one of enrolled, skipped (already in the
/// gallery), rejected (by the quality gate) or failed (unreadable or invalid).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    pub processed: u64,
    pub enrolled: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Items per outcome (`no_face`, `blurry`, ...).
    pub by_outcome: HashMap<String, u64>,
}

impl Counts {
    /// Counters from the stored per-outcome tallies.
    pub fn from_outcomes(by_outcome: HashMap<String, u64>) -> Self {
        let mut c = Counts::default();
        for (name, n) in &by_outcome {
            c.add(Outcome::parse(name).unwrap_or(Outcome::Invalid), *n);
        }
        c.by_outcome = by_outcome;
        c
    }

    fn add(&mut self, outcome: Outcome, n: u64) {
        self.processed += n;
        match outcome.category() {
            gate::Category::Enrolled => self.enrolled += n,
            gate::Category::Skipped => self.skipped += n,
            gate::Category::Rejected => self.rejected += n,
            gate::Category::Failed => self.failed += n,
        }
    }

    fn record(&mut self, outcome: Outcome) {
        self.add(outcome, 1);
        *self.by_outcome.entry(outcome.as_str().to_string()).or_default() += 1;
    }
}

/// Live progress of a running job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Progress {
    pub total: Option<u64>,
    pub counts: Counts,
    /// Items per second since this run of the job started.
    pub rate: f64,
    /// Seconds left at that rate.
    pub eta_s: Option<f64>,
}

/// A job's stored record, parsed.
pub fn spec_of(job: &JobRecord) -> Result<JobSpec> {
    serde_json::from_str(&job.spec).map_err(|e| VisageError::Store(format!("job {}: unreadable spec: {e}", job.id)))
}

/// Creates a job (queued) unless one with this id exists; returns the stored record and
/// whether it was created. An existing id with another spec is a conflict.
pub fn create(gallery: &Gallery, id: &str, spec: &JobSpec, origin: &str) -> Result<(JobRecord, bool)> {
    let text = serde_json::to_string(spec).map_err(|e| VisageError::Store(e.to_string()))?;
    let created = gallery.create_job(id, &text, origin)?;
    let job = gallery.job(id)?;
    if !created && spec_of(&job)? != *spec {
        return Err(VisageError::conflict(
            Code::JobExists,
            format!("job {id:?} exists with another source or options"),
        ));
    }
    Ok((job, created))
}

/// Runs (or resumes) a job to its end, or until `opts.cancel` is set. Items already recorded
/// are skipped; the job's state is `completed` or `cancelled` afterwards (left `running` when
/// the process stops first, so that it resumes). `progress` is called after each recorded batch;
/// `times` receives this run's stage timings. An embeddings source needs no `pipeline`.
pub fn run(
    pipeline: Option<&Pipeline>,
    gallery: &Gallery,
    job_id: &str,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
    times: &mut StageTimes,
) -> Result<JobState> {
    let job = gallery.job(job_id)?;
    let spec = spec_of(&job)?;
    if job.state.is_final() {
        discard_upload(&spec);
        return Ok(job.state);
    }
    let result = run_items(pipeline, gallery, &job, &spec, opts, progress).map(|t| *times = t);
    let state = match &result {
        Ok(()) if opts.cancel.load(Ordering::Acquire) => JobState::Cancelled,
        Ok(()) if opts.stop.load(Ordering::Acquire) => JobState::Running,
        Ok(()) => JobState::Completed,
        Err(e) if e.is_client_error() => JobState::Failed,
        // A store or model failure: leave it running, to be resumed.
        Err(_) => JobState::Running,
    };
    if state != JobState::Running {
        gallery.set_job_state(job_id, state, result.as_ref().err().map(|e| e.to_string()).as_deref())?;
        discard_upload(&spec);
    }
    result.map(|()| state)
}

fn run_items(
    pipeline: Option<&Pipeline>,
    gallery: &Gallery,
    job: &JobRecord,
    spec: &JobSpec,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<StageTimes> {
    if let (Some(roots), false) = (&opts.roots, spec.uploaded) {
        // Again at every (re)start: the allowed roots may have narrowed since.
        spec.source.check_allowed(roots)?;
    }
    gallery.set_job_state(&job.id, JobState::Running, None)?;
    let total = match job.total {
        Some(t) => t,
        None => {
            let stop = || opts.cancel.load(Ordering::Acquire) || opts.stop.load(Ordering::Acquire);
            match spec.source.count(opts.roots.as_deref(), opts.archive, &stop)? {
                Some(t) => {
                    gallery.set_job_total(&job.id, Some(t))?;
                    t
                }
                None => return Ok(StageTimes::default()),
            }
        }
    };
    let pipeline = match (&spec.source, pipeline) {
        (Source::Embeddings(file), _) => {
            let t = import::run(gallery, job, file, total, opts, progress)?;
            return Ok(StageTimes { items: t.rows, index_ms: t.index.as_secs_f64() * 1000.0, ..StageTimes::default() });
        }
        (_, Some(pipeline)) => pipeline,
        (_, None) => return Err(VisageError::Internal("a photo job needs the models loaded".into())),
    };
    let done = gallery.job_done(&job.id)?;
    let mut counts = Counts::from_outcomes(gallery.job_counts(&job.id)?);
    let resumed_at = counts.processed;
    let opts = Options { gate: spec.gate, aligned: spec.aligned, ..opts.clone() };
    let started = Instant::now();
    let mut pending: Vec<process::Processed> = Vec::new();
    let mut last_flush = Instant::now();
    let keep_crops = spec.keep_crops;
    let mut indexing = Duration::ZERO;
    let mut flush = |pending: &mut Vec<process::Processed>, counts: &mut Counts| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let (recorded, index_time) = record(gallery, &job.id, pending, keep_crops)?;
        indexing += index_time;
        for outcome in recorded {
            counts.record(outcome);
        }
        pending.clear();
        let rate = (counts.processed - resumed_at) as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let left = total.saturating_sub(counts.processed) as f64;
        progress(&Progress {
            total: Some(total),
            counts: counts.clone(),
            rate,
            eta_s: (rate > 0.0).then(|| left / rate),
        });
        Ok(())
    };
    let times = process::process(pipeline, &spec.source, &done, &opts, &mut |p| {
        pending.push(p);
        if pending.len() >= 64 || last_flush.elapsed() > Duration::from_millis(500) {
            last_flush = Instant::now();
            flush(&mut pending, &mut counts)?;
        }
        Ok(())
    });
    // What was processed is recorded even when the source failed part-way.
    flush(&mut pending, &mut counts)?;
    times.map(|t| StageTimes { index_ms: indexing.as_secs_f64() * 1000.0, ..t })
}

/// Writes processed items (and their faces) in one transaction; returns their outcomes and the
/// time the vector index took.
fn record(
    gallery: &Gallery,
    job_id: &str,
    items: &[process::Processed],
    keep_crops: bool,
) -> Result<(Vec<Outcome>, Duration)> {
    let crops: Vec<Option<Vec<u8>>> = items
        .iter()
        .map(|p| match (&p.result, keep_crops) {
            (Ok(face), true) => crate::pipeline::draw::png(&face.crop).ok(),
            _ => None,
        })
        .collect();
    let writes: Vec<ItemWrite> = items
        .iter()
        .zip(&crops)
        .map(|(p, crop)| {
            let e = &p.entry;
            let (face, outcome, reason) = match (crate::gallery::validate_id(&e.subject), &p.result) {
                (Err(_), _) if e.subject.is_empty() => {
                    (None, Outcome::Invalid, Some("not inside a subject folder".into()))
                }
                (Err(err), _) => (None, Outcome::Invalid, Some(err.to_string())),
                (Ok(_), Err((outcome, reason))) => (None, *outcome, Some(reason.clone())),
                (Ok(_), Ok(face)) => {
                    let new = NewFace::detected(face, &p.sha256, e.external_id.as_deref(), crop.as_deref());
                    (Some(new), Outcome::Enrolled, None)
                }
            };
            ItemWrite {
                item: &e.name,
                subject: &e.subject,
                subject_name: &e.subject_name,
                face,
                outcome: outcome.as_str(),
                reason,
            }
        })
        .collect();
    let (recorded, indexing) = gallery.record_items(job_id, writes)?;
    Ok((recorded.iter().map(|r| Outcome::parse(r.outcome).unwrap_or(Outcome::Invalid)).collect(), indexing))
}

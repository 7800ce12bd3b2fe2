//! Importing embeddings computed elsewhere (an [`EmbeddingsFile`] source): no model runs, each
//! row is checked (subject id, model, dimension, finite, non-zero), L2-normalised and enrolled
//! through the same job records as photos. Rows go in batches of [`BATCH`], each one SQLite
//! transaction holding the faces and the rows' outcomes, then one `index.add`: a job killed at
//! any instant resumes after the last committed batch and never enrols a row twice.
//!
//! A face's identity: the row's `external_id` when it has one, else the sha256 of its stored
//! (normalised) vector within its subject (kept as the face's `image_sha256`). Importing the
//! same rows again adds nothing.

use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use super::embeddings::{self, Numbered, Reader};
use super::source::{subject_id, EmbeddingsFile};
use super::{Counts, Options, Outcome, Progress};
use crate::error::{Code, Result, VisageError};
use crate::gallery::{Gallery, ItemWrite, JobRecord, NewFace};
use crate::pipeline::detect::{BBox, Detection};

/// Rows per transaction: large enough that a commit's fsync is spread over thousands of faces,
/// small enough that a batch holds a few MB and a cancel is honoured within a fraction of a second.
pub const BATCH: usize = 4096;

/// The detection an imported face is stored with: there was no photo, so no box, score or
/// landmarks (all zero).
const NO_DETECTION: Detection =
    Detection { bbox: BBox { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 }, score: 0.0, landmarks: [[0.0; 2]; 5] };

fn incompatible(message: String) -> VisageError {
    VisageError::conflict(Code::IncompatibleEmbeddings, message)
}

/// Checks, before anything is written, what can be told of the whole file: a `.npy` has labels
/// and vectors of `dim` values (when `dim` is known), and its first row names no other model
/// than `model`. Returns the vectors' length the file declares (`.npy`) or its first readable
/// row has (JSON Lines).
pub fn check_file(file: &EmbeddingsFile, model: &str, dim: Option<usize>) -> Result<Option<usize>> {
    let mut reader = Reader::open(&file.file, file.subjects.as_deref())?;
    if !reader.labelled() {
        return Err(VisageError::unprocessable(
            Code::InvalidSource,
            format!(
                "{}: a .npy needs its subjects: a CSV with header subject[,external_id][,name] (--subjects, or {} beside it)",
                file.file.display(),
                embeddings::subjects_beside(&file.file).display()
            ),
        ));
    }
    if let (Some(declared), Some(dim)) = (reader.dim(), dim) {
        if declared != dim {
            return Err(incompatible(format!(
                "{} holds {declared}-d vectors; model {model} gives {dim}-d ones",
                file.file.display()
            )));
        }
    }
    let mut first = Vec::new();
    let mut row = None;
    while row.is_none() && reader.read_batch(1, &mut first)? {
        row = first.pop().and_then(|n| n.row.ok());
    }
    if let Some(other) = row.as_ref().and_then(|r| r.model.as_deref()).filter(|m| *m != model) {
        return Err(incompatible(format!(
            "{} holds embeddings of model {other}, not {model}; embeddings of different models cannot be compared",
            file.file.display()
        )));
    }
    Ok(reader.dim().or(row.map(|r| r.vector.len())))
}

/// A row made ready to record: its face's fields, or why it cannot be enrolled.
struct Prepared {
    item: String,
    subject: String,
    subject_name: String,
    external_id: Option<String>,
    vector: Vec<f32>,
    sha256: String,
    failure: Option<String>,
}

fn prepare(n: Numbered, unit: &str, model: &str, dim: usize) -> Prepared {
    let mut p = Prepared {
        item: format!("{unit} {}", n.at),
        subject: String::new(),
        subject_name: String::new(),
        external_id: None,
        vector: Vec::new(),
        sha256: String::new(),
        failure: None,
    };
    let row = match n.row {
        Ok(row) => row,
        Err(reason) => {
            p.failure = Some(reason);
            return p;
        }
    };
    let label = row.subject.unwrap_or_default();
    p.subject = subject_id(&label);
    p.subject_name = row.name.filter(|n| !n.is_empty()).unwrap_or_else(|| label.clone());
    p.external_id = row.external_id.filter(|e| !e.is_empty());
    p.failure = match (row.model, embeddings::unit(row.vector, dim)) {
        _ if label.is_empty() => Some("no subject".into()),
        (Some(other), _) if other != model => {
            Some(format!("incompatible_model: embedding of model {other}, the gallery holds {model}"))
        }
        (_, Err(reason)) => Some(reason),
        (_, Ok(vector)) => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            p.sha256 = crate::gallery::photo_sha256(&bytes);
            p.vector = vector;
            None
        }
    };
    p
}

/// What one run of an import did: rows recorded and the time the vector index took.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTimes {
    pub rows: u64,
    pub index: Duration,
}

/// Imports the rows of `file` not recorded yet into `gallery` under `job`, until the end of the
/// file or `opts.cancel` / `opts.stop`. `total` is the file's number of rows.
pub(super) fn run(
    gallery: &Gallery,
    job: &JobRecord,
    file: &EmbeddingsFile,
    total: u64,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ImportTimes> {
    let (model, dim) = (gallery.model().to_string(), gallery.dim());
    check_file(file, &model, Some(dim))?;
    let mut reader = Reader::open(&file.file, file.subjects.as_deref())?;
    let unit = reader.format().unit();
    let mut counts = Counts::from_outcomes(gallery.job_counts(&job.id)?);
    let resumed_at = counts.processed;
    // Rows are recorded in file order, a batch per transaction: those recorded are the first ones.
    reader.skip(resumed_at)?;
    let started = Instant::now();
    let mut times = ImportTimes::default();
    let stopped = || opts.cancel.load(Ordering::Acquire) || opts.stop.load(Ordering::Acquire);
    std::thread::scope(|scope| {
        // One thread reads and prepares (parses, checks, normalises, hashes) the next batches
        // while this one writes the current batch.
        let (tx, rx) = sync_channel::<Result<Vec<Prepared>>>(2);
        let model = model.as_str();
        scope.spawn(move || {
            let mut rows = Vec::with_capacity(BATCH);
            loop {
                let batch = match reader.read_batch(BATCH, &mut rows) {
                    Ok(false) => return,
                    Ok(true) => Ok(rows.drain(..).map(|n| prepare(n, unit, model, dim)).collect()),
                    Err(e) => Err(e),
                };
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        let mut write = || -> Result<()> {
            for prepared in rx.iter() {
                if stopped() {
                    break;
                }
                let (recorded, indexing) = gallery.record_items(&job.id, writes(&prepared?, model))?;
                times.index += indexing;
                times.rows += recorded.len() as u64;
                for r in &recorded {
                    counts.record(Outcome::parse(r.outcome).unwrap_or(Outcome::Invalid));
                }
                let rate = (counts.processed - resumed_at) as f64 / started.elapsed().as_secs_f64().max(1e-3);
                let left = total.saturating_sub(counts.processed) as f64;
                let eta_s = (rate > 0.0).then(|| left / rate);
                progress(&Progress { total: Some(total), counts: counts.clone(), rate, eta_s });
            }
            Ok(())
        };
        let result = write();
        drop(rx); // ends the reader if this one stopped first
        result
    })?;
    Ok(times)
}

/// The job items of a batch: each row with its face, or its reason.
fn writes<'a>(prepared: &'a [Prepared], model: &'a str) -> Vec<ItemWrite<'a>> {
    prepared
        .iter()
        .map(|p| ItemWrite {
            item: &p.item,
            subject: &p.subject,
            subject_name: &p.subject_name,
            face: p.failure.is_none().then(|| NewFace {
                model,
                vector: &p.vector,
                detection: &NO_DETECTION,
                image_sha256: &p.sha256,
                external_id: p.external_id.as_deref(),
                quality: None,
                crop: None,
            }),
            outcome: Outcome::Invalid.as_str(),
            reason: p.failure.clone(),
        })
        .collect()
}

/// The row number of an import's item name (`row 17`, `line 18`).
pub fn item_position(item: &str) -> Option<(&str, u64)> {
    let (unit, n) = item.split_once(' ')?;
    Some((unit, n.parse().ok()?))
}

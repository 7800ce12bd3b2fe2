//! `visage import` (embeddings computed elsewhere into the gallery, as a durable job, with no
//! model run) and `visage export` (every face's embedding out, in the same formats).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::enroll::progress_bar;
use crate::config::Settings;
use crate::enroll::embeddings::{Reader, Record, Writer};
use crate::enroll::{self, import, ArchiveLimits, Counts, EmbeddingsFile, Gate, JobSpec, Options, Source};
use crate::error::{Code, Result, VisageError};
use crate::gallery::{Binding, Gallery, JobState};

/// Bad rows listed in the report (all are in the job's report in the gallery).
const BAD_ROWS_SHOWN: u64 = 100;

/// `visage import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Embeddings: .npy (float32 [N, D], C order, with its subjects CSV) or .jsonl (one
    /// {"subject", "embedding", "external_id"?, "name"?, "model"?} per line).
    pub source: PathBuf,
    /// Gallery directory (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Model that produced the embeddings; must be the gallery's. Default: the configured
    /// embedder's id (`<file stem>@<sha256 prefix>`, what `visage serve` uses), read from the
    /// model file without running it; without that file, the gallery's own model.
    #[arg(long)]
    pub model: Option<String>,
    /// Labels of a .npy's rows: CSV with header subject[,external_id][,name], one row per
    /// vector, in order (default: FILE.subjects.csv beside FILE.npy).
    #[arg(long, value_name = "FILE.csv")]
    pub subjects: Option<PathBuf>,
    /// Job id (default: derived from the file, its size and time, and the model, so a re-run
    /// of an interrupted import resumes it).
    #[arg(long)]
    pub job: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `visage export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file: FILE.npy (plus FILE.subjects.csv beside it) or FILE.jsonl.
    #[arg(long, value_name = "FILE.npy|FILE.jsonl")]
    pub out: PathBuf,
    /// Gallery directory (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|e| VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", path.display())))
}

/// The model the embeddings are taken to be of, and the length of its vectors when known.
fn resolve_model(settings: &Settings, args: &ImportArgs, binding: Option<&Binding>) -> Result<(String, Option<usize>)> {
    let bound = binding.filter(|b| b.faces > 0);
    let configured = crate::pipeline::runtime::describe(&settings.embedder.model, "face embedder model");
    let model = match (&args.model, &configured, bound.and_then(|b| b.model.as_ref())) {
        (Some(m), _, _) => m.clone(),
        (None, Ok((id, _)), _) => id.clone(),
        (None, Err(_), Some(m)) => m.clone(),
        (None, Err(e), None) => {
            return Err(VisageError::unprocessable(
                Code::ModelRequired,
                format!("{e}; or name the embeddings' model with --model (a new gallery is bound to it)"),
            ))
        }
    };
    if let Some(b) = bound {
        let held = b.model.as_deref().unwrap_or_default();
        if held != model {
            return Err(VisageError::conflict(
                Code::IncompatibleEmbeddings,
                format!(
                    "the gallery holds embeddings of model {held}, these are of {model}; embeddings of different models cannot be compared"
                ),
            ));
        }
        return Ok((model, b.dim));
    }
    let known = configured.ok().filter(|(id, _)| *id == model).and_then(|(_, dim)| dim);
    Ok((model, known))
}

/// Runs `visage import`.
pub(super) fn run_import(settings: Settings, args: &ImportArgs) -> Result<()> {
    let started = Instant::now();
    let file = EmbeddingsFile {
        file: canonical(&args.source)?,
        subjects: args.subjects.as_deref().map(canonical).transpose()?,
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(|| settings.server.data_dir.clone());
    let binding = Gallery::binding(&data_dir)?;
    let (model, known_dim) = resolve_model(&settings, args, binding.as_ref())?;
    let dim = match (known_dim, import::check_file(&file, &model, known_dim)?) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => {
            return Err(VisageError::unprocessable(
                Code::InvalidSource,
                format!("{}: no readable row tells the vectors' length", file.file.display()),
            ))
        }
    };
    let gallery = Gallery::open_with(&data_dir, &model, dim, &settings.index)?;
    let spec = JobSpec {
        source: Source::Embeddings(file.clone()),
        gate: Gate::default(),
        keep_crops: false,
        uploaded: false,
        aligned: false,
    };
    let id = match &args.job {
        Some(id) => crate::gallery::validate_id(id)?.to_string(),
        None => {
            // The same file, untouched, is the same job (a re-run resumes it); a changed one is a
            // new job, whose rows already in the gallery come out as duplicates.
            let meta = std::fs::metadata(&file.file).map_err(|e| VisageError::Store(e.to_string()))?;
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let key = json!({ "spec": spec, "model": model, "size": meta.len(), "modified": modified.map(|d| d.as_nanos().to_string()) });
            format!("import-{}", &hex::encode(Sha256::digest(key.to_string().as_bytes()))[..16])
        }
    };
    let (job, _) = enroll::create(&gallery, &id, &spec, "cli")?;
    if job.state.is_final() {
        gallery.set_job_state(&id, JobState::Queued, None)?;
        gallery.set_job_total(&id, None)?;
    }
    let before = Counts::from_outcomes(gallery.job_counts(&id)?);
    let opts = Options {
        workers: 1,
        batch: import::BATCH,
        gate: spec.gate,
        roots: None,
        archive: ArchiveLimits::NONE,
        cancel: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        throttle: None,
        aligned: false,
    };
    let bar = progress_bar(args.quiet, "rows");
    bar.set_message(id.clone());
    let loading = Instant::now();
    let mut times = enroll::StageTimes::default();
    let progress = &mut |p: &enroll::Progress| {
        bar.set_length(p.total.unwrap_or(0));
        bar.set_position(p.counts.processed);
    };
    let state = enroll::run(None, &gallery, &id, &opts, progress, &mut times)?;
    bar.finish_and_clear();
    let loading = loading.elapsed();
    let persisting = Instant::now();
    gallery.persist()?;
    let persist_s = persisting.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();
    let after = Counts::from_outcomes(gallery.job_counts(&id)?);
    let outcome = |c: &Counts, o: &str| c.by_outcome.get(o).copied().unwrap_or(0);
    let this_run = |o: &str| outcome(&after, o) - outcome(&before, o);
    let invalid = gallery.job_items_with(&id, "invalid", 0, BAD_ROWS_SHOWN)?;
    let bad_rows: Vec<_> = invalid
        .iter()
        .map(|i| match import::item_position(&i.item) {
            Some((unit, n)) => json!({ unit: n, "reason": i.reason }),
            None => json!({ "item": i.item, "reason": i.reason }),
        })
        .collect();
    let index_s = times.index_ms / 1000.0 + persist_s;
    let store_s = (loading.as_secs_f64() - times.index_ms / 1000.0).max(1e-9);
    let imported = this_run("enrolled");
    let summary = json!({
        "job": id, "state": state, "source": file.file, "subjects": file.subjects, "data_dir": data_dir,
        "model": model, "dim": dim, "total": gallery.job(&id)?.total,
        "imported": imported, "duplicate": this_run("duplicate"), "invalid": this_run("invalid"),
        "rows_this_run": times.items,
        "job_counts": { "imported": outcome(&after, "enrolled"), "duplicate": outcome(&after, "duplicate"),
                        "invalid": outcome(&after, "invalid"), "rows": after.processed },
        "bad_rows": bad_rows, "bad_rows_total": outcome(&after, "invalid"),
        "faces_in_gallery": gallery.len(),
        "seconds": seconds, "rate": imported as f64 / seconds.max(1e-9),
        "store_seconds": store_s, "store_rate": times.items as f64 / store_s,
        "index_seconds": index_s,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    Ok(())
}

/// Runs `visage export`.
pub(super) fn run_export(settings: Settings, args: &ExportArgs) -> Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| settings.server.data_dir.clone());
    let started = Instant::now();
    let binding = Gallery::binding(&data_dir)?
        .ok_or_else(|| VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", data_dir.display())))?;
    let dim = binding.dim.unwrap_or(0);
    let model = binding.model.clone().unwrap_or_default();
    let bar = progress_bar(args.quiet, "faces");
    let writer: RefCell<Option<Writer>> = RefCell::new(None);
    let faces = Gallery::export(
        &data_dir,
        4096,
        |n| {
            bar.set_length(n);
            *writer.borrow_mut() = Some(Writer::create(&args.out, n, dim)?);
            Ok(())
        },
        |rows| {
            let mut w = writer.borrow_mut();
            let w = w.as_mut().ok_or_else(|| VisageError::Store("export not started".into()))?;
            for f in &rows {
                if f.vector.len() != dim {
                    return Err(VisageError::Store(format!("face {} has {} values, not {dim}", f.id, f.vector.len())));
                }
                w.write(&Record {
                    subject: &f.subject,
                    external_id: f.external_id.as_deref(),
                    name: &f.subject_name,
                    model: &f.model,
                    vector: &f.vector,
                })?;
            }
            bar.inc(rows.len() as u64);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let files = writer.into_inner().ok_or_else(|| VisageError::Store("export not started".into()))?.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = json!({
        "data_dir": data_dir, "files": files, "faces": faces, "model": model, "dim": dim,
        "seconds": seconds, "rate": faces as f64 / seconds.max(1e-9),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    Ok(())
}

/// An embeddings file read as distractors (`--distractors-file`): the import formats through the
/// same reader, a chunk at a time as the evaluation asks (every row must be usable; rows naming
/// another model than the embedder's are refused). The first error is kept for the caller.
pub(super) struct VectorFile {
    reader: Reader,
    dim: usize,
    model: String,
    pub error: Option<VisageError>,
}

impl VectorFile {
    pub fn open(path: &Path, dim: usize, model: &str) -> Result<Self> {
        Ok(Self { reader: Reader::open(path, None)?, dim, model: model.to_string(), error: None })
    }
}

impl crate::eval::GivenDistractors for VectorFile {
    fn read(&mut self, max: usize, out: &mut Vec<Vec<f32>>) -> std::result::Result<usize, String> {
        self.reader.read_vectors(max, self.dim, Some(&self.model), out).map_err(|e| {
            let message = e.to_string();
            self.error = Some(e);
            message
        })
    }
}

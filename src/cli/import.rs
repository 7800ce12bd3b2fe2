//! `visage import` (embeddings computed elsewhere into the gallery, as a durable job, with no
//! model run) and `visage export` (every face's embedding out, in the same formats).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::enroll::progress_bar;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{
    import_binding, item_position, job_id, maintenance, Counts, EmbeddingsFile, EmbeddingsReader as Reader, Engine,
    Gate, JobSpec, Mode, Source,
};

/// Bad rows listed in the report (all are in the job's report in the gallery).
const BAD_ROWS_SHOWN: u64 = 100;

/// `visage import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Embeddings: .npy (float32 [N, D], C order, with its subjects CSV) or .jsonl (one
    /// {"subject", "embedding", "external_id"?, "name"?, "model"?} per line).
    pub source: PathBuf,
    #[command(flatten)]
    pub gallery: super::GalleryArgs,
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
    #[command(flatten)]
    pub gallery: super::GalleryArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|e| VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", path.display())))
}

/// Runs `visage import`.
pub(super) fn run_import(settings: Settings, args: &ImportArgs) -> Result<()> {
    let started = Instant::now();
    let file = EmbeddingsFile {
        file: canonical(&args.source)?,
        subjects: args.subjects.as_deref().map(canonical).transpose()?,
    };
    let settings = args.gallery.settings(settings)?;
    let data_dir = settings.server.data_dir.clone();
    let (model, dim) = import_binding(&settings, &file, args.model.as_deref())?;
    let engine = Engine::open(settings, Mode::Offline { bind: Some((model.clone(), dim)) })?;
    let spec = JobSpec {
        source: Source::Embeddings(file.clone()),
        gate: Gate::default(),
        keep_crops: false,
        uploaded: false,
        aligned: false,
    };
    let id = match &args.job {
        Some(id) => job_id(Some(id.clone()))?,
        None => {
            // The same file, untouched, is the same job (a re-run resumes it); a changed one is a
            // new job, whose rows already in the gallery come out as duplicates.
            let meta = std::fs::metadata(&file.file).map_err(|e| VisageError::Store(e.to_string()))?;
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let key = json!({ "spec": spec, "model": model, "size": meta.len(), "modified": modified.map(|d| d.as_nanos().to_string()) });
            format!("import-{}", &hex::encode(Sha256::digest(key.to_string().as_bytes()))[..16])
        }
    };
    let gallery = engine.gallery()?;
    let before = Counts::from_outcomes(gallery.job_counts(&id)?);
    let bar = progress_bar(args.quiet, "rows");
    bar.set_message(id.clone());
    let loading = Instant::now();
    let run = engine.run_job(&id, &spec, &mut |p| {
        bar.set_length(p.total.unwrap_or(0));
        bar.set_position(p.counts.processed);
    })?;
    let (times, state) = (run.times, run.state);
    bar.finish_and_clear();
    let loading = loading.elapsed();
    let seconds = started.elapsed().as_secs_f64();
    let after = Counts::from_outcomes(gallery.job_counts(&id)?);
    let outcome = |c: &Counts, o: &str| c.by_outcome.get(o).copied().unwrap_or(0);
    let this_run = |o: &str| outcome(&after, o) - outcome(&before, o);
    let invalid = gallery.job_items_with(&id, "invalid", 0, BAD_ROWS_SHOWN)?;
    let bad_rows: Vec<_> = invalid
        .iter()
        .map(|i| match item_position(&i.item) {
            Some((unit, n)) => json!({ unit: n, "reason": i.reason }),
            None => json!({ "item": i.item, "reason": i.reason }),
        })
        .collect();
    let index_s = (times.index_ms + times.persist_ms) / 1000.0;
    let store_s = (loading.as_secs_f64() - index_s).max(1e-9);
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
    let settings = args.gallery.settings(settings)?;
    let started = Instant::now();
    let bar = progress_bar(args.quiet, "faces");
    let done = maintenance::export(&settings, &args.out, &|n| bar.set_length(n), &|n| bar.inc(n))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let summary = json!({
        "data_dir": settings.server.data_dir, "files": done.files, "faces": done.faces, "model": done.model,
        "dim": done.dim, "seconds": seconds, "rate": done.faces as f64 / seconds.max(1e-9),
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

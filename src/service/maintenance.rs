//! A gallery's files looked after with no model loaded and no server needed: the index rebuilt
//! in another backend from the store, the index checked against the store, every embedding
//! exported. Each reads the gallery's model and dimension from its store.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Settings;
use crate::enroll::embeddings::{Record, Writer};
use crate::error::{Code, Result, VisageError};
pub use crate::gallery::check::{CheckOptions, CheckReport};
pub use crate::gallery::ExportedFace;
use crate::gallery::{check::check as check_dir, Gallery};

/// The gallery in `dir`, or `no_gallery`.
fn binding(dir: &Path) -> Result<crate::gallery::Binding> {
    Gallery::binding(dir)?
        .ok_or_else(|| VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", dir.display())))
}

/// The model and dimension the gallery in `dir` is bound to.
fn bound(dir: &Path) -> Result<(String, usize)> {
    let b = binding(dir)?;
    match (b.model, b.dim) {
        (Some(model), Some(dim)) => Ok((model, dim)),
        _ => Err(VisageError::unprocessable(
            Code::NoGallery,
            format!("the gallery in {} was never bound to a model (nothing enrolled)", dir.display()),
        )),
    }
}

/// What a reindex built.
#[derive(Debug, Serialize)]
pub struct Reindexed {
    pub model: String,
    pub faces: usize,
    pub seconds: f64,
    /// The new index checked against the store.
    pub check: CheckReport,
}

/// Builds the index of `settings.index` for the gallery in `server.data_dir` from its store,
/// then checks it. `progress(done, total)` follows the build.
pub fn reindex(settings: &Settings, progress: &dyn Fn(u64, u64)) -> Result<Reindexed> {
    let dir = &settings.server.data_dir;
    let (model, dim) = bound(dir)?;
    settings.index.validate()?;
    let started = std::time::Instant::now();
    let faces = Gallery::reindex(dir, &model, dim, &settings.index, Some(progress))?.len();
    let seconds = started.elapsed().as_secs_f64();
    let check = check_dir(dir, &settings.index, &CheckOptions::default())?;
    Ok(Reindexed { model, faces, seconds, check })
}

/// Compares the store with the index of `settings.index` (counts, checkpoint, a sample of ids,
/// recall against exact search).
pub fn check(settings: &Settings, opts: &CheckOptions) -> Result<CheckReport> {
    check_dir(&settings.server.data_dir, &settings.index, opts)
}

/// Every face stored in the gallery in `dir`, a batch at a time in id order, from one
/// consistent snapshot (beside a server that may hold the gallery). Returns how many.
pub fn read_faces(dir: &Path, each: impl FnMut(Vec<ExportedFace>) -> Result<()>) -> Result<u64> {
    Gallery::export(dir, 4096, |_| Ok(()), each)
}

/// SQLite's `PRAGMA integrity_check` of the store in `dir`: `ok`, or the problems it lists.
pub fn integrity(dir: &Path) -> Result<String> {
    Gallery::integrity(dir)
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub struct Exported {
    pub files: Vec<PathBuf>,
    pub faces: u64,
    pub model: String,
    pub dim: usize,
}

/// Writes every face's embedding of the gallery in `server.data_dir` to `out` (FILE.npy with
/// FILE.subjects.csv, or FILE.jsonl), reading the store beside a server that may hold it.
/// `progress(total)` is called once, then `advance(rows)` per batch.
pub fn export(settings: &Settings, out: &Path, progress: &dyn Fn(u64), advance: &dyn Fn(u64)) -> Result<Exported> {
    let dir = &settings.server.data_dir;
    let b = binding(dir)?;
    let (model, dim) = (b.model.unwrap_or_default(), b.dim.unwrap_or(0));
    let writer: RefCell<Option<Writer>> = RefCell::new(None);
    let not_started = || VisageError::Store("export not started".into());
    let faces = Gallery::export(
        dir,
        4096,
        |n| {
            progress(n);
            *writer.borrow_mut() = Some(Writer::create(out, n, dim)?);
            Ok(())
        },
        |rows| {
            let mut w = writer.borrow_mut();
            let w = w.as_mut().ok_or_else(not_started)?;
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
            advance(rows.len() as u64);
            Ok(())
        },
    )?;
    let files = writer.into_inner().ok_or_else(not_started)?.finish()?;
    Ok(Exported { files, faces, model, dim })
}

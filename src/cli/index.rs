//! `visage reindex` and `visage check`: the vector index against the gallery store, its source
//! of truth. Neither loads a model: the gallery's model and dimension come from the store.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::gallery::check::{check, CheckOptions};
use crate::gallery::Gallery;
use crate::index::Backend;

/// `visage reindex` options.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The backend to build: scan, exact, hnsw, auto or qdrant.
    #[arg(long)]
    pub to: Backend,
    /// Gallery directory (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `visage check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Gallery directory (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The backend to check (default: index.kind).
    #[arg(long)]
    pub kind: Option<Backend>,
    /// Faces looked up by id.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Of the sampled faces, how many are recall queries.
    #[arg(long, default_value_t = 50)]
    pub queries: usize,
    /// Results per recall query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Recall@k below this is drift.
    #[arg(long, default_value_t = 0.95)]
    pub min_recall: f64,
}

fn binding(settings: &Settings, data_dir: &Option<PathBuf>) -> Result<(PathBuf, String, usize)> {
    let dir = data_dir.clone().unwrap_or_else(|| settings.server.data_dir.clone());
    let b = Gallery::binding(&dir)?
        .ok_or_else(|| VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", dir.display())))?;
    match (b.model, b.dim) {
        (Some(model), Some(dim)) => Ok((dir, model, dim)),
        _ => Err(VisageError::unprocessable(
            Code::NoGallery,
            format!("the gallery in {} was never bound to a model (nothing enrolled)", dir.display()),
        )),
    }
}

/// Builds the index of another backend from the store, then checks it.
pub fn reindex(mut settings: Settings, args: &ReindexArgs) -> Result<()> {
    let (dir, model, dim) = binding(&settings, &args.data_dir)?;
    settings.index.kind = args.to;
    settings.index.validate()?;
    let bar = (!args.quiet).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} faces, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("reindex → {}", args.to));
        bar
    });
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let started = std::time::Instant::now();
    let gallery = Gallery::reindex(&dir, &model, dim, &settings.index, Some(&progress))?;
    let faces = gallery.len();
    drop(gallery);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = check(&dir, &settings.index, &CheckOptions::default())?;
    let output = json!({
        "to": args.to,
        "data_dir": dir,
        "model": model,
        "faces": faces,
        "seconds": seconds,
        "check": report,
        "next": format!(
            "serve from it with index.kind = \"{}\" (or VISAGE_INDEX__KIND={})",
            args.to, args.to
        ),
    });
    println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
    if report.drift {
        return Err(VisageError::conflict(
            Code::IndexDrift,
            format!("after reindexing: {}", report.problems.join("; ")),
        ));
    }
    Ok(())
}

/// Compares the store and the index; prints the report, fails with `index_drift` on drift.
pub fn run_check(mut settings: Settings, args: &CheckArgs) -> Result<()> {
    let dir = args.data_dir.clone().unwrap_or_else(|| settings.server.data_dir.clone());
    if let Some(kind) = args.kind {
        settings.index.kind = kind;
    }
    let opts = CheckOptions {
        sample: args.sample,
        recall_queries: args.queries,
        k: args.k,
        min_recall: args.min_recall,
        ..CheckOptions::default()
    };
    let report = check(&dir, &settings.index, &opts)?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    if report.drift {
        return Err(VisageError::conflict(
            Code::IndexDrift,
            format!("{}; run `visage reindex --to {}`", report.problems.join("; "), report.backend),
        ));
    }
    Ok(())
}

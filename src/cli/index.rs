//! `visage reindex` and `visage check`: the vector index against the gallery store, its source
//! of truth. Neither loads a model: the gallery's model and dimension come from the store.

use clap::Args;
use serde_json::json;

use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::maintenance::{self, CheckOptions};
use crate::service::Backend;

/// `visage reindex` options.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The backend to build: scan, exact, hnsw, auto or qdrant.
    #[arg(long)]
    pub to: Backend,
    #[command(flatten)]
    pub gallery: super::GalleryArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `visage check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub gallery: super::GalleryArgs,
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

/// Builds the index of another backend from the store, then checks it.
pub fn reindex(settings: Settings, args: &ReindexArgs) -> Result<()> {
    let mut settings = args.gallery.settings(settings)?;
    settings.index.kind = args.to;
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
    let done = maintenance::reindex(&settings, &progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = done.check;
    let output = json!({
        "to": args.to,
        "data_dir": settings.server.data_dir,
        "model": done.model,
        "faces": done.faces,
        "seconds": done.seconds,
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
pub fn run_check(settings: Settings, args: &CheckArgs) -> Result<()> {
    let mut settings = args.gallery.settings(settings)?;
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
    let report = maintenance::check(&settings, &opts)?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    if report.drift {
        return Err(VisageError::conflict(
            Code::IndexDrift,
            format!("{}; run `visage reindex --to {}`", report.problems.join("; "), report.backend),
        ));
    }
    Ok(())
}

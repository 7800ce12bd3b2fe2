//! `visage enroll`: a bulk job run in this process with a progress bar, then its report.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::EnrollArgs;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{Counts, Engine, Gallery, Gate, JobSpec, Mode, MultiFace, Source};

/// A progress bar on stderr counting `unit`s (hidden when stderr is not a terminal or `quiet`).
pub(super) fn progress_bar(quiet: bool, unit: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}  {{msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn gate_from(args: &EnrollArgs, base: Gate) -> Gate {
    Gate {
        min_eye_distance: args.min_eye_distance.unwrap_or(base.min_eye_distance),
        min_score: args.min_score.unwrap_or(base.min_score),
        min_sharpness: args.min_sharpness.unwrap_or(base.min_sharpness),
        multi_face: match args.multi_face.as_deref() {
            Some("largest") => MultiFace::Largest,
            Some(_) => MultiFace::Reject,
            None => base.multi_face,
        },
    }
}

/// Runs `visage enroll`.
pub(super) fn run(settings: Settings, args: &EnrollArgs) -> Result<()> {
    let path = args
        .source
        .canonicalize()
        .map_err(|e| VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", args.source.display())))?;
    let spec = JobSpec {
        source: Source::infer(&path)?,
        gate: {
            let gate = gate_from(args, settings.enroll.gate);
            gate.validate().map_err(|e| VisageError::unprocessable(Code::InvalidParameter, e))?;
            gate
        },
        keep_crops: args.keep_crops || settings.gallery.keep_crops,
        uploaded: false,
        aligned: args.aligned,
    };
    let workers = args.workers.unwrap_or(settings.enroll.workers);
    let settings = args.gallery.settings(settings)?;
    let data_dir = settings.server.data_dir.clone();
    let engine = Engine::open(settings, Mode::Batch { workers })?;
    let id = args.job.clone().unwrap_or_else(|| {
        let key = serde_json::to_string(&spec).unwrap_or_default();
        format!("cli-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..16])
    });
    let bar = progress_bar(args.quiet, "photos");
    bar.set_message(id.clone());
    let started = Instant::now();
    let run = engine.run_job(&id, &spec, &mut |p| {
        bar.set_length(p.total.unwrap_or(0));
        bar.set_position(p.counts.processed);
    })?;
    bar.finish_and_clear();
    let (gallery, times, state) = (engine.gallery()?, run.times, run.state);
    let seconds = started.elapsed().as_secs_f64();
    let counts = Counts::from_outcomes(gallery.job_counts(&id)?);
    if let Some(out) = &args.report {
        write_report(gallery, &id, out)?;
    }
    let problems = gallery.job_items(&id, true, 0, u64::MAX >> 1)?;
    let rate = times.items as f64 / seconds.max(1e-9);
    let model_bound = times.model_bound_rate(run.workers);
    let summary = json!({
        "job": id, "state": state, "source": path, "data_dir": data_dir, "total": gallery.job(&id)?.total,
        "counts": counts, "seconds": seconds, "items_this_run": times.items, "rate": rate,
        "workers": run.workers, "stage_ms": times, "model_bound_rate": model_bound,
        "rate_over_model_bound": model_bound.map(|m| rate / m),
        "not_enrolled": problems,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    Ok(())
}

fn write_report(gallery: &Gallery, id: &str, out: &Path) -> Result<()> {
    let fail = |e: std::io::Error| VisageError::io(out.display(), e);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(fail)?);
    let page = 10_000;
    for offset in (0..).step_by(page) {
        let items = gallery.job_items(id, false, offset as u64, page as u64)?;
        for item in &items {
            writeln!(file, "{}", serde_json::to_string(item).unwrap_or_default()).map_err(fail)?;
        }
        if items.len() < page {
            break;
        }
    }
    file.flush().map_err(fail)
}

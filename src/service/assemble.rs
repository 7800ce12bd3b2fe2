//! Start-up assembly shared by every door: how the model sessions are sized (online workers or
//! batch workers), and the gallery opened for the loaded embedder. [`super::Engine::open`]
//! builds on it; the CLI and the benches use it for what they need.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::Settings;
use crate::enroll::{Gate, Options};
use crate::error::Result;
use crate::gallery::Gallery;
use crate::pipeline::Pipeline;

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Sizes the settings for serving: `server.workers` model runs at once (0 = one per core), one
/// session each, each with `cores / workers` threads unless `runtime.intra_threads` says
/// otherwise. Returns the workers.
pub fn size_for_serving(settings: &mut Settings) -> usize {
    let cores = cores();
    let workers = if settings.server.workers == 0 { cores } else { settings.server.workers };
    settings.runtime.sessions = workers;
    if settings.runtime.intra_threads == 0 {
        settings.runtime.intra_threads = (cores / workers).max(1);
    }
    workers
}

/// Sizes the settings for a batch run on `workers` threads (0 = one per core): one model
/// session per worker, each single-threaded unless `--threads` said otherwise; returns the
/// options a job or evaluation runs with.
pub fn size_for_batch(settings: &mut Settings, workers: usize, gate: Gate) -> Options {
    let workers = if workers == 0 { cores() } else { workers };
    settings.runtime.sessions = workers;
    if settings.runtime.intra_threads == 0 {
        settings.runtime.intra_threads = 1;
    }
    Options {
        workers,
        batch: settings.enroll.batch,
        gate,
        roots: None,
        archive: settings.enroll.archive_limits(),
        cancel: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        throttle: None,
        aligned: false,
    }
}

/// Opens (or creates) the gallery in `data_dir` for the pipeline's embedder and the configured
/// index.
pub fn open_gallery(settings: &Settings, pipeline: &Pipeline, data_dir: &Path) -> Result<Gallery> {
    let e = &pipeline.embedder;
    Gallery::open_with(data_dir, e.model_id(), e.dim(), &settings.index)
}

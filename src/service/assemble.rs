//! Start-up assembly for [`super::Engine::open`]: how the model sessions are sized (online
//! workers or batch workers), the options jobs run with, and a gallery opened without models.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::Settings;
use crate::enroll::Options;
use crate::error::{Code, Result, VisageError};
use crate::gallery::Gallery;

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
/// session per worker, each single-threaded unless `--threads` said otherwise. Returns the
/// workers.
pub fn size_for_batch(settings: &mut Settings, workers: usize) -> usize {
    let workers = if workers == 0 { cores() } else { workers };
    settings.runtime.sessions = workers;
    if settings.runtime.intra_threads == 0 {
        settings.runtime.intra_threads = 1;
    }
    workers
}

/// The options a job runs with on `workers` threads: the configured batch, gate and archive
/// limits, no root restriction and no throttle (a server adds both).
pub fn job_options(settings: &Settings, workers: usize) -> Options {
    Options {
        workers,
        batch: settings.enroll.batch,
        gate: settings.enroll.gate,
        roots: None,
        archive: settings.enroll.archive_limits(),
        cancel: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        throttle: None,
        aligned: false,
    }
}

/// Opens the gallery in `server.data_dir` without models: as it is bound, or, when it holds no
/// face yet, bound to `bind` (model id, dimension) if given.
pub fn open_bound(settings: &Settings, bind: Option<&(String, usize)>) -> Result<Gallery> {
    let dir = &settings.server.data_dir;
    let binding = Gallery::binding(dir)?;
    let held = |b: &crate::gallery::Binding| Some((b.model.clone()?, b.dim?));
    let bound = binding.as_ref().filter(|b| b.faces > 0).and_then(held);
    let (model, dim) = bound
        .or_else(|| bind.cloned())
        .or_else(|| binding.as_ref().and_then(held))
        .ok_or_else(|| VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", dir.display())))?;
    Gallery::open_with(dir, &model, dim, &settings.index)
}

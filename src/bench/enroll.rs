//! `visage bench enroll`: a bulk job's throughput against the model-bound rate measured in the
//! same run (the two networks alone, one thread each, on every worker), so the figure says how
//! much the job's reading, decoding, gating and writing cost on top of the models.

use std::path::Path;
use std::time::Instant;

use super::server::Scratch;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{Counts, Engine, Gate, JobSpec, Mode, MultiFace, Source};

/// Runs the benchmark over `source` on `workers` threads (0 = one per core) and prints the
/// figures.
pub fn enroll(settings: &Settings, source: &Path, workers: usize, samples: usize) -> Result<()> {
    let source = Source::infer(source)?;
    // Baseline: detector + embedder model runs per photo, one session, one thread.
    let single = Engine::open(settings.clone(), Mode::Models { workers: 1 })?;
    let photos = single.sample_source(&source, samples)?;
    if photos.is_empty() {
        return Err(VisageError::unprocessable(Code::InvalidSource, "no readable photo in the source"));
    }
    let model_ms = photos.iter().map(|p| single.model_ms(p, 3)).collect::<Result<Vec<_>>>()?;
    let per_photo = model_ms.iter().sum::<f64>() / model_ms.len() as f64;
    drop(single);

    // The job: a fresh gallery, every photo, the gate taking the largest face.
    let dir = Scratch::create("enroll", false)?;
    let mut scratch = settings.clone();
    scratch.server.data_dir = dir.path.clone();
    let engine = Engine::open(scratch, Mode::Batch { workers })?;
    let workers = engine.workers();
    let bound = workers as f64 * 1000.0 / per_photo;
    let gate = Gate { multi_face: MultiFace::Largest, ..settings.enroll.gate };
    let spec = JobSpec { source, gate, keep_crops: false, uploaded: false, aligned: false };
    let started = Instant::now();
    let times = engine.run_job("bench", &spec, &mut |_| {})?.times;
    let seconds = started.elapsed().as_secs_f64();
    let rate = times.items as f64 / seconds;
    let counts = Counts::from_outcomes(engine.gallery()?.job_counts("bench")?);
    drop(engine);
    let per_item = |ms: f64| ms / times.items.max(1) as f64;
    println!("photos\tenrolled\tworkers\tbatch\tseconds\tphotos/s\tmodel-bound photos/s\tratio");
    println!(
        "{}\t{}\t{}\t{}\t{seconds:.2}\t{rate:.2}\t{bound:.2}\t{:.3}",
        times.items,
        counts.enrolled,
        workers,
        settings.enroll.batch,
        rate / bound
    );
    println!(
        "model time per photo (baseline, {} photos, 1 thread): {per_photo:.2} ms; in the job per photo: decode {:.2} ms, \
         detect {:.2} ms, embed {:.2} ms",
        model_ms.len(),
        per_item(times.decode_ms),
        per_item(times.detect_ms),
        per_item(times.embed_ms),
    );
    Ok(())
}

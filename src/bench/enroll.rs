//! `visage bench enroll`: a bulk job's throughput against the model-bound rate measured in the
//! same run (the two networks alone, one thread each, on every worker), so the figure says how
//! much the job's reading, decoding, gating and writing cost on top of the models.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use crate::config::Settings;
use crate::enroll::{self, Gate, JobSpec, MultiFace, Options, ReadLimits, Source};
use crate::error::{Code, Result, VisageError};
use crate::pipeline::{align, Pipeline};

use super::median_ms;

/// Runs the benchmark over `source` with `opts.workers` workers and prints the figures.
pub fn enroll(settings: &Settings, source: &Path, opts: &Options, samples: usize) -> Result<()> {
    let source = Source::infer(source)?;
    // Baseline: detector + embedder model runs per photo, one session, one thread.
    let mut single = settings.clone();
    single.runtime.sessions = 1;
    let baseline = Pipeline::load(&single)?;
    let mut photos = Vec::new();
    source.walk(
        None,
        ReadLimits { item_bytes: settings.limits.max_image_bytes, archive: settings.enroll.archive_limits() },
        &mut |_, read| {
            if let Ok(image) = read().map_err(VisageError::CorruptImage).and_then(|b| baseline.decode(&b)) {
                photos.push(image);
            }
            if photos.len() >= samples {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )?;
    if photos.is_empty() {
        return Err(VisageError::unprocessable(Code::InvalidSource, "no readable photo in the source"));
    }
    let mut model_ms = Vec::new();
    for image in &photos {
        let detections = baseline.detect(image)?;
        let crops: Vec<_> = detections.iter().take(1).map(|d| align::align(image, &d.landmarks)).collect();
        let detect = median_ms(3, || baseline.detect(image))?;
        let embed = if crops.is_empty() { 0.0 } else { median_ms(3, || baseline.embedder.embed(&crops))? };
        model_ms.push(detect + embed);
    }
    let per_photo = model_ms.iter().sum::<f64>() / model_ms.len() as f64;
    let bound = opts.workers as f64 * 1000.0 / per_photo;
    drop(baseline);

    // The job: a fresh gallery, every photo, the gate taking the largest face.
    let pipeline = Pipeline::load(settings)?;
    let dir = tempfile_dir()?;
    let gallery = crate::service::assemble::open_gallery(settings, &pipeline, &dir)?;
    let gate = Gate { multi_face: MultiFace::Largest, ..opts.gate };
    let spec = JobSpec { source, gate, keep_crops: false, uploaded: false, aligned: false };
    enroll::create(&gallery, "bench", &spec, "bench")?;
    let started = Instant::now();
    let mut times = enroll::StageTimes::default();
    enroll::run(Some(&pipeline), &gallery, "bench", opts, &mut |_| {}, &mut times)?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = times.items as f64 / seconds;
    let counts = enroll::Counts::from_outcomes(gallery.job_counts("bench")?);
    drop(gallery);
    let _ = std::fs::remove_dir_all(&dir);
    let per_item = |ms: f64| ms / times.items.max(1) as f64;
    println!("photos\tenrolled\tworkers\tbatch\tseconds\tphotos/s\tmodel-bound photos/s\tratio");
    println!(
        "{}\t{}\t{}\t{}\t{seconds:.2}\t{rate:.2}\t{bound:.2}\t{:.3}",
        times.items,
        counts.enrolled,
        opts.workers,
        opts.batch,
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

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("visage-bench-enroll-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| VisageError::Store(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

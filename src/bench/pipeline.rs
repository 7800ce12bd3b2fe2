//! `visage bench pipeline`: per-stage median latency on real photos, and the ratio of the
//! end-to-end time to the time spent inside the neural networks (the floor any pipeline pays).

use std::path::PathBuf;
use std::time::Instant;

use crate::config::Settings;
use crate::error::{Result, VisageError};
use crate::pipeline::detect::OnnxDetector;
use crate::pipeline::{align, Pipeline};

/// Median wall time of `f` in milliseconds over `runs` calls, after one warm-up call.
pub fn median_ms<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        std::hint::black_box(f()?);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Prints one line per photo and stage, then the overall overhead ratio.
/// `settings` must be the ones `pipeline` was loaded with: a second copy of the detector is
/// loaded from them to time its stages separately.
pub fn pipeline(pipeline: &Pipeline, settings: &Settings, images: &[PathBuf], runs: usize) -> Result<()> {
    let detector = pipeline.detector.as_ref();
    let stages = OnnxDetector::load(&settings.detector, &settings.runtime)?;
    println!("image\tfaces\tdecode\tdet_prep\tdet_model\tdet_total\talign\tembed_model\tend_to_end\tratio");
    let (mut total_e2e, mut total_model) = (0.0, 0.0);
    for path in images {
        let bytes = std::fs::read(path).map_err(|e| VisageError::CorruptImage(format!("{}: {e}", path.display())))?;
        let image = pipeline.decode(&bytes)?;
        let faces = detector.detect(&image)?;
        let crops: Vec<_> = faces.iter().map(|f| align::align(&image, &f.landmarks)).collect();
        let decode = median_ms(runs, || pipeline.decode(&bytes))?;
        let input = stages.prepare(&image)?;
        let prep = median_ms(runs, || stages.prepare(&image))?;
        let model = median_ms(runs, || stages.infer(&input))?;
        let det_total = median_ms(runs, || detector.detect(&image))?;
        let align_ms =
            median_ms(runs, || Ok(faces.iter().map(|f| align::align(&image, &f.landmarks)).collect::<Vec<_>>()))?;
        let embed = median_ms(runs, || pipeline.embedder.embed(&crops))?;
        let e2e = median_ms(runs, || pipeline.faces(&pipeline.decode(&bytes)?))?;
        let ratio = e2e / (model + embed);
        total_e2e += e2e;
        total_model += model + embed;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{name}\t{}\t{decode:.2}\t{prep:.2}\t{model:.2}\t{det_total:.2}\t{align_ms:.3}\t{embed:.2}\t{e2e:.2}\t{ratio:.3}",
            faces.len()
        );
    }
    println!("overall: end-to-end / model time = {:.3} (medians in ms, {runs} runs each)", total_e2e / total_model);
    Ok(())
}

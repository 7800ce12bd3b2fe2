//! Where a photo's time goes, for the benchmarks: each stage of the pipeline timed on its own
//! (median of several runs) beside the time spent inside the two networks, the floor any
//! pipeline pays.

use std::time::Instant;

use serde::Serialize;

use super::Engine;
use crate::error::Result;
use crate::pipeline::align::align;
use crate::pipeline::detect::OnnxDetector;

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

/// One photo's stages, median milliseconds each.
#[derive(Debug, Clone, Serialize)]
pub struct StageProfile {
    pub faces: usize,
    pub decode: f64,
    /// The detector's letterbox and tensor preparation.
    pub det_prep: f64,
    /// The detector's network and decoding of its outputs.
    pub det_model: f64,
    /// Detection as the pipeline runs it (preparation, network, filtering).
    pub det_total: f64,
    /// Aligning every face to the 112×112 template.
    pub align: f64,
    /// The embedder's network over every face.
    pub embed_model: f64,
    /// Decode, detect, align and embed, as a request runs them.
    pub end_to_end: f64,
}

impl StageProfile {
    /// Time inside the two networks.
    pub fn model(&self) -> f64 {
        self.det_model + self.embed_model
    }
}

impl Engine {
    /// Profiles each photo over `runs` runs per stage. The detector's preparation and network
    /// are timed apart on a second copy of it, loaded from the engine's settings.
    pub fn profile(&self, photos: &[Vec<u8>], runs: usize) -> Result<Vec<StageProfile>> {
        let pipeline = self.pipeline()?;
        let stages = OnnxDetector::load(&self.settings.detector, &self.settings.runtime)?;
        photos
            .iter()
            .map(|bytes| {
                let image = pipeline.decode(bytes)?;
                let faces = pipeline.detect(&image)?;
                let crops: Vec<_> = faces.iter().map(|f| align(&image, &f.landmarks)).collect();
                let input = stages.prepare(&image)?;
                Ok(StageProfile {
                    faces: faces.len(),
                    decode: median_ms(runs, || pipeline.decode(bytes))?,
                    det_prep: median_ms(runs, || stages.prepare(&image))?,
                    det_model: median_ms(runs, || stages.infer(&input))?,
                    det_total: median_ms(runs, || pipeline.detect(&image))?,
                    align: median_ms(runs, || {
                        Ok(faces.iter().map(|f| align(&image, &f.landmarks)).collect::<Vec<_>>())
                    })?,
                    embed_model: median_ms(runs, || pipeline.embedder.embed(&crops))?,
                    end_to_end: self.end_to_end_ms(bytes, runs)?,
                })
            })
            .collect()
    }

    /// Median milliseconds of detection plus embedding the first face found in `bytes`: the
    /// model-bound cost of enrolling the photo (decoding excluded).
    pub fn model_ms(&self, bytes: &[u8], runs: usize) -> Result<f64> {
        let pipeline = self.pipeline()?;
        let image = pipeline.decode(bytes)?;
        let crops: Vec<_> = pipeline.detect(&image)?.iter().take(1).map(|d| align(&image, &d.landmarks)).collect();
        let detect = median_ms(runs, || pipeline.detect(&image))?;
        let embed = if crops.is_empty() { 0.0 } else { median_ms(runs, || pipeline.embedder.embed(&crops))? };
        Ok(detect + embed)
    }

    /// Median milliseconds of decoding `bytes` and finding and embedding every face in it, in
    /// this thread, with no admission: the pipeline's own time for one request.
    pub fn end_to_end_ms(&self, bytes: &[u8], runs: usize) -> Result<f64> {
        let pipeline = self.pipeline()?;
        median_ms(runs, || pipeline.faces(&pipeline.decode(bytes)?))
    }
}

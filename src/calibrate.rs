//! The decision thresholds in force, derived rather than guessed: from the gallery's own genuine
//! and impostor pairs for a target false-accept rate (1:1) and a target false-positive
//! identification rate (1:N, leave-one-subject-out over the gallery as it is), or, failing the
//! data for that, the configured cosines.
//!
//! The 1:N threshold depends on the gallery's size: a stranger is compared with every face, so
//! the chance that somebody passes grows with N. It is therefore measured the way a stranger is
//! answered: sampled gallery faces are searched through the index against everybody but their
//! own subject (up to [`LOSO_PROBES`] probes, so a 1M gallery calibrates in seconds), and the
//! FPIR that the threshold in force gives at the current size is estimated the same way.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};
use crate::eval::{Calibration, Sample};
use crate::gallery::Gallery;

/// Decision threshold for 1:1 comparison.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CompareSettings {
    pub threshold: f32,
    /// When set (with `identify.target_fpir`), the thresholds are calibrated on the gallery at
    /// start-up for this false-accept rate, if it holds enough pairs to measure it.
    pub target_far: Option<f64>,
}

/// 1:N identification and search defaults.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct IdentifySettings {
    /// Cosine at or above which the best subject is the answer; below it the face is unknown.
    pub threshold: f32,
    /// With `compare.target_far`: calibrate the identify threshold for this false-positive
    /// identification rate (unknown faces wrongly matched) on the gallery at start-up.
    pub target_fpir: Option<f64>,
    /// Candidates returned per face when the request does not say.
    pub k: usize,
    /// Largest `k` a request may ask for.
    pub max_k: usize,
}

const META_KEY: &str = "thresholds";
/// Impostor pairs scored at most (a uniform sample beyond).
const MAX_PAIRS: usize = 5_000_000;
/// Faces the 1:1 calibration pairs at most (whole subjects drawn at random beyond; in memory:
/// 100k 512-d embeddings are 200 MB).
const MAX_CALIBRATION_FACES: usize = 100_000;
/// Gallery faces searched against everybody else for the 1:N threshold and the FPIR estimate
/// (all faces of a smaller gallery). 2000 measures an FPIR of 1 % from 20 non-mated passes.
pub const LOSO_PROBES: usize = 2000;
/// Seed of the samples (the same faces for the same gallery).
const SAMPLE_SEED: u64 = 0xCA11_B8A7;

/// The thresholds the service decides with, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Thresholds {
    /// 1:1 (verify, compare): same person ⇔ cosine ≥ this.
    pub compare: f32,
    /// 1:N (identify): the best subject is the answer ⇔ its cosine ≥ this, else unknown.
    pub identify: f32,
    /// `config` (the configured cosines) or `calibrated` (from the gallery's pairs).
    pub source: String,
    pub target_far: Option<f64>,
    pub target_fpir: Option<f64>,
    /// Pairs behind a calibration.
    pub genuine_pairs: Option<usize>,
    pub impostor_pairs: Option<usize>,
    /// Unix seconds of the calibration.
    pub calibrated_at: Option<i64>,
    /// The embedder whose scores were calibrated (a calibration never outlives its model).
    #[serde(default)]
    pub model: Option<String>,
    /// Faces in the gallery when it was calibrated (the 1:N threshold holds for that size).
    #[serde(default)]
    pub gallery_faces: Option<usize>,
}

impl Thresholds {
    /// The configured cosines.
    pub fn configured(compare: &CompareSettings, identify: &IdentifySettings) -> Self {
        Self {
            compare: compare.threshold,
            identify: identify.threshold,
            source: "config".into(),
            target_far: None,
            target_fpir: None,
            genuine_pairs: None,
            impostor_pairs: None,
            calibrated_at: None,
            model: None,
            gallery_faces: None,
        }
    }
}

/// Every enrolled face as an evaluation sample (label = subject id, in enrolment order).
pub fn gallery_samples(gallery: &Gallery, max_faces: usize) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    gallery.for_each_face(|face_id, subject, vector| {
        if samples.len() >= max_faces {
            return Err(VisageError::unprocessable(
                Code::GalleryTooLarge,
                format!("more than {max_faces} faces; evaluate a labelled folder with `visage eval` instead"),
            ));
        }
        samples.push(Sample { label: subject.to_string(), item: format!("face {face_id}"), vector: vector.to_vec() });
        Ok(())
    })?;
    Ok(samples)
}

/// Calibrates on the gallery: the full calibration, and the thresholds it gives when both
/// targets can be measured on this data (else `None`; the calibration's warnings say why).
pub fn calibrate(gallery: &Gallery, target_far: f64, target_fpir: f64) -> Result<(Calibration, Option<Thresholds>)> {
    let samples = if gallery.len() > MAX_CALIBRATION_FACES {
        gallery.sample_subjects(MAX_CALIBRATION_FACES, SAMPLE_SEED)?
    } else {
        gallery_samples(gallery, MAX_CALIBRATION_FACES)?
    };
    let subjects = samples.iter().map(|s| s.label.as_str()).collect::<std::collections::HashSet<_>>().len();
    if subjects < 2 {
        return Err(VisageError::unprocessable(
            Code::InsufficientData,
            format!("calibration needs at least 2 subjects with faces; the gallery has {subjects}"),
        ));
    }
    let mut c = crate::eval::calibration::calibrate_compare(&samples, &[target_far], MAX_PAIRS)
        .map_err(|e| VisageError::unprocessable(Code::InsufficientData, e.to_string()))?;
    // The 1:N threshold from the whole gallery, through the index.
    let (non_mated, method) = non_mated_scores(gallery)?;
    c.identify = crate::eval::calibration::identify(&non_mated, target_fpir, method, &mut c.warnings);
    let thresholds = match (c.compare.first().and_then(|t| t.threshold), c.identify.threshold) {
        (Some(compare), Some(identify)) => Some(Thresholds {
            compare,
            identify,
            source: "calibrated".into(),
            target_far: Some(target_far),
            target_fpir: Some(target_fpir),
            genuine_pairs: Some(c.genuine_pairs),
            impostor_pairs: Some(c.impostor_pairs),
            calibrated_at: Some(now()),
            model: Some(gallery.model().to_string()),
            gallery_faces: Some(gallery.len()),
        }),
        _ => None,
    };
    Ok((c, thresholds))
}

/// True when a gallery of `now` faces calls for a new calibration after one at `then` faces:
/// grown or shrunk by a quarter or more.
pub fn size_changed(then: usize, now: usize) -> bool {
    let (then, now) = (then as f64, now as f64);
    now > then * 1.25 || now < then * 0.8
}

/// Leave-one-subject-out best scores, descending: every face of a gallery up to
/// [`LOSO_PROBES`] faces, a uniform sample of that many beyond; and the method's name.
pub fn non_mated_scores(gallery: &Gallery) -> Result<(Vec<f32>, &'static str)> {
    use rayon::prelude::*;
    let faces = gallery.sample_faces(LOSO_PROBES, SAMPLE_SEED);
    let method = if faces.len() < gallery.len() { "sampled_leave_one_subject_out" } else { "leave_one_subject_out" };
    let scores: Vec<Option<f32>> = faces.par_iter().map(|id| gallery.best_other_subject(*id)).collect::<Result<_>>()?;
    let mut scores: Vec<f32> = scores.into_iter().flatten().filter(|s| s.is_finite()).collect();
    scores.sort_unstable_by(|a, b| b.total_cmp(a));
    Ok((scores, method))
}

/// The false-positive identification rate that `threshold` gives on the gallery as it is now:
/// the share of sampled leave-one-subject-out probes whose best other subject reaches it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FpirEstimate {
    pub threshold: f32,
    pub gallery_faces: usize,
    /// `None` when fewer than two subjects are enrolled.
    pub fpir: Option<f64>,
    /// Probes behind the estimate, and how many of them passed.
    pub probes: usize,
    pub false_positives: usize,
    /// `leave_one_subject_out` (every face) or `sampled_leave_one_subject_out`.
    pub method: String,
}

/// Estimates the FPIR of `threshold` on the gallery at its current size.
pub fn estimate_fpir(gallery: &Gallery, threshold: f32) -> Result<FpirEstimate> {
    let gallery_faces = gallery.len();
    let (scores, method) = non_mated_scores(gallery)?;
    let false_positives = scores.iter().take_while(|s| **s >= threshold).count();
    Ok(FpirEstimate {
        threshold,
        gallery_faces,
        fpir: (!scores.is_empty()).then(|| false_positives as f64 / scores.len() as f64),
        probes: scores.len(),
        false_positives,
        method: method.to_string(),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The thresholds last applied to the gallery in `dir` for embeddings of `model`, read without
/// taking the gallery (a server may hold it): what that server decides with, unless its
/// configuration recalibrates at start-up. `None`: no gallery there, or none applied.
pub fn stored(dir: &std::path::Path, model: &str) -> Result<Option<Thresholds>> {
    Ok(parse_stored(Gallery::read_meta(dir, META_KEY)?, model))
}

fn parse_stored(text: Option<String>, model: &str) -> Option<Thresholds> {
    text.and_then(|t| serde_json::from_str::<Thresholds>(&t).ok()).filter(|t| t.model.as_deref() == Some(model))
}

/// Stores thresholds with the gallery; they are in force from then on (and after restarts).
pub fn apply(gallery: &Gallery, thresholds: &Thresholds) -> Result<()> {
    let text = serde_json::to_string(thresholds).map_err(|e| VisageError::Store(e.to_string()))?;
    gallery.set_meta(META_KEY, &text)
}

/// The thresholds in force at start-up: with `compare.target_far` / `identify.target_fpir`
/// configured, a fresh calibration on the gallery when its data suffices; else the last applied
/// calibration; else the configured cosines.
pub fn in_force(compare: &CompareSettings, identify: &IdentifySettings, gallery: &Gallery) -> Result<Thresholds> {
    let stored = parse_stored(gallery.meta(META_KEY)?, gallery.model());
    if let (Some(far), Some(fpir)) = (compare.target_far, identify.target_fpir) {
        match calibrate(gallery, far, fpir) {
            Ok((_, Some(t))) => {
                tracing::info!(
                    compare = t.compare,
                    identify = t.identify,
                    far,
                    fpir,
                    "thresholds calibrated on the gallery"
                );
                apply(gallery, &t)?;
                return Ok(t);
            }
            Ok((c, None)) => {
                tracing::warn!(warnings = ?c.warnings, "too few pairs to calibrate; keeping the thresholds in force")
            }
            Err(e) => tracing::warn!("cannot calibrate on the gallery ({e}); keeping the thresholds in force"),
        }
    }
    Ok(stored.unwrap_or_else(|| Thresholds::configured(compare, identify)))
}

#[cfg(test)]
mod tests {
    use super::size_changed;

    #[test]
    fn calibration_follows_a_quarter_of_growth_or_shrinkage() {
        assert!(!size_changed(1000, 1000) && !size_changed(1000, 1200) && !size_changed(1000, 850));
        assert!(size_changed(1000, 1300) && size_changed(1000, 700) && size_changed(0, 1));
        assert!(!size_changed(0, 0));
    }
}

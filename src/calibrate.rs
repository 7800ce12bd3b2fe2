//! The decision thresholds in force, derived rather than guessed: from the gallery's own genuine
//! and impostor pairs for a target false-accept rate (1:1) and a target false-positive
//! identification rate (1:N, leave-one-subject-out over the gallery as it is), or, failing the
//! data for that, the configured cosines.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Settings;
use crate::error::{Result, VisageError};
use crate::eval::{Calibration, Sample};
use crate::gallery::Gallery;

const META_KEY: &str = "thresholds";
/// Impostor pairs scored at most (a uniform sample beyond).
const MAX_PAIRS: usize = 5_000_000;
/// Faces a calibration reads at most (all in memory: 100k 512-d embeddings are 200 MB).
const MAX_CALIBRATION_FACES: usize = 100_000;

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
}

impl Thresholds {
    /// The configured cosines.
    pub fn configured(settings: &Settings) -> Self {
        Self {
            compare: settings.compare.threshold,
            identify: settings.identify.threshold,
            source: "config".into(),
            target_far: None,
            target_fpir: None,
            genuine_pairs: None,
            impostor_pairs: None,
            calibrated_at: None,
            model: None,
        }
    }
}

/// Every enrolled face as an evaluation sample (label = subject id, in enrolment order).
pub fn gallery_samples(gallery: &Gallery, max_faces: usize) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    gallery.for_each_face(|face_id, subject, vector| {
        if samples.len() >= max_faces {
            return Err(VisageError::unprocessable(
                "gallery_too_large",
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
    let samples = gallery_samples(gallery, MAX_CALIBRATION_FACES)?;
    let subjects = samples.iter().map(|s| s.label.as_str()).collect::<std::collections::HashSet<_>>().len();
    if subjects < 2 {
        return Err(VisageError::unprocessable(
            "insufficient_data",
            format!("calibration needs at least 2 subjects with faces; the gallery has {subjects}"),
        ));
    }
    let c = crate::eval::calibrate(&samples, &[target_far], target_fpir, MAX_PAIRS)
        .map_err(|e| VisageError::unprocessable("insufficient_data", e.to_string()))?;
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
        }),
        _ => None,
    };
    Ok((c, thresholds))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Stores thresholds with the gallery; they are in force from then on (and after restarts).
pub fn apply(gallery: &Gallery, thresholds: &Thresholds) -> Result<()> {
    let text = serde_json::to_string(thresholds).map_err(|e| VisageError::Store(e.to_string()))?;
    gallery.set_meta(META_KEY, &text)
}

/// The thresholds in force at start-up: with `compare.target_far` / `identify.target_fpir`
/// configured, a fresh calibration on the gallery when its data suffices; else the last applied
/// calibration; else the configured cosines.
pub fn in_force(settings: &Settings, gallery: &Gallery) -> Result<Thresholds> {
    let stored: Option<Thresholds> = gallery
        .meta(META_KEY)?
        .and_then(|t| serde_json::from_str::<Thresholds>(&t).ok())
        .filter(|t| t.model.as_deref() == Some(gallery.model()));
    if let (Some(far), Some(fpir)) = (settings.compare.target_far, settings.identify.target_fpir) {
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
    Ok(stored.unwrap_or_else(|| Thresholds::configured(settings)))
}

//! The decision thresholds the engine answers with, and the evaluation of its gallery: the
//! thresholds in force (configured or calibrated), calibration on demand and again as the
//! gallery grows, the FPIR estimate at the current size, and the evaluation protocol.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::calibrate::{self, FpirEstimate, Thresholds};
use crate::error::{Code, Result, VisageError};
use crate::eval::{self, EvalOptions, EvalReport};
use crate::gallery::Gallery;

/// Faces an online evaluation reads at most (all pairs are scored); larger sets: `visage eval`.
const MAX_EVAL_FACES: usize = 20_000;

/// The thresholds in force and what they were measured on.
pub(super) struct ThresholdState {
    thresholds: RwLock<Thresholds>,
    /// The last FPIR estimate and the gallery version it was measured on.
    fpir: Mutex<Option<(u64, FpirEstimate)>>,
    /// Gallery size at the last calibration (or attempt), to calibrate again as it grows.
    calibrated_size: AtomicUsize,
}

/// A calibration's outcome.
#[derive(Debug)]
pub struct Calibrated {
    pub calibration: eval::Calibration,
    /// Null when the gallery is too small for a target.
    pub thresholds: Option<Thresholds>,
    pub applied: bool,
    /// The thresholds in force after the call.
    pub in_force: Thresholds,
}

impl ThresholdState {
    pub(super) fn new(thresholds: Thresholds, gallery_len: usize) -> Self {
        Self {
            calibrated_size: AtomicUsize::new(thresholds.gallery_faces.unwrap_or(gallery_len)),
            thresholds: RwLock::new(thresholds),
            fpir: Mutex::new(None),
        }
    }

    pub(super) fn get(&self) -> Thresholds {
        self.thresholds.read().clone()
    }

    pub(super) fn set(&self, t: Thresholds) {
        *self.thresholds.write() = t;
    }

    /// The cached estimate for `version` at `threshold`, if still valid.
    pub(super) fn cached_fpir(&self, version: u64, threshold: f32) -> Option<FpirEstimate> {
        match &*self.fpir.lock() {
            Some((v, e)) if *v == version && e.threshold == threshold => Some(e.clone()),
            _ => None,
        }
    }

    pub(super) fn cache_fpir(&self, version: u64, e: FpirEstimate) {
        *self.fpir.lock() = Some((version, e));
    }

    /// The last size calibrated at and the new one, when the gallery has changed enough to
    /// calibrate again (the new size is recorded).
    pub(super) fn size_step(&self, now: usize) -> Option<usize> {
        let last = self.calibrated_size.load(Ordering::Acquire);
        if !calibrate::size_changed(last, now) {
            return None;
        }
        self.calibrated_size.store(now, Ordering::Release);
        Some(last)
    }
}

/// Checks calibration targets: rates in (0, 1).
pub(super) fn check_rates(far: f64, fpir: f64) -> Result<()> {
    for rate in [far, fpir] {
        if !(rate > 0.0 && rate < 1.0) {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "target_far and target_fpir lie in (0, 1)"));
        }
    }
    Ok(())
}

/// Calibrates on the gallery and, with `apply`, stores the thresholds (an error when the
/// gallery is too small to measure the targets).
pub fn calibrate_gallery(
    g: &Gallery,
    far: f64,
    fpir: f64,
    apply: bool,
) -> Result<(eval::Calibration, Option<Thresholds>)> {
    let (c, t) = calibrate::calibrate(g, far, fpir)?;
    match (&t, apply) {
        (Some(t), true) => calibrate::apply(g, t)?,
        (None, true) => {
            return Err(VisageError::unprocessable(
                Code::InsufficientData,
                format!("the gallery is too small to measure these targets: {}", c.warnings.join("; ")),
            ))
        }
        _ => {}
    }
    Ok((c, t))
}

/// Checks an online evaluation's options: one request must not pin a thread for hours or
/// exhaust memory.
pub(super) fn check_eval(options: &EvalOptions) -> Result<()> {
    if options.max_rank > 1000 || options.distractors > 1_000_000 || options.max_impostor_pairs > 5_000_000 {
        return Err(VisageError::unprocessable(
            Code::InvalidParameter,
            "max_rank ≤ 1000, distractors ≤ 1000000 and max_impostor_pairs ≤ 5000000 over HTTP (visage eval has no cap)",
        ));
    }
    Ok(())
}

/// Evaluates the gallery: subjects' first faces are the gallery, the rest probes.
/// Distractors, if asked for, go through a new index of `engine` (the gallery's configuration).
pub(super) fn evaluate_gallery(g: &Gallery, options: &EvalOptions, engine: &eval::Engine) -> Result<EvalReport> {
    let samples = calibrate::gallery_samples(g, MAX_EVAL_FACES)?;
    eval::evaluate_on(&samples, None, None, engine, options)
        .map_err(|e| VisageError::unprocessable(Code::InvalidEvaluation, e.to_string()))
}

//! Thresholds for the service: a compare (1:1) threshold per FAR target from the impostor score
//! distribution, and an identify (1:N) threshold for a target FPIR from non-mated best scores. Both
//! use the rule of [`threshold_at_far`](super::verification::threshold_at_far): the smallest observed score `t` with rate(t) ≤ target.

use rayon::prelude::*;
use serde::Serialize;

use super::scoring::{all_pairs, loso_max, validate, Subjects};
use super::stats::{count_at_least, finite_desc};
use super::verification::{threshold_in_desc, unmeasurable};
use super::{EvalError, Sample};

/// The compare threshold for one FAR target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareThreshold {
    /// The FAR target.
    pub far: f64,
    /// Accept ⇔ score ≥ threshold; `None` when the target cannot be measured.
    pub threshold: Option<f32>,
    /// TAR over the genuine pairs at `threshold`.
    pub tar: Option<f64>,
    /// Impostor pairs behind the threshold.
    pub impostor_pairs: usize,
}

/// The identify threshold for the target FPIR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentifyThreshold {
    /// The FPIR target.
    pub target_fpir: f64,
    /// Accept ⇔ best score ≥ threshold; `None` when the target cannot be measured.
    pub threshold: Option<f32>,
    /// Non-mated scores behind the threshold.
    pub non_mated: usize,
    /// `"open_set"` (held-out subjects of an evaluation) or `"leave_one_subject_out"` (each sample's
    /// best score against all samples of the other subjects).
    pub method: String,
}

/// Calibrated thresholds, with counts and warnings when the data is too small for a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Subjects in the data.
    pub subjects: usize,
    /// Samples in the data.
    pub samples: usize,
    /// Genuine pairs scored.
    pub genuine_pairs: usize,
    /// Impostor pairs scored.
    pub impostor_pairs: usize,
    /// Whether the impostor pairs are a uniform sample.
    pub impostor_sampled: bool,
    /// One compare threshold per FAR target.
    pub compare: Vec<CompareThreshold>,
    /// The identify threshold.
    pub identify: IdentifyThreshold,
    /// Targets the data is too small for, and similar.
    pub warnings: Vec<String>,
}

/// Calibrates from a gallery's embeddings alone: compare thresholds from all impostor pairs (or
/// `max_impostor_pairs` sampled ones), identify threshold from leave-one-subject-out non-mated
/// best scores (at most `max_impostor_pairs` dot products, so evenly spaced queries on big sets).
pub fn calibrate(
    samples: &[Sample],
    far_targets: &[f64],
    target_fpir: f64,
    max_impostor_pairs: usize,
) -> Result<Calibration, EvalError> {
    let mut c = calibrate_compare(samples, far_targets, max_impostor_pairs)?;
    let loso = finite_desc(&loso_max(samples, &Subjects::new(samples), max_impostor_pairs));
    c.identify = identify(&loso, target_fpir, "leave_one_subject_out", &mut c.warnings);
    Ok(c)
}

/// The compare (1:1) half of [`calibrate`]; `identify` is left for the caller (the service
/// measures it through its index).
pub fn calibrate_compare(
    samples: &[Sample],
    far_targets: &[f64],
    max_impostor_pairs: usize,
) -> Result<Calibration, EvalError> {
    validate(samples)?;
    let subjects = Subjects::new(samples);
    let mut scores = all_pairs(samples, &subjects, max_impostor_pairs, 0);
    for v in [&mut scores.genuine, &mut scores.impostor] {
        v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    }
    let mut c = build(&subjects, &scores.genuine, &scores.impostor, far_targets);
    c.impostor_sampled = scores.sampled;
    Ok(c)
}

/// Compare thresholds from scores sorted in descending order; `identify` is left for the caller.
pub(crate) fn build(subjects: &Subjects, gen: &[f32], imp: &[f32], far_targets: &[f64]) -> Calibration {
    let mut warnings = vec![];
    let compare = far_targets
        .iter()
        .map(|&far| {
            let threshold = threshold_in_desc(imp, far);
            if threshold.is_none() {
                warnings.push(format!("compare threshold: {}", unmeasurable(imp.len(), "impostor pairs", far)));
            }
            CompareThreshold {
                far,
                threshold,
                tar: threshold.filter(|_| !gen.is_empty()).map(|t| count_at_least(gen, t) as f64 / gen.len() as f64),
                impostor_pairs: imp.len(),
            }
        })
        .collect();
    Calibration {
        subjects: subjects.len(),
        samples: subjects.of.len(),
        genuine_pairs: gen.len(),
        impostor_pairs: imp.len(),
        impostor_sampled: false,
        compare,
        identify: IdentifyThreshold { target_fpir: 0.0, threshold: None, non_mated: 0, method: String::new() },
        warnings,
    }
}

/// The identify threshold from non-mated best scores sorted in descending order.
pub(crate) fn identify(nm: &[f32], target_fpir: f64, method: &str, warnings: &mut Vec<String>) -> IdentifyThreshold {
    let threshold = threshold_in_desc(nm, target_fpir);
    if threshold.is_none() {
        warnings.push(format!("identify threshold: {}", unmeasurable(nm.len(), "non-mated scores", target_fpir)));
    }
    IdentifyThreshold { target_fpir, threshold, non_mated: nm.len(), method: method.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture;

    #[test]
    fn fixture_calibration_by_hand() {
        let c = calibrate(&fixture::samples(), &[0.1, 0.01], 0.25, 1000).unwrap();
        // Compare: as verification, FAR .1 → .5 (TAR 3/5); FAR .01 impossible with 23 pairs.
        assert_eq!((c.compare[0].threshold, c.compare[0].tar), (Some(0.5), Some(0.6)));
        assert!(c.compare[1].threshold.is_none());
        // Leave-one-subject-out best scores: a1 0, a2 0, a3 .25, b1 .25, b2 .25, c1 0, c2 .5, d1 .5.
        // Target .25: 8·.25 = 2 may pass; the 3rd (.25) is rejected → t = .5 (FPIR 2/8).
        assert_eq!((c.identify.threshold, c.identify.non_mated), (Some(0.5), 8));
        assert_eq!(c.warnings.len(), 1);
        assert_eq!((c.genuine_pairs, c.impostor_pairs, c.impostor_sampled), (5, 23, false));
        // A budget below the 23 impostor pairs samples them.
        let s = calibrate(&fixture::samples(), &[0.1], 0.25, 10).unwrap();
        assert_eq!((s.impostor_pairs, s.impostor_sampled), (10, true));
        assert_eq!(calibrate(&[], &[0.1], 0.1, 10), Err(EvalError::Empty));
    }
}

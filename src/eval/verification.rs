//! 1:1 verification: ROC, AUC, EER, TAR at FAR targets, best accuracy, score distributions.
//!
//! Conventions: a pair is accepted ⇔ `score ≥ t`. `FAR(t) = #{impostor ≥ t} / #impostor`,
//! `TAR(t) = #{genuine ≥ t} / #genuine`, `FRR = 1 − TAR`. All scores equal to a threshold are
//! accepted together, so a tie between a genuine and an impostor score can never be split.

use serde::Serialize;

use super::stats::{count_at_least, finite_desc, histogram, moments, sweep, Histogram, Moments, Thinner};

/// Bins of the score histograms, over [-1, 1].
pub const HISTOGRAM_BINS: usize = 100;

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// `FAR(threshold)`.
    pub far: f64,
    /// `TAR(threshold)`.
    pub tar: f64,
    /// The threshold (accept ⇔ score ≥ threshold).
    pub threshold: f32,
}

/// TAR at a FAR target. The threshold is the one of [`threshold_at_far`]; all three figures are
/// `null` (with a `reason`) when there are fewer than `1 / far_target` impostor pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TarAtFar {
    /// The FAR target.
    pub far_target: f64,
    /// See [`threshold_at_far`].
    pub threshold: Option<f32>,
    /// The FAR actually reached at `threshold` (≤ `far_target`).
    pub far: Option<f64>,
    /// `TAR(threshold)`.
    pub tar: Option<f64>,
    /// Why the figures are missing, if they are.
    pub reason: Option<String>,
}

/// Equal error rate: the ROC is taken as piecewise linear between its exact points and `eer` is
/// where `FAR = FRR` on it. `threshold` is the end of the crossing segment whose `|FAR − FRR|` is
/// smaller (an observed score, so an operating point that can be used); `far`/`frr` are there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eer {
    /// The interpolated equal error rate.
    pub eer: f64,
    /// The operating threshold nearest the crossing.
    pub threshold: f32,
    /// FAR at `threshold`.
    pub far: f64,
    /// FRR at `threshold`.
    pub frr: f64,
}

/// The highest accuracy `(#genuine ≥ t + #impostor < t) / #pairs` over all thresholds (every
/// observed score and one above them all); ties go to the higher threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BestAccuracy {
    /// The best accuracy.
    pub accuracy: f64,
    /// Its threshold.
    pub threshold: f32,
}

/// Verification figures. `auc` is exact and equals the Mann–Whitney statistic
/// `P(g > i) + ½·P(g = i)` (the trapezoid area under the exact ROC). `roc` is computed over every
/// distinct score but thinned to ≤ ~500 points for the report (first and last kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Genuine pairs (finite scores).
    pub genuine_pairs: usize,
    /// Impostor pairs (finite scores).
    pub impostor_pairs: usize,
    /// Area under the ROC (Mann–Whitney, ties ½).
    pub auc: Option<f64>,
    /// Equal error rate.
    pub eer: Option<Eer>,
    /// TAR at each FAR target.
    pub tar_at_far: Vec<TarAtFar>,
    /// Best accuracy over thresholds.
    pub best_accuracy: Option<BestAccuracy>,
    /// The ROC curve, threshold descending.
    pub roc: Vec<RocPoint>,
    /// Genuine score moments.
    pub genuine: Moments,
    /// Impostor score moments.
    pub impostor: Moments,
    /// Genuine scores, 100 bins over [-1, 1].
    pub genuine_histogram: Histogram,
    /// Impostor scores, 100 bins over [-1, 1].
    pub impostor_histogram: Histogram,
    /// Why the curve figures are missing (no genuine or no impostor pairs).
    pub reason: Option<String>,
}

/// Verification figures for two score sets (non-finite scores are skipped).
pub fn verify(genuine: &[f32], impostor: &[f32], far_targets: &[f64]) -> Verification {
    verify_sorted(&finite_desc(genuine), &finite_desc(impostor), far_targets)
}

/// The smallest threshold `t` among the observed impostor scores with `FAR(t) ≤ far`; when even the
/// highest impostor score would accept too many (ties included), the next `f32` above it (FAR 0).
/// `None` when `far` cannot be measured: fewer than `1 / far` (finite) impostor scores.
pub fn threshold_at_far(impostor_scores: &[f32], far: f64) -> Option<f32> {
    threshold_in_desc(&finite_desc(impostor_scores), far)
}

/// [`threshold_at_far`] on scores already sorted in descending order.
pub(crate) fn threshold_in_desc(desc: &[f32], far: f64) -> Option<f32> {
    let n = desc.len();
    if far.is_nan() || far <= 0.0 || (n as f64) * far < 1.0 - 1e-9 {
        return None;
    }
    // At most `m` impostors may be accepted; the (m+1)-th highest must be rejected.
    let m = ((n as f64) * far + 1e-9).floor() as usize;
    if m >= n {
        return desc.last().copied();
    }
    let reject = desc[m];
    match desc.partition_point(|&x| x > reject) {
        0 => Some(reject.next_up()),
        k => Some(desc[k - 1]),
    }
}

/// Why a rate target cannot be measured on `n` scores.
pub(crate) fn unmeasurable(n: usize, what: &str, target: f64) -> String {
    format!("{n} {what} cannot measure a rate of {target}: at least {} are needed", (1.0 / target).ceil())
}

/// [`verify`] on finite scores sorted in descending order.
pub(crate) fn verify_sorted(gen: &[f32], imp: &[f32], far_targets: &[f64]) -> Verification {
    let (ng, ni) = (gen.len(), imp.len());
    let tar_at_far = far_targets
        .iter()
        .map(|&f| match threshold_in_desc(imp, f) {
            Some(t) => TarAtFar {
                far_target: f,
                threshold: Some(t),
                far: Some(count_at_least(imp, t) as f64 / ni as f64),
                tar: (ng > 0).then(|| count_at_least(gen, t) as f64 / ng as f64),
                reason: (ng == 0).then(|| "no genuine pairs".to_string()),
            },
            None => TarAtFar {
                far_target: f,
                threshold: None,
                far: None,
                tar: None,
                reason: Some(unmeasurable(ni, "impostor pairs", f)),
            },
        })
        .collect();
    let mut v = Verification {
        genuine_pairs: ng,
        impostor_pairs: ni,
        auc: None,
        eer: None,
        tar_at_far,
        best_accuracy: None,
        roc: vec![],
        genuine: moments(gen),
        impostor: moments(imp),
        genuine_histogram: histogram(gen, HISTOGRAM_BINS, -1.0, 1.0),
        impostor_histogram: histogram(imp, HISTOGRAM_BINS, -1.0, 1.0),
        reason: None,
    };
    if ng == 0 || ni == 0 {
        v.reason = Some(format!("ROC, AUC and EER need both kinds of pairs: {ng} genuine, {ni} impostor"));
        return v;
    }
    let mut thin = Thinner::new(1.0 / ni as f64);
    let (mut area, mut prev_counts) = (0u128, (0usize, 0usize));
    let mut prev = (0.0f64, 1.0f64, 0.0f32); // (far, frr, t)
    let mut best = (0usize, 0.0f32);
    let mut last = None;
    sweep(gen, imp, |t, tp, fp| {
        area += (fp - prev_counts.1) as u128 * (tp + prev_counts.0) as u128;
        prev_counts = (tp, fp);
        let correct = tp + (ni - fp);
        if correct > best.0 || last.is_none() {
            best = (correct, t);
        }
        let (far, tar) = (fp as f64 / ni as f64, tp as f64 / ng as f64);
        let frr = 1.0 - tar;
        if v.eer.is_none() && last.is_some() && frr - far <= 0.0 {
            let (d0, d1) = (prev.1 - prev.0, frr - far);
            let s = if d0 - d1 > 0.0 { d0 / (d0 - d1) } else { 1.0 };
            let (threshold, far_e, frr_e) = if d0.abs() < d1.abs() { (prev.2, prev.0, prev.1) } else { (t, far, frr) };
            v.eer = Some(Eer { eer: prev.0 + s * (far - prev.0), threshold, far: far_e, frr: frr_e });
        }
        prev = (far, frr, t);
        let point = RocPoint { far, tar, threshold: t };
        if thin.keep(far, tar) {
            v.roc.push(point);
        }
        last = Some(point);
    });
    if let Some(p) = last.filter(|p| v.roc.last() != Some(p)) {
        v.roc.push(p);
    }
    v.auc = Some(area as f64 / (2 * ng as u128 * ni as u128) as f64);
    v.best_accuracy = Some(BestAccuracy { accuracy: best.0 as f64 / (ng + ni) as f64, threshold: best.1 });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture;

    #[test]
    fn fixture_figures_by_hand() {
        let (gen, imp) = fixture::pair_scores();
        let v = verify(&gen, &imp, &[0.1, 0.01, 0.2]);
        // Mann–Whitney over 5 × 23 = 115 pairs: g = .75 (×2) beats all 23 → 46; g = .5 beats 22
        // (3 × .25, 19 × 0) and ties 1 → 22.5; g = .25 (×2) beats 19 and ties 3 each → 2·(19 + 1.5) = 41.
        // AUC = (46 + 22.5 + 41) / 115 = 109.5 / 115.
        assert!((v.auc.unwrap() - 109.5 / 115.0).abs() < 1e-12);
        // ROC: t=.75 (far 0, tar .4), t=.5 (1/23, .6), t=.25 (4/23, 1), t=0 (1, 1).
        // FRR − FAR: .5 → .4 − 1/23 > 0, .25 → 0 − 4/23 < 0. On the segment FAR = 1/23 + 3s/23,
        // FRR = .4 − .4s: equal at s = (8.2/23)/(12.2/23) = 41/61, EER = .4·20/61 = 8/61.
        let eer = v.eer.unwrap();
        assert!((eer.eer - 8.0 / 61.0).abs() < 1e-12, "{eer:?}");
        // |d| at .5 = .357 > |d| at .25 = .174 → threshold .25, FAR 4/23, FRR 0.
        assert_eq!((eer.threshold, eer.frr), (0.25, 0.0));
        // FAR 0.1: 23·0.1 = 2.3 → at most 2 impostors; sorted .5, .25, .25, .25, 0…: the 3rd (.25)
        // must be rejected and ties with the 2nd, so t = .5: FAR 1/23, TAR 3/5.
        let t = &v.tar_at_far[0];
        assert_eq!((t.threshold, t.far, t.tar), (Some(0.5), Some(1.0 / 23.0), Some(0.6)));
        // FAR 0.01 needs 100 impostor pairs.
        assert!(v.tar_at_far[1].threshold.is_none() && v.tar_at_far[1].reason.is_some());
        // FAR 0.2: 4.6 → 4 allowed; the 5th (0) rejected → t = .25 (accepts 1 + 3 = 4): TAR 1.
        assert_eq!((v.tar_at_far[2].threshold, v.tar_at_far[2].tar), (Some(0.25), Some(1.0)));
        // Accuracy: above all 23/28, .75 → (2 + 23)/28, .5 → (3 + 22)/28 (tie, higher kept), .25 → 24/28.
        assert_eq!(v.best_accuracy, Some(BestAccuracy { accuracy: 25.0 / 28.0, threshold: 0.75 }));
        assert_eq!(v.roc.len(), 5);
    }

    #[test]
    fn threshold_at_far_with_ties() {
        let (_, imp) = fixture::pair_scores();
        // 23·0.15 = 3.45 → 3 allowed; .25 accepts 4 (three tied) → t = .5.
        assert_eq!(threshold_at_far(&imp, 0.15), Some(0.5));
        assert_eq!(threshold_at_far(&imp, 0.04), None); // 0.92 < 1 pair
        assert_eq!(threshold_at_far(&imp, 1.0), Some(0.0));
        // Highest score tied: nothing observed works, so just above it.
        assert_eq!(threshold_at_far(&[0.5, 0.5, 0.0], 0.34), Some(0.5f32.next_up()));
        assert_eq!(threshold_at_far(&[f32::NAN, 0.5, 0.1], 0.5), Some(0.5));
        assert_eq!(threshold_at_far(&[], 0.5), None);
        assert_eq!(threshold_at_far(&[0.3], f64::NAN), None);
    }

    #[test]
    fn separable_identical_and_monotone() {
        let gen: Vec<f32> = (0..50).map(|i| 0.5 + i as f32 / 200.0).collect();
        let imp: Vec<f32> = (0..80).map(|i| -0.5 + i as f32 / 200.0).collect();
        let v = verify(&gen, &imp, &[0.1]);
        assert_eq!(v.auc, Some(1.0));
        assert_eq!(v.eer.unwrap().eer, 0.0);
        assert_eq!(v.best_accuracy.unwrap().accuracy, 1.0);
        let same = verify(&gen, &gen, &[]);
        assert!((same.auc.unwrap() - 0.5).abs() < 1e-12);
        // Large set: thinned, monotone, ends at (1, 1).
        let gen: Vec<f32> = (0..20_000u64).map(|i| ((i * 7919) % 20_000) as f32 / 20_000.0).collect();
        let imp: Vec<f32> = (0..30_000u64).map(|i| ((i * 104_729) % 30_000) as f32 / 40_000.0 - 0.2).collect();
        let v = verify(&gen, &imp, &[1e-3]);
        assert!(v.roc.len() <= 510 && v.roc.len() > 100, "{}", v.roc.len());
        assert!(v
            .roc
            .windows(2)
            .all(|w| w[0].far <= w[1].far && w[0].tar <= w[1].tar && w[0].threshold > w[1].threshold));
        assert_eq!((v.roc[0].far, v.roc[0].tar), (0.0, 0.0));
        assert_eq!((v.roc.last().unwrap().far, v.roc.last().unwrap().tar), (1.0, 1.0));
    }

    #[test]
    fn degenerate_inputs() {
        let v = verify(&[], &[], &[0.1]);
        assert!(v.auc.is_none() && v.reason.is_some() && v.tar_at_far[0].tar.is_none());
        let v = verify(&[f32::NAN, 0.9], &[0.1; 20], &[0.1]);
        assert_eq!((v.genuine_pairs, v.auc), (1, Some(1.0)));
        // All 20 impostors tie at .1: FAR .1 allows 2, so t is just above .1 and TAR is 1.
        assert_eq!(v.tar_at_far[0].tar, Some(1.0));
    }
}

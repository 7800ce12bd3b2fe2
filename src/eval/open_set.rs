//! Open-set identification: some subjects are held out of the gallery as unknowns.
//!
//! Held out: `round(fraction · S)` subjects, at least 1 and at most `S − 1` (none with fewer than
//! 2 subjects), the ones with the smallest `hash(seed, label)`. Mated probes: the closed-set probes
//! of enrolled subjects; non-mated probes: every sample of a held-out subject. Against the gallery
//! of the enrolled subjects only:
//! `FPIR(t)` = fraction of non-mated probes whose best score ≥ t;
//! `FNIR(t)` = fraction of mated probes whose true subject is not rank 1 with score ≥ t
//! (rank as in closed-set identification, a tie is not rank 1).
//! The threshold for `target_fpir` is the smallest observed non-mated best score `t` with
//! `FPIR(t) ≤ target` (the rule of [`super::verification::threshold_at_far`]).

use serde::Serialize;

use super::identification::{score_probes, Split};
use super::scoring::Subjects;
use super::stats::{count_at_least, finite_desc, hash64, sweep, Thinner};
use super::verification::{threshold_in_desc, unmeasurable};
use super::Sample;

/// One point of the DET curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetPoint {
    /// FPIR at `threshold`.
    pub fpir: f64,
    /// FNIR at `threshold`.
    pub fnir: f64,
    /// The threshold.
    pub threshold: f32,
}

/// Open-set figures; `det` is exact but thinned to ≤ ~500 points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenSet {
    /// Subjects held out of the gallery (unknowns).
    pub held_out_subjects: Vec<String>,
    /// Probes of enrolled subjects.
    pub mated_probes: usize,
    /// Samples of held-out subjects.
    pub non_mated_probes: usize,
    /// The FPIR target.
    pub target_fpir: f64,
    /// Smallest observed non-mated score with FPIR ≤ target.
    pub threshold: Option<f32>,
    /// FPIR at `threshold`.
    pub fpir: Option<f64>,
    /// FNIR at `threshold`.
    pub fnir: Option<f64>,
    /// The DET curve, threshold descending.
    pub det: Vec<DetPoint>,
    /// Why figures are missing, if they are.
    pub reason: Option<String>,
}

impl OpenSet {
    fn empty(target_fpir: f64, reason: String) -> Self {
        Self {
            held_out_subjects: vec![],
            mated_probes: 0,
            non_mated_probes: 0,
            target_fpir,
            threshold: None,
            fpir: None,
            fnir: None,
            det: vec![],
            reason: Some(reason),
        }
    }
}

/// Which subjects to hold out (see the module doc), or why none can be.
pub(crate) fn held_out(subjects: &Subjects, fraction: f64, seed: u64) -> Result<Vec<bool>, String> {
    let s = subjects.len();
    if s < 2 {
        return Err(format!("an open set needs at least 2 subjects, there are {s}"));
    }
    if fraction.is_nan() || fraction <= 0.0 {
        return Err("open_set_fraction is 0".into());
    }
    let k = ((fraction.min(1.0) * s as f64).round() as usize).clamp(1, s - 1);
    let mut order: Vec<(u64, usize)> =
        subjects.names.iter().enumerate().map(|(i, n)| (hash64(seed, n.as_bytes()), i)).collect();
    order.sort_unstable();
    let mut held = vec![false; s];
    for &(_, i) in &order[..k] {
        held[i] = true;
    }
    Ok(held)
}

/// Open-set figures, plus the non-mated best scores in descending order (for calibration).
pub(crate) fn open_set(
    samples: &[Sample],
    subjects: &Subjects,
    split: &Split,
    held: Result<Vec<bool>, String>,
    target_fpir: f64,
) -> (OpenSet, Vec<f32>) {
    let held = match held {
        Ok(h) => h,
        Err(reason) => return (OpenSet::empty(target_fpir, reason), vec![]),
    };
    let enrolled: Vec<bool> = held.iter().map(|h| !h).collect();
    let mated_idx: Vec<usize> = split.probes.iter().copied().filter(|&p| enrolled[subjects.of[p]]).collect();
    let nm_idx: Vec<usize> =
        (0..subjects.len()).filter(|&s| held[s]).flat_map(|s| subjects.members[s].clone()).collect();
    let mated = score_probes(samples, subjects, &split.gallery, &mated_idx, &enrolled);
    let nonmated = score_probes(samples, subjects, &split.gallery, &nm_idx, &enrolled);
    let hits = finite_desc(&mated.iter().filter(|p| p.rank == 1).filter_map(|p| p.true_score).collect::<Vec<_>>());
    let nm = finite_desc(&nonmated.iter().filter_map(|p| p.best()).collect::<Vec<_>>());
    let (nmat, nnm) = (mated.len(), nm.len());
    let mut o = OpenSet::empty(target_fpir, String::new());
    o.reason = None;
    o.held_out_subjects = (0..subjects.len()).filter(|&s| held[s]).map(|s| subjects.names[s].clone()).collect();
    (o.mated_probes, o.non_mated_probes) = (nmat, nnm);
    if nmat == 0 || nnm == 0 {
        o.reason = Some(format!("FPIR and FNIR need both: {nmat} mated and {nnm} non-mated probes"));
        return (o, nm);
    }
    let mut thin = Thinner::new(1.0 / nnm as f64);
    let mut last = None;
    sweep(&hits, &nm, |t, hit, fp| {
        let p = DetPoint { fpir: fp as f64 / nnm as f64, fnir: 1.0 - hit as f64 / nmat as f64, threshold: t };
        if thin.keep(p.fpir, 1.0 - p.fnir) {
            o.det.push(p);
        }
        last = Some(p);
    });
    if let Some(p) = last.filter(|p| o.det.last() != Some(p)) {
        o.det.push(p);
    }
    match threshold_in_desc(&nm, target_fpir) {
        Some(t) => {
            o.threshold = Some(t);
            o.fpir = Some(count_at_least(&nm, t) as f64 / nnm as f64);
            o.fnir = Some(1.0 - count_at_least(&hits, t) as f64 / nmat as f64);
        }
        None => o.reason = Some(unmeasurable(nnm, "non-mated probes", target_fpir)),
    }
    (o, nm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture;
    use crate::eval::identification::split;

    #[test]
    fn fixture_fpir_fnir_by_hand() {
        let samples = fixture::samples();
        let subjects = Subjects::new(&samples);
        let sp = split(&subjects, 1);
        // Hold out C: gallery a1 b1 d1; mated a2 (A .75, rank 1), a3 (A, B, D all .25 → rank 3,
        // never a hit), b2 (B .75, rank 1); non-mated c1 (best 0), c2 (best: d1 .5).
        let held = Ok(vec![false, false, true, false]);
        let (o, nm) = open_set(&samples, &subjects, &sp, held.clone(), 0.5);
        assert_eq!(nm, vec![0.5, 0.0]);
        assert_eq!((o.mated_probes, o.non_mated_probes), (3, 2));
        // Target .5: 2·.5 = 1 accepted at most; rejecting 0 gives t = .5: FPIR 1/2, FNIR 1/3 (a3).
        assert_eq!((o.threshold, o.fpir), (Some(0.5), Some(0.5)));
        assert!((o.fnir.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // DET: above .75 (0, 1), .75 (0, 1/3), .5 (1/2, 1/3), 0 (1, 1/3).
        let det: Vec<(f64, f32)> = o.det.iter().map(|p| (p.fpir, p.threshold)).collect();
        assert_eq!(det, vec![(0.0, 0.75f32.next_up()), (0.0, 0.75), (0.5, 0.5), (1.0, 0.0)]);
        // FPIR target .01 needs 100 non-mated probes.
        let (o, _) = open_set(&samples, &subjects, &sp, held, 0.01);
        assert!(o.threshold.is_none() && o.reason.is_some() && !o.det.is_empty());
    }

    #[test]
    fn hold_out_choice() {
        let samples = fixture::samples();
        let subjects = Subjects::new(&samples);
        let h = held_out(&subjects, 0.2, 7).unwrap();
        assert_eq!(h.iter().filter(|x| **x).count(), 1); // round(0.8) = 1
        assert_eq!(held_out(&subjects, 0.2, 7).unwrap(), h);
        assert_eq!(held_out(&subjects, 1.0, 7).unwrap().iter().filter(|x| **x).count(), 3);
        assert!(held_out(&subjects, 0.0, 7).is_err());
        let one = Subjects::new(&samples[..3]);
        assert!(held_out(&one, 0.2, 7).is_err());
    }
}

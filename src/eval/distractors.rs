//! MegaFace-style distractors: rank-1 identification of the closed-set probes against the gallery
//! plus the first D distractors, for D = 10, 100, 1000, … and the full set. A probe is a hit at D
//! ⇔ its true subject is rank 1 in the gallery and scores strictly above every one of the first D
//! distractors (a tie is not a hit). Distractors are streamed in chunks; per probe only a running
//! maximum is kept, so memory is O(probes) plus one chunk.
//!
//! Synthesized distractors (when none are given) come from a generator tuned so that
//! probe–distractor scores have the mean and standard deviation of the real impostor scores; the
//! report gives the target, what was achieved over the whole set, the KS statistic and the fitted
//! parameters ([`DistractorFit`]). How it works is documented on `distractor_model.rs`.

use rayon::prelude::*;
use serde::Serialize;

pub use super::distractor_model::DistractorFit;
pub(crate) use super::distractor_model::Generator;
use super::distractor_model::BLOCK;
use super::identification::ProbeScore;
use super::stats::{ks_statistic, Acc, Moments};
use super::Sample;
use crate::index::dot;

/// Distractors scored per pass (a multiple of `BLOCK`).
const CHUNK: usize = 16 * BLOCK;
/// Distractors each probe scores in one pass (a cache-sized tile).
const TILE: usize = 512;
/// Probe–distractor scores kept for the Kolmogorov–Smirnov statistic.
const KS_SCORES: usize = 200_000;
/// Samples whose impostor pairs set the target of [`synthesize_distractors`] (evenly spaced).
const TARGET_SAMPLES: usize = 2000;

/// `n` synthetic distractors for `samples`, tuned (see [`DistractorFit`] and the generator in the
/// module doc) so that sample–distractor scores have the mean and standard deviation of the
/// samples' own impostor scores (pairs of different labels; up to 2 000 evenly spaced samples).
/// Deterministic in `seed`, and the first `k` of `n` are the `k` asked alone. Empty when there are
/// no samples or their dimensions differ.
pub fn synthesize_distractors(samples: &[Sample], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let dim = samples.first().map_or(0, |s| s.vector.len());
    if samples.iter().any(|s| s.vector.len() != dim) {
        return vec![];
    }
    let some: Vec<&Sample> = samples.iter().step_by(samples.len().div_ceil(TARGET_SAMPLES).max(1)).collect();
    let target = (0..some.len())
        .into_par_iter()
        .map(|i| {
            let mut a = Acc::default();
            for t in &some[i + 1..] {
                if t.label != some[i].label {
                    a.push(dot(&some[i].vector, &t.vector));
                }
            }
            a
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Acc::default(), Acc::merge)
        .moments();
    Generator::fit(samples, &[], target, seed).map_or_else(Vec::new, |g| g.range(0, n))
}

/// Where the distractors come from.
pub(crate) enum Source<'a> {
    Given(&'a [Vec<f32>]),
    Synthesized(Generator),
}

/// Rank-1 accuracy with `distractors` distractors added to the gallery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DistractorPoint {
    /// D, the distractors added to the gallery.
    pub distractors: usize,
    /// Rank-1 identification rate with D distractors.
    pub top1: f64,
}

/// Distractor figures: the rank-1 curve (starting at D = 0) and how the distractors' scores
/// compare with real impostor scores (moments, and the Kolmogorov–Smirnov statistic between the
/// real impostor scores and up to 200 000 probe–distractor scores).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distractors {
    /// `"given"` or `"synthesized"`.
    pub source: String,
    /// Distractors used.
    pub distractors: usize,
    /// Closed-set probes scored.
    pub probes: usize,
    /// Rank-1 rate at D = 0, 10, 100, … and all.
    pub curve: Vec<DistractorPoint>,
    /// Target: real impostor scores (verification).
    pub impostor: Moments,
    /// Achieved: all probe–distractor scores.
    pub probe_distractor: Moments,
    /// KS statistic between real impostor and probe–distractor scores.
    pub ks_statistic: Option<f64>,
    /// How synthesized distractors were tuned to the target (`None` for given ones).
    pub fit: Option<DistractorFit>,
    /// Why the figures are missing, if they are.
    pub reason: Option<String>,
}

/// D = 10, 100, … below `count`, then `count`.
fn sizes(count: usize) -> Vec<usize> {
    let mut v: Vec<usize> =
        std::iter::successors(Some(10usize), |d| d.checked_mul(10)).take_while(|&d| d < count).collect();
    if count > 0 {
        v.push(count);
    }
    v
}

struct State {
    running: f32,
    at: Vec<f32>,
    acc: Acc,
    kept: Vec<f32>,
}

/// Scores the closed-set `probes` against `count` distractors from `source`.
pub(crate) fn evaluate(
    samples: &[Sample],
    probes: &[ProbeScore],
    source: Source,
    count: usize,
    impostor: &[f32],
    impostor_moments: Moments,
) -> Distractors {
    let sizes = sizes(count);
    let keep = (KS_SCORES / probes.len().max(1)).max(1);
    let mut states: Vec<State> = probes
        .iter()
        .map(|_| State { running: f32::NEG_INFINITY, at: vec![], acc: Acc::default(), kept: vec![] })
        .collect();
    for start in (0..count).step_by(CHUNK) {
        let len = CHUNK.min(count - start);
        let owned: Vec<Vec<f32>>;
        let chunk: &[Vec<f32>] = match &source {
            Source::Given(v) => &v[start..start + len],
            Source::Synthesized(g) => {
                owned = g.range(start, len);
                &owned
            }
        };
        // Tiles small enough to stay in cache while every probe passes over them.
        for (t, tile) in chunk.chunks(TILE).enumerate() {
            let first = start + t * TILE;
            states.par_iter_mut().zip(probes.par_iter()).for_each(|(st, p)| {
                let q = &samples[p.sample].vector;
                for (k, v) in tile.iter().enumerate() {
                    let s = dot(q, v);
                    st.acc.push(s);
                    st.running = st.running.max(s);
                    if first + k < keep {
                        st.kept.push(s);
                    }
                    if sizes.get(st.at.len()) == Some(&(first + k + 1)) {
                        st.at.push(st.running);
                    }
                }
            });
        }
    }
    let n = probes.len();
    let top1 = |d: Option<usize>| {
        let hits = probes
            .iter()
            .zip(&states)
            .filter(|(p, st)| p.rank == 1 && d.is_none_or(|d| p.true_score.is_some_and(|t| t > st.at[d])))
            .count();
        if n == 0 {
            0.0
        } else {
            hits as f64 / n as f64
        }
    };
    let mut curve = vec![DistractorPoint { distractors: 0, top1: top1(None) }];
    curve.extend(sizes.iter().enumerate().map(|(k, &d)| DistractorPoint { distractors: d, top1: top1(Some(k)) }));
    let kept: Vec<f32> = states.iter().flat_map(|s| s.kept.iter().copied()).collect();
    Distractors {
        source: match source {
            Source::Given(_) => "given".into(),
            Source::Synthesized(_) => "synthesized".into(),
        },
        fit: match source {
            Source::Given(_) => None,
            Source::Synthesized(g) => Some(g.fit),
        },
        distractors: count,
        probes: n,
        curve,
        impostor: impostor_moments,
        probe_distractor: states.iter().fold(Acc::default(), |a, s| a.merge(s.acc)).moments(),
        ks_statistic: ks_statistic(impostor, &kept),
        reason: match (n, count) {
            (0, _) => Some("no probes".into()),
            (_, 0) => Some("no distractors".into()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::stats::moments;
    use crate::index::synth::{gallery, Identities};

    fn clustered(subjects: usize, per: usize, dim: usize) -> Vec<Sample> {
        let g = gallery(&Identities::new(subjects, dim, 11), per, 12);
        (0..g.len())
            .map(|i| Sample { label: format!("s{}", i / per), item: format!("{i}"), vector: g.row(i).to_vec() })
            .collect()
    }

    /// Impostor and sample–distractor moments, and the KS statistic between the two.
    fn compare(s: &[Sample], d: &[Vec<f32>]) -> (Moments, Moments, Option<f64>) {
        let mut imp = vec![];
        for (i, a) in s.iter().enumerate() {
            imp.extend(s[i + 1..].iter().filter(|b| b.label != a.label).map(|b| dot(&a.vector, &b.vector)));
        }
        let pd: Vec<f32> = s.iter().flat_map(|a| d.iter().map(|v| dot(&a.vector, v))).collect();
        (moments(&imp), moments(&pd), ks_statistic(&imp, &pd))
    }

    #[test]
    fn synthetic_distractors_match_impostor_moments() {
        // Few subjects (the case a plain Gaussian fit gets badly wrong) and many.
        for (subjects, per, dim) in [(5, 4, 128), (200, 3, 128), (200, 4, 64)] {
            let s = clustered(subjects, per, dim);
            let d = synthesize_distractors(&s, 5000, 5);
            assert_eq!(d.len(), 5000);
            assert!(d.iter().all(|v| v.len() == dim && (dot(v, v) - 1.0).abs() < 1e-4));
            let (imp, pd, ks) = compare(&s, &d);
            eprintln!("{subjects}×{per} {dim}-d: impostor {imp:?}, sample–distractor {pd:?}, KS {ks:?}");
            assert!((imp.mean - pd.mean).abs() < 0.02, "{imp:?} {pd:?}");
            assert!((pd.std / imp.std - 1.0).abs() < 0.25, "{imp:?} {pd:?}");
            if subjects >= 200 {
                assert!(ks.unwrap() < 0.15, "{ks:?}");
            }
        }
    }

    #[test]
    fn synthesis_is_deterministic_and_prefix_stable() {
        let s = clustered(5, 4, 32);
        let d = synthesize_distractors(&s, 3000, 7);
        assert_eq!(synthesize_distractors(&s, 3000, 7), d);
        assert_eq!(synthesize_distractors(&s, 1500, 7)[..], d[..1500]);
        assert_ne!(synthesize_distractors(&s, 10, 8), d[..10]);
        assert!(synthesize_distractors(&[], 10, 1).is_empty());
        // One subject: no impostor scores, so the target is that of random unit vectors.
        let one: Vec<Sample> = s[..4].to_vec();
        let (_, pd, _) = compare(&one, &synthesize_distractors(&one, 2000, 1));
        assert!(pd.mean.abs() < 0.03 && (pd.std * 32f64.sqrt() - 1.0).abs() < 0.25, "{pd:?}");
    }

    #[test]
    fn sizes_are_powers_of_ten_then_all() {
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(10), vec![10]);
        assert_eq!(sizes(2500), vec![10, 100, 1000, 2500]);
    }
}

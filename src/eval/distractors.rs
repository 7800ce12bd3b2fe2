//! MegaFace-style distractors: rank-1 identification of the closed-set probes against the gallery
//! plus the first D distractors, for D = 10, 100, 1000, … and the full set. A probe is a hit at D
//! ⇔ its true subject is rank 1 in the gallery and scores strictly above every one of the first D
//! distractors (a tie is not a hit). Distractors are streamed in chunks; per probe only a running
//! maximum is kept, so memory is O(probes) plus one chunk.

use rayon::prelude::*;
use serde::Serialize;

use super::identification::ProbeScore;
use super::pca::{dot64, Pca};
use super::stats::{hash64, ks_statistic, Acc, Moments};
use super::Sample;
use crate::index::dot;
use crate::index::synth::Rng;

/// Vectors drawn from one generator stream (so output does not depend on chunking or threads).
const BLOCK: usize = 1024;
/// Distractors scored per pass (a multiple of `BLOCK`).
const CHUNK: usize = 16 * BLOCK;
/// Distractors each probe scores in one pass (a cache-sized tile).
const TILE: usize = 512;
/// Principal components of the fitted Gaussian.
const COMPONENTS: usize = 24;
/// Probe–distractor scores kept for the Kolmogorov–Smirnov statistic.
const KS_SCORES: usize = 200_000;

/// A Gaussian fitted to embeddings: mean + leading principal components + isotropic residual.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    pca: Pca,
    residual_sd: f64,
}

impl Generator {
    /// Fits the samples (which must share one dimension); `None` without samples.
    pub fn fit(samples: &[Sample]) -> Option<Self> {
        let rows: Vec<&[f32]> = samples.iter().map(|s| s.vector.as_slice()).collect();
        let pca = Pca::fit(&rows, COMPONENTS, 0)?;
        let d = pca.mean.len();
        let rest = d - pca.components.len();
        let residual =
            if rest > 0 { (pca.total_variance - pca.variances.iter().sum::<f64>()) / rest as f64 } else { 0.0 };
        Some(Self { pca, residual_sd: residual.max(0.0).sqrt() })
    }

    /// One draw: `x = μ + σ_r·g + Σᵢ (√λᵢ − σ_r)(vᵢ·g) vᵢ` with `g ~ N(0, I)`, whose covariance is
    /// `Σᵢ λᵢ vᵢvᵢᵀ + σ_r²(I − VVᵀ)`; then L2-normalised.
    fn one(&self, rng: &mut Rng) -> Vec<f32> {
        let d = self.pca.mean.len();
        let g: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let mut x: Vec<f64> = self.pca.mean.iter().zip(&g).map(|(m, g)| m + self.residual_sd * g).collect();
        for (c, v) in self.pca.components.iter().zip(&self.pca.variances) {
            let z = (v.sqrt() - self.residual_sd) * dot64(c, &g);
            x.iter_mut().zip(c).for_each(|(a, b)| *a += z * b);
        }
        let norm = dot64(&x, &x).sqrt();
        if norm > 1e-12 && norm.is_finite() {
            x.iter().map(|v| (v / norm) as f32).collect()
        } else {
            rng.unit_vector(d)
        }
    }

    /// Distractors `start .. start + count` (`start` a multiple of `BLOCK`) of the stream `seed`.
    pub fn range(&self, seed: u64, start: usize, count: usize) -> Vec<Vec<f32>> {
        let first = start / BLOCK;
        let mut out: Vec<Vec<f32>> = (first..first + count.div_ceil(BLOCK))
            .into_par_iter()
            .flat_map_iter(|b| {
                let mut rng = Rng::new(hash64(seed, &(b as u64).to_le_bytes()));
                (0..BLOCK).map(move |_| self.one(&mut rng))
            })
            .collect();
        out.truncate(count);
        out
    }
}

/// `n` synthetic distractors shaped like `samples`: a Gaussian (mean, top principal components by
/// power iteration, isotropic residual variance) is fitted, sampled and each draw L2-normalised.
/// Deterministic in `seed`. Empty when there are no samples or their dimensions differ.
pub fn synthesize_distractors(samples: &[Sample], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let dim = samples.first().map_or(0, |s| s.vector.len());
    if samples.iter().any(|s| s.vector.len() != dim) {
        return vec![];
    }
    Generator::fit(samples).map_or_else(Vec::new, |g| g.range(seed, 0, n))
}

/// Where the distractors come from.
pub(crate) enum Source<'a> {
    Given(&'a [Vec<f32>]),
    Synthesized(Generator, u64),
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
    /// Real impostor scores (verification).
    pub impostor: Moments,
    /// All probe–distractor scores.
    pub probe_distractor: Moments,
    /// KS statistic between real impostor and probe–distractor scores.
    pub ks_statistic: Option<f64>,
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
            Source::Synthesized(g, seed) => {
                owned = g.range(*seed, start, len);
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
            Source::Synthesized(..) => "synthesized".into(),
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

    #[test]
    fn synthetic_distractors_look_like_impostors() {
        let ids = Identities::new(200, 64, 11);
        let g = gallery(&ids, 4, 12);
        let samples: Vec<Sample> = (0..g.len())
            .map(|i| Sample { label: format!("s{}", i / 4), item: format!("{i}"), vector: g.row(i).to_vec() })
            .collect();
        let d = synthesize_distractors(&samples, 10_000, 5);
        assert_eq!(d.len(), 10_000);
        assert!(d.iter().all(|v| v.len() == 64 && (dot(v, v) - 1.0).abs() < 1e-4));
        assert_eq!(synthesize_distractors(&samples, 1500, 5)[..], d[..1500]); // prefix-stable
                                                                              // Real impostors: photos of different identities. Probe–distractor: photos vs distractors.
        let imp: Vec<f32> =
            (0..2000).map(|k| dot(g.row(4 * (k % 200)), g.row(4 * ((k + 1 + k / 200) % 200) + 1))).collect();
        let pd: Vec<f32> = (0..2000).map(|k| dot(g.row(k % g.len()), &d[k * 5])).collect();
        let (mi, md) = (moments(&imp), moments(&pd));
        assert!((mi.mean - md.mean).abs() < 0.02, "{mi:?} {md:?}");
        assert!((md.std / mi.std - 1.0).abs() < 0.3, "{mi:?} {md:?}");
        assert!(ks_statistic(&imp, &pd).unwrap() < 0.15);
        assert!(synthesize_distractors(&[], 10, 1).is_empty());
    }

    #[test]
    fn sizes_are_powers_of_ten_then_all() {
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(10), vec![10]);
        assert_eq!(sizes(2500), vec![10, 100, 1000, 2500]);
    }
}

//! The generator of synthetic distractors, tuned so that probe–distractor scores have the mean and
//! standard deviation of the real impostor scores, however few subjects the real set has.
//!
//! Fitting a Gaussian to the samples and normalising its draws does not do this: with few subjects
//! the fitted mean is long and the covariance lives in the few directions the probes span, so
//! draws land near the probes (on 17 SFace embeddings of 5 people: probe–distractor mean 0.37,
//! sd 0.34, against real impostors at 0.109 ± 0.075). Instead each draw is
//!
//! ```text
//! x = c·μ̂ + √(1 − c²)·u,   u = normalize(λ·a + (1 − λ)·b)
//! ```
//!
//! with μ̂ the unit mean direction of the samples, and for `g ~ N(0, I)`: `a = Σᵢ sᵢ (wᵢ·g) wᵢ`, the
//! covariance-shaped part in the subspace of the leading principal components `wᵢ`
//! (orthonormalised against μ̂; `sᵢ ∝ √varianceᵢ` with mean square 1), and `b` the isotropic rest
//! of `g` outside μ̂ and that subspace. `a ⊥ b ⊥ μ̂`, so `x` is a unit vector whose cosine to μ̂ is
//! exactly `c`, and since `u` is symmetric (`u` and `−u` are equally likely) the mean score of a
//! probe `p` is `c·(p·μ̂)`: `c` sets the mean. `λ` sets the spread: at `λ = 0` the distractors
//! avoid the fitted subspace, where probes have most of their energy (with few subjects, all of
//! it: scores vary only through `c·(p·μ̂)`); at `λ = ½` `u` is roughly isotropic; at `λ = 1` it
//! follows the samples' covariance and scores spread the most.
//!
//! Calibration: the first 2 048 draws of the stream are scored against up to 200 probes (evenly
//! spaced); for each `λ` on a grid the pair sums give `c` in closed form (the mean is
//! `R·cos(θ − φ)` in `c = cos θ`) and then the standard deviation; the `λ` whose standard deviation
//! is nearest the target is refined by bisection where it brackets the target. Everything is
//! summed in a fixed order, so the fit, like the draws, is deterministic in the seed. Without real
//! impostor scores (one subject) the target is that of random unit vectors: mean 0, sd `1/√d`.

use rayon::prelude::*;
use serde::Serialize;

use super::pca::{dot64, Pca};
use super::stats::{hash64, Moments};
use super::Sample;
use crate::synth::Rng;

/// Vectors drawn from one generator stream (so output does not depend on chunking or threads).
pub(crate) const BLOCK: usize = 1024;
/// Principal components of the fitted subspace.
const COMPONENTS: usize = 24;
/// Calibration draws (the first ones of the stream).
const CALIBRATION_DRAWS: usize = 2 * BLOCK;
/// Calibration probes (evenly spaced).
const CALIBRATION_PROBES: usize = 200;
/// Grid steps of `λ` over [0, 1], then bisection steps.
const GRID: usize = 32;
const BISECTIONS: usize = 30;

/// How the synthetic distractors were tuned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DistractorFit {
    /// Target: moments of the real impostor scores (or mean 0, sd 1/√d without any).
    pub target: Moments,
    /// `c`: cosine of every distractor to the samples' unit mean direction.
    pub cosine_to_mean: f64,
    /// `λ`: weight of the covariance-shaped part (0: outside the fitted subspace, ½ ≈ isotropic).
    pub shape_weight: f64,
    /// Principal components spanning the fitted subspace.
    pub components: usize,
    /// Probe–distractor moments on the calibration batch (draws × probes pairs).
    pub calibration: Moments,
}

/// The fitted generator; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    seed: u64,
    mean_dir: Vec<f64>,
    basis: Vec<Vec<f64>>,
    scale: Vec<f64>,
    cos: f64,
    lambda: f64,
    /// The fit, for the report.
    pub fit: DistractorFit,
}

fn gaussian(rng: &mut Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.normal()).collect()
}

fn block_rng(seed: u64, block: usize) -> Rng {
    Rng::new(hash64(seed, &(block as u64).to_le_bytes()))
}

/// Per-draw coordinates: `z₀ = μ̂·g`, `zᵢ = wᵢ·g`, `|a|²`, `|b|²`.
struct Parts {
    z0: f64,
    z: Vec<f64>,
    a2: f64,
    b2: f64,
}

impl Generator {
    /// Fits to `samples` (one dimension) and tunes against `probes` (all samples when empty) so
    /// that probe–distractor scores have the moments of `target` (the real impostor scores);
    /// `None` without samples.
    pub fn fit(samples: &[Sample], probes: &[&[f32]], target: Moments, seed: u64) -> Option<Self> {
        let rows: Vec<&[f32]> = samples.iter().map(|s| s.vector.as_slice()).collect();
        let pca = Pca::fit(&rows, COMPONENTS, 0)?;
        let d = pca.mean.len();
        let norm = dot64(&pca.mean, &pca.mean).sqrt();
        let mean_dir: Vec<f64> = if norm > 1e-9 {
            pca.mean.iter().map(|m| m / norm).collect()
        } else {
            (0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect()
        };
        let (mut basis, mut var): (Vec<Vec<f64>>, Vec<f64>) = (vec![], vec![]);
        for (c, v) in pca.components.iter().zip(&pca.variances) {
            let mut w = c.clone();
            for e in std::iter::once(&mean_dir).chain(&basis) {
                let p = dot64(e, &w);
                w.iter_mut().zip(e).for_each(|(x, y)| *x -= p * y);
            }
            let n = dot64(&w, &w).sqrt();
            if n > 1e-6 {
                basis.push(w.iter().map(|x| x / n).collect());
                var.push(*v);
            }
        }
        let mean_var = var.iter().sum::<f64>() / var.len().max(1) as f64;
        let scale = var.iter().map(|v| (v / mean_var).sqrt()).collect();
        let target = if target.count > 0 && target.mean.is_finite() && target.std.is_finite() {
            target
        } else {
            Moments { count: 0, mean: 0.0, std: 1.0 / (d as f64).sqrt() }
        };
        let fit = DistractorFit {
            target,
            cosine_to_mean: 0.0,
            shape_weight: 0.5,
            components: basis.len(),
            calibration: Moments::default(),
        };
        let mut g = Generator { seed, mean_dir, basis, scale, cos: 0.0, lambda: 0.5, fit };
        let probes: Vec<&[f32]> = if probes.is_empty() { rows } else { probes.to_vec() };
        g.calibrate(&probes);
        Some(g)
    }

    fn parts(&self, g: &[f64]) -> Parts {
        let z0 = dot64(&self.mean_dir, g);
        let z: Vec<f64> = self.basis.iter().map(|w| dot64(w, g)).collect();
        let a2 = z.iter().zip(&self.scale).map(|(z, s)| (s * z).powi(2)).sum();
        let b2 = (dot64(g, g) - z0 * z0 - z.iter().map(|z| z * z).sum::<f64>()).max(0.0);
        Parts { z0, z, a2, b2 }
    }

    /// Tunes `cos` and `lambda` on the first draws of the stream against `probes`.
    fn calibrate(&mut self, probes: &[&[f32]]) {
        let d = self.mean_dir.len();
        let step = probes.len().div_ceil(CALIBRATION_PROBES).max(1);
        let probes: Vec<Vec<f64>> =
            probes.iter().step_by(step).map(|p| p.iter().map(|&x| x as f64).collect()).collect();
        let draws: Vec<(Vec<f64>, Parts)> = (0..CALIBRATION_DRAWS / BLOCK)
            .into_par_iter()
            .flat_map_iter(|b| {
                let mut rng = block_rng(self.seed, b);
                (0..BLOCK).map(move |_| gaussian(&mut rng, d))
            })
            .map(|g| {
                let p = self.parts(&g);
                (g, p)
            })
            .collect();
        // Per probe: p·μ̂ and, per draw, p·a and p·b.
        let pairs: Vec<(f64, Vec<(f64, f64)>)> = probes
            .par_iter()
            .map(|p| {
                let pm = dot64(p, &self.mean_dir);
                let pw: Vec<f64> = self.basis.iter().map(|w| dot64(w, p)).collect();
                let ab = draws
                    .iter()
                    .map(|(g, q)| {
                        let zw: f64 = q.z.iter().zip(&pw).map(|(z, w)| z * w).sum();
                        let a: f64 = q.z.iter().zip(&pw).zip(&self.scale).map(|((z, w), s)| s * z * w).sum();
                        (a, dot64(p, g) - q.z0 * pm - zw)
                    })
                    .collect();
                (pm, ab)
            })
            .collect();
        let n = (pairs.len() * draws.len()) as f64;
        // For a given λ: the best c and the resulting (mean, sd).
        let solve = |lambda: f64| -> (f64, f64, f64) {
            let inv: Vec<f64> = draws
                .iter()
                .map(|(_, q)| {
                    let r = (lambda * lambda * q.a2 + (1.0 - lambda).powi(2) * q.b2).sqrt();
                    if r > 1e-12 {
                        1.0 / r
                    } else {
                        0.0
                    }
                })
                .collect();
            let sums = pairs
                .par_iter()
                .map(|(pm, ab)| {
                    let (mut u, mut uu, mut pu) = (0.0, 0.0, 0.0);
                    for ((a, b), i) in ab.iter().zip(&inv) {
                        let x = (lambda * a + (1.0 - lambda) * b) * i;
                        u += x;
                        uu += x * x;
                        pu += pm * x;
                    }
                    [*pm * ab.len() as f64, pm * pm * ab.len() as f64, u, uu, pu]
                })
                .collect::<Vec<_>>()
                .iter()
                .fold([0.0; 5], |acc, s| std::array::from_fn(|k| acc[k] + s[k]));
            let [ep, epp, eu, euu, epu] = sums.map(|s| s / n);
            let r = ep.hypot(eu);
            let phi = eu.atan2(ep);
            let theta = if r > 1e-12 {
                (phi + (self.fit.target.mean / r).clamp(-1.0, 1.0).acos()).clamp(0.0, std::f64::consts::PI)
            } else {
                std::f64::consts::FRAC_PI_2
            };
            let (c, s) = (theta.cos(), theta.sin());
            let mean = c * ep + s * eu;
            let second = c * c * epp + 2.0 * c * s * epu + s * s * euu;
            (c, mean, (second - mean * mean).max(0.0).sqrt())
        };
        let err = |l: f64| solve(l).2 - self.fit.target.std;
        let grid: Vec<(f64, f64)> = (0..=GRID).map(|k| k as f64 / GRID as f64).map(|l| (l, err(l))).collect();
        let best = (0..grid.len()).min_by(|&i, &j| grid[i].1.abs().total_cmp(&grid[j].1.abs())).unwrap_or(0);
        let bracket = [best.checked_sub(1), Some(best)]
            .into_iter()
            .flatten()
            .filter(|&i| i + 1 < grid.len())
            .find(|&i| grid[i].1.signum() != grid[i + 1].1.signum());
        let mut lambda = grid[best].0;
        if let Some(i) = bracket {
            let ((mut lo, mut elo), mut hi) = (grid[i], grid[i + 1].0);
            for _ in 0..BISECTIONS {
                let mid = 0.5 * (lo + hi);
                let e = err(mid);
                if e.signum() == elo.signum() {
                    (lo, elo) = (mid, e);
                } else {
                    hi = mid;
                }
            }
            lambda = 0.5 * (lo + hi);
        }
        let (c, mean, std) = solve(lambda);
        self.cos = c;
        self.lambda = lambda;
        self.fit.cosine_to_mean = c;
        self.fit.shape_weight = lambda;
        self.fit.calibration = Moments { count: n as usize, mean, std };
    }

    /// One draw from `g ~ N(0, I)`; see the module doc.
    fn one(&self, rng: &mut Rng) -> Vec<f32> {
        let g = gaussian(rng, self.mean_dir.len());
        let q = self.parts(&g);
        let (la, lb) = (self.lambda, 1.0 - self.lambda);
        // u ∝ λ·a + (1 − λ)·b = (1 − λ)(g − z₀μ̂) + Σᵢ (λsᵢ − (1 − λ)) zᵢ wᵢ.
        let mut u: Vec<f64> = g.iter().zip(&self.mean_dir).map(|(g, m)| lb * (g - q.z0 * m)).collect();
        for ((w, z), s) in self.basis.iter().zip(&q.z).zip(&self.scale) {
            let k = (la * s - lb) * z;
            u.iter_mut().zip(w).for_each(|(x, y)| *x += k * y);
        }
        let r = (la * la * q.a2 + lb * lb * q.b2).sqrt();
        let (c, s) = (self.cos, if r > 1e-12 { (1.0 - self.cos * self.cos).max(0.0).sqrt() / r } else { 0.0 });
        let c = if r > 1e-12 { c } else { 1.0 };
        u.iter().zip(&self.mean_dir).map(|(u, m)| (c * m + s * u) as f32).collect()
    }

    /// Distractors `start .. start + count` (`start` a multiple of `BLOCK`) of the stream.
    pub fn range(&self, start: usize, count: usize) -> Vec<Vec<f32>> {
        let first = start / BLOCK;
        let mut out: Vec<Vec<f32>> = (first..first + count.div_ceil(BLOCK))
            .into_par_iter()
            .flat_map_iter(|b| {
                let mut rng = block_rng(self.seed, b);
                (0..BLOCK).map(move |_| self.one(&mut rng))
            })
            .collect();
        out.truncate(count);
        out
    }
}

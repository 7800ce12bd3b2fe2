//! Small statistics helpers: moments, histograms, the Kolmogorov–Smirnov statistic, the threshold
//! sweep shared by ROC and DET curves, curve thinning and seeded hashing.

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Count, mean and population standard deviation of a set of scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Moments {
    /// Values.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

/// Running sums for [`Moments`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    n: usize,
    sum: f64,
    sumsq: f64,
}

impl Acc {
    pub fn push(&mut self, x: f32) {
        let x = x as f64;
        self.n += 1;
        self.sum += x;
        self.sumsq += x * x;
    }

    pub fn merge(self, o: Acc) -> Acc {
        Acc { n: self.n + o.n, sum: self.sum + o.sum, sumsq: self.sumsq + o.sumsq }
    }

    pub fn moments(&self) -> Moments {
        if self.n == 0 {
            return Moments::default();
        }
        let mean = self.sum / self.n as f64;
        let var = (self.sumsq / self.n as f64 - mean * mean).max(0.0);
        Moments { count: self.n, mean, std: var.sqrt() }
    }
}

/// Moments of the finite values of `xs` (NaN and infinities are skipped).
pub fn moments(xs: &[f32]) -> Moments {
    xs.par_iter()
        .filter(|x| x.is_finite())
        .fold(Acc::default, |mut a, &x| {
            a.push(x);
            a
        })
        .reduce(Acc::default, Acc::merge)
        .moments()
}

/// Counts in equal-width bins over `[lo, hi]`: bin `k` holds `lo + k·w ≤ x < lo + (k+1)·w`, the
/// last bin also holds `hi`; values outside are clamped into the end bins, non-finite ones skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Lower end of the range.
    pub lo: f64,
    /// Upper end of the range.
    pub hi: f64,
    /// Count per bin.
    pub counts: Vec<u64>,
}

/// Histogram of the finite values of `xs` (see [`Histogram`]); `bins` is at least 1.
pub fn histogram(xs: &[f32], bins: usize, lo: f64, hi: f64) -> Histogram {
    let bins = bins.max(1);
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &x in xs.iter().filter(|x| x.is_finite()) {
        let k = ((x as f64 - lo) / w).floor();
        let k = if k.is_nan() { 0 } else { k.clamp(0.0, (bins - 1) as f64) as usize };
        counts[k] += 1;
    }
    Histogram { lo, hi, counts }
}

/// Two-sample Kolmogorov–Smirnov statistic `sup |F_a(x) − F_b(x)|` over the finite values;
/// `None` when either side is empty.
pub fn ks_statistic(a: &[f32], b: &[f32]) -> Option<f64> {
    let (mut a, mut b) = (finite_desc(a), finite_desc(b));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    a.reverse();
    b.reverse();
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    Some(d)
}

/// The finite values of `xs`, `-0.0` folded into `0.0`, sorted in descending order.
pub(crate) fn finite_desc(xs: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = xs.iter().filter(|x| x.is_finite()).map(|x| x + 0.0).collect();
    v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    v
}

/// How many values of a descending list are `≥ t`.
pub(crate) fn count_at_least(desc: &[f32], t: f32) -> usize {
    desc.partition_point(|&x| x >= t)
}

/// Sweeps a threshold down over two descending score lists: calls `f(t, pos, neg)` with the
/// numbers of positive and negative scores `≥ t`, first for `t` just above every score (0, 0),
/// then for every distinct score in descending order (ties are accepted together).
pub(crate) fn sweep(pos: &[f32], neg: &[f32], mut f: impl FnMut(f32, usize, usize)) {
    let top = |i: usize, j: usize| match (pos.get(i), neg.get(j)) {
        (Some(a), Some(b)) => Some(a.max(*b)),
        (a, b) => a.or(b).copied(),
    };
    let Some(first) = top(0, 0) else { return };
    f(first.next_up(), 0, 0);
    let (mut i, mut j) = (0, 0);
    while let Some(t) = top(i, j) {
        while i < pos.len() && pos[i] >= t {
            i += 1;
        }
        while j < neg.len() && neg[j] >= t {
            j += 1;
        }
        f(t, i, j);
    }
}

/// Levels of each linear grid used by [`Thinner`].
const LIN_LEVELS: usize = 150;
/// Levels of the logarithmic grid used by [`Thinner`].
const LOG_LEVELS: usize = 200;

/// Keeps ≤ ~500 points of a swept curve: the first point past each level of a logarithmic grid
/// on `x` (from `min_x` to 1) and of linear grids on `x` and `y` (both non-decreasing along the
/// sweep). The caller adds the last point.
pub(crate) struct Thinner {
    log: Vec<f64>,
    next: [usize; 3],
}

impl Thinner {
    pub fn new(min_x: f64) -> Self {
        let l0 = min_x.clamp(1e-12, 1.0).log10();
        let log = (0..LOG_LEVELS).map(|k| 10f64.powf(l0 * (1.0 - k as f64 / (LOG_LEVELS - 1) as f64))).collect();
        Self { log, next: [0; 3] }
    }

    pub fn keep(&mut self, x: f64, y: f64) -> bool {
        let mut keep = false;
        let lin = |k: usize| k as f64 / (LIN_LEVELS - 1) as f64;
        while self.next[0] < self.log.len() && x >= self.log[self.next[0]] {
            self.next[0] += 1;
            keep = true;
        }
        for (slot, v) in [(1, x), (2, y)] {
            while self.next[slot] < LIN_LEVELS && v >= lin(self.next[slot]) {
                self.next[slot] += 1;
                keep = true;
            }
        }
        keep
    }
}

/// A 64-bit hash of `seed` and `bytes` (first 8 bytes of SHA-256), stable across platforms.
pub(crate) fn hash64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(bytes);
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_histogram_and_ks() {
        let m = moments(&[1.0, 3.0, f32::NAN]);
        assert_eq!((m.count, m.mean, m.std), (2, 2.0, 1.0));
        let h = histogram(&[-1.0, -0.99, 0.0, 1.0, 5.0, f32::NAN], 4, -1.0, 1.0);
        assert_eq!(h.counts, vec![2, 0, 1, 2]);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[1.0, 2.0]), Some(0.0));
        assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), Some(1.0));
        // a = {1, 2, 3, 4}, b = {3, 4}: at x = 2, F_a = 0.5, F_b = 0.
        assert_eq!(ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0]), Some(0.5));
        assert_eq!(ks_statistic(&[], &[1.0]), None);
    }

    #[test]
    fn sweep_accepts_ties_together() {
        let mut seen = vec![];
        sweep(&[0.5, 0.25], &[0.5, 0.0], |t, p, n| seen.push((t, p, n)));
        assert_eq!(seen, vec![(0.5f32.next_up(), 0, 0), (0.5, 1, 1), (0.25, 2, 1), (0.0, 2, 2)]);
    }
}

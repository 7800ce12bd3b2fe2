//! What the scan index stores per vector besides the vector itself, and the query-side
//! counterparts. All codes live in a rotated space: a fixed random orthogonal matrix spreads
//! every vector's energy evenly over the (padded) dimensions, so one sign bit or one int8 step
//! per dimension carries the same information whatever the embedding model's own axes are.
//!
//! - **Sign code** (1 bit per dimension, RaBitQ's estimator): with `x̄ = sign(o') / √D`, the
//!   estimate `⟨x̄, q'⟩ / ⟨x̄, o'⟩` of `⟨o, q⟩` is unbiased and its error has standard deviation
//!   about `√(1 − f²) / (f √(D − 1))` with `f = ⟨x̄, o'⟩` (Gao & Long, SIGMOD 2024).
//! - **int8 code** with a per-vector scale: `⟨o, q⟩ = s·Σ q'ᵢ cᵢ ± (s/2)·‖q'‖₁`, a bound that
//!   holds for every vector, so the exact re-rank after it loses nothing.

use crate::index::kernel::dot;
use crate::index::synth::Rng;

/// Rounds a model's dimension up to the padded dimension of the codes (whole bytes of sign bits,
/// two 4-bit groups per byte).
pub(crate) fn padded_dim(dim: usize) -> usize {
    dim.div_ceil(8) * 8
}

/// A random orthogonal `dp × dp` matrix (Gram–Schmidt on Gaussian rows, in f64), row-major.
/// Deterministic in `(dp, seed)`; the index stores it anyway so that files never depend on it.
pub(crate) fn random_rotation(dp: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(dp);
    while rows.len() < dp {
        let mut v: Vec<f64> = (0..dp).map(|_| rng.normal()).collect();
        // Twice, for numerical orthogonality.
        for _ in 0..2 {
            for r in &rows {
                let p: f64 = r.iter().zip(&v).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(r).for_each(|(x, r)| *x -= p * r);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            rows.push(v.iter().map(|x| x / norm).collect());
        }
    }
    rows.into_iter().flatten().map(|x| x as f32).collect()
}

/// `R·[v, 0…]`: the first `v.len()` columns of each row of `rotation` against `v`.
pub(crate) fn rotate(rotation: &[f32], dp: usize, v: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(rotation.chunks_exact(dp)) {
        *o = dot(&row[..v.len()], v);
    }
}

/// The codes of one stored vector.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    /// Sign bits of the rotated vector, bit `k` of byte `p` = dimension `8p + k`.
    pub bits: Vec<u8>,
    /// `1 / ⟨x̄, o'⟩`.
    pub inv_f: f32,
    /// Standard deviation scale of the sign estimate: `√(1 − f²) / (f √(D − 1))`.
    pub sd: f32,
    /// int8 code of the rotated vector and its scale.
    pub sq: Vec<i8>,
    pub scale: f32,
}

/// Encodes a unit vector.
pub(crate) fn encode(rotation: &[f32], dp: usize, v: &[f32]) -> Encoded {
    let mut r = vec![0.0f32; dp];
    rotate(rotation, dp, v, &mut r);
    let mut bits = vec![0u8; dp / 8];
    for (i, x) in r.iter().enumerate() {
        if *x >= 0.0 {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    let l1: f64 = r.iter().map(|x| x.abs() as f64).sum();
    let f = (l1 / (dp as f64).sqrt()).max(1e-6);
    let sd = (1.0 - f * f).max(0.0).sqrt() / (f * ((dp - 1).max(1) as f64).sqrt());
    let max = r.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
    let scale = max / 127.0;
    let sq = r.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
    Encoded { bits, inv_f: (1.0 / f) as f32, sd: sd as f32, sq, scale }
}

/// `Σ qᵢ·cᵢ`, written for the compiler to vectorise (and compiled once more with AVX2/FMA where
/// the processor has them).
#[inline(always)]
fn dot_i8_generic(q: &[f32], c: &[i8]) -> f32 {
    const L: usize = 16;
    let n = q.len().min(c.len());
    let (qc, qr) = q[..n].as_chunks::<L>();
    let (cc, cr) = c[..n].as_chunks::<L>();
    let mut acc = [0.0f32; L];
    for (x, y) in qc.iter().zip(cc) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * *y as f32;
        }
    }
    let tail: f32 = qr.iter().zip(cr).map(|(x, y)| x * *y as f32).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_i8_avx2(q: &[f32], c: &[i8]) -> f32 {
    dot_i8_generic(q, c)
}

/// `Σ qᵢ·cᵢ` for an int8 code.
#[inline]
pub(crate) fn dot_i8(q: &[f32], c: &[i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::fastscan::has_avx2() {
        // SAFETY: the processor has AVX2 and FMA (checked at run time).
        return unsafe { dot_i8_avx2(q, c) };
    }
    dot_i8_generic(q, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_orthogonal_and_preserves_dot_products() {
        let dp = 24;
        let r = random_rotation(dp, 3);
        for i in 0..dp {
            for j in 0..dp {
                let d = dot(&r[i * dp..(i + 1) * dp], &r[j * dp..(j + 1) * dp]);
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5, "{i} {j} {d}");
            }
        }
        let mut rng = Rng::new(9);
        let (a, b) = (rng.unit_vector(20), rng.unit_vector(20));
        let (mut ra, mut rb) = (vec![0.0; dp], vec![0.0; dp]);
        rotate(&r, dp, &a, &mut ra);
        rotate(&r, dp, &b, &mut rb);
        assert!((dot(&ra, &rb) - dot(&a, &b)).abs() < 1e-5);
    }

    #[test]
    fn int8_code_error_stays_within_its_bound() {
        let dp = 128;
        let r = random_rotation(dp, 1);
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let (o, q) = (rng.unit_vector(dp), rng.unit_vector(dp));
            let e = encode(&r, dp, &o);
            let mut rq = vec![0.0; dp];
            rotate(&r, dp, &q, &mut rq);
            let approx = e.scale * dot_i8(&rq, &e.sq);
            let bound = e.scale / 2.0 * rq.iter().map(|x| x.abs()).sum::<f32>();
            assert!((approx - dot(&o, &q)).abs() <= bound + 1e-5);
            assert!(bound < 0.02, "bound {bound}");
        }
    }
}

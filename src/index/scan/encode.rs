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

use super::fastscan::factor_code;
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
    /// `1 / ⟨x̄, o'⟩` as a byte ([`factor_code`]).
    pub factor: u8,
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
    let max = r.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
    let scale = max / 127.0;
    let sq = r.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
    Encoded { bits, factor: factor_code((1.0 / f) as f32), sq, scale }
}

/// The query side of the int8 stage: the rotated query in 16-bit fixed point, so that a code's
/// dot product is integer multiply-adds, and the factor of every vector's error bound.
pub(crate) struct SqQuery {
    pub q: Vec<i16>,
    /// `⟨o, q⟩ ≈ scale · dot · unit`.
    pub unit: f32,
    /// `|⟨o, q⟩ − scale · dot · unit| ≤ scale · bound`: the code's rounding (half a step per
    /// dimension, `‖q'‖₁ / 2`) plus the query's (half a unit times `Σ|c|` ≤ `127·D`).
    pub bound: f32,
}

impl SqQuery {
    pub(crate) fn new(qr: &[f32]) -> Self {
        let dp = qr.len();
        let max = qr.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
        // |Σ q·c| ≤ D · top · 127 must fit an i32.
        let top = (i32::MAX as f32 / (127.0 * dp as f32)).min(32767.0);
        let per_unit = top / max;
        let q = qr.iter().map(|x| (x * per_unit).round().clamp(-top, top) as i16).collect();
        let unit = 1.0 / per_unit;
        let bound = 0.5 * qr.iter().map(|x| x.abs()).sum::<f32>() + 0.5 * unit * 127.0 * dp as f32;
        Self { q, unit, bound }
    }
}

/// `Σ qᵢ·cᵢ` of a fixed-point query and an int8 code (portable).
pub(crate) fn dot_sq(q: &[i16], c: &[i8]) -> i32 {
    q.iter().zip(c).map(|(a, b)| *a as i32 * *b as i32).sum()
}

/// [`dot_sq`] with AVX2 multiply-adds, 16 dimensions at a time.
///
/// # Safety
/// The processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn dot_sq_avx2(q: &[i16], c: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = q.len().min(c.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        let codes = _mm256_cvtepi8_epi16(_mm_loadu_si128(c.as_ptr().add(i) as *const __m128i));
        let query = _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(codes, query));
        i += 16;
    }
    let sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b01_00_11_10>(sum));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
    _mm_cvtsi128_si32(sum) + dot_sq(&q[i..n], &c[i..n])
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
        let dp = 136;
        let r = random_rotation(dp, 1);
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let (o, q) = (rng.unit_vector(dp), rng.unit_vector(dp));
            let e = encode(&r, dp, &o);
            let mut rq = vec![0.0; dp];
            rotate(&r, dp, &q, &mut rq);
            let sq = SqQuery::new(&rq);
            let d = dot_sq(&sq.q, &e.sq);
            #[cfg(target_arch = "x86_64")]
            if super::super::fastscan::has_avx2() {
                // SAFETY: checked just above.
                assert_eq!(unsafe { dot_sq_avx2(&sq.q, &e.sq) }, d);
            }
            let approx = e.scale * d as f32 * sq.unit;
            assert!((approx - dot(&o, &q)).abs() <= e.scale * sq.bound + 1e-5);
            assert!(e.scale * sq.bound < 0.02, "bound {}", e.scale * sq.bound);
        }
    }
}

//! What the scan index stores per vector besides the vector itself, and the query-side
//! counterparts. All codes live in a rotated space: a fixed random orthogonal matrix spreads
//! every vector's energy evenly over the (padded) dimensions, so one sign bit or one int8 step
//! per dimension carries the same information whatever the embedding model's own axes are.
//!
//! - **Sign code** (1 bit per dimension, RaBitQ's estimator): with `x̄ = sign(o') / √D`, the
//!   estimate `⟨x̄, q'⟩ / ⟨x̄, o'⟩` of `⟨o, q⟩` is unbiased and its error has standard deviation
//!   about `√(1 − f²) / (f √(D − 1))` with `f = ⟨x̄, o'⟩` (Gao & Long, SIGMOD 2024).
//! - **Low bits** (a second bit per dimension): with the sign bit, a 2-bit code `u` per
//!   dimension standing for `2u − 3` ∈ {−3, −1, 1, 3}, the grid point best aligned with `o'`
//!   (ex-RaBitQ, Gao et al., SIGMOD 2025). The same estimator with this `x̄` has about half the
//!   error (`f` ≈ 0.94 instead of 0.80), read only for blocks the sign codes did not rule out.
//! - **int8 code** with a per-vector scale: `⟨o, q⟩ = s·Σ q'ᵢ cᵢ ± (s/2)·‖q'‖₁`, a bound that
//!   holds for every vector, so the exact re-rank after it loses nothing.

use super::fastscan::{factor_code, spread_code};
use crate::index::kernel::dot;
use crate::synth::Rng;

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
    /// The second bit of each dimension's 2-bit code (same bit order as `bits`).
    pub low: Vec<u8>,
    /// `1 / ⟨c, o'⟩` with `c = 2u − 3` the 2-bit code's integer levels.
    pub gain: f32,
    /// `√(1/f² − 1)` of the 2-bit code, `f = ⟨c, o'⟩ / ‖c‖`, as a byte ([`spread_code`]).
    pub spread: u8,
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
    let (low, gain, spread) = two_bit(&r);
    let max = r.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
    let scale = max / 127.0;
    let sq = r.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
    Encoded { bits, factor: factor_code((1.0 / f) as f32), low, gain, spread, sq, scale }
}

/// The 2-bit code of a rotated unit vector `r`: every dimension keeps its sign and takes level
/// 3 or 1; the `m` largest in magnitude take 3, with `m` chosen to maximise the cosine
/// `(Σ|rᵢ| + 2·Σ_top-m |rᵢ|) / √(D + 8m)` between the levels and `r` (an exact search over `m`).
/// Returns the low bits, `1/⟨c, r⟩` and the spread byte.
fn two_bit(r: &[f32]) -> (Vec<u8>, f32, u8) {
    let d = r.len();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|a, b| r[*b].abs().total_cmp(&r[*a].abs()));
    let l1: f64 = r.iter().map(|x| x.abs() as f64).sum();
    let (mut best_m, mut best_cos, mut top) = (0, l1 / (d as f64).sqrt(), 0.0f64);
    for (m, i) in order.iter().enumerate() {
        top += r[*i].abs() as f64;
        let cos = (l1 + 2.0 * top) / ((d + 8 * (m + 1)) as f64).sqrt();
        if cos > best_cos {
            (best_m, best_cos) = (m + 1, cos);
        }
    }
    let mut big = vec![false; d];
    order[..best_m].iter().for_each(|i| big[*i] = true);
    let mut low = vec![0u8; d / 8];
    let mut dot_c = 0.0f64;
    for (i, x) in r.iter().enumerate() {
        // Levels 2u − 3: −3 (u = 0), −1 (1), 1 (2), 3 (3); the low bit is set for −1 and 3.
        let positive = *x >= 0.0;
        if positive == big[i] {
            low[i / 8] |= 1 << (i % 8);
        }
        let level = if big[i] { 3.0 } else { 1.0 };
        dot_c += if positive { level * *x as f64 } else { -level * *x as f64 };
    }
    let f = (best_cos / r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()).clamp(1e-6, 1.0);
    (low, (1.0 / dot_c.max(1e-12)) as f32, spread_code(((1.0 / (f * f) - 1.0).max(0.0)).sqrt() as f32))
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
    fn two_bit_codes_keep_the_sign_and_align_better() {
        let dp = 128;
        let mut rng = Rng::new(4);
        for _ in 0..50 {
            let r = rng.unit_vector(dp);
            let (low, gain, spread) = two_bit(&r);
            // Levels back from the bits: sign from r, magnitude 3 where the low bit says so.
            let levels: Vec<f32> = r
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let (positive, bit) = (*x >= 0.0, low[i / 8] >> (i % 8) & 1 == 1);
                    let magnitude = if positive == bit { 3.0 } else { 1.0 };
                    if positive {
                        magnitude
                    } else {
                        -magnitude
                    }
                })
                .collect();
            let dot_c = dot(&levels, &r);
            assert!((1.0 / gain - dot_c).abs() < 1e-3 * dot_c);
            let f2 = dot_c / dot(&levels, &levels).sqrt();
            let f1 = r.iter().map(|x| x.abs()).sum::<f32>() / (dp as f32).sqrt();
            assert!(f2 > f1 && f2 > 0.9, "2-bit {f2} vs sign {f1}");
            let spread_value = (1.0 / (f2 * f2) - 1.0).sqrt();
            assert!(spread as f32 / 255.0 >= spread_value - 1e-4, "the spread byte rounds up");
        }
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
            if super::super::Kernel::Avx2.supported() {
                // SAFETY: checked just above.
                assert_eq!(unsafe { dot_sq_avx2(&sq.q, &e.sq) }, d);
            }
            let approx = e.scale * d as f32 * sq.unit;
            assert!((approx - dot(&o, &q)).abs() <= e.scale * sq.bound + 1e-5);
            assert!(e.scale * sq.bound < 0.02, "bound {}", e.scale * sq.bound);
        }
    }
}

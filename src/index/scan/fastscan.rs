//! The first stage of a scan: every stored vector's sign code against the query, 32 vectors at
//! a time, in a few instructions per vector ("fast scan", as in FAISS's 4-bit PQ scan and
//! RaBitQ). Each byte of a sign code holds two 4-bit groups; the query becomes one 16-entry
//! table per group (the sum of the query's rotated components selected by each bit pattern),
//! quantised to `u8` so that a byte shuffle looks up 32 vectors at once and the sums add in
//! 16-bit lanes.
//!
//! Block layout (32 vectors): for each byte position `p` of the codes, 32 bytes, one per vector
//! (`lane`). Per-vector factors are stored per block in *slot* order, the order in which the
//! AVX2 kernel's 16-bit accumulators come out: even lanes first, then odd lanes.
//!
//! A second plane of blocks holds the low bits of the 2-bit codes (see `encode`) in the same
//! layout; it goes through the same tables ([`refine_block`]) only for blocks in which the sign
//! codes left a vector in, and its estimate replaces the sign code's for the whole block.

/// Vectors per block.
pub(crate) const BLOCK: usize = 32;

/// Slot of a lane within its block.
#[inline]
pub(crate) fn lane_to_slot(lane: usize) -> usize {
    if lane.is_multiple_of(2) {
        lane / 2
    } else {
        16 + lane / 2
    }
}

/// Lane of a slot within its block.
#[inline]
pub(crate) fn slot_to_lane(slot: usize) -> usize {
    if slot < 16 {
        2 * slot
    } else {
        2 * (slot - 16) + 1
    }
}

/// Bytes of one block: the code bytes of 32 vectors, then their 32 factor bytes (slot order).
pub(crate) fn block_bytes(dp: usize) -> usize {
    BLOCK * (dp / 8 + 1)
}

/// A vector's `1/⟨x̄, o'⟩` (between 1 and `√D`) as one byte: `1 + c/254` for `c` < 255, and
/// 255 for a vector whose factor exceeds 2 (so unusual that it is always looked at twice).
pub(crate) fn factor_code(inv_f: f32) -> u8 {
    if (1.0..=2.0).contains(&inv_f) {
        ((inv_f - 1.0) * 254.0).round() as u8
    } else if inv_f < 1.0 {
        0
    } else {
        255
    }
}

/// The factor a byte stands for (255: unknown, treated as always needed).
#[inline]
fn factor(code: u8) -> f32 {
    1.0 + code as f32 / 254.0
}

/// `√(1/f² − 1)` of a 2-bit code (0 ..= 1 for `f` ≥ 0.707) as a byte, rounded up so that the
/// error scale it stands for is never too small; 255 for anything larger (always needed).
pub(crate) fn spread_code(spread: f32) -> u8 {
    if (0.0..=254.0 / 255.0).contains(&spread) {
        (spread * 255.0).ceil() as u8
    } else {
        255
    }
}

/// Worst error of an estimate from the factor's rounding: `|⟨x̄, q'⟩| · 0.5 / 254`, with
/// `|⟨x̄, q'⟩| ≤ 1`.
const FACTOR_SLACK: f32 = 0.5 / 254.0;

/// Largest table entry: four entries (two byte positions) add up in a byte before widening.
const TABLE_MAX: f32 = 63.0;

/// The query side of the sign-code scan for one query.
pub(crate) struct Lut {
    /// Byte positions per code (`dp / 8`).
    pairs: usize,
    /// Per byte position: the low-nibble table, then the high-nibble table, each 16 entries
    /// repeated twice (one copy per 128-bit lane of an AVX2 register).
    tables: Vec<u8>,
    /// `⟨x̄, q'⟩ ≈ a + b·acc`.
    a: f32,
    b: f32,
    /// Standard deviation of the table rounding in `⟨x̄, q'⟩` units.
    round_sd: f32,
    /// `1 / √(D − 1)`: a vector's error scale is `√(inv_f² − 1) / √(D − 1)`.
    sd_scale: f32,
    /// `⟨c, q'⟩ ≈ a2 + b2·(4·acc_sign + 2·acc_low)` for a 2-bit code's levels `c`.
    a2: f32,
    b2: f32,
    /// Standard deviation of the table rounding in `⟨c, q'⟩` units.
    round_sd2: f32,
}

impl Lut {
    /// Tables for the rotated query `qr` (length `dp`, a multiple of 8).
    pub(crate) fn new(qr: &[f32]) -> Self {
        let dp = qr.len();
        let groups = dp / 4;
        let mut values = vec![[0.0f32; 16]; groups];
        let mut mins = vec![0.0f32; groups];
        let mut delta = 0.0f32;
        for (g, (vals, min)) in values.iter_mut().zip(&mut mins).enumerate() {
            let q = &qr[4 * g..4 * g + 4];
            for (c, v) in vals.iter_mut().enumerate() {
                *v = (0..4).filter(|k| c >> k & 1 == 1).map(|k| q[k]).sum();
            }
            *min = q.iter().filter(|x| **x < 0.0).sum();
            delta = delta.max(q.iter().map(|x| x.abs()).sum());
        }
        let delta = if delta > 0.0 { delta / TABLE_MAX } else { 1.0 };
        let mut tables = vec![0u8; dp / 8 * 64];
        for (g, (vals, min)) in values.iter().zip(&mins).enumerate() {
            let at = (g / 2) * 64 + (g % 2) * 32;
            for (c, v) in vals.iter().enumerate() {
                let t = ((v - min) / delta).round().clamp(0.0, TABLE_MAX) as u8;
                tables[at + c] = t;
                tables[at + 16 + c] = t;
            }
        }
        let offset: f32 = mins.iter().sum();
        let sum: f32 = qr.iter().sum();
        let sqrt_d = (dp as f32).sqrt();
        let b = 2.0 * delta / sqrt_d;
        Self {
            pairs: dp / 8,
            tables,
            a: (2.0 * offset - sum) / sqrt_d,
            b,
            round_sd: b * (groups as f32 / 12.0).sqrt(),
            sd_scale: 1.0 / ((dp - 1).max(1) as f32).sqrt(),
            // Σ cᵢq'ᵢ = 4·Σ_sign q' + 2·Σ_low q' − 3·Σ q', each Σ = offset + delta·acc.
            a2: 6.0 * offset - 3.0 * sum,
            b2: delta,
            round_sd2: delta * (20.0 * groups as f32 / 12.0).sqrt(),
        }
    }
}

/// Thresholds of one block scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cuts {
    /// A vector is *needed* when `estimate + lambda·(its sd + rounding)` reaches this.
    pub need: f32,
    /// A vector is *shown* when its estimate reaches this.
    pub show: f32,
    pub lambda: f32,
}

/// What one block scan found, in slot order.
#[derive(Clone)]
pub(crate) struct BlockHits {
    pub need: u32,
    pub show: u32,
    pub estimate: [f32; BLOCK],
    /// The sign plane's table sums, for [`refine_block`].
    pub sums: [u16; BLOCK],
    /// Lanes in use, as a slot mask.
    pub used: u32,
}

impl Default for BlockHits {
    fn default() -> Self {
        Self { need: 0, show: 0, estimate: [0.0; BLOCK], sums: [0; BLOCK], used: 0 }
    }
}

impl BlockHits {
    /// Records the masks of the lanes in use; returns the slots needed or shown.
    #[inline(always)]
    fn finish(&mut self, need: u32, show: u32, valid: usize) -> u32 {
        self.used = valid_slots(valid);
        self.need = need & self.used;
        self.show = show & self.used;
        self.need | self.show
    }
}

/// Mask of the slots whose lanes are below `valid`.
#[inline]
fn valid_slots(valid: usize) -> u32 {
    if valid >= BLOCK {
        return u32::MAX;
    }
    (0..BLOCK).filter(|s| slot_to_lane(*s) < valid).fold(0u32, |m, s| m | 1 << s)
}

/// Scans one block (portable code): `block` is [`block_bytes`] long, `valid` the lanes in use.
pub(crate) fn scan_block(block: &[u8], valid: usize, lut: &Lut, cuts: Cuts, out: &mut BlockHits) -> u32 {
    let (codes, factors) = block.split_at(BLOCK * lut.pairs);
    out.sums = table_sums(codes, lut);
    let (k1, k2) = upper_terms(lut, &cuts);
    let (mut need, mut show) = (0u32, 0u32);
    for (s, code) in factors[..BLOCK].iter().enumerate() {
        let inv_f = factor(*code);
        let t = lut.a + lut.b * out.sums[s] as f32;
        let e = t * inv_f;
        let upper = inv_f * (t + k1) + k2;
        out.estimate[s] = e;
        need |= ((upper >= cuts.need || *code == 255) as u32) << s;
        show |= ((e >= cuts.show) as u32) << s;
    }
    out.finish(need, show, valid)
}

/// Per slot, the sum of the table entries its code bytes select (portable code).
fn table_sums(codes: &[u8], lut: &Lut) -> [u16; BLOCK] {
    let mut acc = [0u16; BLOCK];
    for (slot, a) in acc.iter_mut().enumerate() {
        let lane = slot_to_lane(slot);
        let mut s = 0u16;
        for p in 0..lut.pairs {
            let byte = codes[p * BLOCK + lane] as usize;
            let t = &lut.tables[p * 64..p * 64 + 64];
            s += t[byte & 15] as u16 + t[32 + (byte >> 4)] as u16;
        }
        *a = s;
    }
    acc
}

/// The second plane of one block (portable code): `low` is its code bytes
/// ([`low_block_bytes`]), `gain` and `spread` its 32 per-vector values in slot order. Replaces
/// `hits`' estimates by the 2-bit ones and keeps only the vectors both estimates leave in.
pub(crate) fn refine_block(low: &[u8], gain: &[f32], spread: &[u8], lut: &Lut, cuts: Cuts, hits: &mut BlockHits) {
    let acc = table_sums(low, lut);
    let (mut need, mut show) = (0u32, 0u32);
    let lr = cuts.lambda * lut.round_sd2;
    for s in 0..BLOCK {
        let c = lut.a2 + lut.b2 * (4.0 * hits.sums[s] as f32 + 2.0 * acc[s] as f32);
        let e = c * gain[s];
        let sd = spread[s] as f32 * (1.0 / 255.0) * lut.sd_scale;
        let upper = e + cuts.lambda * sd + lr * gain[s] + ROUND_SLACK;
        hits.estimate[s] = e;
        need |= ((upper >= cuts.need || spread[s] == 255) as u32) << s;
        show |= ((e >= cuts.show) as u32) << s;
    }
    hits.need &= need;
    hits.show = show & hits.used;
}

/// Both planes of one block at once (portable code), for dense scans (top-k), in which nearly
/// every block passes the sign codes: the 2-bit estimate alone decides, which lets through at
/// least what the two stages in turn would.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_both_block(
    block: &[u8],
    low: &[u8],
    gain: &[f32],
    spread: &[u8],
    valid: usize,
    lut: &Lut,
    cuts: Cuts,
    out: &mut BlockHits,
) -> u32 {
    out.sums = table_sums(&block[..BLOCK * lut.pairs], lut);
    let used = valid_slots(valid);
    (out.used, out.need, out.show) = (used, used, used);
    refine_block(low, gain, spread, lut, cuts, out);
    out.need | out.show
}

/// A vector's error scale `√(inv_f² − 1)` is concave in `inv_f`, so a tangent bounds it from
/// above everywhere: `√(x² − 1) ≤ TANGENT_SLOPE·x − TANGENT_OFFSET`, touching at the typical
/// `x = 1.25` (`f = √(2/π)` at high dimension). Saves a square root per vector.
const TANGENT_SLOPE: f32 = 1.25 / 0.75;
const TANGENT_OFFSET: f32 = 1.0 / 0.75;

/// `upper = inv_f·(t + k1) + k2` with `t = a + b·acc`: the estimate plus `lambda` error
/// scales (tangent bound), table rounding and factor rounding.
fn upper_terms(lut: &Lut, cuts: &Cuts) -> (f32, f32) {
    let k1 = cuts.lambda * (lut.sd_scale * TANGENT_SLOPE + lut.round_sd);
    let k2 = FACTOR_SLACK - cuts.lambda * lut.sd_scale * TANGENT_OFFSET;
    (k1, k2)
}

/// Slack for f32 rounding in the 2-bit estimate.
const ROUND_SLACK: f32 = 1e-5;

/// Bytes of one block of the second plane.
pub(crate) fn low_block_bytes(dp: usize) -> usize {
    BLOCK * dp / 8
}

/// [`scan_block`] with AVX2: 32 table look-ups per instruction.
///
/// # Safety
/// The processor must have AVX2 and FMA; `block` must be [`block_bytes`] long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)] // inlined into the search loop, its accumulators end up on the stack
pub(crate) unsafe fn scan_block_avx2(block: &[u8], valid: usize, lut: &Lut, cuts: Cuts, out: &mut BlockHits) -> u32 {
    use std::arch::x86_64::*;
    debug_assert!(block.len() >= BLOCK * (lut.pairs + 1));
    let (even, odd) = table_sums_avx2(block.as_ptr(), lut);
    _mm256_storeu_si256(out.sums.as_mut_ptr() as *mut __m256i, even);
    _mm256_storeu_si256(out.sums.as_mut_ptr().add(16) as *mut __m256i, odd);
    let halves = [
        _mm256_castsi256_si128(even),
        _mm256_extracti128_si256::<1>(even),
        _mm256_castsi256_si128(odd),
        _mm256_extracti128_si256::<1>(odd),
    ];
    let factors = block.as_ptr().add(BLOCK * lut.pairs);
    let (k1, k2) = upper_terms(lut, &cuts);
    let a = _mm256_set1_ps(lut.a);
    let b = _mm256_set1_ps(lut.b);
    let k1 = _mm256_set1_ps(k1);
    let k2 = _mm256_set1_ps(k2);
    let one = _mm256_set1_ps(1.0);
    let step = _mm256_set1_ps(1.0 / 254.0);
    let unknown = _mm256_set1_epi32(255);
    let need_cut = _mm256_set1_ps(cuts.need);
    let show_cut = _mm256_set1_ps(cuts.show);
    let (mut need, mut show) = (0u32, 0u32);
    for (g, half) in halves.iter().enumerate() {
        let acc = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(*half));
        let code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(factors.add(8 * g) as *const __m128i));
        let inv_f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(code), step, one);
        let t = _mm256_fmadd_ps(b, acc, a);
        let est = _mm256_mul_ps(t, inv_f);
        let upper = _mm256_fmadd_ps(inv_f, _mm256_add_ps(t, k1), k2);
        _mm256_storeu_ps(out.estimate.as_mut_ptr().add(8 * g), est);
        let wanted = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(upper, need_cut),
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(code, unknown)),
        );
        need |= (_mm256_movemask_ps(wanted) as u32) << (8 * g);
        show |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(est, show_cut)) as u32) << (8 * g);
    }
    out.finish(need, show, valid)
}

/// The table sums of one block's codes with AVX2: even slots' in the first register, odd
/// slots' in the second (16-bit lanes).
///
/// # Safety
/// The processor must have AVX2; `codes` must hold `BLOCK * lut.pairs` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn table_sums_avx2(codes: *const u8, lut: &Lut) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    let nibble = _mm256_set1_epi8(0x0f);
    let low_byte = _mm256_set1_epi16(0x00ff);
    let mut even = _mm256_setzero_si256();
    let mut odd = _mm256_setzero_si256();
    let (pairs, t) = (lut.pairs, lut.tables.as_ptr());
    let mut p = 0;
    while p < pairs {
        // The table look-ups of two byte positions (four entries, each at most 63) summed per
        // vector in a byte, then widened into the 16-bit sums.
        let r = if p + 1 < pairs {
            _mm256_add_epi8(lookup_avx2(codes, t, p, nibble), lookup_avx2(codes, t, p + 1, nibble))
        } else {
            lookup_avx2(codes, t, p, nibble)
        };
        even = _mm256_add_epi16(even, _mm256_and_si256(r, low_byte));
        odd = _mm256_add_epi16(odd, _mm256_srli_epi16::<8>(r));
        p += 2;
    }
    (even, odd)
}

/// The two table look-ups of byte position `p` of a block, summed per vector in a byte.
///
/// # Safety
/// The processor must have AVX2; `codes` and `tables` must hold position `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn lookup_avx2(
    codes: *const u8,
    tables: *const u8,
    p: usize,
    nibble: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let x = _mm256_loadu_si256(codes.add(p * BLOCK) as *const __m256i);
    let lo = _mm256_and_si256(x, nibble);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), nibble);
    let tl = _mm256_loadu_si256(tables.add(p * 64) as *const __m256i);
    let th = _mm256_loadu_si256(tables.add(p * 64 + 32) as *const __m256i);
    _mm256_add_epi8(_mm256_shuffle_epi8(tl, lo), _mm256_shuffle_epi8(th, hi))
}

/// [`refine_block`] with AVX2.
///
/// # Safety
/// The processor must have AVX2 and FMA; `low` must be [`low_block_bytes`] long, `gain` and
/// `spread` [`BLOCK`] long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn refine_block_avx2(
    low: &[u8],
    gain: &[f32],
    spread: &[u8],
    lut: &Lut,
    cuts: Cuts,
    hits: &mut BlockHits,
) {
    use std::arch::x86_64::*;
    debug_assert!(low.len() >= BLOCK * lut.pairs && gain.len() >= BLOCK && spread.len() >= BLOCK);
    let sign = (
        _mm256_loadu_si256(hits.sums.as_ptr() as *const __m256i),
        _mm256_loadu_si256(hits.sums.as_ptr().add(16) as *const __m256i),
    );
    let (need, show) = two_bit_avx2(sign, table_sums_avx2(low.as_ptr(), lut), gain, spread, lut, cuts, hits);
    hits.need &= need;
    hits.show = show & hits.used;
}

/// [`scan_both_block`] with AVX2.
///
/// # Safety
/// The processor must have AVX2 and FMA; `block` must be [`block_bytes`] long, `low`
/// [`low_block_bytes`], `gain` and `spread` [`BLOCK`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)] // as `scan_block_avx2`
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn scan_both_block_avx2(
    block: &[u8],
    low: &[u8],
    gain: &[f32],
    spread: &[u8],
    valid: usize,
    lut: &Lut,
    cuts: Cuts,
    out: &mut BlockHits,
) -> u32 {
    debug_assert!(block.len() >= BLOCK * lut.pairs && low.len() >= BLOCK * lut.pairs);
    debug_assert!(gain.len() >= BLOCK && spread.len() >= BLOCK);
    let sign = table_sums_avx2(block.as_ptr(), lut);
    let (need, show) = two_bit_avx2(sign, table_sums_avx2(low.as_ptr(), lut), gain, spread, lut, cuts, out);
    out.finish(need, show, valid)
}

/// The 2-bit estimates of a block from its planes' table sums (even slots, odd slots), stored
/// in `out.estimate`; returns the needed and shown slots.
///
/// # Safety
/// The processor must have AVX2 and FMA; `gain` and `spread` must be [`BLOCK`] long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn two_bit_avx2(
    sign: (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i),
    low: (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i),
    gain: &[f32],
    spread: &[u8],
    lut: &Lut,
    cuts: Cuts,
    out: &mut BlockHits,
) -> (u32, u32) {
    use std::arch::x86_64::*;
    let halves = |(even, odd): (__m256i, __m256i)| {
        [
            _mm256_castsi256_si128(even),
            _mm256_extracti128_si256::<1>(even),
            _mm256_castsi256_si128(odd),
            _mm256_extracti128_si256::<1>(odd),
        ]
    };
    let (sign, low) = (halves(sign), halves(low));
    let a2 = _mm256_set1_ps(lut.a2);
    let b2 = _mm256_set1_ps(lut.b2);
    let four = _mm256_set1_ps(4.0);
    let two = _mm256_set1_ps(2.0);
    let lambda_sd = _mm256_set1_ps(cuts.lambda * lut.sd_scale / 255.0);
    let lr = _mm256_set1_ps(cuts.lambda * lut.round_sd2);
    let slack = _mm256_set1_ps(ROUND_SLACK);
    let unknown = _mm256_set1_epi32(255);
    let need_cut = _mm256_set1_ps(cuts.need);
    let show_cut = _mm256_set1_ps(cuts.show);
    let (mut need, mut show) = (0u32, 0u32);
    for g in 0..4 {
        let acc_low = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(low[g]));
        let acc_sign = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(sign[g]));
        let c = _mm256_fmadd_ps(b2, _mm256_fmadd_ps(four, acc_sign, _mm256_mul_ps(two, acc_low)), a2);
        let gain = _mm256_loadu_ps(gain.as_ptr().add(8 * g));
        let est = _mm256_mul_ps(c, gain);
        let code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(spread.as_ptr().add(8 * g) as *const __m128i));
        let sd = _mm256_cvtepi32_ps(code);
        let upper = _mm256_add_ps(_mm256_fmadd_ps(lambda_sd, sd, _mm256_fmadd_ps(lr, gain, est)), slack);
        _mm256_storeu_ps(out.estimate.as_mut_ptr().add(8 * g), est);
        let wanted = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(upper, need_cut),
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(code, unknown)),
        );
        need |= (_mm256_movemask_ps(wanted) as u32) << (8 * g);
        show |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(est, show_cut)) as u32) << (8 * g);
    }
    (need, show)
}

/// Writes one vector's sign code and factor byte into its block.
pub(crate) fn set_lane(block: &mut [u8], lane: usize, bits: &[u8], factor: u8) {
    for (p, b) in bits.iter().enumerate() {
        block[p * BLOCK + lane] = *b;
    }
    block[BLOCK * bits.len() + lane_to_slot(lane)] = factor;
}

/// Writes one vector's low bits into its block of the second plane.
pub(crate) fn set_low_lane(block: &mut [u8], lane: usize, low: &[u8]) {
    for (p, b) in low.iter().enumerate() {
        block[p * BLOCK + lane] = *b;
    }
}

/// Reads one vector's low bits back from its block of the second plane.
pub(crate) fn get_low_lane(block: &[u8], lane: usize, bytes: usize) -> Vec<u8> {
    (0..bytes).map(|p| block[p * BLOCK + lane]).collect()
}

/// Reads one vector's sign code and factor byte back from its block.
pub(crate) fn get_lane(block: &[u8], lane: usize, bytes: usize) -> (Vec<u8>, u8) {
    let bits = (0..bytes).map(|p| block[p * BLOCK + lane]).collect();
    (bits, block[BLOCK * bytes + lane_to_slot(lane)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;

    #[test]
    fn slots_and_lanes_are_inverse() {
        for lane in 0..BLOCK {
            assert_eq!(slot_to_lane(lane_to_slot(lane)), lane);
        }
    }

    #[test]
    fn kernels_agree_with_each_other_and_the_plain_sum() {
        let dp = 64;
        let mut rng = Rng::new(5);
        let q = rng.unit_vector(dp);
        let lut = Lut::new(&q);
        let mut block = vec![0u8; block_bytes(dp)];
        let mut all_bits = Vec::new();
        for lane in 0..BLOCK {
            let bits: Vec<u8> = (0..dp / 8).map(|_| rng.next_u64() as u8).collect();
            set_lane(&mut block, lane, &bits, if lane == 7 { 255 } else { 0 });
            assert_eq!(get_lane(&block, lane, dp / 8), (bits.clone(), if lane == 7 { 255 } else { 0 }));
            all_bits.push(bits);
        }
        let cuts = Cuts { need: f32::INFINITY, show: f32::NEG_INFINITY, lambda: 0.0 };
        let mut portable = BlockHits::default();
        scan_block(&block, BLOCK, &lut, cuts, &mut portable);
        // Nothing reaches an infinite cut but the vector with an unknown factor.
        assert_eq!(portable.need, 1 << lane_to_slot(7));
        assert_eq!(portable.show, u32::MAX);
        #[cfg(target_arch = "x86_64")]
        if super::super::Kernel::Avx2.supported() {
            // SAFETY: checked just above; the block has the right size.
            let mut fast = BlockHits::default();
            let mask = unsafe { scan_block_avx2(&block, BLOCK, &lut, cuts, &mut fast) };
            assert_eq!(mask, fast.need | fast.show);
            assert_eq!((fast.need, fast.show), (portable.need, portable.show));
            for s in 0..BLOCK {
                assert!((fast.estimate[s] - portable.estimate[s]).abs() < 1e-6);
            }
        }
        for slot in 0..BLOCK {
            // ⟨x̄, q⟩ with x̄ = ±1/√d (factor 1), within the table rounding.
            let bits = &all_bits[slot_to_lane(slot)];
            let exact: f32 = (0..dp).map(|i| if bits[i / 8] >> (i % 8) & 1 == 1 { q[i] } else { -q[i] }).sum::<f32>()
                / (dp as f32).sqrt();
            let est = portable.estimate[slot] / factor(if slot_to_lane(slot) == 7 { 255 } else { 0 });
            assert!((est - exact).abs() < 6.0 * lut.round_sd + 1e-4, "{slot}");
        }
        // Lanes past `valid` never report.
        let mut partial = BlockHits::default();
        scan_block(&block, 5, &lut, cuts, &mut partial);
        assert_eq!(partial.show.count_ones(), 5);
    }

    #[test]
    fn the_second_plane_halves_the_error_and_both_kernels_agree() {
        use super::super::encode::{encode, random_rotation, rotate};
        let dp = 128;
        let rotation = random_rotation(dp, 7);
        let mut rng = Rng::new(8);
        let q = rng.unit_vector(dp);
        let mut qr = vec![0.0; dp];
        rotate(&rotation, dp, &q, &mut qr);
        let lut = Lut::new(&qr);
        let (mut block, mut low) = (vec![0u8; block_bytes(dp)], vec![0u8; low_block_bytes(dp)]);
        let (mut gain, mut spread) = (vec![0.0f32; BLOCK], vec![0u8; BLOCK]);
        let mut truth = [0.0f32; BLOCK];
        for lane in 0..BLOCK {
            // Vectors at every similarity to the query, from strangers to near copies.
            let noise = rng.unit_vector(dp);
            let w = lane as f32 / BLOCK as f32;
            let v: Vec<f32> = q.iter().zip(&noise).map(|(a, b)| w * a + (1.0 - w) * b).collect();
            let v = crate::index::normalize(&v).unwrap();
            let e = encode(&rotation, dp, &v);
            set_lane(&mut block, lane, &e.bits, e.factor);
            set_low_lane(&mut low, lane, &e.low);
            assert_eq!(get_low_lane(&low, lane, dp / 8), e.low);
            (gain[lane_to_slot(lane)], spread[lane_to_slot(lane)]) = (e.gain, e.spread);
            truth[lane_to_slot(lane)] = crate::index::dot(&v, &q);
        }
        let cuts = Cuts { need: -1.0, show: 0.5, lambda: 3.0 };
        let mut hits = BlockHits::default();
        scan_block(&block, BLOCK, &lut, cuts, &mut hits);
        let sign_error: f32 = (0..BLOCK).map(|s| (hits.estimate[s] - truth[s]).abs()).sum();
        let mut portable = hits.clone();
        refine_block(&low, &gain, &spread, &lut, cuts, &mut portable);
        let two_bit_error: f32 = (0..BLOCK).map(|s| (portable.estimate[s] - truth[s]).abs()).sum();
        assert!(two_bit_error < 0.7 * sign_error, "2-bit {two_bit_error} vs sign {sign_error}");
        // Every vector reaches a cut of -1; the shown ones are those estimated at 0.5 or more.
        assert_eq!(portable.need, u32::MAX);
        for s in 0..BLOCK {
            assert_eq!(portable.show >> s & 1 == 1, portable.estimate[s] >= 0.5);
        }
        #[cfg(target_arch = "x86_64")]
        if super::super::Kernel::Avx2.supported() {
            let mut fast = hits.clone();
            // SAFETY: checked just above; the slices are a whole block's.
            unsafe { refine_block_avx2(&low, &gain, &spread, &lut, cuts, &mut fast) };
            assert_eq!((fast.need, fast.show), (portable.need, portable.show));
            for s in 0..BLOCK {
                assert!((fast.estimate[s] - portable.estimate[s]).abs() < 1e-5);
            }
        }
        // Both planes at once: the same estimates, and at least the vectors the two stages in
        // turn leave in (a cut that the sign codes alone would narrow).
        let cuts = Cuts { need: 0.6, show: 0.5, lambda: 3.0 };
        let mut staged = BlockHits::default();
        scan_block(&block, 30, &lut, cuts, &mut staged);
        refine_block(&low, &gain, &spread, &lut, cuts, &mut staged);
        let mut both = BlockHits::default();
        let mask = scan_both_block(&block, &low, &gain, &spread, 30, &lut, cuts, &mut both);
        assert_eq!(mask, both.need | both.show);
        assert_eq!(staged.need & !both.need, 0);
        assert_eq!(both.used.count_ones(), 30);
        assert!(both.need != 0 && both.need != both.used, "a cut that splits the block");
        for s in 0..BLOCK {
            assert!((both.estimate[s] - portable.estimate[s]).abs() < 1e-6);
        }
        #[cfg(target_arch = "x86_64")]
        if super::super::Kernel::Avx2.supported() {
            let mut fast = BlockHits::default();
            // SAFETY: checked just above; the slices are a whole block's.
            let fast_mask = unsafe { scan_both_block_avx2(&block, &low, &gain, &spread, 30, &lut, cuts, &mut fast) };
            assert_eq!((fast_mask, fast.need, fast.show, fast.used), (mask, both.need, both.show, both.used));
            for s in 0..BLOCK {
                assert!((fast.estimate[s] - both.estimate[s]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn factor_bytes_round_trip_within_their_slack() {
        for inv_f in [1.0f32, 1.2, 1.25331, 1.7, 2.0] {
            assert!((factor(factor_code(inv_f)) - inv_f).abs() <= FACTOR_SLACK + 1e-6);
        }
        assert_eq!(factor_code(2.5), 255);
    }
}

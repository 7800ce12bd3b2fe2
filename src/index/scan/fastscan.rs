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

/// True when the processor has AVX2 and FMA (checked once).
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

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
        let delta = if delta > 0.0 { delta / 127.0 } else { 1.0 };
        let mut tables = vec![0u8; dp / 8 * 64];
        for (g, (vals, min)) in values.iter().zip(&mins).enumerate() {
            let at = (g / 2) * 64 + (g % 2) * 32;
            for (c, v) in vals.iter().enumerate() {
                let t = ((v - min) / delta).round().clamp(0.0, 127.0) as u8;
                tables[at + c] = t;
                tables[at + 16 + c] = t;
            }
        }
        let offset: f32 = mins.iter().sum();
        let sum: f32 = qr.iter().sum();
        let sqrt_d = (dp as f32).sqrt();
        let b = 2.0 * delta / sqrt_d;
        Self { pairs: dp / 8, tables, a: (2.0 * offset - sum) / sqrt_d, b, round_sd: b * (groups as f32 / 12.0).sqrt() }
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
pub(crate) struct BlockHits {
    pub need: u32,
    pub show: u32,
    pub estimate: [f32; BLOCK],
}

/// Scans one block: `codes` is the block's `32 · pairs` code bytes, `meta` its 64 factors
/// (`1/f` then `sd`, slot order), `valid` the number of lanes in use.
#[inline]
pub(crate) fn scan_block(codes: &[u8], meta: &[f32], valid: usize, lut: &Lut, cuts: Cuts) -> BlockHits {
    debug_assert!(codes.len() >= BLOCK * lut.pairs && meta.len() >= 2 * BLOCK);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present; `codes` and `lut.tables` hold `pairs` byte
        // positions, `meta` 64 factors.
        return unsafe { scan_block_avx2(codes, meta, valid, lut, cuts) };
    }
    let mut acc = [0u16; BLOCK];
    accumulate_scalar(codes, lut, &mut acc);
    finish(&acc, meta, valid, lut, cuts)
}

/// Mask of the slots whose lanes are below `valid`.
#[inline]
fn valid_slots(valid: usize) -> u32 {
    if valid >= BLOCK {
        return u32::MAX;
    }
    (0..BLOCK).filter(|s| slot_to_lane(*s) < valid).fold(0u32, |m, s| m | 1 << s)
}

fn accumulate_scalar(codes: &[u8], lut: &Lut, acc: &mut [u16; BLOCK]) {
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
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scan_block_avx2(codes: &[u8], meta: &[f32], valid: usize, lut: &Lut, cuts: Cuts) -> BlockHits {
    use std::arch::x86_64::*;
    let (even, odd) = accumulate_avx2(codes, lut);
    let halves = [
        _mm256_castsi256_si128(even),
        _mm256_extracti128_si256::<1>(even),
        _mm256_castsi256_si128(odd),
        _mm256_extracti128_si256::<1>(odd),
    ];
    let a = _mm256_set1_ps(lut.a);
    let b = _mm256_set1_ps(lut.b);
    let lambda = _mm256_set1_ps(cuts.lambda);
    let lr = _mm256_set1_ps(cuts.lambda * lut.round_sd);
    let need_cut = _mm256_set1_ps(cuts.need);
    let show_cut = _mm256_set1_ps(cuts.show);
    let mut estimate = [0.0f32; BLOCK];
    let (mut need, mut show) = (0u32, 0u32);
    let m = meta.as_ptr();
    for (g, half) in halves.iter().enumerate() {
        let acc = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(*half));
        let inv_f = _mm256_loadu_ps(m.add(8 * g));
        let sd = _mm256_loadu_ps(m.add(BLOCK + 8 * g));
        let est = _mm256_mul_ps(_mm256_fmadd_ps(b, acc, a), inv_f);
        let upper = _mm256_fmadd_ps(lambda, sd, _mm256_fmadd_ps(lr, inv_f, est));
        _mm256_storeu_ps(estimate.as_mut_ptr().add(8 * g), est);
        need |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(upper, need_cut)) as u32) << (8 * g);
        show |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(est, show_cut)) as u32) << (8 * g);
    }
    let used = valid_slots(valid);
    BlockHits { need: need & used, show: show & used, estimate }
}

/// The block's 16-bit sums: even lanes, then odd lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn accumulate_avx2(codes: &[u8], lut: &Lut) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    let nibble = _mm256_set1_epi8(0x0f);
    let low_byte = _mm256_set1_epi16(0x00ff);
    let mut even = _mm256_setzero_si256();
    let mut odd = _mm256_setzero_si256();
    let c = codes.as_ptr();
    let t = lut.tables.as_ptr();
    for p in 0..lut.pairs {
        let x = _mm256_loadu_si256(c.add(p * BLOCK) as *const __m256i);
        let lo = _mm256_and_si256(x, nibble);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), nibble);
        let tl = _mm256_loadu_si256(t.add(p * 64) as *const __m256i);
        let th = _mm256_loadu_si256(t.add(p * 64 + 32) as *const __m256i);
        // Each table entry is at most 127, so the byte sum cannot overflow.
        let r = _mm256_add_epi8(_mm256_shuffle_epi8(tl, lo), _mm256_shuffle_epi8(th, hi));
        even = _mm256_add_epi16(even, _mm256_and_si256(r, low_byte));
        odd = _mm256_add_epi16(odd, _mm256_srli_epi16::<8>(r));
    }
    (even, odd)
}

/// Estimates and masks from the block's sums (portable path).
fn finish(acc: &[u16; BLOCK], meta: &[f32], valid: usize, lut: &Lut, cuts: Cuts) -> BlockHits {
    let (inv_f, sd) = meta[..2 * BLOCK].split_at(BLOCK);
    let mut estimate = [0.0f32; BLOCK];
    let mut upper = [0.0f32; BLOCK];
    let lr = cuts.lambda * lut.round_sd;
    for s in 0..BLOCK {
        let e = (lut.a + lut.b * acc[s] as f32) * inv_f[s];
        estimate[s] = e;
        upper[s] = e + cuts.lambda * sd[s] + lr * inv_f[s];
    }
    let mut need = 0u32;
    let mut show = 0u32;
    for s in 0..BLOCK {
        need |= ((upper[s] >= cuts.need) as u32) << s;
        show |= ((estimate[s] >= cuts.show) as u32) << s;
    }
    let used = valid_slots(valid);
    BlockHits { need: need & used, show: show & used, estimate }
}

/// Writes one vector's sign code and factors into its block.
pub(crate) fn set_lane(codes: &mut [u8], meta: &mut [f32], lane: usize, bits: &[u8], inv_f: f32, sd: f32) {
    for (p, b) in bits.iter().enumerate() {
        codes[p * BLOCK + lane] = *b;
    }
    let slot = lane_to_slot(lane);
    meta[slot] = inv_f;
    meta[BLOCK + slot] = sd;
}

/// Reads one vector's sign code and factors back from its block.
pub(crate) fn get_lane(codes: &[u8], meta: &[f32], lane: usize, bytes: usize) -> (Vec<u8>, f32, f32) {
    let bits = (0..bytes).map(|p| codes[p * BLOCK + lane]).collect();
    let slot = lane_to_slot(lane);
    (bits, meta[slot], meta[BLOCK + slot])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::synth::Rng;

    #[test]
    fn slots_and_lanes_are_inverse() {
        for lane in 0..BLOCK {
            assert_eq!(slot_to_lane(lane_to_slot(lane)), lane);
        }
    }

    #[test]
    fn kernels_agree_with_the_plain_sum() {
        let dp = 64;
        let mut rng = Rng::new(5);
        let q = rng.unit_vector(dp);
        let lut = Lut::new(&q);
        let mut codes = vec![0u8; BLOCK * dp / 8];
        let mut meta = vec![1.0f32; 2 * BLOCK];
        let mut all_bits = Vec::new();
        for lane in 0..BLOCK {
            let bits: Vec<u8> = (0..dp / 8).map(|_| rng.next_u64() as u8).collect();
            set_lane(&mut codes, &mut meta, lane, &bits, 1.0, 0.0);
            all_bits.push(bits);
        }
        let cuts = Cuts { need: f32::NEG_INFINITY, show: f32::INFINITY, lambda: 0.0 };
        let hits = scan_block(&codes, &meta, BLOCK, &lut, cuts);
        assert_eq!(hits.need, u32::MAX);
        assert_eq!(hits.show, 0);
        let mut acc = [0u16; BLOCK];
        accumulate_scalar(&codes, &lut, &mut acc);
        let scalar = finish(&acc, &meta, BLOCK, &lut, cuts);
        for slot in 0..BLOCK {
            assert!((hits.estimate[slot] - scalar.estimate[slot]).abs() < 1e-6);
            // ⟨x̄, q⟩ with x̄ = ±1/√d, within the table rounding.
            let bits = &all_bits[slot_to_lane(slot)];
            let exact: f32 = (0..dp).map(|i| if bits[i / 8] >> (i % 8) & 1 == 1 { q[i] } else { -q[i] }).sum::<f32>()
                / (dp as f32).sqrt();
            assert!((hits.estimate[slot] - exact).abs() < 6.0 * lut.round_sd + 1e-4, "{slot}");
        }
        // Lanes past `valid` never report.
        let partial = scan_block(&codes, &meta, 5, &lut, cuts);
        assert_eq!(partial.need.count_ones(), 5);
    }
}

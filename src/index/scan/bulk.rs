//! Batches of top-k queries (jobs, evaluation, calibration) on processors with AVX2 or
//! AVX-512 VNNI ([`Bulk`]).
//!
//! A single query is fastest through the sign codes' pipeline ([`super::search`]); a batch of
//! them is faster without it. Every row's int8 code is scored against a group of queries at a
//! time with u8 × i8 multiply-adds, each chunk of codes read from memory once per worker and
//! from the L1 cache for all of its queries. The rows whose upper bound reaches a query's k-th
//! best lower bound go on to the pipeline's exact re-rank, so the answers are the exact top-k,
//! the same as the pipeline's.
//!
//! The instructions want one side unsigned, so the query is quantised here (`q' ≈ Δ·q̂`, `q̂`
//! in `−L..=L`, fed as `q̂ + B`, the `B·Σc` taken off again): 8 bits for `vpdpbusd` (AVX-512
//! VNNI, 64 multiply-adds per instruction, 32-bit sums), 6 bits for AVX2's `vpmaddubsw`, whose
//! 16-bit pair sums then cannot saturate, even two of them added before they are widened. The
//! rounding widens every row's bound by `s·(Δ/2)·Σ|c|`, with the row's own `Σ|c|`, summed as
//! the codes are read.
// Elsewhere it is never called (no processor there has the path).
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use parking_lot::RwLock;

use super::encode::dot_sq;
use super::search::{rerank, Query};
use super::{read_through, split, until_stable, Data, Kernel, Segment, SEGMENT_ROWS, SQ_SLACK};
use crate::index::kernel::TopK;
use crate::index::Hit;

/// Most rows per register (one 32-bit sum per row): 16 with AVX-512, 8 with AVX2.
const ROWS: usize = 16;
/// Rows per chunk (a divisor of [`SEGMENT_ROWS`]): their transposed codes, 32 KiB at 128-d,
/// stay in the L1 cache while every group of queries goes over them.
const CHUNK: usize = 256;
const _: () = assert!(SEGMENT_ROWS.is_multiple_of(CHUNK) && CHUNK.is_multiple_of(ROWS));
/// Most queries scored together (their accumulators take half the vector registers).
pub(super) const GROUP: usize = 16;

/// The bulk scan's two implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bulk {
    /// `vpdpbusd` on 16 rows × 16 queries.
    Avx512,
    /// `vpmaddubsw` + `vpmaddwd` on 8 rows × 8 queries.
    Avx2,
}

impl Bulk {
    /// The implementation of a path, if it has one.
    pub(super) fn of(kernel: Kernel) -> Option<Bulk> {
        match kernel {
            Kernel::Avx512 => Some(Self::Avx512),
            Kernel::Avx2 => Some(Self::Avx2),
            Kernel::Scalar => None,
        }
    }

    /// Rows per register.
    fn rows(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2 => 8,
        }
    }

    /// Queries per group.
    pub(super) fn group(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2 => 8,
        }
    }

    /// `L`: the query's levels either side of zero.
    fn levels(self) -> f32 {
        match self {
            Self::Avx512 => 127.0,
            Self::Avx2 => 31.0,
        }
    }

    /// `B`, added to the query's levels to make them unsigned.
    fn bias(self) -> i32 {
        match self {
            Self::Avx512 => 128,
            Self::Avx2 => 32,
        }
    }

    fn kernel(self) -> Kernel {
        match self {
            Self::Avx512 => Kernel::Avx512,
            Self::Avx2 => Kernel::Avx2,
        }
    }
}

/// The exact top-k of every query, in order. A query's floor changes nothing: the hits at or
/// above it are exact in any answer, and here the rest are too.
pub(super) fn run(bulk: Bulk, data: &RwLock<Data>, dim: usize, dp: usize, queries: &[Query<'_>]) -> Vec<Vec<Hit>> {
    assert!(bulk.kernel().supported(), "the {:?} bulk scan on a processor without it", bulk);
    #[cfg(target_arch = "x86_64")]
    return until_stable(data, |held| scan(bulk, data, held, dim, dp, queries));
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

/// One scan of the rows there when it starts; `None` when a removal moved rows meanwhile.
/// Unless `held` is given, the read lock is taken only to copy each chunk's codes.
#[cfg(target_arch = "x86_64")]
fn scan(
    bulk: Bulk,
    data: &RwLock<Data>,
    held: Option<&Data>,
    dim: usize,
    dp: usize,
    queries: &[Query<'_>],
) -> Option<Vec<Vec<Hit>>> {
    let with = |f: &mut dyn FnMut(&Data)| read_through(data, held, f);
    let (mut moves, mut n) = (0, 0);
    with(&mut |d| (moves, n) = (d.moves, d.len));
    let mut states: Vec<State<'_>> = queries.iter().map(|q| State::new(q, dp, bulk)).collect();
    let groups = Groups::new(&states, dp, bulk);
    let mut chunk = Chunk::new(dp, bulk);
    let mut first = 0;
    while first < n {
        let mut moved = false;
        with(&mut |d| match d.moves == moves {
            true => {
                let (si, at) = split(first);
                chunk.load(&d.segments[si], first, at, (n - first).min(CHUNK), dp);
            }
            false => moved = true,
        });
        if moved {
            return None;
        }
        groups.score(&chunk, &mut states);
        first += chunk.rows;
    }
    let mut answers = None;
    with(&mut |d| {
        if d.moves == moves {
            answers = Some(std::mem::take(&mut states).into_iter().map(|s| s.finish(d, dim)).collect());
        }
    });
    answers
}

/// One query's search.
struct State<'a> {
    query: &'a Query<'a>,
    /// `Δ`: the rotated query is about `Δ·q̂`.
    delta: f32,
    /// `‖q'‖₁ / 2`, the int8 codes' own rounding's share of the bound (per unit of scale).
    half_l1: f32,
    /// `q̂ + B`, four dimensions to a word.
    words: Vec<u32>,
    /// Lower bounds of the best rows scored so far (by global row).
    lower: TopK,
    /// Rows that may reach the top-k, and their upper bounds.
    candidates: Vec<(usize, f32)>,
    /// One row's int8 code, read back from a chunk.
    code: Vec<i8>,
}

impl<'a> State<'a> {
    fn new(query: &'a Query<'a>, dp: usize, bulk: Bulk) -> Self {
        let qr = &query.rotated;
        let max = qr.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
        let levels = bulk.levels();
        let delta = max / levels;
        let bytes: Vec<u8> =
            qr.iter().map(|x| ((x / delta).round().clamp(-levels, levels) as i32 + bulk.bias()) as u8).collect();
        debug_assert_eq!(bytes.len(), dp);
        Self {
            query,
            delta,
            half_l1: 0.5 * qr.iter().map(|x| x.abs()).sum::<f32>(),
            words: bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect(),
            lower: TopK::new(query.k),
            candidates: Vec::new(),
            code: vec![0; dp],
        }
    }

    /// The bound the kernel compares with: a row may reach the top-k when
    /// `s·(D + half_l1/Δ) + s·Σ|c|/2 ≥ (cut − slack)/Δ`.
    fn cut(&self) -> f32 {
        (self.lower.floor() - SQ_SLACK) / self.delta
    }

    /// Takes the rows of `mask` in row block `b` of `chunk`, whose sums with this query are
    /// `dots`; returns the new [`State::cut`]. A row that passes the quantised query's bound is
    /// scored again with the pipeline's 16-bit query ([`SqQuery`](super::encode::SqQuery)),
    /// whose bound is the code's rounding alone, so that few rows go on to the re-rank.
    #[cold]
    #[inline(never)]
    fn take(&mut self, chunk: &Chunk, b: usize, mut mask: u16, dots: &[i32; ROWS]) -> f32 {
        let sq = &self.query.sq;
        while mask != 0 {
            let lane = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let r = b * chunk.rows_per_block + lane;
            let row = chunk.first + r;
            if !self.query.allow.is_all() && !self.query.allow.allows(chunk.ids[r]) {
                continue;
            }
            let s = chunk.scale[r];
            let rough = s * self.delta * dots[lane] as f32;
            let rough_bound = s * self.half_l1 + self.delta * chunk.half_abs[r] + SQ_SLACK;
            if rough + rough_bound < self.lower.floor() {
                continue;
            }
            chunk.code(r, &mut self.code);
            let score = s * dot_sq(&sq.q, &self.code) as f32 * sq.unit;
            let bound = s * sq.bound + SQ_SLACK;
            if score + bound >= self.lower.floor() {
                self.lower.push(row as u64, score - bound);
                self.candidates.push((row, score + bound));
            }
        }
        self.cut()
    }

    fn finish(self, data: &Data, dim: usize) -> Vec<Hit> {
        rerank(self.query, self.candidates, self.lower.floor(), data, dim)
    }
}

/// Up to [`CHUNK`] consecutive rows of one segment, ready for the kernel.
struct Chunk {
    bulk: Bulk,
    /// Rows per row block (per register).
    rows_per_block: usize,
    /// Global row of the first.
    first: usize,
    rows: usize,
    /// Codes by row block, then by four dimensions, then by row: one register per row block
    /// and four dimensions.
    codes: Vec<u32>,
    /// `−B·Σc` per row (the `+B` of the query's bytes, taken off).
    offset: Vec<i32>,
    scale: Vec<f32>,
    /// `s·Σ|c|/2` per row: the query's rounding's share of the bound (per unit of `Δ`).
    half_abs: Vec<f32>,
    ids: Vec<u64>,
}

impl Chunk {
    fn new(dp: usize, bulk: Bulk) -> Self {
        Self {
            bulk,
            rows_per_block: bulk.rows(),
            first: 0,
            rows: 0,
            codes: vec![0; CHUNK * dp / 4],
            offset: vec![0; CHUNK],
            scale: vec![0.0; CHUNK],
            half_abs: vec![0.0; CHUNK],
            ids: vec![0; CHUNK],
        }
    }

    /// Row `r`'s code, from the transposed words.
    fn code(&self, r: usize, out: &mut [i8]) {
        let (per, quads) = (self.rows_per_block, out.len() / 4);
        let base = r / per * quads * per + r % per;
        for (j, c) in out.chunks_exact_mut(4).enumerate() {
            for (c, byte) in c.iter_mut().zip(self.codes[base + j * per].to_le_bytes()) {
                *c = byte as i8;
            }
        }
    }

    /// Copies rows `at..at + rows` of a segment (global rows from `first`).
    fn load(&mut self, seg: &Segment, first: usize, at: usize, rows: usize, dp: usize) {
        assert!(rows <= CHUNK && at + rows <= seg.rows());
        self.first = first;
        self.rows = rows;
        self.scale[..rows].copy_from_slice(&seg.scale[at..at + rows]);
        self.ids[..rows].copy_from_slice(&seg.ids[at..at + rows]);
        let codes = &seg.sq[at * dp..(at + rows) * dp];
        // SAFETY: `run` checked the processor; the rows lie within the segment (asserted).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.bulk {
                Bulk::Avx512 => self.transpose(codes, dp),
                Bulk::Avx2 => self.transpose_avx2(codes, dp),
            }
        };
    }

    /// Transposes `rows × dp` codes into [`Chunk::codes`], with each row's `−128·Σc` and
    /// `s·Σ|c|/2` (the scales already copied): a gather of one word from each of 16 rows
    /// per register, and the sums by multiply-adds with ones.
    ///
    /// # Safety
    /// The processor must have AVX-512 F, BW and VNNI; `codes.len()` is a multiple of `dp`,
    /// at most [`CHUNK`] rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn transpose(&mut self, codes: &[i8], dp: usize) {
        use std::arch::x86_64::*;
        let (quads, rows) = (dp / 4, codes.len() / dp);
        let offsets = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(dp as i32),
        );
        let ones = _mm512_set1_epi8(1);
        for b in 0..rows.div_ceil(ROWS) {
            let left = rows - b * ROWS;
            let valid: u16 = if left >= ROWS { u16::MAX } else { (1u16 << left) - 1 };
            let base = codes.as_ptr().add(b * ROWS * dp);
            let out = self.codes.as_mut_ptr().add(b * quads * ROWS);
            let (mut sum, mut abs) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for j in 0..quads {
                // Lanes past the last row are masked off: no read, zero codes.
                let v = _mm512_mask_i32gather_epi32::<1>(
                    _mm512_setzero_si512(),
                    valid,
                    offsets,
                    base.add(4 * j) as *const i32,
                );
                _mm512_storeu_si512(out.add(j * ROWS) as *mut _, v);
                sum = _mm512_dpbusd_epi32(sum, ones, v);
                abs = _mm512_dpbusd_epi32(abs, _mm512_abs_epi8(v), ones);
            }
            let at = b * ROWS;
            let offset = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32::<7>(sum));
            _mm512_storeu_si512(self.offset.as_mut_ptr().add(at) as *mut _, offset);
            let scale = _mm512_maskz_loadu_ps(valid, self.scale.as_ptr().add(at));
            let half = _mm512_mul_ps(_mm512_mul_ps(scale, _mm512_set1_ps(0.5)), _mm512_cvtepi32_ps(abs));
            _mm512_storeu_ps(self.half_abs.as_mut_ptr().add(at), half);
        }
    }

    /// [`Chunk::transpose`] with AVX2, 8 rows per register: 8 × 8 words at a time by unpacks,
    /// the rest word by word; then each row's sums from the transposed words.
    ///
    /// # Safety
    /// The processor must have AVX2; `codes.len()` is a multiple of `dp`, at most [`CHUNK`]
    /// rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose_avx2(&mut self, codes: &[i8], dp: usize) {
        use std::arch::x86_64::*;
        const R: usize = 8;
        let (quads, rows) = (dp / 4, codes.len() / dp);
        let blocks = rows.div_ceil(R);
        let out = self.codes.as_mut_ptr();
        for b in 0..blocks {
            let whole = (b + 1) * R <= rows;
            let mut j = 0;
            while whole && j + 8 <= quads {
                let row = |i: usize| _mm256_loadu_si256(codes.as_ptr().add((b * R + i) * dp + 4 * j) as *const __m256i);
                let t0 = _mm256_unpacklo_epi32(row(0), row(1));
                let t1 = _mm256_unpackhi_epi32(row(0), row(1));
                let t2 = _mm256_unpacklo_epi32(row(2), row(3));
                let t3 = _mm256_unpackhi_epi32(row(2), row(3));
                let t4 = _mm256_unpacklo_epi32(row(4), row(5));
                let t5 = _mm256_unpackhi_epi32(row(4), row(5));
                let t6 = _mm256_unpacklo_epi32(row(6), row(7));
                let t7 = _mm256_unpackhi_epi32(row(6), row(7));
                let u = [
                    (_mm256_unpacklo_epi64(t0, t2), _mm256_unpacklo_epi64(t4, t6)),
                    (_mm256_unpackhi_epi64(t0, t2), _mm256_unpackhi_epi64(t4, t6)),
                    (_mm256_unpacklo_epi64(t1, t3), _mm256_unpacklo_epi64(t5, t7)),
                    (_mm256_unpackhi_epi64(t1, t3), _mm256_unpackhi_epi64(t5, t7)),
                ];
                let base = out.add((b * quads + j) * R);
                for (q, (lo, hi)) in u.iter().enumerate() {
                    _mm256_storeu_si256(base.add(q * R) as *mut __m256i, _mm256_permute2x128_si256::<0x20>(*lo, *hi));
                    _mm256_storeu_si256(
                        base.add((q + 4) * R) as *mut __m256i,
                        _mm256_permute2x128_si256::<0x31>(*lo, *hi),
                    );
                }
                j += 8;
            }
            for q in j..quads {
                for i in 0..R {
                    let r = b * R + i;
                    let word = match r < rows {
                        true => {
                            let c = &codes[r * dp + 4 * q..r * dp + 4 * q + 4];
                            u32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8])
                        }
                        false => 0,
                    };
                    *out.add((b * quads + q) * R + i) = word;
                }
            }
        }
        let ones8 = _mm256_set1_epi8(1);
        let ones16 = _mm256_set1_epi16(1);
        let bias = _mm256_set1_epi32(-self.bulk.bias());
        for b in 0..blocks {
            let (mut sum, mut abs) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for j in 0..quads {
                let v = _mm256_loadu_si256(out.add((b * quads + j) * R) as *const __m256i);
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
                abs = _mm256_add_epi32(abs, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), ones8), ones16));
            }
            let at = b * R;
            _mm256_storeu_si256(self.offset.as_mut_ptr().add(at) as *mut __m256i, _mm256_mullo_epi32(sum, bias));
            // Scales past the last row are left over from an earlier chunk; their codes are zero.
            let scale = _mm256_loadu_ps(self.scale.as_ptr().add(at));
            let half = _mm256_mul_ps(_mm256_mul_ps(scale, _mm256_set1_ps(0.5)), _mm256_cvtepi32_ps(abs));
            _mm256_storeu_ps(self.half_abs.as_mut_ptr().add(at), half);
        }
    }
}

/// The queries' words and per-query constants, a group at a time (the last one padded with
/// copies of its first query, whose cut never lets a row through).
struct Groups {
    bulk: Bulk,
    quads: usize,
    /// Per group, `GROUP × quads` words.
    words: Vec<u32>,
    /// `half_l1 / Δ` per query slot.
    offset: Vec<f32>,
}

impl Groups {
    fn new(states: &[State<'_>], dp: usize, bulk: Bulk) -> Self {
        let (quads, group) = (dp / 4, bulk.group());
        let slots = states.len().div_ceil(group) * group;
        let mut words = Vec::with_capacity(slots * quads);
        let mut offset = Vec::with_capacity(slots);
        for slot in 0..slots {
            let s = states.get(slot).unwrap_or(&states[slot / group * group]);
            words.extend_from_slice(&s.words);
            offset.push(s.half_l1 / s.delta);
        }
        Self { bulk, quads, words, offset }
    }

    /// Scores every row of `chunk` against every query.
    fn score(&self, chunk: &Chunk, states: &mut [State<'_>]) {
        let size = self.bulk.group();
        for (gi, group) in states.chunks_mut(size).enumerate() {
            let mut cuts = [f32::INFINITY; GROUP];
            for (c, s) in cuts.iter_mut().zip(group.iter()) {
                *c = s.cut();
            }

            let at = gi * size;
            let words = &self.words[at * self.quads..(at + size) * self.quads];
            let mut offset = [0.0f32; GROUP];
            offset[..size].copy_from_slice(&self.offset[at..at + size]);
            // SAFETY: `run` checked that the processor has the path's instructions; `words`
            // holds a group's `size × quads` words and the chunk `CHUNK × quads`.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match self.bulk {
                    Bulk::Avx512 => score_group(chunk, self.quads, words, &offset, &mut cuts, group),
                    Bulk::Avx2 => score_group_avx2(chunk, self.quads, words, &offset, &mut cuts, group),
                }
            };
        }
    }
}

/// Scores every row of `chunk` against one group of queries: `cuts[g]` is query `g`'s
/// [`State::cut`] (infinite for padding), kept current as rows are taken.
///
/// # Safety
/// The processor must have AVX-512 F, BW and VNNI; `words.len() == GROUP * quads`,
/// `chunk.codes.len() >= CHUNK * quads`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn score_group(
    chunk: &Chunk,
    quads: usize,
    words: &[u32],
    offset: &[f32; GROUP],
    cuts: &mut [f32; GROUP],
    group: &mut [State<'_>],
) {
    use std::arch::x86_64::*;
    debug_assert!(words.len() == GROUP * quads && chunk.codes.len() >= CHUNK * quads);
    let w = words.as_ptr();
    for b in 0..chunk.rows.div_ceil(ROWS) {
        let valid: u16 = if (b + 1) * ROWS <= chunk.rows { u16::MAX } else { (1u16 << (chunk.rows - b * ROWS)) - 1 };
        let init = _mm512_loadu_si512(chunk.offset.as_ptr().add(b * ROWS) as *const _);
        let mut acc = [init; GROUP];
        let codes = chunk.codes.as_ptr().add(b * quads * ROWS);
        for j in 0..quads {
            let a = _mm512_loadu_si512(codes.add(j * ROWS) as *const _);
            for (g, acc) in acc.iter_mut().enumerate() {
                let q = _mm512_set1_epi32(*w.add(g * quads + j) as i32);
                *acc = _mm512_dpbusd_epi32(*acc, q, a);
            }
        }
        let scale = _mm512_loadu_ps(chunk.scale.as_ptr().add(b * ROWS));
        let half_abs = _mm512_loadu_ps(chunk.half_abs.as_ptr().add(b * ROWS));
        for (g, acc) in acc.iter().enumerate() {
            let d = _mm512_add_ps(_mm512_cvtepi32_ps(*acc), _mm512_set1_ps(offset[g]));
            let upper = _mm512_fmadd_ps(d, scale, half_abs);
            let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(upper, _mm512_set1_ps(cuts[g])) & valid;
            if mask != 0 {
                let mut dots = [0i32; ROWS];
                _mm512_storeu_si512(dots.as_mut_ptr() as *mut _, *acc);
                cuts[g] = group[g].take(chunk, b, mask, &dots);
            }
        }
    }
}

/// [`score_group`] with AVX2: 8 rows × 8 queries, two words of a query's 6-bit levels
/// multiplied with `vpmaddubsw` and added in 16 bits before `vpmaddwd` widens them.
///
/// # Safety
/// The processor must have AVX2 and FMA; `words.len() == 8 * quads`,
/// `chunk.codes.len() >= CHUNK * quads`, the chunk laid out 8 rows to a block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn score_group_avx2(
    chunk: &Chunk,
    quads: usize,
    words: &[u32],
    offset: &[f32; GROUP],
    cuts: &mut [f32; GROUP],
    group: &mut [State<'_>],
) {
    use std::arch::x86_64::*;
    const R: usize = 8;
    const G: usize = 8;
    debug_assert!(words.len() == G * quads && chunk.codes.len() >= CHUNK * quads && chunk.rows_per_block == R);
    debug_assert!(quads.is_multiple_of(2));
    let w = words.as_ptr() as *const i32;
    let ones = _mm256_set1_epi16(1);
    for b in 0..chunk.rows.div_ceil(R) {
        let valid: u16 = if (b + 1) * R <= chunk.rows { 0xff } else { (1u16 << (chunk.rows - b * R)) - 1 };
        let init = _mm256_loadu_si256(chunk.offset.as_ptr().add(b * R) as *const __m256i);
        let mut acc = [init; G];
        let codes = chunk.codes.as_ptr().add(b * quads * R);
        // `dp` is a multiple of 8: an even number of words.
        let mut j = 0;
        while j + 2 <= quads {
            let a0 = _mm256_loadu_si256(codes.add(j * R) as *const __m256i);
            let a1 = _mm256_loadu_si256(codes.add((j + 1) * R) as *const __m256i);
            for (g, acc) in acc.iter_mut().enumerate() {
                let q0 = _mm256_set1_epi32(*w.add(g * quads + j));
                let q1 = _mm256_set1_epi32(*w.add(g * quads + j + 1));
                let pairs = _mm256_add_epi16(_mm256_maddubs_epi16(q0, a0), _mm256_maddubs_epi16(q1, a1));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
            }
            j += 2;
        }
        let scale = _mm256_loadu_ps(chunk.scale.as_ptr().add(b * R));
        let half_abs = _mm256_loadu_ps(chunk.half_abs.as_ptr().add(b * R));
        for (g, acc) in acc.iter().enumerate() {
            let d = _mm256_add_ps(_mm256_cvtepi32_ps(*acc), _mm256_set1_ps(offset[g]));
            let upper = _mm256_fmadd_ps(d, scale, half_abs);
            let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(upper, _mm256_set1_ps(cuts[g]))) as u16 & valid;
            if mask != 0 {
                let mut dots = [0i32; ROWS];
                _mm256_storeu_si256(dots.as_mut_ptr() as *mut __m256i, *acc);
                cuts[g] = group[g].take(chunk, b, mask, &dots);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::kernel::Allow;
    use crate::index::scan::{ScanIndex, ScanParams};
    use crate::index::{ExactIndex, SearchParams, VectorIndex};
    use crate::synth::{gallery, queries, Identities};

    /// The bulk scan's implementations this processor has.
    fn paths() -> Vec<Bulk> {
        let paths: Vec<Bulk> = Kernel::available().into_iter().filter_map(Bulk::of).collect();
        eprintln!("bulk paths tested here: {paths:?}");
        paths
    }

    #[test]
    fn chunks_hold_every_code_transposed_with_its_sums() {
        for bulk in paths() {
            chunk_holds_every_code(bulk, 40);
            chunk_holds_every_code(bulk, 72);
        }
    }

    fn chunk_holds_every_code(bulk: Bulk, dim: usize) {
        let dp = dim;
        let ids = Identities::new(30, dim, 41);
        let g = gallery(&ids, 3, 42);
        let scan = ScanIndex::new(dim, ScanParams::default()).unwrap();
        scan.add(&g.items()).unwrap();
        let data = scan.data.read();
        let seg = &data.segments[0];
        let mut chunk = Chunk::new(dp, bulk);
        let per = chunk.rows_per_block;
        // 37 rows from row 5: whole row blocks and a partial one.
        chunk.load(seg, 5, 5, 37, dp);
        for r in 0..37 {
            let code = &seg.sq[(5 + r) * dp..(6 + r) * dp];
            for j in 0..dp / 4 {
                let word = chunk.codes[(r / per * dp / 4 + j) * per + r % per].to_le_bytes();
                assert_eq!(word.map(|b| b as i8), code[4 * j..4 * j + 4], "{bulk:?}, row {r}, word {j}");
            }
            let mut back = vec![0i8; dp];
            chunk.code(r, &mut back);
            assert_eq!(back, code, "{bulk:?}, row {r} read back");
            assert_eq!(chunk.offset[r], -bulk.bias() * code.iter().map(|c| *c as i32).sum::<i32>());
            let abs = code.iter().map(|c| (*c as i32).abs()).sum::<i32>();
            assert_eq!(chunk.half_abs[r], 0.5 * seg.scale[5 + r] * abs as f32);
            assert_eq!(chunk.ids[r], seg.ids[5 + r]);
        }
        for r in 37..37usize.next_multiple_of(per) {
            assert_eq!((chunk.offset[r], chunk.half_abs[r]), (0, 0.0), "padding lane {r}");
        }
    }

    #[test]
    fn answers_the_exact_top_k_across_segments_removals_and_filters() {
        for bulk in paths() {
            exact_top_k(bulk);
        }
    }

    fn exact_top_k(bulk: Bulk) {
        // 64-d and 136-d (quads not a multiple of anything), partial chunks and segments.
        for dim in [64, 136] {
            let ids = Identities::new(300, dim, 31);
            let g = gallery(&ids, 3, 32);
            let params = ScanParams { kernel: Some(bulk.kernel()), ..ScanParams::default() };
            let scan = ScanIndex::new(dim, params).unwrap();
            let exact = ExactIndex::new(dim).unwrap();
            scan.add(&g.items()).unwrap();
            exact.add(&g.items()).unwrap();
            let gone: Vec<u64> = (0..900).step_by(11).collect();
            scan.remove(&gone).unwrap();
            exact.remove(&gone).unwrap();
            let qs = queries(&ids, 20, 21, 33);
            let even = |id: u64| id.is_multiple_of(2);
            for (k, filter) in [(10, None), (1, None), (2000, None), (5, Some(&even as &(dyn Fn(u64) -> bool + Sync)))]
            {
                let allow = Allow::new(filter.map(crate::index::Filter::Predicate));
                let prepared: Vec<Query<'_>> = qs
                    .iter()
                    .map(|q| Query::new(q, &scan.rotation, scan.dp, k.min(scan.len()), &allow, f32::NEG_INFINITY))
                    .collect();
                let answers = run(bulk, &scan.data, dim, scan.dp, &prepared);
                let p = SearchParams { filter: filter.map(crate::index::Filter::Predicate), ..SearchParams::new() };
                for (q, a) in qs.iter().zip(&answers) {
                    assert_eq!(a, &exact.search(q, k, &p).unwrap(), "dim {dim}, k {k}");
                }
                // The index sends a batch of this size here itself.
                let refs: Vec<&[f32]> = qs.iter().chain(&qs).map(|q| q.as_slice()).collect();
                assert!(refs.len() >= super::super::BULK_MIN);
                assert_eq!(scan.search_batch(&refs, k, &p).unwrap()[..qs.len()], answers[..]);
            }
        }
    }
}

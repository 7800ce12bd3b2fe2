//! Batches of top-k queries (jobs, evaluation, calibration) on processors with AVX-512 VNNI.
//!
//! A single query is fastest through the sign codes' pipeline ([`super::search`]); a batch of
//! them is faster without it. Every row's int8 code is scored against [`GROUP`] queries at a
//! time with u8 × i8 multiply-adds (`vpdpbusd`, 64 per instruction), each chunk of codes read
//! from memory once per worker and from the L1 cache for all of its queries. The rows whose
//! upper bound reaches a query's k-th best lower bound go on to the pipeline's exact re-rank,
//! so the answers are the exact top-k, the same as the pipeline's.
//!
//! The instruction wants one side unsigned, so the query is quantised to 8 bits here
//! (`q' ≈ Δ·q̂`, `q̂` in −127..=127, fed as `q̂ + 128`, the `128·Σc` taken off again). Its
//! rounding widens every row's bound by `s·(Δ/2)·Σ|c|`, with the row's own `Σ|c|`, summed as
//! the codes are read.
// Elsewhere it is never called (no processor there has the path).
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use parking_lot::RwLock;

use super::search::{rerank, Query};
use super::{read_through, split, until_stable, Data, Kernel, Segment, SEGMENT_ROWS, SQ_SLACK};
use crate::index::kernel::TopK;
use crate::index::Hit;

/// Rows per register: one 32-bit sum per row.
const ROWS: usize = 16;
/// Rows per chunk (a divisor of [`SEGMENT_ROWS`]): their transposed codes, 32 KiB at 128-d,
/// stay in the L1 cache while every group of queries goes over them.
const CHUNK: usize = 256;
const _: () = assert!(SEGMENT_ROWS.is_multiple_of(CHUNK) && CHUNK.is_multiple_of(ROWS));
/// Queries scored together: their accumulators take 16 of the 32 vector registers.
pub(super) const GROUP: usize = 16;

/// The exact top-k of every query, in order. Call only where [`Kernel::Avx512`] is supported. A
/// query's floor changes nothing: the hits at or above it are exact in any answer, and here
/// the rest are too.
pub(super) fn run(data: &RwLock<Data>, dim: usize, dp: usize, queries: &[Query<'_>]) -> Vec<Vec<Hit>> {
    assert!(Kernel::Avx512.supported(), "the bulk scan needs AVX-512 VNNI");
    #[cfg(target_arch = "x86_64")]
    return until_stable(data, |held| scan(data, held, dim, dp, queries));
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

/// One scan of the rows there when it starts; `None` when a removal moved rows meanwhile.
/// Unless `held` is given, the read lock is taken only to copy each chunk's codes.
#[cfg(target_arch = "x86_64")]
fn scan(
    data: &RwLock<Data>,
    held: Option<&Data>,
    dim: usize,
    dp: usize,
    queries: &[Query<'_>],
) -> Option<Vec<Vec<Hit>>> {
    let with = |f: &mut dyn FnMut(&Data)| read_through(data, held, f);
    let (mut moves, mut n) = (0, 0);
    with(&mut |d| (moves, n) = (d.moves, d.len));
    let mut states: Vec<State<'_>> = queries.iter().map(|q| State::new(q, dp)).collect();
    let groups = Groups::new(&states, dp);
    let mut chunk = Chunk::new(dp);
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
    /// `q̂ + 128`, four dimensions to a word.
    words: Vec<u32>,
    /// Lower bounds of the best rows scored so far (by global row).
    lower: TopK,
    /// Rows that may reach the top-k, and their upper bounds.
    candidates: Vec<(usize, f32)>,
}

impl<'a> State<'a> {
    fn new(query: &'a Query<'a>, dp: usize) -> Self {
        let qr = &query.rotated;
        let max = qr.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
        let delta = max / 127.0;
        let bytes: Vec<u8> = qr.iter().map(|x| ((x / delta).round().clamp(-127.0, 127.0) as i32 + 128) as u8).collect();
        debug_assert_eq!(bytes.len(), dp);
        Self {
            query,
            delta,
            half_l1: 0.5 * qr.iter().map(|x| x.abs()).sum::<f32>(),
            words: bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect(),
            lower: TopK::new(query.k),
            candidates: Vec::new(),
        }
    }

    /// The bound the kernel compares with: a row may reach the top-k when
    /// `s·(D + half_l1/Δ) + s·Σ|c|/2 ≥ (cut − slack)/Δ`.
    fn cut(&self) -> f32 {
        (self.lower.floor() - SQ_SLACK) / self.delta
    }

    /// Takes the rows of `mask` in row block `b` of `chunk`, whose sums with this query are
    /// `dots`; returns the new [`State::cut`].
    #[cold]
    #[inline(never)]
    fn take(&mut self, chunk: &Chunk, b: usize, mut mask: u16, dots: &[i32; ROWS]) -> f32 {
        while mask != 0 {
            let lane = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let r = b * ROWS + lane;
            let row = chunk.first + r;
            if !self.query.allow.is_all() && !self.query.allow.allows(chunk.ids[r]) {
                continue;
            }
            let s = chunk.scale[r];
            let score = s * self.delta * dots[lane] as f32;
            let bound = s * self.half_l1 + self.delta * chunk.half_abs[r] + SQ_SLACK;
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
    /// Global row of the first.
    first: usize,
    rows: usize,
    /// Codes by row block, then by four dimensions, then by row: one register per row block
    /// and four dimensions.
    codes: Vec<u32>,
    /// `−128·Σc` per row (the `+128` of the query's bytes, taken off).
    offset: Vec<i32>,
    scale: Vec<f32>,
    /// `s·Σ|c|/2` per row: the query's rounding's share of the bound (per unit of `Δ`).
    half_abs: Vec<f32>,
    ids: Vec<u64>,
}

impl Chunk {
    fn new(dp: usize) -> Self {
        Self {
            first: 0,
            rows: 0,
            codes: vec![0; CHUNK * dp / 4],
            offset: vec![0; CHUNK],
            scale: vec![0.0; CHUNK],
            half_abs: vec![0.0; CHUNK],
            ids: vec![0; CHUNK],
        }
    }

    /// Copies rows `at..at + rows` of a segment (global rows from `first`).
    fn load(&mut self, seg: &Segment, first: usize, at: usize, rows: usize, dp: usize) {
        assert!(rows <= CHUNK && at + rows <= seg.rows());
        self.first = first;
        self.rows = rows;
        self.scale[..rows].copy_from_slice(&seg.scale[at..at + rows]);
        self.ids[..rows].copy_from_slice(&seg.ids[at..at + rows]);
        // SAFETY: `run` checked the processor; the rows lie within the segment (asserted).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            self.transpose(&seg.sq[at * dp..(at + rows) * dp], dp)
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
}

/// The queries' words and per-query constants, [`GROUP`] to a group (the last one padded with
/// copies of its first query, whose cut never lets a row through).
struct Groups {
    quads: usize,
    /// Per group, `GROUP × quads` words.
    words: Vec<u32>,
    /// `half_l1 / Δ` per query slot.
    offset: Vec<f32>,
}

impl Groups {
    fn new(states: &[State<'_>], dp: usize) -> Self {
        let quads = dp / 4;
        let slots = states.len().div_ceil(GROUP) * GROUP;
        let mut words = Vec::with_capacity(slots * quads);
        let mut offset = Vec::with_capacity(slots);
        for slot in 0..slots {
            let s = states.get(slot).unwrap_or(&states[slot / GROUP * GROUP]);
            words.extend_from_slice(&s.words);
            offset.push(s.half_l1 / s.delta);
        }
        Self { quads, words, offset }
    }

    /// Scores every row of `chunk` against every query.
    fn score(&self, chunk: &Chunk, states: &mut [State<'_>]) {
        for (gi, group) in states.chunks_mut(GROUP).enumerate() {
            let mut cuts = [f32::INFINITY; GROUP];
            for (c, s) in cuts.iter_mut().zip(group.iter()) {
                *c = s.cut();
            }
            let at = gi * GROUP;
            let words = &self.words[at * self.quads..(at + GROUP) * self.quads];
            let offset: &[f32; GROUP] = self.offset[at..at + GROUP].try_into().expect("a whole group");
            // SAFETY: `run` checked that the processor has AVX-512 F, BW and VNNI; `words` holds
            // `GROUP × quads` words and the chunk `CHUNK × quads`.
            unsafe { score_group(chunk, self.quads, words, offset, &mut cuts, group) };
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

#[cfg(not(target_arch = "x86_64"))]
unsafe fn score_group(_: &Chunk, _: usize, _: &[u32], _: &[f32; GROUP], _: &mut [f32; GROUP], _: &mut [State<'_>]) {
    unreachable!("the bulk scan runs only where its path is supported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::kernel::Allow;
    use crate::index::scan::{ScanIndex, ScanParams};
    use crate::index::synth::{gallery, queries, Identities};
    use crate::index::{ExactIndex, SearchParams, VectorIndex};

    #[test]
    fn chunks_hold_every_code_transposed_with_its_sums() {
        if !Kernel::Avx512.supported() {
            eprintln!("SKIPPED: this processor has no AVX-512 VNNI; the bulk scan is not used here");
            return;
        }
        let (dim, dp) = (40, 40);
        let ids = Identities::new(30, dim, 41);
        let g = gallery(&ids, 3, 42);
        let scan = ScanIndex::new(dim, ScanParams::default()).unwrap();
        scan.add(&g.items()).unwrap();
        let data = scan.data.read();
        let seg = &data.segments[0];
        let mut chunk = Chunk::new(dp);
        // 37 rows from row 5: two whole row blocks and a partial one.
        chunk.load(seg, 5, 5, 37, dp);
        for r in 0..37 {
            let code = &seg.sq[(5 + r) * dp..(6 + r) * dp];
            for j in 0..dp / 4 {
                let word = chunk.codes[(r / ROWS * dp / 4 + j) * ROWS + r % ROWS].to_le_bytes();
                assert_eq!(word.map(|b| b as i8), code[4 * j..4 * j + 4]);
            }
            assert_eq!(chunk.offset[r], -128 * code.iter().map(|c| *c as i32).sum::<i32>());
            let abs = code.iter().map(|c| (*c as i32).abs()).sum::<i32>();
            assert_eq!(chunk.half_abs[r], 0.5 * seg.scale[5 + r] * abs as f32);
            assert_eq!(chunk.ids[r], seg.ids[5 + r]);
        }
        for r in 37..48 {
            assert_eq!((chunk.offset[r], chunk.half_abs[r]), (0, 0.0), "padding lane {r}");
        }
    }

    #[test]
    fn answers_the_exact_top_k_across_segments_removals_and_filters() {
        if !Kernel::Avx512.supported() {
            eprintln!("SKIPPED: this processor has no AVX-512 VNNI; the bulk scan is not used here");
            return;
        }
        // 64-d and 136-d (quads not a multiple of anything), partial chunks and segments.
        for dim in [64, 136] {
            let ids = Identities::new(300, dim, 31);
            let g = gallery(&ids, 3, 32);
            let scan = ScanIndex::new(dim, ScanParams::default()).unwrap();
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
                let answers = run(&scan.data, dim, scan.dp, &prepared);
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

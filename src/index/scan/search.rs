//! Searching the scan index. Each query runs the stages of the module documentation as a
//! pipeline over the blocks ([`Pass`]); a batch of queries (where [`super::bulk`] does not
//! run) runs [`GROUP`] passes side by side, so that each block is read from memory once per
//! group and scanned for every query of the group while it is in cache.

use std::collections::VecDeque;

use parking_lot::RwLock;

use super::encode::{self, dot_sq, rotate, SqQuery};
use super::fastscan::{self, refine_block, scan_block, scan_both_block, slot_to_lane, BlockHits, Cuts, Lut, BLOCK};
use super::{split, Data, Kernel, Segment, SEGMENT_ROWS, SQ_SLACK, TRIES};
use crate::index::kernel::{dot, Allow, TopK};
use crate::index::Hit;

/// Queries that share each block of a batch (their tables, 1 KiB each at 128-d, stay in L1).
pub(super) const GROUP: usize = 16;
/// Blocks scanned between each step of a block's pipeline: one block's scan is far shorter
/// than a memory access.
const AHEAD: usize = 4;
/// Blocks ahead of the scan whose sign codes are prefetched (the hardware's prefetcher stops
/// at page boundaries).
const STREAM_AHEAD: usize = 8;
/// Most vectors a block may leave in to be scored from its int8 codes directly, in a sparse
/// scan.
const DIRECT_MAX: u32 = 8;
/// Weight of the last block in a pass's density of passing blocks (fixed point, 1/32).
const DENSITY_ONE: u32 = 1 << 10;
/// Density from which a pass skips the sign codes' filter and reads both planes of every
/// block at once (a top-k scan, in which nearly every block passes).
const DENSE: u32 = 30 * DENSITY_ONE;
/// In a dense pass, one block in this many still goes through the sign codes alone, to keep
/// the density current.
const DENSE_SAMPLE: usize = 8;

/// One query, ready for the blocks.
pub(super) struct Query<'a> {
    /// The normalised query.
    pub(super) q: &'a [f32],
    /// The query in the codes' rotated space.
    pub(super) rotated: Vec<f32>,
    lut: Lut,
    pub(super) sq: SqQuery,
    pub(super) k: usize,
    pub(super) allow: &'a Allow<'a>,
    /// Exactness is needed only at or above this score.
    floor: f32,
}

impl<'a> Query<'a> {
    /// `q` normalised, `rotation` the index's (`dp × dp`).
    pub(super) fn new(q: &'a [f32], rotation: &[f32], dp: usize, k: usize, allow: &'a Allow<'a>, floor: f32) -> Self {
        let mut qr = vec![0.0f32; dp];
        rotate(rotation, dp, q, &mut qr);
        Self { q, lut: Lut::new(&qr), sq: SqQuery::new(&qr), rotated: qr, k, allow, floor }
    }
}

/// The answers to `queries`, in order: every block of `data` goes through all their passes.
///
/// The read lock is taken one segment at a time, so that an append waits for one segment's
/// scan at most, and a search for one append (not for a whole search, or a save). Rows added
/// meanwhile are left out (the search answers for the rows there when it began); a removal,
/// which moves a row, starts the search again.
pub(super) fn run(
    kernel: Kernel,
    data: &RwLock<Data>,
    dim: usize,
    dp: usize,
    lambda: f32,
    queries: &[Query<'_>],
) -> Vec<Vec<Hit>> {
    #[cfg(target_arch = "x86_64")]
    if kernel >= Kernel::Avx2 {
        assert!(kernel.supported(), "the {kernel} path on a processor without it");
        // SAFETY: the processor has AVX2 and FMA (checked just above).
        return unsafe { run_avx2(data, dim, dp, lambda, queries) };
    }
    run_with::<Portable>(data, dim, dp, lambda, queries)
}

/// [`run_with`] compiled for AVX2, so that the kernels inline into its loop.
///
/// # Safety
/// The processor must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(data: &RwLock<Data>, dim: usize, dp: usize, lambda: f32, queries: &[Query<'_>]) -> Vec<Vec<Hit>> {
    run_with::<Avx2>(data, dim, dp, lambda, queries)
}

#[inline(always)]
fn run_with<K: Kernels>(
    data: &RwLock<Data>,
    dim: usize,
    dp: usize,
    lambda: f32,
    queries: &[Query<'_>],
) -> Vec<Vec<Hit>> {
    'search: for _ in 0..TRIES {
        let (moves, n) = {
            let d = data.read();
            (d.moves, d.len)
        };
        let mut passes: Vec<Pass<'_>> = queries.iter().map(|q| Pass::new(q, lambda)).collect();
        for si in 0.. {
            let d = data.read();
            if d.moves != moves {
                continue 'search;
            }
            if si * SEGMENT_ROWS >= n {
                return passes.into_iter().map(|p| p.finish(&d, dim)).collect();
            }
            scan_segment::<K>(&mut passes, &d.segments[si], si, (n - si * SEGMENT_ROWS).min(SEGMENT_ROWS), dp);
        }
    }
    // Removals kept moving rows: one pass with the lock held throughout.
    let d = data.read();
    let mut passes: Vec<Pass<'_>> = queries.iter().map(|q| Pass::new(q, lambda)).collect();
    for (si, seg) in d.segments.iter().enumerate() {
        scan_segment::<K>(&mut passes, seg, si, seg.rows(), dp);
    }
    passes.into_iter().map(|p| p.finish(&d, dim)).collect()
}

/// The first `rows` rows of segment `si` through every pass, block by block.
#[inline(always)]
fn scan_segment<K: Kernels>(passes: &mut [Pass<'_>], seg: &Segment, si: usize, rows: usize, dp: usize) {
    let blocks = rows.div_ceil(BLOCK);
    for b in 0..blocks + 2 * AHEAD {
        if b + STREAM_AHEAD < blocks {
            let ahead = b + STREAM_AHEAD;
            prefetch::<K, _>(seg.block(ahead, dp));
            if passes.iter().any(Pass::dense) {
                prefetch_second::<K>(seg, ahead, dp);
            }
        }
        for pass in passes.iter_mut() {
            pass.step::<K>(seg, si, b, rows, dp);
        }
    }
}

/// One query's way through the blocks, as a three-step pipeline, so that memory reads overlap
/// the scan: a block the sign codes leave a vector in has its second plane fetched while the
/// next blocks are scanned, then is refined and has its candidates' int8 codes fetched, then is
/// scored. Where passing blocks are sparse and leave few vectors in, those vectors' int8 codes
/// are fetched at once and the second plane is skipped. Cuts used a few blocks late are only
/// lower, which lets more through, never less.
struct Pass<'a> {
    query: &'a Query<'a>,
    lambda: f32,
    /// Lower bounds of the best rows scored so far (by global row).
    lower: TopK,
    /// Best estimates, so that an answer has k hits even when few reach the floor.
    shown: Option<TopK>,
    /// Rows scored with the int8 codes and their upper bounds.
    candidates: Vec<(usize, f32)>,
    scanned: VecDeque<(usize, BlockHits)>,
    refined: VecDeque<(usize, BlockHits)>,
    /// Blocks with few vectors in, scored without their second plane.
    direct: VecDeque<(usize, BlockHits)>,
    /// Share of the last few dozen blocks that left a vector in (32 × [`DENSITY_ONE`] = all).
    density: u32,
    scratch: BlockHits,
}

impl<'a> Pass<'a> {
    fn new(query: &'a Query<'a>, lambda: f32) -> Self {
        Self {
            query,
            lambda,
            lower: TopK::new(query.k),
            shown: (query.floor > f32::NEG_INFINITY).then(|| TopK::new(query.k)),
            candidates: Vec::new(),
            scanned: VecDeque::new(),
            refined: VecDeque::new(),
            direct: VecDeque::new(),
            density: 32 * DENSITY_ONE,
            scratch: BlockHits::default(),
        }
    }

    fn cuts(&self) -> Cuts {
        Cuts {
            need: self.query.floor.max(self.lower.floor()),
            show: self.shown.as_ref().map_or(f32::INFINITY, TopK::floor),
            lambda: self.lambda,
        }
    }

    /// True when nearly every block passes the sign codes.
    fn dense(&self) -> bool {
        self.density >= DENSE
    }

    /// Scans block `b` of segment `si` (when it is within its first `rows`) and moves the
    /// pipeline on.
    #[inline(always)]
    fn step<K: Kernels>(&mut self, seg: &Segment, si: usize, b: usize, rows: usize, dp: usize) {
        let lut = &self.query.lut;
        if b * BLOCK < rows && self.dense() && !b.is_multiple_of(DENSE_SAMPLE) {
            // Both planes at once: the second plane streams in with the first, and the block's
            // candidates are scored like a sparse scan's.
            let valid = (rows - b * BLOCK).min(BLOCK);
            let at = b * BLOCK;
            let (gain, spread) = (&seg.gain[at..at + BLOCK], &seg.spread[at..at + BLOCK]);
            let mask = K::scan_both(
                seg.block(b, dp),
                seg.low_block(b, dp),
                gain,
                spread,
                valid,
                lut,
                self.cuts(),
                &mut self.scratch,
            );
            self.took_both::<K>(seg, b, mask, dp);
        } else if b * BLOCK < rows {
            let valid = (rows - b * BLOCK).min(BLOCK);
            let mask = K::scan(seg.block(b, dp), valid, lut, self.cuts(), &mut self.scratch);
            self.density = self.density - self.density / 32 + if mask != 0 { DENSITY_ONE } else { 0 };
            if mask != 0 && mask.count_ones() <= DIRECT_MAX && self.density < 16 * DENSITY_ONE {
                // A few vectors in, in a sparse scan (identification): their int8 codes cost
                // fewer cache lines than the block's second plane, which a dense scan (top-k)
                // streams instead.
                prefetch_rows::<K>(seg, b, mask, dp);
                self.direct.push_back((b, self.scratch.clone()));
            } else if mask != 0 {
                // Runs of blocks are left to the hardware's prefetcher.
                if self.scanned.back().is_none_or(|(last, _)| *last + 1 != b) {
                    prefetch_second::<K>(seg, b, dp);
                }
                self.scanned.push_back((b, self.scratch.clone()));
            }
        }
        while self.scanned.front().is_some_and(|(sb, _)| sb + AHEAD <= b) {
            let Some((sb, mut hits)) = self.scanned.pop_front() else { break };
            let at = sb * BLOCK;
            let (gain, spread) = (&seg.gain[at..at + BLOCK], &seg.spread[at..at + BLOCK]);
            K::refine(seg.low_block(sb, dp), gain, spread, lut, self.cuts(), &mut hits);
            let mask = hits.need | hits.show;
            if mask == 0 {
                continue;
            }
            prefetch_rows::<K>(seg, sb, mask, dp);
            self.refined.push_back((sb, hits));
        }
        while self.direct.front().is_some_and(|(db, _)| db + AHEAD <= b) {
            let Some((db, hits)) = self.direct.pop_front() else { break };
            self.score::<K>(seg, si, db, &hits, dp);
        }
        while self.refined.front().is_some_and(|(rb, _)| rb + 2 * AHEAD <= b) {
            let Some((rb, hits)) = self.refined.pop_front() else { break };
            self.score::<K>(seg, si, rb, &hits, dp);
        }
    }

    /// Queues block `b`, scanned with both planes, for its candidates' int8 codes.
    #[inline(always)]
    fn took_both<K: Kernels>(&mut self, seg: &Segment, b: usize, mask: u32, dp: usize) {
        if mask != 0 {
            prefetch_rows::<K>(seg, b, mask, dp);
            self.direct.push_back((b, self.scratch.clone()));
        }
    }

    /// The int8 stage for the vectors of block `rb` still in.
    #[inline(always)]
    fn score<K: Kernels>(&mut self, seg: &Segment, si: usize, rb: usize, hits: &BlockHits, dp: usize) {
        let query = self.query;
        let mut mask = hits.need | hits.show;
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let r = rb * BLOCK + slot_to_lane(slot);
            if !query.allow.is_all() && !query.allow.allows(seg.ids[r]) {
                continue;
            }
            let row = si * SEGMENT_ROWS + r;
            let show = hits.show >> slot & 1 == 1;
            if let (true, Some(s)) = (show, self.shown.as_mut()) {
                s.push(row as u64, hits.estimate[slot]);
            }
            let scale = seg.scale[r];
            let score = scale * K::dot_sq(&query.sq.q, &seg.sq[r * dp..(r + 1) * dp]) as f32 * query.sq.unit;
            let bound = scale * query.sq.bound + SQ_SLACK;
            if show || score + bound >= query.floor.max(self.lower.floor()) {
                self.lower.push(row as u64, score - bound);
                self.candidates.push((row, score + bound));
            }
        }
    }

    fn finish(self, data: &Data, dim: usize) -> Vec<Hit> {
        rerank(self.query, self.candidates, self.lower.floor(), data, dim)
    }
}

/// The exact re-rank of the candidates (global row, upper bound) that can still reach the top
/// `k`, those whose upper bound reaches `cut` (the k-th best lower bound).
pub(super) fn rerank(query: &Query<'_>, candidates: Vec<(usize, f32)>, cut: f32, data: &Data, dim: usize) -> Vec<Hit> {
    let mut top = TopK::new(query.k);
    for (row, upper) in candidates {
        if upper >= cut {
            let (s, r) = split(row);
            top.push(data.segments[s].ids[r], dot(query.q, data.vector(row, dim)));
        }
    }
    top.into_hits()
}

/// Prefetches the int8 codes and scales of the slots in `mask` of block `b`.
#[inline(always)]
fn prefetch_rows<K: Kernels>(seg: &Segment, b: usize, mut mask: u32, dp: usize) {
    while mask != 0 {
        let r = b * BLOCK + slot_to_lane(mask.trailing_zeros() as usize);
        mask &= mask - 1;
        prefetch::<K, _>(&seg.sq[r * dp..(r + 1) * dp]);
        prefetch::<K, _>(&seg.scale[r..r + 1]);
    }
}

/// Prefetches block `b`'s second plane, gains and spreads.
#[inline(always)]
fn prefetch_second<K: Kernels>(seg: &Segment, b: usize, dp: usize) {
    prefetch::<K, _>(seg.low_block(b, dp));
    prefetch::<K, _>(&seg.gain[b * BLOCK..(b + 1) * BLOCK]);
    prefetch::<K, _>(&seg.spread[b * BLOCK..(b + 1) * BLOCK]);
}

/// Prefetches every cache line of `data`.
#[inline(always)]
fn prefetch<K: Kernels, T>(data: &[T]) {
    let bytes = std::mem::size_of_val(data);
    let p = data.as_ptr() as *const i8;
    for offset in (0..bytes).step_by(64) {
        // SAFETY: `offset` lies within `data`.
        K::prefetch(unsafe { p.add(offset) });
    }
}

/// The inner loops, portable or with AVX2.
trait Kernels {
    /// Scans a block into `out`; returns the slots needed or shown.
    fn scan(block: &[u8], valid: usize, lut: &Lut, cuts: Cuts, out: &mut BlockHits) -> u32;
    fn refine(low: &[u8], gain: &[f32], spread: &[u8], lut: &Lut, cuts: Cuts, hits: &mut BlockHits);
    /// Both planes of a block at once into `out`; returns the slots needed or shown.
    #[allow(clippy::too_many_arguments)]
    fn scan_both(
        block: &[u8],
        low: &[u8],
        gain: &[f32],
        spread: &[u8],
        valid: usize,
        lut: &Lut,
        cuts: Cuts,
        out: &mut BlockHits,
    ) -> u32;
    fn dot_sq(q: &[i16], code: &[i8]) -> i32;
    /// A hint that `p`'s cache line will be read soon.
    fn prefetch(_p: *const i8) {}
}

struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn scan(block: &[u8], valid: usize, lut: &Lut, cuts: Cuts, out: &mut BlockHits) -> u32 {
        scan_block(block, valid, lut, cuts, out)
    }

    #[inline(always)]
    fn refine(low: &[u8], gain: &[f32], spread: &[u8], lut: &Lut, cuts: Cuts, hits: &mut BlockHits) {
        refine_block(low, gain, spread, lut, cuts, hits)
    }

    #[inline(always)]
    fn scan_both(
        block: &[u8],
        low: &[u8],
        gain: &[f32],
        spread: &[u8],
        valid: usize,
        lut: &Lut,
        cuts: Cuts,
        out: &mut BlockHits,
    ) -> u32 {
        scan_both_block(block, low, gain, spread, valid, lut, cuts, out)
    }

    #[inline(always)]
    fn dot_sq(q: &[i16], code: &[i8]) -> i32 {
        dot_sq(q, code)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2 {
    #[inline(always)]
    fn scan(block: &[u8], valid: usize, lut: &Lut, cuts: Cuts, out: &mut BlockHits) -> u32 {
        // SAFETY: only used from `run_avx2`, which runs where AVX2 and FMA exist.
        unsafe { fastscan::scan_block_avx2(block, valid, lut, cuts, out) }
    }

    #[inline(always)]
    fn refine(low: &[u8], gain: &[f32], spread: &[u8], lut: &Lut, cuts: Cuts, hits: &mut BlockHits) {
        // SAFETY: as above; the slices are a whole block's.
        unsafe { fastscan::refine_block_avx2(low, gain, spread, lut, cuts, hits) }
    }

    #[inline(always)]
    fn scan_both(
        block: &[u8],
        low: &[u8],
        gain: &[f32],
        spread: &[u8],
        valid: usize,
        lut: &Lut,
        cuts: Cuts,
        out: &mut BlockHits,
    ) -> u32 {
        // SAFETY: as above; the slices are a whole block's.
        unsafe { fastscan::scan_both_block_avx2(block, low, gain, spread, valid, lut, cuts, out) }
    }

    #[inline(always)]
    fn dot_sq(q: &[i16], code: &[i8]) -> i32 {
        // SAFETY: as above.
        unsafe { encode::dot_sq_avx2(q, code) }
    }

    #[inline(always)]
    fn prefetch(p: *const i8) {
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) }
    }
}

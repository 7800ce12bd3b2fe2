//! The default engine: an exhaustive scan of compact codes with an exact re-rank, so a 1M
//! gallery answers like brute force in a few milliseconds on one core.
//!
//! Face embeddings are nearly isotropic: apart from the probe's own person, its neighbours all
//! sit at about the same distance, which is where graph and IVF indexes lose the true neighbour
//! (strangers worst of all). A scan never skips a vector; it only makes each look cheap:
//!
//! 1. **Sign codes** (1 bit per dimension, 16 bytes at 128-d, see [`fastscan`]): an unbiased
//!    estimate of every vector's cosine with a known error scale; a vector goes on only when its
//!    estimate plus `lambda` standard deviations could reach the current cut.
//! 2. **Low bits** (a second bit per dimension, in a second plane): for the blocks of 32 in
//!    which a vector went on, the 2-bit code's estimate, with about half the error, decides
//!    again. Face embeddings put a probe's 10th neighbour only a few standard deviations of the
//!    sign estimate above the crowd; the second bit cuts the vectors that go on 15-fold there.
//! 3. **int8 codes**: a third estimate with a bound that holds for every vector; only vectors
//!    whose upper bound reaches the k-th best lower bound go on.
//! 4. **Exact re-rank** of those few with the original `f32` vectors and the same [`dot`] as
//!    [`super::ExactIndex`], so scores are bit-identical to brute force.
//!
//! A batch of 64 queries or more, on the `avx2` and `avx512` paths ([`Kernel`]), skips stages 1
//! and 2: every int8 code is scored for a group of queries at a time, which is cheaper per query
//! than the sign codes' table look-ups once a chunk of codes is shared by a group (see [`bulk`]).
//!
//! The cut is the k-th best lower bound seen so far, or, when the caller asks for exactness only
//! at or above a score ([`super::SearchParams::floor`], identification's threshold), that score:
//! vectors that cannot reach it are not looked at twice, and the rest of the top-k is filled
//! from the best estimates.
//!
//! Storage is a list of fixed-capacity segments, so appends never move existing rows (no large
//! copies under the write lock); a removal moves the last row into the hole. File `scan.idx`
//! (little-endian, SHA-256 trailer): magic `VSGSCAN1`, version, dim, padded dim, the rotation,
//! count, checkpoint, then per segment its rows' ids, vectors, int8 codes and scales, sign codes
//! and factors, low bits, gains and spread bytes.

mod bulk;
mod cpu;
mod encode;
mod fastscan;
mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use self::bulk::Bulk;
pub use self::cpu::Kernel;
use self::encode::{encode, padded_dim, random_rotation, Encoded};
use self::fastscan::{
    block_bytes, get_lane, get_low_lane, lane_to_slot, low_block_bytes, set_lane, set_low_lane, BLOCK,
};
use self::search::Query;
use super::kernel::{dot, prepare_batch, prepare_query, Allow, TopK};
use super::persist::{ensure_dir, write_atomic, write_header, Reader};
use super::{Hit, IndexError, IndexStats, Result, SearchParams, VectorIndex};

const MAGIC: &[u8; 8] = b"VSGSCAN1";
const VERSION: u32 = 3;
const FILE_NAME: &str = "scan.idx";
/// Rows per segment (a multiple of [`BLOCK`]; small in unit tests, so that they cross segments).
const SEGMENT_ROWS: usize = if cfg!(test) { 256 } else { 1 << 18 };
/// Rows per chunk of the file (each chunk's columns are stored together): fixed by the file
/// format, independent of [`SEGMENT_ROWS`] (a multiple of it), which is only memory layout.
const FILE_CHUNK_ROWS: usize = if cfg!(test) { 64 } else { 1 << 16 };
const _: () = assert!(SEGMENT_ROWS.is_multiple_of(FILE_CHUNK_ROWS));
/// Seed of the rotation of new indexes.
const ROTATION_SEED: u64 = 0x5EED_5CA9;
/// Largest dimension: the 16-bit sums of the sign scan hold `dim / 8 · 254`.
const MAX_DIM: usize = 2048;
/// Slack added to the int8 bound for f32 rounding in the sums and the rotation.
const SQ_SLACK: f32 = 1e-4;
/// Rows of an append entered in the id map per hold of its lock (other writers wait that long).
const APPEND_BATCH: usize = 512;
/// Rows written per hold of the data lock by an append (searches wait at most that long).
const HOLD_ROWS: usize = 32;
/// Rows copied per hold of the read lock when saving.
const SAVE_ROWS: usize = 4096;
/// Saves and searches that removals (which move rows) restart before one holds the lock
/// throughout.
const TRIES: usize = 3;
/// Queries from which a batch goes through [`bulk`] where the processor has it: it reads every
/// code once per worker, which a few dozen queries repay.
const BULK_MIN: usize = 64;

/// Tuning of the scan index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanParams {
    /// Standard deviations of the sign estimate's error allowed for before a vector is dropped.
    /// The error is close to Gaussian, so 3 lets about 1 in 700 of the vectors that sit right
    /// at the cut slip (recall@10 and decision equivalence measured 1.0000 at 1M on both data
    /// shapes); larger is safer and slower (`cargo bench --bench index` prints both).
    pub lambda: f32,
    /// The instruction-set path, forced (`scalar`, `avx2`, `avx512`: one the processor has);
    /// by default the best it has.
    pub kernel: Option<Kernel>,
}

impl Default for ScanParams {
    fn default() -> Self {
        Self { lambda: 3.0, kernel: None }
    }
}

impl ScanParams {
    pub(crate) fn check(&self) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(IndexError::InvalidArgument(format!("scan lambda must be >= 0, got {}", self.lambda)));
        }
        self.resolve().map(drop)
    }

    /// The path this index runs: the forced one, or the processor's best.
    pub fn resolve(&self) -> Result<Kernel> {
        Kernel::resolve(self.kernel).map_err(IndexError::InvalidArgument)
    }
}

/// The scan index. See the module documentation.
pub struct ScanIndex {
    dim: usize,
    dp: usize,
    rotation: Vec<f32>,
    params: ScanParams,
    kernel: Kernel,
    /// Where [`VectorIndex::persist`] writes; `None` for an in-memory index.
    file: Option<PathBuf>,
    /// id → global row. Apart from `data`, so that the map's growth (a rehash of every id)
    /// never holds up a search; taken before `data` wherever both are.
    pos: RwLock<Positions>,
    data: RwLock<Data>,
    /// Segments allocated and faulted in ahead of the appends that will fill them (see
    /// [`ScanIndex::prepare_room`]); taken after `pos`, never while `data` is held.
    spare: Mutex<Vec<Segment>>,
    dirty: AtomicBool,
    /// One save at a time (they share the temporary file).
    saving: Mutex<()>,
}

type Positions = HashMap<u64, usize>;

#[derive(Default)]
struct Data {
    segments: Vec<Segment>,
    len: usize,
    checkpoint: u64,
    /// Removals so far: a removal moves a row, which a search or save that reads a segment at
    /// a time must start again after.
    moves: u64,
}

/// Up to [`SEGMENT_ROWS`] rows; every buffer is allocated for all of them up front.
struct Segment {
    ids: Vec<u64>,
    /// `rows × dim`, the original vectors.
    vectors: Vec<f32>,
    /// `rows × dp` int8 codes and their scales.
    sq: Vec<i8>,
    scale: Vec<f32>,
    /// Sign codes and factor bytes in block layout ([`block_bytes`] per 32 rows).
    blocks: Vec<u8>,
    /// The 2-bit codes' low bits in block layout ([`low_block_bytes`] per 32 rows), and their
    /// gains and spread bytes in slot order.
    low: Vec<u8>,
    gain: Vec<f32>,
    spread: Vec<u8>,
}

impl Segment {
    fn new(dim: usize, dp: usize) -> Self {
        let seg = Self {
            ids: Vec::with_capacity(SEGMENT_ROWS),
            vectors: Vec::with_capacity(SEGMENT_ROWS * dim),
            sq: Vec::with_capacity(SEGMENT_ROWS * dp),
            scale: Vec::with_capacity(SEGMENT_ROWS),
            blocks: vec![0; SEGMENT_ROWS / BLOCK * block_bytes(dp)],
            low: vec![0; SEGMENT_ROWS / BLOCK * low_block_bytes(dp)],
            gain: vec![0.0; SEGMENT_ROWS],
            spread: vec![0; SEGMENT_ROWS],
        };
        huge_pages(&seg.vectors);
        huge_pages(&seg.sq);
        huge_pages(&seg.blocks);
        huge_pages(&seg.low);
        seg
    }

    /// A segment whose memory is all written once already, so that appends into it never
    /// fault a fresh page in (zeroing a huge page, or compacting memory for one, takes
    /// milliseconds, and appends run under the write lock).
    fn faulted(dim: usize, dp: usize) -> Self {
        let mut seg = Self::new(dim, dp);
        seg.fault_in();
        seg
    }

    /// Touches every page of the room left in each buffer.
    fn fault_in(&mut self) {
        touch_spare(&mut self.ids);
        touch_spare(&mut self.vectors);
        touch_spare(&mut self.sq);
        touch_spare(&mut self.scale);
        touch_pages(&mut self.blocks);
        touch_pages(&mut self.low);
        touch_pages(&mut self.gain);
        touch_pages(&mut self.spread);
    }

    fn rows(&self) -> usize {
        self.ids.len()
    }

    fn block(&self, b: usize, dp: usize) -> &[u8] {
        let bb = block_bytes(dp);
        &self.blocks[b * bb..(b + 1) * bb]
    }

    fn low_block(&self, b: usize, dp: usize) -> &[u8] {
        let lb = low_block_bytes(dp);
        &self.low[b * lb..(b + 1) * lb]
    }

    /// Index of a row's gain and spread (slot order within its block).
    fn slot_index(row: usize) -> usize {
        row / BLOCK * BLOCK + lane_to_slot(row % BLOCK)
    }

    /// Writes a row's codes into both planes.
    fn set_codes(&mut self, row: usize, dp: usize, e: &Encoded) {
        let (bb, lb, b) = (block_bytes(dp), low_block_bytes(dp), row / BLOCK);
        set_lane(&mut self.blocks[b * bb..(b + 1) * bb], row % BLOCK, &e.bits, e.factor);
        set_low_lane(&mut self.low[b * lb..(b + 1) * lb], row % BLOCK, &e.low);
        self.gain[Self::slot_index(row)] = e.gain;
        self.spread[Self::slot_index(row)] = e.spread;
    }

    /// A row's codes back from both planes and the int8 arrays.
    fn codes(&self, row: usize, dp: usize) -> Encoded {
        let (bits, factor) = get_lane(self.block(row / BLOCK, dp), row % BLOCK, dp / 8);
        Encoded {
            bits,
            factor,
            low: get_low_lane(self.low_block(row / BLOCK, dp), row % BLOCK, dp / 8),
            gain: self.gain[Self::slot_index(row)],
            spread: self.spread[Self::slot_index(row)],
            sq: self.sq[row * dp..(row + 1) * dp].to_vec(),
            scale: self.scale[row],
        }
    }

    fn push(&mut self, id: u64, v: &[f32], e: &Encoded, dp: usize) {
        let row = self.rows();
        self.ids.push(id);
        self.vectors.extend_from_slice(v);
        self.sq.extend_from_slice(&e.sq);
        self.scale.push(e.scale);
        self.set_codes(row, dp, e);
    }

    fn overwrite(&mut self, row: usize, v: &[f32], e: &Encoded, dim: usize, dp: usize) {
        self.vectors[row * dim..(row + 1) * dim].copy_from_slice(v);
        self.sq[row * dp..(row + 1) * dp].copy_from_slice(&e.sq);
        self.scale[row] = e.scale;
        self.set_codes(row, dp, e);
    }

    /// Everything stored for one row, to move it elsewhere.
    fn take_row(&self, row: usize, dim: usize, dp: usize) -> (u64, Vec<f32>, Encoded) {
        (self.ids[row], self.vectors[row * dim..(row + 1) * dim].to_vec(), self.codes(row, dp))
    }

    fn pop(&mut self, dim: usize, dp: usize) {
        let row = self.rows() - 1;
        self.ids.pop();
        self.vectors.truncate(row * dim);
        self.sq.truncate(row * dp);
        self.scale.pop();
    }
}

/// Asks the kernel to back a buffer (allocated, not yet written) with transparent huge pages:
/// the re-rank stages read rows at random, and with 4 KiB pages nearly every read also misses
/// the TLB. A hint only; without it (or off Linux) everything works the same, slower.
fn huge_pages<T>(buffer: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = buffer.as_ptr() as usize;
        let end = start + buffer.capacity() * std::mem::size_of::<T>();
        let (from, to) = (start.div_ceil(PAGE) * PAGE, end / PAGE * PAGE);
        if to > from {
            // SAFETY: the range lies inside the buffer's own allocation; MADV_HUGEPAGE changes
            // no contents and no mapping, only how the kernel may back it.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
}

/// Bytes between two writes that fault a buffer in (the smallest page size).
const PAGE_BYTES: usize = 4096;

/// Writes a zero into every page of a buffer's unused capacity (its length is unchanged).
fn touch_spare<T: Default>(buffer: &mut Vec<T>) {
    let step = (PAGE_BYTES / std::mem::size_of::<T>()).max(1);
    for slot in buffer.spare_capacity_mut().iter_mut().step_by(step) {
        slot.write(T::default());
    }
}

/// Writes every page of a buffer with its own contents (opaque to the optimiser, which would
/// otherwise drop a store into memory it knows to be freshly zeroed).
fn touch_pages<T: Copy>(buffer: &mut [T]) {
    let step = (PAGE_BYTES / std::mem::size_of::<T>()).max(1);
    for i in (0..buffer.len()).step_by(step) {
        buffer[i] = std::hint::black_box(buffer[i]);
    }
}

/// A copy of part of a segment, in the file's order, for [`ScanIndex::write_file`].
#[derive(Default)]
struct SegmentCopy {
    ids: Vec<u64>,
    vectors: Vec<f32>,
    sq: Vec<u8>,
    scale: Vec<f32>,
    bits: Vec<u8>,
    factors: Vec<u8>,
    low: Vec<u8>,
    gains: Vec<f32>,
    spreads: Vec<u8>,
}

impl SegmentCopy {
    fn extend(&mut self, seg: &Segment, rows: std::ops::Range<usize>, dim: usize, dp: usize) {
        self.ids.extend_from_slice(&seg.ids[rows.clone()]);
        self.vectors.extend_from_slice(&seg.vectors[rows.start * dim..rows.end * dim]);
        self.sq.extend(seg.sq[rows.start * dp..rows.end * dp].iter().map(|x| *x as u8));
        self.scale.extend_from_slice(&seg.scale[rows.clone()]);
        for r in rows {
            let e = seg.codes(r, dp);
            self.bits.extend_from_slice(&e.bits);
            self.factors.push(e.factor);
            self.low.extend_from_slice(&e.low);
            self.gains.push(e.gain);
            self.spreads.push(e.spread);
        }
    }

    fn write<W: std::io::Write>(&self, w: &mut super::persist::HashWriter<W>) -> std::io::Result<()> {
        w.u64s(&self.ids)?;
        w.f32s(&self.vectors)?;
        w.bytes(self.sq.iter().copied())?;
        w.f32s(&self.scale)?;
        w.bytes(self.bits.iter().copied())?;
        w.bytes(self.factors.iter().copied())?;
        w.bytes(self.low.iter().copied())?;
        w.f32s(&self.gains)?;
        w.bytes(self.spreads.iter().copied())
    }
}

fn split(row: usize) -> (usize, usize) {
    (row / SEGMENT_ROWS, row % SEGMENT_ROWS)
}

/// Runs `attempt` over the rows there when it starts: up to [`TRIES`] times reading through
/// short holds of the read lock (`None`) while it answers `None` (a removal moved rows
/// meanwhile), then once with the lock held throughout.
fn until_stable<T>(data: &RwLock<Data>, mut attempt: impl FnMut(Option<&Data>) -> Option<T>) -> T {
    for _ in 0..TRIES {
        if let Some(done) = attempt(None) {
            return done;
        }
    }
    let held = data.read();
    attempt(Some(&held)).expect("no row moves under a held lock")
}

/// Calls `f` with `held`, or else with `data` under a read lock held for this call only.
fn read_through(data: &RwLock<Data>, held: Option<&Data>, f: &mut dyn FnMut(&Data)) {
    match held {
        Some(d) => f(d),
        None => f(&data.read()),
    }
}

impl Data {
    /// Appends a row, into one of `spare` when the last segment is full; returns its number.
    fn push(&mut self, id: u64, v: &[f32], e: &Encoded, (dim, dp): (usize, usize), spare: &mut Vec<Segment>) -> usize {
        if self.segments.last().is_none_or(|s| s.rows() == SEGMENT_ROWS) {
            self.segments.push(spare.pop().unwrap_or_else(|| Segment::new(dim, dp)));
        }
        let row = self.len;
        self.segments.last_mut().expect("a segment with room").push(id, v, e, dp);
        self.len += 1;
        row
    }

    fn vector(&self, row: usize, dim: usize) -> &[f32] {
        let (s, r) = split(row);
        &self.segments[s].vectors[r * dim..(r + 1) * dim]
    }

    /// Removes a row by moving the last one into it (`pos` follows the move).
    fn remove_row(&mut self, row: usize, dim: usize, dp: usize, pos: &mut Positions) {
        let last = self.len - 1;
        if row != last {
            let (ls, lr) = split(last);
            let (id, v, e) = self.segments[ls].take_row(lr, dim, dp);
            let (s, r) = split(row);
            let seg = &mut self.segments[s];
            seg.ids[r] = id;
            seg.overwrite(r, &v, &e, dim, dp);
            pos.insert(id, row);
        }
        let (ls, _) = split(last);
        self.segments[ls].pop(dim, dp);
        if self.segments[ls].rows() == 0 {
            self.segments.pop();
        }
        self.len -= 1;
        self.moves += 1;
    }
}

impl ScanIndex {
    /// An empty in-memory index (its `persist` does nothing).
    pub fn new(dim: usize, params: ScanParams) -> Result<Self> {
        Self::with(dim, None, params, None, (Positions::new(), Data::default()), false)
    }

    /// An empty index persisting to `dir/scan.idx` (`dir` is created).
    pub fn create(dir: &Path, dim: usize, params: ScanParams) -> Result<Self> {
        ensure_dir(dir)?;
        Self::with(dim, Some(Self::file_path(dir)), params, None, (Positions::new(), Data::default()), true)
    }

    /// Reloads `dir/scan.idx`. Missing file: [`IndexError::Missing`]; failed checks:
    /// [`IndexError::Corrupt`]; another dimension or format version: [`IndexError::Stale`].
    pub fn open(dir: &Path, dim: usize, params: ScanParams) -> Result<Self> {
        let path = Self::file_path(dir);
        let (rotation, pos, data) = read_file(&path, dim)?;
        Self::with(dim, Some(path), params, Some(rotation), (pos, data), false)
    }

    /// The codes' padded dimension (a multiple of 8).
    pub fn dp(&self) -> usize {
        self.dp
    }

    pub(crate) fn file_path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    fn with(
        dim: usize,
        file: Option<PathBuf>,
        params: ScanParams,
        rotation: Option<Vec<f32>>,
        (pos, data): (Positions, Data),
        dirty: bool,
    ) -> Result<Self> {
        params.check()?;
        let kernel = params.resolve()?;
        if dim == 0 || dim > MAX_DIM {
            return Err(IndexError::InvalidArgument(format!("dimension must be 1..={MAX_DIM}, got {dim}")));
        }
        let dp = padded_dim(dim);
        let rotation = rotation.unwrap_or_else(|| random_rotation(dp, ROTATION_SEED));
        Ok(Self {
            dim,
            dp,
            rotation,
            params,
            kernel,
            file,
            pos: RwLock::new(pos),
            data: RwLock::new(data),
            spare: Mutex::new(Vec::new()),
            saving: Mutex::new(()),
            dirty: AtomicBool::new(dirty),
        })
    }

    /// Makes sure the segments that `rows` more rows could need exist, allocated and faulted in,
    /// before the write lock is taken. The first segment is left to fill lazily, so a small
    /// gallery holds only the memory its rows use.
    fn prepare_room(&self, rows: usize) {
        let len = self.data.read().len;
        let segments = |n: usize| n.div_ceil(SEGMENT_ROWS).max(1);
        let need = segments(len + rows) - segments(len);
        let mut spare = self.spare.lock();
        while spare.len() < need {
            spare.push(Segment::faulted(self.dim, self.dp));
        }
    }

    /// Writes the file from the rows there when it starts. Unless `held` is given, the read lock
    /// is taken for a copy of [`SAVE_ROWS`] rows at a time and released for the writing, so
    /// that neither appends nor the searches queued behind one wait for the disk. Returns
    /// `None`, with the old file left in place, when a removal moved rows meanwhile.
    fn write_file(&self, path: &Path, held: Option<&Data>) -> Option<Result<()>> {
        let with = |f: &mut dyn FnMut(&Data)| read_through(&self.data, held, f);
        let (mut moves, mut n, mut checkpoint) = (0, 0, 0);
        with(&mut |d| (moves, n, checkpoint) = (d.moves, d.len, d.checkpoint));
        let mut moved = false;
        let written = write_atomic(path, |w| {
            write_header(w, MAGIC, VERSION, self.dim)?;
            w.u32(self.dp as u32)?;
            w.f32s(&self.rotation)?;
            w.u64(n as u64)?;
            w.u64(checkpoint)?;
            for chunk in 0..n.div_ceil(FILE_CHUNK_ROWS) {
                let first = chunk * FILE_CHUNK_ROWS;
                let (si, at) = split(first);
                let end = at + (n - first).min(FILE_CHUNK_ROWS);
                let mut copy = SegmentCopy::default();
                for start in (at..end).step_by(SAVE_ROWS) {
                    with(&mut |d| match d.moves == moves {
                        true => copy.extend(&d.segments[si], start..(start + SAVE_ROWS).min(end), self.dim, self.dp),
                        false => moved = true,
                    });
                    if moved {
                        return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "rows moved"));
                    }
                }
                copy.write(w)?;
            }
            Ok(())
        });
        match written {
            Err(_) if moved => None,
            other => Some(other),
        }
    }

    /// The exact top-k of a short list of ids (a filter that names few faces).
    fn search_ids(&self, pos: &Positions, data: &Data, q: &[f32], k: usize, ids: &[u64]) -> Vec<Hit> {
        let mut top = TopK::new(k);
        for id in ids {
            if let Some(&row) = pos.get(id) {
                top.push(*id, dot(q, data.vector(row, self.dim)));
            }
        }
        top.into_hits()
    }
}

impl VectorIndex for ScanIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.data.read().len
    }

    fn add(&self, items: &[(u64, &[f32])]) -> Result<()> {
        let batch = prepare_batch(self.dim, items)?;
        // Encoding is the expensive part: done on the caller's thread before any lock (one core,
        // so concurrent searches keep theirs); then the rows are entered in the map and written
        // in short holds, so that no search waits long.
        let encoded: Vec<Encoded> = batch.iter().map(|(_, v)| encode(&self.rotation, self.dp, v)).collect();
        self.prepare_room(batch.len());
        for (part, codes) in batch.chunks(APPEND_BATCH).zip(encoded.chunks(APPEND_BATCH)) {
            // The map is updated first, under its own lock only: every writer (add, remove) takes
            // it before the data's, so the rows new ids will take are known, and searches, which
            // do not read the map, are not held up by its hashing and cache misses.
            let mut pos = self.pos.write();
            pos.reserve(part.len());
            let mut next = self.data.read().len;
            let rows: Vec<Option<usize>> = part
                .iter()
                .map(|(id, _)| match pos.get(id) {
                    Some(&row) => Some(row),
                    None => {
                        pos.insert(*id, next);
                        next += 1;
                        None
                    }
                })
                .collect();
            let mut spare = std::mem::take(&mut *self.spare.lock());
            // Then the rows are written, a short hold of the data lock at a time.
            for ((part, codes), rows) in part.chunks(HOLD_ROWS).zip(codes.chunks(HOLD_ROWS)).zip(rows.chunks(HOLD_ROWS))
            {
                let mut data = self.data.write();
                for (((id, v), e), row) in part.iter().zip(codes).zip(rows) {
                    match row {
                        Some(row) => {
                            let (s, r) = split(*row);
                            data.segments[s].overwrite(r, v, e, self.dim, self.dp);
                        }
                        None => {
                            let row = data.push(*id, v, e, (self.dim, self.dp), &mut spare);
                            debug_assert_eq!(pos.get(id), Some(&row));
                        }
                    }
                }
            }
            drop(pos);
            self.spare.lock().append(&mut spare);
        }
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn remove(&self, ids: &[u64]) -> Result<usize> {
        let mut pos = self.pos.write();
        let mut data = self.data.write();
        let mut removed = 0;
        for id in ids {
            let Some(row) = pos.remove(id) else { continue };
            data.remove_row(row, self.dim, self.dp, &mut pos);
            removed += 1;
        }
        if removed > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        Ok(removed)
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams<'_>) -> Result<Vec<Hit>> {
        let mut hits = self.search_batch(&[query], k, params)?;
        Ok(hits.pop().unwrap_or_default())
    }

    /// A batch of [`BULK_MIN`] queries or more goes through [`bulk`] where the path has an
    /// implementation of it, one share of the queries per worker thread; its answers are the exact
    /// top-k (with a floor, the hits at or above it are those of single searches, and the rest
    /// exact where a single search shows the nearest it estimated). Otherwise queries go
    /// through the blocks [`search::GROUP`] at a time, each block scanned for all of a group
    /// while it is in cache, the groups spread over the worker threads.
    fn search_batch(&self, queries: &[&[f32]], k: usize, params: &SearchParams<'_>) -> Result<Vec<Vec<Hit>>> {
        let prepared: Vec<_> = queries.iter().map(|q| prepare_query(self.dim, q)).collect::<Result<_>>()?;
        let allow = Allow::new(params.filter);
        let k = {
            // A short id list is looked up, not scanned (the map first, as in `add`).
            let pos = matches!(allow, Allow::Ids(_)).then(|| self.pos.read());
            let data = self.data.read();
            let n = data.len;
            if k == 0 || n == 0 {
                return Ok(vec![Vec::new(); queries.len()]);
            }
            if let (Allow::Ids(ids), Some(pos)) = (&allow, &pos) {
                if ids.len() <= n / 8 {
                    return Ok(prepared.iter().map(|q| self.search_ids(pos, &data, q, k.min(n), ids)).collect());
                }
            }
            k.min(n)
        };
        // The scan takes the read lock a segment at a time (none may be held here).
        let floor = params.floor.filter(|f| f.is_finite()).unwrap_or(f32::NEG_INFINITY);
        let queries: Vec<Query<'_>> =
            prepared.iter().map(|q| Query::new(q, &self.rotation, self.dp, k, &allow, floor)).collect();
        let lambda = self.params.lambda;
        let kernel = self.kernel;
        if let Some(path) = Bulk::of(kernel).filter(|_| queries.len() >= BULK_MIN) {
            // Every code scored for a group of queries at a time, one share of the queries per
            // worker thread (each reads the codes once). The answers are the exact top-k, floor
            // or not: what a floor lets a single search estimate, this computes.
            let group = path.group();
            let share = queries.len().div_ceil(rayon::current_num_threads()).div_ceil(group) * group;
            return Ok(queries
                .par_chunks(share)
                .map(|part| bulk::run(path, &self.data, self.dim, self.dp, part))
                .collect::<Vec<_>>()
                .into_iter()
                .flatten()
                .collect());
        }
        if queries.len() <= search::GROUP {
            return Ok(search::run(kernel, &self.data, self.dim, self.dp, lambda, &queries));
        }
        Ok(queries
            .par_chunks(search::GROUP)
            .map(|group| search::run(kernel, &self.data, self.dim, self.dp, lambda, group))
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect())
    }

    fn persist(&self) -> Result<()> {
        let Some(path) = &self.file else { return Ok(()) };
        if let Some(dir) = path.parent() {
            ensure_dir(dir)?;
        }
        let _saving = self.saving.lock();
        // Cleared first: a change made while the file is written marks it again.
        if !self.dirty.swap(false, Ordering::AcqRel) && path.exists() {
            return Ok(());
        }
        let written = until_stable(&self.data, |held| self.write_file(path, held));
        if written.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        written
    }

    fn set_checkpoint(&self, checkpoint: u64) {
        self.data.write().checkpoint = checkpoint;
        self.dirty.store(true, Ordering::Release);
    }

    fn checkpoint(&self) -> u64 {
        self.data.read().checkpoint
    }

    fn stats(&self) -> IndexStats {
        let data = self.data.read();
        IndexStats {
            kind: "scan",
            kernel: Some(self.kernel.name()),
            dim: self.dim,
            len: data.len,
            tombstones: 0,
            compactions: 0,
            checkpoint: data.checkpoint,
        }
    }
}

fn read_file(path: &Path, dim: usize) -> Result<(Vec<f32>, Positions, Data)> {
    let mut r = Reader::open(path)?;
    r.header(MAGIC, VERSION, dim, "a scan index file")?;
    let dp = r.u32()? as usize;
    if dp != padded_dim(dim) {
        return Err(r.corrupt(format!("padded dimension {dp} does not match {dim}")));
    }
    let rotation = r.f32s((dp * dp) as u64)?;
    let count = r.u64()?;
    let checkpoint = r.u64()?;
    let per_row = 8 + 4 * dim as u64 + dp as u64 + 4 + dp as u64 / 8 + 1 + dp as u64 / 8 + 4 + 1;
    if count.checked_mul(per_row) != Some(r.remaining()) {
        return Err(r.corrupt(format!("{count} vectors announced, file size does not match")));
    }
    let count = count as usize;
    let mut pos = Positions::with_capacity(count);
    let mut data = Data { checkpoint, ..Data::default() };
    let mut left = count;
    while left > 0 {
        let rows = left.min(FILE_CHUNK_ROWS);
        if data.segments.last().is_none_or(|s| s.rows() == SEGMENT_ROWS) {
            data.segments.push(Segment::new(dim, dp));
        }
        let seg = data.segments.last_mut().expect("a segment");
        let at = seg.rows();
        seg.ids.extend(r.u64s(rows as u64)?);
        seg.vectors.extend(r.f32s((rows * dim) as u64)?);
        seg.sq.extend(r.array_u8((rows * dp) as u64)?.into_iter().map(|b| b as i8));
        seg.scale.extend(r.f32s(rows as u64)?);
        let bits = r.array_u8((rows * dp / 8) as u64)?;
        let factors = r.array_u8(rows as u64)?;
        let low = r.array_u8((rows * dp / 8) as u64)?;
        let gains = r.f32s(rows as u64)?;
        let spreads = r.array_u8(rows as u64)?;
        if gains.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::corrupt(path, "non-finite gain in a code"));
        }
        for row in 0..rows {
            let e = Encoded {
                bits: bits[row * dp / 8..(row + 1) * dp / 8].to_vec(),
                factor: factors[row],
                low: low[row * dp / 8..(row + 1) * dp / 8].to_vec(),
                gain: gains[row],
                spread: spreads[row],
                sq: Vec::new(),
                scale: 0.0,
            };
            seg.set_codes(at + row, dp, &e);
        }
        for (row, id) in seg.ids[at..].iter().enumerate() {
            if pos.insert(*id, data.len + row).is_some() {
                return Err(IndexError::corrupt(path, format!("id {id} appears twice")));
            }
        }
        if seg.vectors[at * dim..].iter().any(|x| !x.is_finite()) || seg.scale[at..].iter().any(|x| !x.is_finite()) {
            return Err(IndexError::corrupt(path, "non-finite value in a vector"));
        }
        data.len += rows;
        left -= rows;
    }
    // Appends to a large gallery go into memory faulted in already (see `Segment::faulted`).
    if data.segments.len() > 1 {
        data.segments.last_mut().expect("segments").fault_in();
    }
    r.finish()?;
    Ok((rotation, pos, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ExactIndex;
    use crate::synth::{gallery, queries, Identities};

    #[test]
    fn every_path_this_processor_has_answers_like_brute_force() {
        let ids = Identities::new(300, 64, 11);
        let g = gallery(&ids, 3, 12);
        let exact = ExactIndex::new(64).unwrap();
        exact.add(&g.items()).unwrap();
        let gone: Vec<u64> = (0..900).step_by(7).collect();
        exact.remove(&gone).unwrap();
        let qs = queries(&ids, 40, 40, 13);
        let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
        assert!(refs.len() >= BULK_MIN, "a batch that the bulk scan takes where the path has one");
        let p = SearchParams::default();
        let truth: Vec<Vec<Hit>> = qs.iter().map(|q| exact.search(q, 10, &p).unwrap()).collect();
        // Identification: exact at or above the floor.
        let floor = SearchParams { floor: Some(0.5), ..SearchParams::default() };
        let above = |hits: &[Hit]| hits.iter().filter(|h| h.score >= 0.5).cloned().collect::<Vec<_>>();
        let kernels = Kernel::available();
        eprintln!("scan paths tested here: {kernels:?}");
        for kernel in kernels {
            let scan = ScanIndex::new(64, ScanParams { kernel: Some(kernel), ..ScanParams::default() }).unwrap();
            assert_eq!(scan.stats().kernel, Some(kernel.name()));
            scan.add(&g.items()).unwrap();
            assert_eq!(scan.remove(&gone).unwrap(), gone.len());
            for (q, t) in qs.iter().zip(&truth) {
                assert_eq!(&scan.search(q, 10, &p).unwrap(), t, "{kernel}");
                assert_eq!(above(&scan.search(q, 64, &floor).unwrap()), above(&exact.search(q, 64, &p).unwrap()));
            }
            assert_eq!(scan.search_batch(&refs, 10, &p).unwrap(), truth, "{kernel}, one batch");
            for (q, hits) in qs.iter().zip(scan.search_batch(&refs, 64, &floor).unwrap()) {
                assert_eq!(above(&hits), above(&exact.search(q, 64, &p).unwrap()), "{kernel}, identification batch");
            }
            // A top-k batch through the pipeline's groups (the path's single-query kernels).
            let allow = Allow::All;
            let prepared: Vec<Query<'_>> =
                qs.iter().map(|q| Query::new(q, &scan.rotation, scan.dp, 10, &allow, f32::NEG_INFINITY)).collect();
            assert_eq!(search::run(kernel, &scan.data, 64, scan.dp, scan.params.lambda, &prepared), truth, "{kernel}");
        }
    }

    #[test]
    fn rows_moved_under_a_search_or_a_save_are_never_missed() {
        // Searches and saves read a segment at a time. Removals move the last rows (the
        // "keepers", queried below) into the holes they leave, again and again, while a
        // thread searches for every keeper and another saves: each must find itself, and
        // every saved file must reload with every keeper in it.
        let ids = Identities::new(1200, 32, 21);
        let g = gallery(&ids, 1, 22);
        let items = g.items();
        let (others, keepers) = items.split_at(600);
        let dir = std::env::temp_dir().join(format!("visage-scan-moves-{}", std::process::id()));
        let scan = ScanIndex::create(&dir, 32, ScanParams::default()).unwrap();
        scan.add(others).unwrap();
        scan.add(keepers).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for round in 0..60 {
                    let out: Vec<(u64, &[f32])> = others.iter().skip(round % 7).step_by(5).copied().collect();
                    scan.remove(&out.iter().map(|(id, _)| *id).collect::<Vec<_>>()).unwrap();
                    scan.add(&out).unwrap();
                }
                done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    scan.dirty.store(true, Ordering::Release);
                    scan.persist().unwrap();
                    let saved = ScanIndex::open(&dir, 32, ScanParams::default()).unwrap();
                    assert!(saved.len() >= keepers.len());
                    let pos = saved.pos.read();
                    assert!(keepers.iter().all(|(id, _)| pos.contains_key(id)));
                }
            });
            while !done.load(Ordering::Acquire) {
                for (id, v) in keepers.iter().step_by(3) {
                    let hits = scan.search(v, 1, &SearchParams::default()).unwrap();
                    assert_eq!(hits[0].id, *id);
                }
                // And as one batch (the bulk scan, where the processor has it).
                let batch: Vec<&[f32]> = keepers.iter().map(|(_, v)| *v).collect();
                let answers = scan.search_batch(&batch, 1, &SearchParams::default()).unwrap();
                assert!(keepers.iter().zip(&answers).all(|((id, _), hits)| hits[0].id == *id));
            }
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

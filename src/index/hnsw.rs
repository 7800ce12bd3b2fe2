//! Approximate index on an `hnsw_rs` graph.
//!
//! - **Distance**: [`UnitCosine`] = `max(0, 1 − dot)`. `hnsw_rs`'s `DistDot` asserts `1 − dot ≥ 0`
//!   and panics when a query equals a stored vector (every search with an enrolled photo);
//!   `DistCosine` re-normalises in f64 without SIMD.
//! - **Ids**: the graph knows internal *slots* (`0, 1, 2, …`, `hnsw_rs`'s `DataId`); [`Slots`] maps
//!   them to the caller's `u64` ids and keeps a copy of every vector, which serves the exact
//!   re-rank, filtered exact scans and rebuilds.
//! - **Removal**: `hnsw_rs` cannot delete. A removed or replaced vector's slot becomes a
//!   tombstone, filtered out at query time (over-fetching candidates in proportion). When
//!   tombstones exceed [`HnswParams::compaction_ratio`] of the graph, a background thread
//!   rebuilds the graph from the live vectors while searches continue on the old one, catches
//!   up with what changed meanwhile, then swaps.
//! - **Re-rank**: a search takes `max(k, ef)` candidates from the graph and orders them by the
//!   exact cosine (the same [`dot`] as the exact index), so the top-1 equals brute force
//!   whenever the true neighbour is among the candidates, ties broken by id.
//! - **Persistence**: the graph is dumped with `hnsw_rs`'s `file_dump` to
//!   `graph-<generation>.hnsw.{graph,data}`, then the sidecar `hnsw.meta` (parameters, slot ids,
//!   tombstones, the dump's lengths and SHA-256) is written atomically and names that generation;
//!   older generations are deleted afterwards. A crash leaves either the old or the new
//!   generation referenced. `hnsw_rs`'s loader asserts, panics and even calls
//!   `process::exit` on malformed input, so [`HnswIndex::open`] verifies the dump's checksums
//!   before handing it over (and catches panics as a second line).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use super::kernel::{prepare_batch, prepare_query, scan_rows, Allow, TopK};
use super::persist::{ensure_dir, hash_file, remove_if_exists, sync_dir, sync_file, write_atomic, Reader};
use super::{dot, Hit, IndexError, IndexStats, Result, SearchParams, VectorIndex};

/// Cosine distance between unit vectors, clamped at 0 (rounding can push a self-match's dot
/// product a hair above 1). Never NaN for finite input, which [`VectorIndex::add`] and
/// `search` guarantee.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    #[inline]
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

type Graph = Hnsw<'static, f32, UnitCosine>;

/// Graph parameters. Defaults chosen by measurement (`cargo bench --bench index`, 128-d
/// clustered vectors, 90 % queries of enrolled identities, 10 % strangers, 2 cores):
/// - `M = 16`, `ef_construction = 100`: 2000 inserts/s at 50k. `ef_construction = 200` halves
///   the build rate for +0.03 recall on strangers; `M = 24` costs 1.5× build and 1.3× query
///   time for +0.03.
/// - `ef_search = 64`: recall@10 1.000 (50k) / 0.997 (200k) for enrolled identities at ~1 ms.
/// - strangers' neighbours are nearly equidistant (cosine ≈ 0.3 ± 0.02), the hard case for any
///   graph: at 50k their recall@10 is 0.64 / 0.82 / 0.93 at ef 64 / 128 / 256, hence the second
///   look at `ef_search_far = 256` below `far_score = 0.5`, which brings the mix to 0.993.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HnswParams {
    /// Links per node and layer (`M`; layer 0 keeps `2M`). 2..=256.
    pub max_nb_conn: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Default candidate list size while searching ([`SearchParams::ef`] overrides it).
    pub ef_search: usize,
    /// With the default `ef` only: a query whose best match scores below `far_score` lies far
    /// from everything stored (a person not in the gallery). Such out-of-distribution queries
    /// are where graph search is least reliable (their neighbours are nearly equidistant), so
    /// they are searched again with this larger `ef`. `0` turns the second look off.
    pub ef_search_far: usize,
    /// See `ef_search_far`.
    pub far_score: f32,
    /// Rebuild the graph when tombstones exceed this fraction of its nodes.
    pub compaction_ratio: f32,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            max_nb_conn: 16,
            ef_construction: 100,
            ef_search: 64,
            ef_search_far: 256,
            far_score: 0.5,
            compaction_ratio: 0.2,
        }
    }
}

impl HnswParams {
    pub(crate) fn check(&self) -> Result<()> {
        // hnsw_rs calls process::exit above 256.
        if !(2..=256).contains(&self.max_nb_conn) {
            return Err(IndexError::InvalidArgument(format!("hnsw max_nb_conn {} not in 2..=256", self.max_nb_conn)));
        }
        if self.ef_construction == 0 || self.ef_search == 0 {
            return Err(IndexError::InvalidArgument("hnsw ef_construction and ef_search must be at least 1".into()));
        }
        if !self.far_score.is_finite() {
            return Err(IndexError::InvalidArgument("hnsw far_score must be finite".into()));
        }
        if !(self.compaction_ratio > 0.0 && self.compaction_ratio <= 1.0) {
            return Err(IndexError::InvalidArgument(format!(
                "hnsw compaction_ratio {} not in (0, 1]",
                self.compaction_ratio
            )));
        }
        Ok(())
    }
}

const META_FILE: &str = "hnsw.meta";
const GRAPH_PREFIX: &str = "graph-";
const META_MAGIC: &[u8; 8] = b"VSGHNSW\0";
const META_VERSION: u32 = 1;
/// `hnsw_rs`'s layer cap.
const MAX_LAYERS: usize = 16;
/// Batches at least this large are inserted with rayon.
const PARALLEL_INSERT_MIN: usize = 256;
/// Allow-lists up to this long are scored exactly instead of searching the graph (about the
/// number of distance evaluations one graph search costs).
const SMALL_ALLOW_LIST: usize = 4096;

/// The HNSW index. See the module documentation.
pub struct HnswIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    dim: usize,
    params: HnswParams,
    state: RwLock<State>,
    /// Serialises the writers (add, remove, persist, the swap at the end of a compaction), so
    /// that the graph and the slots change together while searches only take `state.read()`.
    writer: Mutex<()>,
    compacting: AtomicBool,
    compactions: AtomicU64,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Changed since the last persist.
    dirty: AtomicBool,
    /// Generation of the dump `hnsw.meta` names (file names only).
    generation: AtomicU64,
}

struct State {
    graph: Arc<Graph>,
    slots: Slots,
    checkpoint: u64,
}

/// Everything the graph does not know: slot → id, liveness, vectors; id → live slot.
#[derive(Default)]
struct Slots {
    ids: Vec<u64>,
    live: Vec<bool>,
    vectors: Vec<f32>,
    by_id: HashMap<u64, usize>,
    dead: usize,
}

impl Slots {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn live_count(&self) -> usize {
        self.ids.len() - self.dead
    }

    #[inline]
    fn is_live(&self, slot: usize) -> bool {
        self.live.get(slot).copied().unwrap_or(false)
    }

    #[inline]
    fn vector(&self, slot: usize, dim: usize) -> &[f32] {
        &self.vectors[slot * dim..(slot + 1) * dim]
    }

    /// Appends a live slot for `id`, tombstoning the slot it had.
    fn push(&mut self, id: u64, v: &[f32]) -> usize {
        let slot = self.ids.len();
        if let Some(old) = self.by_id.insert(id, slot) {
            self.live[old] = false;
            self.dead += 1;
        }
        self.ids.push(id);
        self.live.push(true);
        self.vectors.extend_from_slice(v);
        slot
    }

    /// Appends a tombstone (a snapshot entry removed while a compaction ran).
    fn push_dead(&mut self, id: u64, v: &[f32]) {
        self.ids.push(id);
        self.live.push(false);
        self.vectors.extend_from_slice(v);
        self.dead += 1;
    }

    fn remove(&mut self, id: u64) -> bool {
        match self.by_id.remove(&id) {
            Some(slot) => {
                self.live[slot] = false;
                self.dead += 1;
                true
            }
            None => false,
        }
    }
}

fn new_graph(params: &HnswParams, capacity: usize) -> Graph {
    Hnsw::new(params.max_nb_conn, capacity.max(1024), MAX_LAYERS, params.ef_construction, UnitCosine)
}

/// Inserts `(vector, slot)` pairs, in parallel for large batches.
fn insert(graph: &Graph, items: &[(&[f32], usize)]) {
    if items.len() >= PARALLEL_INSERT_MIN {
        graph.parallel_insert_slice(&items.to_vec());
    } else {
        for item in items {
            graph.insert_slice(*item);
        }
    }
}

impl HnswIndex {
    /// An empty index persisting to `dir` (created if needed).
    pub fn create(dir: &Path, dim: usize, params: HnswParams) -> Result<Self> {
        params.check()?;
        if dim == 0 {
            return Err(IndexError::InvalidArgument("dimension must be at least 1".into()));
        }
        ensure_dir(dir)?;
        let state = State { graph: Arc::new(new_graph(&params, 0)), slots: Slots::default(), checkpoint: 0 };
        Ok(Self::from_state(dir, dim, params, state, 0, true))
    }

    /// Reloads the index persisted in `dir`. Nothing there: [`IndexError::Missing`]; a dump that
    /// fails its checks: [`IndexError::Corrupt`]; another dimension, `max_nb_conn` or
    /// `ef_construction`, or an older format: [`IndexError::Stale`].
    pub fn open(dir: &Path, dim: usize, params: HnswParams) -> Result<Self> {
        params.check()?;
        let (state, generation) = load(dir, dim, &params)?;
        Ok(Self::from_state(dir, dim, params, state, generation, false))
    }

    /// True when `dir` holds a persisted HNSW index (sound or not).
    pub fn exists(dir: &Path) -> bool {
        dir.join(META_FILE).exists()
    }

    /// Deletes the persisted files of an HNSW index in `dir`.
    pub(crate) fn remove_files(dir: &Path) -> Result<()> {
        remove_if_exists(&dir.join(META_FILE))?;
        remove_dumps(dir, None)
    }

    fn from_state(dir: &Path, dim: usize, params: HnswParams, state: State, generation: u64, dirty: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                dim,
                params,
                state: RwLock::new(state),
                writer: Mutex::new(()),
                compacting: AtomicBool::new(false),
                compactions: AtomicU64::new(0),
                worker: Mutex::new(None),
                dirty: AtomicBool::new(dirty),
                generation: AtomicU64::new(generation),
            }),
        }
    }

    /// Builds a persisting index from existing rows (ids and a row-major matrix), inserting in
    /// parallel. Used when an [`super::AutoIndex`] outgrows its exact index.
    pub fn build(dir: &Path, dim: usize, params: HnswParams, ids: &[u64], data: &[f32]) -> Result<Self> {
        let index = Self::create(dir, dim, params)?;
        let items: Vec<(u64, &[f32])> = ids.iter().copied().zip(data.chunks_exact(dim)).collect();
        index.add(&items)?;
        Ok(index)
    }

    /// Rebuilds the graph from the live vectors now (waiting for a running compaction first).
    pub fn compact(&self) {
        loop {
            self.wait_for_compaction();
            if !self.inner.compacting.swap(true, Ordering::AcqRel) {
                self.inner.compact_loop(true);
                return;
            }
        }
    }

    /// Waits until no background compaction runs.
    pub fn wait_for_compaction(&self) {
        loop {
            let handle = self.inner.worker.lock().take();
            match handle {
                Some(h) => {
                    let _ = h.join();
                }
                None if self.inner.compacting.load(Ordering::Acquire) => std::thread::yield_now(),
                None => return,
            }
        }
    }

    /// Starts a background compaction when tombstones exceed the configured ratio.
    fn maybe_compact(&self) {
        if !self.inner.needs_compaction() || self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned =
            std::thread::Builder::new().name("hnsw-compaction".into()).spawn(move || inner.compact_loop(false));
        match spawned {
            Ok(handle) => {
                let previous = self.inner.worker.lock().replace(handle);
                if let Some(h) = previous {
                    let _ = h.join();
                }
            }
            Err(e) => {
                tracing::warn!("could not start the hnsw compaction thread: {e}");
                self.inner.compacting.store(false, Ordering::Release);
            }
        }
    }
}

/// Clears the `compacting` flag when dropped, even when a rebuild panics.
struct CompactingGuard<'a>(&'a AtomicBool);

impl Drop for CompactingGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Inner {
    /// Rebuilds (once when `force`, then) while tombstones exceed the threshold, e.g. because
    /// removals during a rebuild crossed it again. The caller has set `compacting`.
    fn compact_loop(&self, mut force: bool) {
        let _guard = CompactingGuard(&self.compacting);
        while force || self.needs_compaction() {
            force = false;
            if catch_unwind(AssertUnwindSafe(|| self.rebuild())).is_err() {
                tracing::error!("hnsw compaction panicked; the index keeps its current graph");
                return;
            }
        }
    }

    fn needs_compaction(&self) -> bool {
        let st = self.state.read();
        st.slots.dead > 0 && st.slots.dead as f32 > self.params.compaction_ratio * st.slots.len() as f32
    }

    /// Rebuilds the graph from the live slots: snapshot, build without blocking anyone, catch up
    /// with changes made meanwhile (writers held), swap.
    fn rebuild(&self) {
        let dim = self.dim;
        let (old_slots, mut vectors, snapshot_len) = {
            let st = self.state.read();
            let old: Vec<usize> = (0..st.slots.len()).filter(|&s| st.slots.live[s]).collect();
            let mut vectors = Vec::with_capacity(old.len() * dim);
            for &s in &old {
                vectors.extend_from_slice(st.slots.vector(s, dim));
            }
            (old, vectors, st.slots.len())
        };
        let graph = new_graph(&self.params, old_slots.len());
        let items: Vec<(&[f32], usize)> = vectors.chunks_exact(dim).zip(0..).collect();
        insert(&graph, &items);
        drop(items);

        let _w = self.writer.lock();
        let slots = {
            let st = self.state.read();
            let mut slots = Slots::default();
            slots.ids.reserve(old_slots.len());
            let snapshot = std::mem::take(&mut vectors);
            for (new, &old) in old_slots.iter().enumerate() {
                let (id, v) = (st.slots.ids[old], &snapshot[new * dim..(new + 1) * dim]);
                if st.slots.live[old] {
                    slots.push(id, v);
                } else {
                    slots.push_dead(id, v);
                }
            }
            let first_new = slots.len();
            for s in (snapshot_len..st.slots.len()).filter(|&s| st.slots.live[s]) {
                slots.push(st.slots.ids[s], st.slots.vector(s, dim));
            }
            let catch_up: Vec<(&[f32], usize)> =
                (first_new..slots.len()).map(|s| (&slots.vectors[s * dim..(s + 1) * dim], s)).collect();
            insert(&graph, &catch_up);
            drop(catch_up);
            slots
        };
        {
            let mut st = self.state.write();
            st.graph = Arc::new(graph);
            st.slots = slots;
        }
        self.compactions.fetch_add(1, Ordering::AcqRel);
        self.dirty.store(true, Ordering::Release);
    }
}

impl VectorIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.inner.dim
    }

    fn len(&self) -> usize {
        self.inner.state.read().slots.live_count()
    }

    fn add(&self, items: &[(u64, &[f32])]) -> Result<()> {
        let batch = prepare_batch(self.inner.dim, items)?;
        if batch.is_empty() {
            return Ok(());
        }
        {
            let _w = self.inner.writer.lock();
            let (graph, first) = {
                let mut st = self.inner.state.write();
                let first = st.slots.len();
                st.slots.vectors.reserve(batch.len() * self.inner.dim);
                for (id, v) in &batch {
                    st.slots.push(*id, v);
                }
                (Arc::clone(&st.graph), first)
            };
            // The slots exist before the graph can return them; searches go on meanwhile.
            let items: Vec<(&[f32], usize)> = batch.iter().map(|(_, v)| *v).zip(first..).collect();
            insert(&graph, &items);
            self.inner.dirty.store(true, Ordering::Release);
        }
        self.maybe_compact();
        Ok(())
    }

    fn remove(&self, ids: &[u64]) -> Result<usize> {
        let removed = {
            let _w = self.inner.writer.lock();
            let mut st = self.inner.state.write();
            ids.iter().filter(|id| st.slots.remove(**id)).count()
        };
        if removed > 0 {
            self.inner.dirty.store(true, Ordering::Release);
            self.maybe_compact();
        }
        Ok(removed)
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams<'_>) -> Result<Vec<Hit>> {
        let dim = self.inner.dim;
        let q = prepare_query(dim, query)?;
        let st = self.inner.state.read();
        let slots = &st.slots;
        let live = slots.live_count();
        if k == 0 || live == 0 {
            return Ok(Vec::new());
        }
        let k = k.min(live);
        let total = slots.len();
        let ef = params.ef.unwrap_or(self.inner.params.ef_search).max(k).min(total);
        let allow = Allow::new(params.filter);

        // A short allow-list: score its vectors exactly.
        if let Allow::Ids(ids) = &allow {
            if ids.len() <= SMALL_ALLOW_LIST {
                let mut top = TopK::new(k);
                for id in ids.iter() {
                    if let Some(&slot) = slots.by_id.get(id) {
                        top.push(*id, dot(&q, slots.vector(slot, dim)));
                    }
                }
                return Ok(top.into_hits());
            }
        }

        let mut hits = graph_search(&st, &q, k, ef, &allow, dim);
        // Default accuracy only: a query far from everything stored gets a second, wider look.
        let p = &self.inner.params;
        let far_ef = p.ef_search_far.max(k).min(total);
        if params.ef.is_none() && far_ef > ef && hits.first().is_none_or(|h| h.score < p.far_score) {
            hits = graph_search(&st, &q, k, far_ef, &allow, dim);
        }
        Ok(hits)
    }

    fn persist(&self) -> Result<()> {
        let inner = &self.inner;
        let _w = inner.writer.lock();
        ensure_dir(&inner.dir)?; // recreated if someone deleted it
        let meta_path = inner.dir.join(META_FILE);
        if !inner.dirty.load(Ordering::Acquire) && meta_path.exists() {
            return Ok(());
        }
        let st = inner.state.read();
        let generation = inner.generation.load(Ordering::Acquire) + 1;
        let base = format!("{GRAPH_PREFIX}{generation}");
        let dump = if st.graph.get_nb_point() > 0 { Some(dump_graph(&inner.dir, &base, &st.graph)?) } else { None };
        write_atomic(&meta_path, |w| {
            use std::io::Write;
            w.write_all(META_MAGIC)?;
            w.u32(META_VERSION)?;
            w.u32(inner.dim as u32)?;
            w.u32(inner.params.max_nb_conn as u32)?;
            w.u32(inner.params.ef_construction as u32)?;
            w.u64(generation)?;
            w.u64(st.checkpoint)?;
            w.u64(st.slots.len() as u64)?;
            w.u64(st.slots.dead as u64)?;
            let empty = ((0, [0u8; 32]), (0, [0u8; 32]));
            let ((graph_len, graph_sha), (data_len, data_sha)) = dump.unwrap_or(empty);
            w.write_all(&[dump.is_some() as u8])?;
            w.u64(graph_len)?;
            w.write_all(&graph_sha)?;
            w.u64(data_len)?;
            w.write_all(&data_sha)?;
            w.u64s(&st.slots.ids)?;
            let mut bits = vec![0u8; st.slots.len().div_ceil(8)];
            for (i, _) in st.slots.live.iter().enumerate().filter(|(_, l)| **l) {
                bits[i / 8] |= 1 << (i % 8);
            }
            w.write_all(&bits)
        })?;
        inner.generation.store(generation, Ordering::Release);
        inner.dirty.store(false, Ordering::Release);
        // The new generation is referenced: older dumps can go.
        remove_dumps(&inner.dir, dump.map(|_| base.as_str()))
    }

    fn set_checkpoint(&self, checkpoint: u64) {
        self.inner.state.write().checkpoint = checkpoint;
        self.inner.dirty.store(true, Ordering::Release);
    }

    fn checkpoint(&self) -> u64 {
        self.inner.state.read().checkpoint
    }

    fn stats(&self) -> IndexStats {
        let st = self.inner.state.read();
        IndexStats {
            kind: "hnsw",
            kernel: None,
            dim: self.inner.dim,
            len: st.slots.live_count(),
            tombstones: st.slots.dead,
            compactions: self.inner.compactions.load(Ordering::Acquire),
            checkpoint: st.checkpoint,
        }
    }
}

/// Graph candidates (`max(k, ef)`, tombstones and filtered ids dropped), re-ranked by the exact
/// cosine; an exact scan when the graph cannot supply `k` acceptable candidates.
fn graph_search(st: &State, q: &[f32], k: usize, ef: usize, allow: &Allow<'_>, dim: usize) -> Vec<Hit> {
    let slots = &st.slots;
    let (total, live) = (slots.len(), slots.live_count());
    let accept = |slot: usize| slots.is_live(slot) && allow.allows(slots.ids[slot]);
    let mut candidates: Vec<usize> = Vec::new();
    if allow.is_all() {
        // Over-fetch so that about `ef` live candidates remain once tombstones are dropped.
        let fetch = if slots.dead == 0 { ef } else { (ef * total / live + 8).min(total) };
        candidates = st.graph.search(q, fetch, fetch).iter().map(|n| n.d_id).filter(|&s| accept(s)).collect();
    }
    if candidates.len() < k {
        let filter = |slot: &usize| accept(*slot);
        candidates =
            st.graph.search_filter(q, ef, ef, Some(&filter)).iter().map(|n| n.d_id).filter(|&s| accept(s)).collect();
    }
    if candidates.len() < k {
        // The graph could not supply k acceptable candidates (a very selective filter, or
        // fewer than k ids pass it): scan exactly.
        let top = scan_rows(q, &slots.ids, &slots.vectors, k, |slot, id| slots.live[slot] && allow.allows(id));
        return top.into_hits();
    }
    // Exact re-rank of the candidates.
    let mut top = TopK::new(k);
    for slot in candidates {
        top.push(slots.ids[slot], dot(q, slots.vector(slot, dim)));
    }
    top.into_hits()
}

type FileSum = (u64, [u8; 32]);

fn dump_paths(dir: &Path, base: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{base}.hnsw.graph")), dir.join(format!("{base}.hnsw.data")))
}

/// Dumps the graph as `base.hnsw.{graph,data}`, fsyncs both and returns their lengths and hashes.
fn dump_graph(dir: &Path, base: &str, graph: &Graph) -> Result<(FileSum, FileSum)> {
    let (graph_path, data_path) = dump_paths(dir, base);
    // Leftovers of a crashed attempt would make hnsw_rs pick another name.
    remove_if_exists(&graph_path)?;
    remove_if_exists(&data_path)?;
    // hnsw_rs panics when it cannot create the files.
    let dumped = catch_unwind(AssertUnwindSafe(|| graph.file_dump(dir, base)));
    match dumped {
        Ok(Ok(name)) if name == base => {}
        Ok(Ok(name)) => return Err(IndexError::Hnsw(format!("graph dumped as {name:?}, expected {base:?}"))),
        Ok(Err(e)) => return Err(IndexError::Hnsw(format!("dumping the graph to {}: {e:#}", dir.display()))),
        Err(_) => return Err(IndexError::Hnsw(format!("dumping the graph to {} panicked", dir.display()))),
    }
    sync_file(&graph_path)?;
    sync_file(&data_path)?;
    sync_dir(dir)?;
    Ok((hash_file(&graph_path)?, hash_file(&data_path)?))
}

/// Deletes `graph-*.hnsw.{graph,data}` in `dir` except those of `keep`.
fn remove_dumps(dir: &Path, keep: Option<&str>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IndexError::io(dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(base) = name.strip_suffix(".hnsw.graph").or_else(|| name.strip_suffix(".hnsw.data")) else {
            continue;
        };
        if base.starts_with(GRAPH_PREFIX) && Some(base) != keep {
            remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Reads `hnsw.meta` and the dump it names.
fn load(dir: &Path, dim: usize, params: &HnswParams) -> Result<(State, u64)> {
    let meta_path = dir.join(META_FILE);
    let mut r = Reader::open(&meta_path)?;
    if &r.bytes::<8>()? != META_MAGIC {
        return Err(r.corrupt("not an hnsw index sidecar (bad magic)"));
    }
    let version = r.u32()?;
    if version != META_VERSION {
        return Err(IndexError::stale(
            &meta_path,
            format!("format version {version}, this build reads {META_VERSION}"),
        ));
    }
    let (file_dim, m, ef_c) = (r.u32()? as usize, r.u32()? as usize, r.u32()? as usize);
    if file_dim != dim {
        return Err(IndexError::stale(
            &meta_path,
            format!("holds {file_dim}-d vectors, {dim}-d asked (embedding model changed?)"),
        ));
    }
    if m != params.max_nb_conn || ef_c != params.ef_construction {
        return Err(IndexError::stale(
            &meta_path,
            format!(
                "graph built with max_nb_conn {m}, ef_construction {ef_c}; configured {}, {}",
                params.max_nb_conn, params.ef_construction
            ),
        ));
    }
    let generation = r.u64()?;
    let checkpoint = r.u64()?;
    let slot_count = r.u64()?;
    let dead = r.u64()?;
    let has_graph = r.u8()?;
    let graph_sum = (r.u64()?, r.bytes::<32>()?);
    let data_sum = (r.u64()?, r.bytes::<32>()?);
    let expected = slot_count.checked_mul(8).and_then(|b| b.checked_add(slot_count.div_ceil(8)));
    if expected != Some(r.remaining()) || has_graph > 1 || (has_graph == 1) != (slot_count > 0) || dead > slot_count {
        return Err(r.corrupt("inconsistent header"));
    }
    let ids = r.u64s(slot_count)?;
    let bits = r.array_u8(slot_count.div_ceil(8))?;
    r.finish()?;
    let n = ids.len();
    let live: Vec<bool> = (0..n).map(|i| bits[i / 8] & (1 << (i % 8)) != 0).collect();
    if live.iter().filter(|l| !**l).count() as u64 != dead {
        return Err(IndexError::corrupt(&meta_path, "tombstone count does not match"));
    }
    let mut by_id = HashMap::with_capacity(n);
    for (slot, id) in ids.iter().enumerate().filter(|(s, _)| live[*s]) {
        if by_id.insert(*id, slot).is_some() {
            return Err(IndexError::corrupt(&meta_path, format!("id {id} is live twice")));
        }
    }
    let mut slots = Slots { ids, live, vectors: Vec::new(), by_id, dead: dead as usize };
    let graph = if has_graph == 1 {
        let base = format!("{GRAPH_PREFIX}{generation}");
        let (graph_path, data_path) = dump_paths(dir, &base);
        for (path, sum) in [(&graph_path, graph_sum), (&data_path, data_sum)] {
            if hash_file(path)? != sum {
                return Err(IndexError::corrupt(path, "does not match hnsw.meta (partial write or damage)"));
            }
        }
        let graph = load_graph(dir, &base, &graph_path)?;
        slots.vectors = collect_vectors(&graph, n, dim).map_err(|reason| IndexError::corrupt(&data_path, reason))?;
        graph
    } else {
        new_graph(params, 0)
    };
    Ok((State { graph: Arc::new(graph), slots, checkpoint }, generation))
}

/// Loads a checksum-verified dump.
///
/// `HnswIo::load_hnsw_with_dist` returns a graph that borrows its `HnswIo` (which would own the
/// memory map if mmap were enabled). We never enable mmap, so every vector is copied into the
/// graph and the borrow is only nominal; we leak the `HnswIo` (about 100 bytes, once per open)
/// to get a `Hnsw<'static, ..>`. That keeps one graph type for loaded and freshly built graphs,
/// which compaction swaps freely, where `self_cell` would need an invariant-lifetime wrapper
/// and a closure around every search. If mmap is ever enabled, the leak would pin the map for
/// the process lifetime: switch to `self_cell` then.
fn load_graph(dir: &Path, base: &str, graph_path: &Path) -> Result<Graph> {
    let io: &'static HnswIo = Box::leak(Box::new(HnswIo::new(dir, base)));
    let loaded = catch_unwind(AssertUnwindSafe(|| io.load_hnsw_with_dist::<f32, UnitCosine>(UnitCosine)));
    let mut graph = match loaded {
        Ok(Ok(graph)) => graph,
        Ok(Err(e)) => return Err(IndexError::corrupt(graph_path, format!("hnsw_rs could not load it: {e:#}"))),
        Err(_) => return Err(IndexError::corrupt(graph_path, "hnsw_rs panicked while loading it")),
    };
    // The loader turns candidate extension on; freshly built graphs have it off.
    graph.set_extend_candidates(false);
    Ok(graph)
}

/// Copies the loaded graph's vectors into slot order, checking that every slot appears once.
fn collect_vectors(graph: &Graph, slots: usize, dim: usize) -> std::result::Result<Vec<f32>, String> {
    if graph.get_nb_point() != slots {
        return Err(format!("{} points in the dump, {slots} slots in hnsw.meta", graph.get_nb_point()));
    }
    let mut vectors = vec![0.0f32; slots * dim];
    let mut seen = vec![false; slots];
    let points = graph.get_point_indexation();
    for layer in 0..=points.get_max_level_observed() as usize {
        for point in points.get_layer_iterator(layer) {
            let (slot, v) = (point.get_origin_id(), point.get_v());
            if slot >= slots || seen[slot] {
                return Err(format!("slot {slot} out of range or repeated"));
            }
            if v.len() != dim || v.iter().any(|x| !x.is_finite()) {
                return Err(format!("vector of slot {slot} has length {} or a non-finite value", v.len()));
            }
            seen[slot] = true;
            vectors[slot * dim..(slot + 1) * dim].copy_from_slice(v);
        }
    }
    if seen.iter().any(|s| !s) {
        return Err("some slots have no point in the graph".into());
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_clamped_and_zero_on_self() {
        let v = [0.6f32, 0.8];
        assert_eq!(UnitCosine.eval(&v, &v), 0.0);
        assert!(UnitCosine.eval(&v, &[-0.6, -0.8]) > 1.99);
        // A dot a hair above 1 must not go negative (DistDot asserts here).
        assert_eq!(UnitCosine.eval(&[1.0000001], &[1.0000001]), 0.0);
    }

    #[test]
    fn bad_params_are_refused() {
        let dir = std::env::temp_dir();
        let bad = HnswParams { max_nb_conn: 1000, ..HnswParams::default() };
        assert!(matches!(HnswIndex::create(&dir, 4, bad), Err(IndexError::InvalidArgument(_))));
        let bad = HnswParams { compaction_ratio: f32::NAN, ..HnswParams::default() };
        assert!(HnswIndex::create(&dir, 4, bad).is_err());
    }
}

//! The gallery's vector index: unit-length `f32` vectors under caller-chosen `u64` ids, searched
//! by cosine similarity (a dot product, since every vector is normalised). Nothing here knows
//! about faces or people; the gallery maps its faces to ids.
//!
//! Three implementations sit behind [`VectorIndex`]:
//! - [`ExactIndex`]: brute force over a contiguous matrix. Exact, the oracle in tests, and the
//!   fastest choice for small galleries.
//! - [`HnswIndex`]: an `hnsw_rs` graph with tombstones, background compaction and an exact
//!   re-rank of the candidates.
//! - [`AutoIndex`]: exact until the gallery outgrows [`IndexParams::auto_threshold`], then HNSW.
//! - [`QdrantIndex`]: a collection on a Qdrant server (or cluster), for galleries that outgrow
//!   one machine; [`IndexSettings`] picks the backend.
//!
//! Every index lives in one directory, which [`VectorIndex::persist`] flushes to and
//! [`open_index`] reloads from. A missing, corrupt or stale directory is reported as an error
//! for which [`IndexError::needs_rebuild`] is true: the gallery store is the source of truth,
//! so the caller then rebuilds with [`create_index`] and re-adds its vectors.

mod auto;
mod backend;
#[cfg(any(test, feature = "testing"))]
pub mod bench;
mod exact;
mod hnsw;
mod kernel;
pub(crate) use kernel::check_stored;
mod persist;
pub mod qdrant;
mod scan;
mod settings;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use auto::AutoIndex;
pub use backend::{create_index, open_index, scratch_index, Backend, ScratchIndex};
pub use exact::ExactIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use kernel::{dot, normalize};
pub use qdrant::{QdrantIndex, QdrantSearch, QdrantSettings};
pub use scan::{Kernel, ScanIndex, ScanParams};
pub use settings::IndexSettings;

/// Result type of the index module.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// One search result: a stored id and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

/// Restricts a search to some ids ("identify among these subjects' faces").
#[derive(Clone, Copy)]
pub enum Filter<'a> {
    /// Only these ids. Ascending order is cheapest; any order is accepted.
    Ids(&'a [u64]),
    /// Only the ids for which the predicate is true.
    Predicate(&'a (dyn Fn(u64) -> bool + Sync)),
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ids(ids) => write!(f, "Ids({} ids)", ids.len()),
            Self::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Per-search options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchParams<'a> {
    /// Candidate list size of an approximate search (larger: slower, more accurate). `None`:
    /// the index's default. Ignored by the exact index.
    pub ef: Option<usize>,
    /// Only return ids that pass this filter.
    pub filter: Option<Filter<'a>>,
    /// Exactness is needed only at or above this score (identification's threshold): every
    /// stored vector scoring at least this much that belongs in the top `k` is returned, and the
    /// rest of the top `k` may be filled best-effort (with exact scores). `None`: the whole top
    /// `k` as brute force would answer it. Lets [`ScanIndex`] skip most of its work for
    /// strangers; the other indexes ignore it.
    pub floor: Option<f32>,
}

impl<'a> SearchParams<'a> {
    /// Default accuracy, no filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the candidate list size of an approximate search.
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Restricts the search to `filter`.
    pub fn filter(mut self, filter: Filter<'a>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Asks for exactness only at or above `score` (see [`SearchParams::floor`]).
    pub fn floor(mut self, score: f32) -> Self {
        self.floor = Some(score);
        self
    }
}

/// A snapshot of an index's size and bookkeeping, for metrics and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    /// "exact" or "hnsw" (an [`AutoIndex`] reports the implementation it currently uses).
    pub kind: &'static str,
    /// The instruction-set path of the scan index ([`scan::Kernel`]); `None` for the others.
    pub kernel: Option<&'static str>,
    pub dim: usize,
    /// Live vectors.
    pub len: usize,
    /// Removed or replaced vectors still in the graph, awaiting compaction (0 for exact).
    pub tombstones: usize,
    /// Compactions completed since the index was opened.
    pub compactions: u64,
    /// The caller's checkpoint, see [`VectorIndex::set_checkpoint`].
    pub checkpoint: u64,
}

/// A vector index shared across threads as `Arc<dyn VectorIndex>`: every method takes `&self`.
///
/// Contract: vectors are finite and unit length (cosine = dot); ids are the caller's. Searches
/// return at most `k` hits sorted by descending score, ties by ascending id. No input panics:
/// a wrong dimension, a non-finite value or a zero query is an error, `k = 0` or an empty index
/// give no hits.
pub trait VectorIndex: Send + Sync {
    /// Dimension of every vector.
    fn dim(&self) -> usize;

    /// Number of live vectors (removed ones excluded).
    fn len(&self) -> usize;

    /// True when no vector is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a batch. Re-adding an id replaces its vector; within one batch the last occurrence
    /// of an id wins. The batch is checked first and rejected whole if any vector is invalid.
    fn add(&self, items: &[(u64, &[f32])]) -> Result<()>;

    /// Removes ids, returning how many were present. Unknown ids are ignored.
    fn remove(&self, ids: &[u64]) -> Result<usize>;

    /// [`VectorIndex::add`] with a label per item (the gallery's subject id), for backends that
    /// store labels beside the vectors (Qdrant's payload, for per-subject filters and deletes).
    /// The embedded indexes ignore labels.
    fn add_labelled(&self, items: &[(u64, &[f32])], labels: &[&str]) -> Result<()> {
        let _ = labels;
        self.add(items)
    }

    /// Gives stored ids another label (faces moved to another subject); a no-op where labels
    /// are not stored.
    fn relabel(&self, ids: &[u64], label: &str) -> Result<()> {
        let _ = (ids, label);
        Ok(())
    }

    /// The `k` stored vectors most similar to `query` (which need not be normalised).
    fn search(&self, query: &[f32], k: usize, params: &SearchParams<'_>) -> Result<Vec<Hit>>;

    /// [`VectorIndex::search`] for many queries at once (jobs, evaluation, calibration): the
    /// same answers, in order, using every worker thread and sharing work between the queries
    /// where the index can. One invalid query fails the batch.
    fn search_batch(&self, queries: &[&[f32]], k: usize, params: &SearchParams<'_>) -> Result<Vec<Vec<Hit>>> {
        use rayon::prelude::*;
        queries.par_iter().map(|q| self.search(q, k, params)).collect()
    }

    /// Writes the index to its directory (atomically: a crash leaves the previous state or the
    /// new one). A no-op for an index created without a directory.
    fn persist(&self) -> Result<()>;

    /// Records the caller's position (e.g. the gallery store's last sequence number); it is
    /// persisted with the index so that, after a restart, the caller can tell whether the index
    /// is behind the store.
    fn set_checkpoint(&self, checkpoint: u64);

    /// The checkpoint last set (or loaded).
    fn checkpoint(&self) -> u64;

    /// Size and bookkeeping.
    fn stats(&self) -> IndexStats;

    /// Erases what the index keeps outside the gallery's folder (a server's collection) when
    /// the gallery is deleted; files in the folder go with it.
    fn destroy(&self) -> Result<()> {
        Ok(())
    }
}

/// Construction parameters of all kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexParams {
    pub hnsw: HnswParams,
    pub scan: ScanParams,
    /// [`Backend::Auto`] switches from exact to HNSW when the gallery grows past this many
    /// vectors. Measured on 128-d clustered vectors, 2 cores (`cargo bench --bench index`):
    /// exact search takes 0.24 / 0.50 / 1.36 / 6.1 ms at 10k / 20k / 50k / 200k vectors, HNSW
    /// at the default settings 0.47 / 0.73 / 0.97 / 1.3 ms for enrolled identities (and about
    /// 4–5 ms for strangers, which get the wider second look). Below ~50k, brute force is as fast
    /// or faster, and exact.
    pub auto_threshold: usize,
}

impl Default for IndexParams {
    fn default() -> Self {
        Self { hnsw: HnswParams::default(), scan: ScanParams::default(), auto_threshold: 50_000 }
    }
}

/// What went wrong in the index. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector or query of the wrong length.
    #[error("dimension mismatch: the index holds {expected}-d vectors, got {got}")]
    DimensionMismatch { expected: usize, got: usize },
    /// A stored vector that is not finite or not unit length, or a query that is not finite or zero.
    #[error("invalid vector{}: {reason}", id.map(|i| format!(" for id {i}")).unwrap_or_default())]
    InvalidVector { id: Option<u64>, reason: String },
    /// Any other bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Nothing persisted where the index was looked for.
    #[error("no persisted index at {}: rebuild it from the gallery store", path.display())]
    Missing { path: PathBuf },
    /// Persisted files that fail their checks (truncated, bad checksum, inconsistent).
    #[error("corrupt index file {}: {reason}; rebuild it from the gallery store", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A sound persisted index that does not match what was asked for (format version,
    /// dimension, graph parameters).
    #[error("persisted index at {} is stale: {reason}; rebuild it from the gallery store", path.display())]
    Stale { path: PathBuf, reason: String },
    /// A file-system error.
    #[error("index i/o on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `hnsw_rs` reported a failure (e.g. while dumping the graph).
    #[error("hnsw: {0}")]
    Hnsw(String),
    /// A remote index (Qdrant) cannot be reached or did not answer in time. The gallery store is
    /// unaffected; retry after `retry_after_s` seconds.
    #[error("the vector index is unavailable ({reason}); retry in {retry_after_s} s")]
    Unavailable { reason: String, retry_after_s: u64 },
    /// A remote index refused a request (authentication, a collection of another shape).
    #[error("vector index backend: {0}")]
    Backend(String),
}

impl IndexError {
    /// True when the caller's input is at fault (its code, in the one table, is a 4xx).
    pub fn is_client_error(&self) -> bool {
        crate::error::Code::of_index(self).is_client_error()
    }

    /// True when the persisted index cannot be used and must be rebuilt from the store.
    pub fn needs_rebuild(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::Corrupt { .. } | Self::Stale { .. })
    }

    /// True when a remote index cannot be reached (for now): the caller may retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        Self::Corrupt { path: path.to_path_buf(), reason: reason.into() }
    }

    pub(crate) fn stale(path: &Path, reason: impl Into<String>) -> Self {
        Self::Stale { path: path.to_path_buf(), reason: reason.into() }
    }
}

//! Exact while the gallery is small, HNSW once it grows past [`IndexParams::auto_threshold`].
//!
//! The switch happens inside the `add` that crosses the threshold: the graph is built from the
//! exact index's rows while searches keep using the exact index, then swapped in. It is one
//! way: a gallery that shrinks again stays on HNSW (no flapping). Both kinds persist to the
//! same directory under different file names; after persisting, the other kind's files are
//! deleted, and [`AutoIndex::open`] prefers an HNSW dump when both exist (a crash between the
//! two steps leaves the newer HNSW one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{ExactIndex, Hit, HnswIndex, IndexError, IndexParams, IndexStats, Result, SearchParams, VectorIndex};

#[derive(Clone)]
enum Active {
    Exact(Arc<ExactIndex>),
    Hnsw(Arc<HnswIndex>),
}

impl Active {
    fn get(&self) -> &dyn VectorIndex {
        match self {
            Self::Exact(e) => e.as_ref(),
            Self::Hnsw(h) => h.as_ref(),
        }
    }
}

/// See the module documentation.
pub struct AutoIndex {
    dir: PathBuf,
    params: IndexParams,
    active: RwLock<Active>,
    /// Serialises writers, so that a switch sees every earlier write.
    writer: Mutex<()>,
}

impl AutoIndex {
    /// An empty (exact) index persisting to `dir`.
    pub fn create(dir: &Path, dim: usize, params: &IndexParams) -> Result<Self> {
        params.hnsw.check()?;
        Ok(Self::with(dir, params, Active::Exact(Arc::new(ExactIndex::create(dir, dim)?))))
    }

    /// Reloads whichever kind is persisted in `dir` (HNSW when both are), switching to HNSW at
    /// once if an exact index is above the threshold.
    pub fn open(dir: &Path, dim: usize, params: &IndexParams) -> Result<Self> {
        params.hnsw.check()?;
        if HnswIndex::exists(dir) {
            let h = HnswIndex::open(dir, dim, params.hnsw)?;
            return Ok(Self::with(dir, params, Active::Hnsw(Arc::new(h))));
        }
        if !ExactIndex::exists(dir) {
            return Err(IndexError::Missing { path: dir.to_path_buf() });
        }
        let index = Self::with(dir, params, Active::Exact(Arc::new(ExactIndex::open(dir, dim)?)));
        {
            let _w = index.writer.lock();
            index.switch_if_large()?;
        }
        Ok(index)
    }

    fn with(dir: &Path, params: &IndexParams, active: Active) -> Self {
        Self { dir: dir.to_path_buf(), params: *params, active: RwLock::new(active), writer: Mutex::new(()) }
    }

    fn current(&self) -> Active {
        self.active.read().clone()
    }

    /// Builds the graph from the exact rows and swaps it in. Callers hold `writer`.
    fn switch_if_large(&self) -> Result<()> {
        let Active::Exact(exact) = self.current() else { return Ok(()) };
        if exact.len() <= self.params.auto_threshold {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let hnsw =
            exact.with_rows(|ids, data| HnswIndex::build(&self.dir, exact.dim(), self.params.hnsw, ids, data))?;
        hnsw.set_checkpoint(exact.checkpoint());
        tracing::info!(
            vectors = hnsw.len(),
            seconds = started.elapsed().as_secs_f64(),
            "gallery outgrew the exact index: switched to HNSW"
        );
        *self.active.write() = Active::Hnsw(Arc::new(hnsw));
        Ok(())
    }
}

impl VectorIndex for AutoIndex {
    fn dim(&self) -> usize {
        self.current().get().dim()
    }

    fn len(&self) -> usize {
        self.current().get().len()
    }

    fn add(&self, items: &[(u64, &[f32])]) -> Result<()> {
        let _w = self.writer.lock();
        self.current().get().add(items)?;
        self.switch_if_large()
    }

    fn remove(&self, ids: &[u64]) -> Result<usize> {
        let _w = self.writer.lock();
        self.current().get().remove(ids)
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams<'_>) -> Result<Vec<Hit>> {
        self.current().get().search(query, k, params)
    }

    fn search_batch(&self, queries: &[&[f32]], k: usize, params: &SearchParams<'_>) -> Result<Vec<Vec<Hit>>> {
        self.current().get().search_batch(queries, k, params)
    }

    fn persist(&self) -> Result<()> {
        let _w = self.writer.lock();
        match self.current() {
            Active::Exact(e) => {
                e.persist()?;
                HnswIndex::remove_files(&self.dir)
            }
            Active::Hnsw(h) => {
                h.persist()?;
                ExactIndex::remove_files(&self.dir)
            }
        }
    }

    fn set_checkpoint(&self, checkpoint: u64) {
        let _w = self.writer.lock();
        self.current().get().set_checkpoint(checkpoint)
    }

    fn checkpoint(&self) -> u64 {
        self.current().get().checkpoint()
    }

    fn stats(&self) -> IndexStats {
        self.current().get().stats()
    }
}

//! The store stays the truth: the index is brought up to date from it at start-up (the change
//! log replayed since the index's checkpoint, or a rebuild), after an outage of a remote index
//! (the same catch-up, when it answers again), and on `visage reindex` (a rebuild into any
//! backend). A replayed or current index must also agree with the store on the number of faces
//! and, for a remote index, on a sample of ids; otherwise it is rebuilt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::OptionalExtension;

use super::store::{Change, Store};
use crate::error::Result;
use crate::index::{
    create_index, open_index, Backend, IndexError, IndexParams, IndexSettings, QdrantIndex, VectorIndex,
};
use crate::synth::Rng;

/// Ids sampled from the store to check that a remote collection holds them.
const SAMPLE: usize = 64;
/// Faces per batch while filling an index from the store.
const FILL_BATCH: usize = 4096;

/// Reports a rebuild's progress: faces done and the total.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Where a gallery's index lives and how it is opened, created and checked.
pub enum Source {
    Embedded { kind: Backend, dir: PathBuf, params: IndexParams },
    Qdrant(Arc<QdrantIndex>),
}

impl Source {
    /// The source `settings` name for the gallery in `dir` (whose store gives the gallery's id).
    pub fn new(settings: &IndexSettings, dir: &Path, store: &Store, model: &str, dim: usize) -> Result<Self> {
        settings.validate()?;
        Ok(match settings.kind {
            Backend::Qdrant => {
                Self::Qdrant(Arc::new(QdrantIndex::connect(&settings.qdrant, &gallery_id(store)?, model, dim)?))
            }
            kind => Self::Embedded { kind, dir: dir.join(super::INDEX_DIR), params: settings.params },
        })
    }

    /// The backend's name.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Embedded { kind, .. } => *kind,
            Self::Qdrant(_) => Backend::Qdrant,
        }
    }

    /// The Qdrant index, if that is the backend.
    pub fn qdrant(&self) -> Option<&Arc<QdrantIndex>> {
        match self {
            Self::Qdrant(q) => Some(q),
            Self::Embedded { .. } => None,
        }
    }

    /// The persisted index as it is (not repaired).
    pub fn open(&self, dim: usize) -> Result<Arc<dyn VectorIndex>, IndexError> {
        match self {
            Self::Embedded { kind, dir, params } => open_index(*kind, dir, dim, params),
            Self::Qdrant(q) => {
                q.load()?;
                Ok(q.clone())
            }
        }
    }

    /// A new, empty index (a remote collection is dropped and created again, its graph deferred
    /// until [`QdrantIndex::build_graph`]).
    pub fn create(&self, dim: usize) -> Result<Arc<dyn VectorIndex>, IndexError> {
        match self {
            Self::Embedded { kind, dir, params } => create_index(*kind, dir, dim, params),
            Self::Qdrant(q) => {
                q.recreate()?;
                Ok(q.clone())
            }
        }
    }

    /// After [`Source::create`] and a fill: a remote collection starts building its graph.
    pub fn filled(&self) -> Result<(), IndexError> {
        match self {
            Self::Embedded { .. } => Ok(()),
            Self::Qdrant(q) => q.build_graph(),
        }
    }

    /// A handle on the index without touching it (a remote index that could not be loaded).
    pub fn handle(&self) -> Option<Arc<dyn VectorIndex>> {
        self.qdrant().map(|q| q.clone() as Arc<dyn VectorIndex>)
    }
}

/// The gallery's own id (generated once, kept in the store): remote collections are named by it,
/// so two galleries sharing one Qdrant never mix.
pub fn gallery_id(store: &Store) -> Result<String> {
    if let Some(id) = store.meta("gallery_id")? {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    store.set_meta("gallery_id", &id)?;
    Ok(id)
}

/// Brings the source's index up to date with the store: as it is when current, the change log
/// replayed when behind, else rebuilt (`rebuild`: always). Then the store's change log is pruned
/// up to the index's checkpoint.
pub fn sync(
    store: &Store,
    source: &Source,
    dim: usize,
    rebuild: bool,
    progress: Option<Progress<'_>>,
) -> Result<Arc<dyn VectorIndex>> {
    let seq = store.seq()?;
    if !rebuild {
        match source.open(dim) {
            Ok(index) if index.checkpoint() == seq => match disagreement(store, source, index.as_ref())? {
                None => return Ok(index),
                Some(why) => tracing::warn!("the index disagrees with the store ({why}); rebuilding"),
            },
            Ok(index) if index.checkpoint() < seq => {
                let (changes, complete) = store.changes_since(index.checkpoint())?;
                if complete {
                    tracing::info!(
                        from = index.checkpoint(),
                        to = seq,
                        backend = %source.backend(),
                        "replaying the gallery's change log into the index"
                    );
                    replay(store, index.as_ref(), &changes)?;
                    index.set_checkpoint(seq);
                    match disagreement(store, source, index.as_ref())? {
                        None => {
                            index.persist()?;
                            store.prune_changes(seq)?;
                            return Ok(index);
                        }
                        Some(why) => {
                            tracing::warn!("after the replay the index disagrees with the store ({why}); rebuilding")
                        }
                    }
                } else {
                    tracing::warn!("the change log no longer reaches the index's checkpoint; rebuilding");
                }
            }
            Ok(_) => tracing::warn!("the index is ahead of the store (restored backup?); rebuilding"),
            Err(e) if e.needs_rebuild() => tracing::info!("{e}"),
            Err(e) => return Err(e.into()),
        }
    }
    let index = source.create(dim)?;
    fill(store, index.as_ref(), progress)?;
    source.filled()?;
    index.set_checkpoint(seq);
    index.persist()?;
    store.prune_changes(seq)?;
    Ok(index)
}

/// Adds every face of the store to an empty index, with progress.
pub fn fill(store: &Store, index: &dyn VectorIndex, progress: Option<Progress<'_>>) -> Result<()> {
    let started = std::time::Instant::now();
    let total = store.face_count()?;
    let mut done = 0u64;
    let mut logged = std::time::Instant::now();
    store.for_each_face(FILL_BATCH, |rows| {
        let items: Vec<(u64, &[f32])> = rows.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
        let labels: Vec<&str> = rows.iter().map(|(_, s, _)| s.as_str()).collect();
        index.add_labelled(&items, &labels)?;
        done += rows.len() as u64;
        if let Some(p) = progress {
            p(done, total);
        }
        if logged.elapsed().as_secs() >= 10 {
            tracing::info!(done, total, "filling the index from the store");
            logged = std::time::Instant::now();
        }
        Ok(())
    })?;
    tracing::info!(faces = index.len(), seconds = started.elapsed().as_secs_f32(), "index rebuilt from the store");
    Ok(())
}

/// Applies the net effect of `changes` (the last change per face wins; added faces are re-read
/// from the store, with their current subject).
pub fn replay(store: &Store, index: &dyn VectorIndex, changes: &[Change]) -> Result<()> {
    let mut last: std::collections::HashMap<u64, bool> = std::collections::HashMap::new();
    for c in changes {
        last.insert(c.face_id, c.added);
    }
    let mut removed: Vec<u64> = last.iter().filter(|(_, added)| !**added).map(|(id, _)| *id).collect();
    removed.sort_unstable();
    index.remove(&removed)?;
    let mut added: Vec<u64> = last.iter().filter(|(_, added)| **added).map(|(id, _)| *id).collect();
    added.sort_unstable();
    for chunk in added.chunks(FILL_BATCH) {
        let rows = store.embeddings(chunk)?;
        let items: Vec<(u64, &[f32])> = rows.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
        let labels: Vec<&str> = rows.iter().map(|(_, s, _)| s.as_str()).collect();
        index.add_labelled(&items, &labels)?;
    }
    Ok(())
}

/// Why an index at the store's checkpoint cannot be trusted: another number of faces, or (for a
/// remote index, which a lost volume or a new cluster can empty behind our back) sampled faces
/// missing from it.
fn disagreement(store: &Store, source: &Source, index: &dyn VectorIndex) -> Result<Option<String>> {
    let faces = store.face_count()?;
    if index.len() as u64 != faces {
        return Ok(Some(format!("{} vectors in the index, {faces} faces in the store", index.len())));
    }
    if let Some(q) = source.qdrant() {
        let sample = store.sample_face_ids(SAMPLE, 0x5eed)?;
        let missing = q.missing(&sample)?;
        if !missing.is_empty() {
            return Ok(Some(format!(
                "{} of {} sampled faces missing from the collection",
                missing.len(),
                sample.len()
            )));
        }
    }
    Ok(None)
}

impl Store {
    /// Up to `n` distinct face ids drawn at random (by id ranges: cheap on a large store).
    pub fn sample_face_ids(&self, n: usize, seed: u64) -> Result<Vec<u64>> {
        let (min, max): (Option<i64>, Option<i64>) =
            self.conn.query_row("SELECT MIN(id), MAX(id) FROM faces", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (Some(min), Some(max)) = (min, max) else { return Ok(Vec::new()) };
        let mut stmt = self.conn.prepare_cached("SELECT id FROM faces WHERE id >= ?1 ORDER BY id LIMIT 1")?;
        let mut rng = Rng::new(seed);
        let span = (max - min + 1) as usize;
        let mut ids = std::collections::BTreeSet::new();
        for _ in 0..n.saturating_mul(2) {
            if ids.len() >= n {
                break;
            }
            let at = min + rng.below(span) as i64;
            if let Some(id) = stmt.query_row([at], |r| r.get::<_, i64>(0)).optional()? {
                ids.insert(id as u64);
            }
        }
        Ok(ids.into_iter().collect())
    }
}

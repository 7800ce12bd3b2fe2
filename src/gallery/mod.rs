//! The gallery: subjects and their faces in the durable store, their embeddings in the vector
//! index, and the questions asked of both (search, identify, verify against a subject). The
//! only module that knows both people and vectors.

mod identify;
pub mod jobs;
mod manage;
mod sample;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};
use crate::index::{create_index, dot, open_index, IndexKind, IndexParams, SearchParams, VectorIndex};
use crate::pipeline::embed::Embedding;
pub use identify::{Candidate, Identification};
pub use jobs::{ItemRecord, ItemWrite, JobRecord, JobState, Recorded};
pub use manage::{DeletedFace, FacePage};
pub use store::{photo_sha256, ExportedFace, FaceRecord, NewFace, Subject};
use store::{Change, Store};

/// What the gallery keeps besides embeddings.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct GallerySettings {
    /// Keep each enrolled face's aligned 112×112 crop (PNG, erased with the face). Off by
    /// default: only the embedding, box and image hash are stored.
    pub keep_crops: bool,
}

/// Vector index choice and parameters.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct IndexSettings {
    pub kind: IndexKind,
    #[serde(flatten)]
    pub params: IndexParams,
}

/// A face found by similarity search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FaceHit {
    pub face_id: u64,
    pub subject_id: String,
    pub subject_name: String,
    pub score: f32,
}

/// What a gallery directory holds, read without opening (or creating) the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The embedder model the gallery is bound to, and its vectors' length.
    pub model: Option<String>,
    pub dim: Option<usize>,
    pub faces: u64,
}

/// The gallery of one embedding model.
pub struct Gallery {
    writer: Mutex<Store>,
    reader: Mutex<Store>,
    /// Never replaced: the index swaps its own graph when it compacts.
    index: Arc<dyn VectorIndex>,
    face_subject: RwLock<HashMap<u64, Arc<str>>>,
    model: String,
    dim: usize,
    dirty: AtomicBool,
    /// Held while open: one process per gallery directory.
    _lock: std::fs::File,
}

const DB_FILE: &str = "gallery.sqlite3";
const INDEX_DIR: &str = "index";

impl Gallery {
    /// Opens the gallery in `dir` for embeddings of `model` (`dim`-d), bringing the persisted
    /// index up to date with the store (replaying the change log, or rebuilding it).
    pub fn open(dir: &Path, model: &str, dim: usize, kind: IndexKind, params: &IndexParams) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| VisageError::Store(format!("{}: {e}", dir.display())))?;
        let lock = lock(dir)?;
        let writer = Store::open(&dir.join(DB_FILE))?;
        let reader = Store::open(&dir.join(DB_FILE))?;
        match writer.meta("model")? {
            Some(bound) if bound != model && writer.face_count()? > 0 => {
                return Err(VisageError::conflict(
                    Code::ModelMismatch,
                    format!(
                        "the gallery in {} holds embeddings of model {bound}, but the configured embedder is {model}; \
                         embeddings of different models cannot be compared (use another data directory or re-enrol)",
                        dir.display()
                    ),
                ))
            }
            _ => {
                writer.set_meta("model", model)?;
                writer.set_meta("dim", &dim.to_string())?;
            }
        }
        let face_subject = writer.face_subjects()?.into_iter().map(|(f, s)| (f, Arc::from(s.as_str()))).collect();
        let index = Self::sync_index(&writer, &dir.join(INDEX_DIR), dim, kind, params)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            index,
            face_subject: RwLock::new(face_subject),
            model: model.to_string(),
            dim,
            dirty: AtomicBool::new(false),
            _lock: lock,
        })
    }

    /// The model a gallery directory is bound to and its number of faces; `None` when it holds
    /// no gallery. Reads only (no lock taken): a server may hold the gallery meanwhile.
    pub fn binding(dir: &Path) -> Result<Option<Binding>> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let store = Store::open(&path)?;
        Ok(Some(Binding {
            model: store.meta("model")?,
            dim: store.meta("dim")?.and_then(|d| d.parse().ok()),
            faces: store.face_count()?,
        }))
    }

    /// Every face with its subject and embedding, from one consistent snapshot of the store in
    /// `dir` (no lock taken, so a running server is no obstacle): `start` learns the number of
    /// faces, then `f` receives them `batch` at a time in id order.
    pub fn export(
        dir: &Path,
        batch: usize,
        start: impl FnOnce(u64) -> Result<()>,
        f: impl FnMut(Vec<ExportedFace>) -> Result<()>,
    ) -> Result<u64> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", dir.display())));
        }
        Store::open(&path)?.export(batch, start, f)
    }

    /// The persisted index if it is current or can catch up from the change log; else a rebuild.
    fn sync_index(
        store: &Store,
        dir: &Path,
        dim: usize,
        kind: IndexKind,
        params: &IndexParams,
    ) -> Result<Arc<dyn VectorIndex>> {
        let seq = store.seq()?;
        match open_index(kind, dir, dim, params) {
            Ok(index) if index.checkpoint() == seq => return Ok(index),
            Ok(index) if index.checkpoint() < seq => {
                let (changes, complete) = store.changes_since(index.checkpoint())?;
                if complete {
                    tracing::info!(
                        from = index.checkpoint(),
                        to = seq,
                        "replaying the gallery's change log into the index"
                    );
                    Self::replay(store, index.as_ref(), &changes)?;
                    index.set_checkpoint(seq);
                    index.persist()?;
                    store.prune_changes(seq)?;
                    return Ok(index);
                }
                tracing::warn!("the change log no longer reaches the index's checkpoint; rebuilding");
            }
            Ok(_) => tracing::warn!("the index is ahead of the store (restored backup?); rebuilding"),
            Err(e) if e.needs_rebuild() => tracing::info!("{e}"),
            Err(e) => return Err(e.into()),
        }
        let index = create_index(kind, dir, dim, params)?;
        let started = std::time::Instant::now();
        store.for_each_face(4096, |rows| {
            let items: Vec<(u64, &[f32])> = rows.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
            Ok(index.add(&items)?)
        })?;
        index.set_checkpoint(seq);
        index.persist()?;
        store.prune_changes(seq)?;
        tracing::info!(faces = index.len(), seconds = started.elapsed().as_secs_f32(), "index rebuilt from the store");
        Ok(index)
    }

    fn replay(store: &Store, index: &dyn VectorIndex, changes: &[Change]) -> Result<()> {
        // The net effect per face: its last change wins; added faces are re-read from the store.
        let mut last: HashMap<u64, bool> = HashMap::new();
        for c in changes {
            last.insert(c.face_id, c.added);
        }
        let removed: Vec<u64> = last.iter().filter(|(_, added)| !**added).map(|(id, _)| *id).collect();
        index.remove(&removed)?;
        let added: Vec<u64> = last.iter().filter(|(_, added)| **added).map(|(id, _)| *id).collect();
        let rows = store.embeddings(&added)?;
        let items: Vec<(u64, &[f32])> = rows.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
        index.add(&items)?;
        Ok(())
    }

    /// The embedder model this gallery holds.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Vectors in the index.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Changes whenever a face is added or removed (the store's sequence number).
    pub fn version(&self) -> u64 {
        self.index.checkpoint()
    }

    /// True when no face is enrolled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_model(&self, e: &Embedding) -> Result<()> {
        if *e.model != self.model || e.vector.len() != self.dim {
            return Err(VisageError::conflict(
                Code::ModelMismatch,
                format!("embedding of model {} cannot be compared with this gallery's model {}", e.model, self.model),
            ));
        }
        Ok(())
    }

    /// Creates a subject (a generated id when none is given).
    pub fn create_subject(&self, id: Option<&str>, name: &str, metadata: &serde_json::Value) -> Result<Subject> {
        let id = match id {
            Some(id) => validate_id(id)?.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        self.writer.lock().insert_subject(&id, name, metadata)
    }

    /// One subject.
    pub fn subject(&self, id: &str) -> Result<Subject> {
        self.reader.lock().subject(id)
    }

    /// A page of subjects and the total.
    pub fn subjects(&self, offset: u64, limit: u64) -> Result<(Vec<Subject>, u64)> {
        self.reader.lock().subjects(offset, limit)
    }

    /// A page of the subjects whose name contains `query`, and how many match.
    pub fn subjects_matching(&self, query: &str, offset: u64, limit: u64) -> Result<(Vec<Subject>, u64)> {
        self.reader.lock().subjects_matching(query, offset, limit)
    }

    /// Renames a subject and/or replaces its metadata.
    pub fn update_subject(
        &self,
        id: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Subject> {
        self.writer.lock().update_subject(id, name, metadata)
    }

    /// Deletes a subject with every face and embedding of it, from the store and the index.
    pub fn delete_subject(&self, id: &str) -> Result<usize> {
        let writer = self.writer.lock();
        let (faces, seq) = writer.delete_subject(id)?;
        self.unindex(&faces, seq)?;
        Ok(faces.len())
    }

    /// Enrols one face for a subject; returns the record and whether it is new.
    pub fn add_face(&self, subject_id: &str, embedding: &Embedding, face: NewFace) -> Result<(FaceRecord, bool)> {
        self.check_model(embedding)?;
        // Refused before the store: a face must not be stored without reaching the index.
        crate::index::check_stored(self.dim, 0, face.vector)?;
        let writer = self.writer.lock();
        let (record, created, seq) = writer.insert_face(subject_id, &face)?;
        if created {
            // Durable in the store first; the index follows (and catches up after a crash).
            let index = &self.index;
            index.add(&[(record.id, embedding.vector.as_slice())])?;
            index.set_checkpoint(seq);
            self.face_subject.write().insert(record.id, Arc::from(subject_id));
            self.dirty.store(true, Ordering::Release);
        }
        Ok((record, created))
    }

    /// The aligned crop kept for a face (PNG), if the gallery keeps crops.
    pub fn crop(&self, face_id: u64) -> Result<Option<Vec<u8>>> {
        self.reader.lock().crop(face_id)
    }

    /// Faces of a subject.
    pub fn faces(&self, subject_id: &str) -> Result<Vec<FaceRecord>> {
        self.reader.lock().faces_of(subject_id)
    }

    /// Deletes one face and its embedding.
    pub fn delete_face(&self, face_id: u64) -> Result<()> {
        let writer = self.writer.lock();
        let seq = writer.delete_face(face_id)?;
        self.unindex(&[face_id], seq)
    }

    fn unindex(&self, faces: &[u64], seq: u64) -> Result<()> {
        let index = &self.index;
        index.remove(faces)?;
        index.set_checkpoint(seq);
        let mut map = self.face_subject.write();
        for f in faces {
            map.remove(f);
        }
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// The `k` gallery faces most similar to `query`, best first.
    pub fn search(&self, query: &Embedding, k: usize, ef: Option<usize>) -> Result<Vec<FaceHit>> {
        self.check_model(query)?;
        let hits = self.raw_search(&query.vector, k, ef, None)?;
        let ids: Vec<&str> = hits.iter().map(|(_, s, _)| &**s).collect();
        let names = self.reader.lock().subject_names(&ids)?;
        Ok(hits
            .iter()
            .zip(names)
            .map(|((face_id, subject_id, score), name)| FaceHit {
                face_id: *face_id,
                subject_id: subject_id.to_string(),
                subject_name: name.unwrap_or_default(),
                score: *score,
            })
            .collect())
    }

    /// Index hits with their subjects (faces deleted meanwhile are skipped). With a `floor`, only
    /// hits at or above it need to be exact (see [`SearchParams::floor`]).
    fn raw_search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        floor: Option<f32>,
    ) -> Result<Vec<(u64, Arc<str>, f32)>> {
        let params = SearchParams { ef, floor, ..SearchParams::new() };
        let hits = self.index.search(query, k, &params)?;
        let map = self.face_subject.read();
        Ok(hits.into_iter().filter_map(|h| map.get(&h.id).map(|s| (h.id, s.clone(), h.score))).collect())
    }

    /// Best cosine between `query` and the faces of one subject (exact, from the store).
    pub fn verify_subject(&self, query: &Embedding, subject_id: &str) -> Result<Option<(u64, f32)>> {
        self.check_model(query)?;
        let faces = self.reader.lock().subject_embeddings(subject_id)?;
        Ok(faces.iter().map(|(id, v)| (*id, dot(&query.vector, v))).max_by(|a, b| a.1.total_cmp(&b.1)))
    }

    /// A value stored with the gallery.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.reader.lock().meta(key)
    }

    /// Stores a value with the gallery.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.writer.lock().set_meta(key, value)
    }

    /// Streams every face (id, subject id, embedding) in enrolment order.
    pub fn for_each_face(&self, mut f: impl FnMut(u64, &str, &[f32]) -> Result<()>) -> Result<()> {
        self.reader.lock().for_each_face(4096, |rows| {
            for (id, subject, vector) in &rows {
                f(*id, subject, vector)?;
            }
            Ok(())
        })
    }

    /// Creates a queued job record; `false` when the id exists already.
    pub fn create_job(&self, id: &str, spec: &str, origin: &str) -> Result<bool> {
        self.writer.lock().create_job(id, spec, origin)
    }

    /// One job record.
    pub fn job(&self, id: &str) -> Result<JobRecord> {
        self.reader.lock().job(id)
    }

    /// Queued or running jobs of an origin (`http`, `cli`), oldest first.
    pub fn unfinished_jobs(&self, origin: &str) -> Result<Vec<JobRecord>> {
        self.reader.lock().unfinished_jobs(origin)
    }

    /// Moves a job to another state.
    pub fn set_job_state(&self, id: &str, state: JobState, error: Option<&str>) -> Result<()> {
        self.writer.lock().set_job_state(id, state, error)
    }

    /// Records the number of items in a job's source (`None`: count again at the next run).
    pub fn set_job_total(&self, id: &str, total: Option<u64>) -> Result<()> {
        self.writer.lock().set_job_total(id, total)
    }

    /// Cancels a queued (or, with `running_too`, running) job; `false` if it had moved on.
    pub fn cancel_job(&self, id: &str, running_too: bool) -> Result<bool> {
        self.writer.lock().cancel_job(id, running_too)
    }

    /// A job's recorded items per outcome.
    pub fn job_counts(&self, id: &str) -> Result<HashMap<String, u64>> {
        self.reader.lock().job_counts(id)
    }

    /// Names of a job's recorded items.
    pub fn job_done(&self, id: &str) -> Result<std::collections::HashSet<String>> {
        self.reader.lock().job_done(id)
    }

    /// A page of a job's report.
    pub fn job_items(&self, id: &str, problems_only: bool, offset: u64, limit: u64) -> Result<Vec<ItemRecord>> {
        self.reader.lock().job_items(id, problems_only, offset, limit)
    }

    /// A page of a job's items of one outcome (`invalid`, ...).
    pub fn job_items_with(&self, id: &str, outcome: &str, offset: u64, limit: u64) -> Result<Vec<ItemRecord>> {
        self.reader.lock().job_items_with(id, outcome, offset, limit)
    }

    /// Records a batch of a job's items, enrolling their faces (store first, then the index),
    /// all in one transaction.
    /// A face whose embedding the index would refuse is recorded `unreadable`, never stored: a
    /// face must not reach the store without reaching the index. Also returns the time the
    /// vector index took (the rest is the store's), which bulk jobs report.
    pub fn record_items(
        &self,
        job_id: &str,
        mut items: Vec<ItemWrite>,
    ) -> Result<(Vec<Recorded>, std::time::Duration)> {
        for item in &mut items {
            let Some(face) = &item.face else { continue };
            if face.model != self.model {
                return Err(VisageError::conflict(Code::ModelMismatch, format!("embedding of model {}", face.model)));
            }
            if let Err(e) = crate::index::check_stored(self.dim, 0, face.vector) {
                (item.face, item.outcome, item.reason) = (None, "unreadable", Some(format!("invalid embedding: {e}")));
            }
        }
        let items = &items;
        let writer = self.writer.lock();
        let (recorded, seq) = writer.record_items(job_id, items)?;
        let added: Vec<(u64, &[f32])> = recorded
            .iter()
            .zip(items)
            .filter(|(r, _)| r.created)
            .filter_map(|(r, i)| Some((r.face_id?, i.face.as_ref()?.vector)))
            .collect();
        let indexing = std::time::Instant::now();
        if !added.is_empty() {
            self.index.add(&added)?;
            let mut map = self.face_subject.write();
            // One shared name per run of faces of the same subject (imports come grouped).
            let mut last: Option<Arc<str>> = None;
            for (r, i) in recorded.iter().zip(items).filter(|(r, _)| r.created) {
                if let Some(id) = r.face_id {
                    let subject = match &last {
                        Some(s) if **s == *i.subject => s.clone(),
                        _ => last.insert(Arc::from(i.subject)).clone(),
                    };
                    map.insert(id, subject);
                }
            }
            self.dirty.store(true, Ordering::Release);
        }
        self.index.set_checkpoint(seq);
        Ok((recorded, indexing.elapsed()))
    }

    /// Length of the vectors this gallery holds.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Writes the index to disk if anything changed, then forgets the change log it covers.
    pub fn persist(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let writer = self.writer.lock();
        let index = &self.index;
        index.persist()?;
        writer.prune_changes(index.checkpoint())?;
        Ok(())
    }
}

/// Takes the directory's lock file: a second process on the same gallery would let the index
/// and the store drift apart.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("LOCK");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| VisageError::Store(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(VisageError::conflict(
            Code::GalleryLocked,
            format!(
                "the gallery in {} is open in another process (a server or visage enroll); stop it first",
                dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(VisageError::Store(format!("{}: {e}", path.display()))),
    }
}

/// Caller-chosen subject ids: 1-128 characters of letters, digits, `.`, `_`, `-`, `:`, `@`.
pub fn validate_id(id: &str) -> Result<&str> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@'));
    if ok {
        Ok(id)
    } else {
        Err(VisageError::unprocessable(
            Code::InvalidId,
            format!("id {id:?} must be 1-128 characters of letters, digits, '.', '_', '-', ':', '@'"),
        ))
    }
}

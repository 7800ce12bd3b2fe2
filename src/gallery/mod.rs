//! The gallery: subjects and their faces in the durable store, their embeddings in the vector
//! index, and the questions asked of both (search, identify, verify against a subject). The
//! only module that knows both people and vectors.

pub mod check;
mod identify;
pub mod jobs;
mod manage;
pub mod review;
mod sample;
pub mod store;
pub mod sync;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};
pub use crate::index::IndexSettings;
use crate::index::{dot, Backend, IndexError, IndexParams, SearchParams, VectorIndex};
use crate::pipeline::embed::Embedding;
pub use identify::{Candidate, Identification};
pub use jobs::{ItemRecord, ItemWrite, JobRecord, JobState, Recorded};
pub use manage::{DeletedFace, FacePage};
pub use review::{ReviewGroup, ReviewItem, ReviewSettings};
use store::Store;
pub use store::{photo_sha256, ExportedFace, FaceRecord, NewFace, Subject};
use sync::{Progress, Source};

/// What the gallery keeps besides embeddings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GallerySettings {
    /// Keep each enrolled face's aligned 112×112 crop (PNG, erased with the face). Off by
    /// default: only the embedding, box and image hash are stored.
    pub keep_crops: bool,
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
    /// Where the index lives, for catching up after an outage.
    source: Source,
    /// A remote index missed writes (it was unreachable): they are in the store's change log,
    /// and the index takes no more writes until it has caught up from there.
    behind: AtomicBool,
    /// Last catch-up attempt, so that an unreachable index is not asked on every request.
    last_attempt: Mutex<Option<Instant>>,
    face_subject: RwLock<HashMap<u64, Arc<str>>>,
    model: String,
    dim: usize,
    dirty: AtomicBool,
    /// The faces to review, last grouped.
    review_cache: Mutex<review::GroupCache>,
    /// Held while open: one process per gallery directory.
    _lock: std::fs::File,
}

const DB_FILE: &str = "gallery.sqlite3";
const INDEX_DIR: &str = "index";

impl Gallery {
    /// Opens the gallery in `dir` for embeddings of `model` (`dim`-d) with an embedded index of
    /// `kind`, bringing the persisted index up to date with the store (replaying the change log,
    /// or rebuilding it).
    pub fn open(dir: &Path, model: &str, dim: usize, kind: Backend, params: &IndexParams) -> Result<Self> {
        Self::open_with(dir, model, dim, &IndexSettings::new(kind, params))
    }

    /// [`Gallery::open`] with any backend. A remote index that cannot be reached does not stop
    /// the gallery from opening: enrolments are stored, searches answer `index_unavailable`, and
    /// the index catches up once it answers.
    pub fn open_with(dir: &Path, model: &str, dim: usize, settings: &IndexSettings) -> Result<Self> {
        Self::open_inner(dir, model, dim, settings, false, None)
    }

    /// Opens the gallery with a new index of `settings.kind` filled from the store (a remote
    /// collection is dropped and created again): `visage reindex`.
    pub fn reindex(
        dir: &Path,
        model: &str,
        dim: usize,
        settings: &IndexSettings,
        progress: Option<Progress<'_>>,
    ) -> Result<Self> {
        Self::open_inner(dir, model, dim, settings, true, progress)
    }

    fn open_inner(
        dir: &Path,
        model: &str,
        dim: usize,
        settings: &IndexSettings,
        rebuild: bool,
        progress: Option<Progress<'_>>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| VisageError::io(dir.display(), e))?;
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
        let source = Source::new(settings, dir, &writer, model, dim)?;
        let (index, behind) = match sync::sync(&writer, &source, dim, rebuild, progress) {
            Ok(index) => (index, false),
            Err(VisageError::Index(e)) if e.is_unavailable() && !rebuild => {
                tracing::warn!(
                    "{e}: the gallery opens without its index; enrolments are stored and searches answer \
                     index_unavailable until the index has caught up"
                );
                (source.handle().ok_or(VisageError::Index(e))?, true)
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            index,
            source,
            behind: AtomicBool::new(behind),
            last_attempt: Mutex::new(behind.then(Instant::now)),
            face_subject: RwLock::new(face_subject),
            model: model.to_string(),
            dim,
            dirty: AtomicBool::new(false),
            review_cache: Mutex::default(),
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

    /// One value of the gallery's metadata in `dir`, read without taking the gallery (a server
    /// may hold it); `None` when there is no gallery or no such value.
    pub fn read_meta(dir: &Path, key: &str) -> Result<Option<String>> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        Store::open(&path)?.meta(key)
    }

    /// SQLite's `PRAGMA integrity_check` of the store in `dir`, opened read-only: `ok`, or the
    /// problems it lists.
    pub fn integrity(dir: &Path) -> Result<String> {
        let db = rusqlite::Connection::open_with_flags(dir.join(DB_FILE), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let rows: Vec<String> = db
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows.join("; "))
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

    /// The embedder model this gallery holds.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Vectors in the index.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The index's backend (`scan`, `exact`, `hnsw`, `auto`, `qdrant`).
    pub fn backend(&self) -> Backend {
        self.source.backend()
    }

    /// The instruction-set path of the scan index (`avx2`, ...); `None` for other backends.
    pub fn index_kernel(&self) -> Option<&'static str> {
        self.index.stats().kernel
    }

    /// True while a remote index is catching up with the store after an outage.
    pub fn index_behind(&self) -> bool {
        self.behind.load(Ordering::Acquire)
    }

    /// Applies a write to the index once the store has committed it as change `seq`, then moves
    /// the index's checkpoint there. An unreachable index is marked behind instead: the write
    /// stays in the change log, and [`Gallery::catch_up`] applies it later.
    fn index_write(&self, seq: u64, write: impl FnOnce(&dyn VectorIndex) -> Result<(), IndexError>) -> Result<()> {
        if self.behind.load(Ordering::Acquire) {
            return Ok(());
        }
        match write(self.index.as_ref()) {
            Ok(()) => {
                self.index.set_checkpoint(seq);
                Ok(())
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!("{e}: the change is stored; the index will catch up from the change log");
                self.behind.store(true, Ordering::Release);
                *self.last_attempt.lock() = Some(Instant::now());
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Brings an index that missed writes up to date from the store's change log (or rebuilds
    /// it, as at start-up). Callers hold the writer.
    fn catch_up_locked(&self, writer: &Store) -> Result<()> {
        if !self.behind.load(Ordering::Acquire) {
            return Ok(());
        }
        *self.last_attempt.lock() = Some(Instant::now());
        sync::sync(writer, &self.source, self.dim, false, None)?;
        self.behind.store(false, Ordering::Release);
        tracing::info!(faces = self.index.len(), "the index is reachable again and has caught up with the store");
        Ok(())
    }

    /// [`Gallery::catch_up_locked`] when the index is behind: true when it is current now.
    pub fn catch_up(&self) -> Result<bool> {
        if !self.behind.load(Ordering::Acquire) {
            return Ok(true);
        }
        let writer = self.writer.lock();
        self.catch_up_locked(&writer)?;
        Ok(true)
    }

    /// Before a search: an index that is behind first tries to catch up (at most once per
    /// `retry` interval); while it cannot, searches answer `index_unavailable`.
    fn searchable(&self) -> Result<()> {
        if !self.behind.load(Ordering::Acquire) {
            return Ok(());
        }
        let (retry_after_s, what) = match self.source.qdrant() {
            Some(q) => (q.settings().retry_after_s, format!("Qdrant at {}", q.settings().nodes())),
            None => (5, "the index".to_string()),
        };
        let unavailable = || {
            VisageError::Index(IndexError::Unavailable {
                reason: format!("{what} missed changes and has not caught up with the store yet"),
                retry_after_s,
            })
        };
        let due = self.last_attempt.lock().is_none_or(|t| t.elapsed() >= Duration::from_secs(retry_after_s.min(2)));
        if !due {
            return Err(unavailable());
        }
        let Some(writer) = self.writer.try_lock() else {
            return Err(unavailable());
        };
        self.catch_up_locked(&writer)
    }

    /// A search's outcome; an unreachable index is marked behind (as a failed write would), so
    /// that it is compared with the store and caught up before it answers or takes writes again.
    fn searched<T>(&self, outcome: Result<T, IndexError>) -> Result<T> {
        outcome.map_err(|e| {
            if e.is_unavailable() && !self.behind.swap(true, Ordering::AcqRel) {
                tracing::warn!("{e}: searches answer index_unavailable until the index has caught up");
                *self.last_attempt.lock() = Some(Instant::now());
            }
            e.into()
        })
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
        self.unindex(&writer, &faces, seq)?;
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
            // Durable in the store first; the index follows (and catches up after a crash or an
            // outage of a remote index).
            self.index_write(seq, |index| {
                index.add_labelled(&[(record.id, embedding.vector.as_slice())], &[subject_id])
            })?;
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
        self.unindex(&writer, &[face_id], seq)
    }

    /// Removes deleted faces from the index, then scrubs the store's files of them
    /// ([`Store::scrub`]); the index file follows at its next save.
    fn unindex(&self, writer: &Store, faces: &[u64], seq: u64) -> Result<()> {
        self.index_write(seq, |index| index.remove(faces).map(drop))?;
        writer.scrub();
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
        self.searchable()?;
        let params = SearchParams { ef, floor, ..SearchParams::new() };
        let hits = self.searched(self.index.search(query, k, &params))?;
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
        let labels: Vec<&str> = recorded
            .iter()
            .zip(items)
            .filter(|(r, i)| r.created && r.face_id.is_some() && i.face.is_some())
            .map(|(_, i)| i.subject)
            .collect();
        let indexing = std::time::Instant::now();
        self.index_write(seq, |index| if added.is_empty() { Ok(()) } else { index.add_labelled(&added, &labels) })?;
        if !added.is_empty() {
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
        Ok((recorded, indexing.elapsed()))
    }

    /// Length of the vectors this gallery holds.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Erases the index's data kept outside the gallery's folder (a Qdrant collection), for
    /// a gallery being deleted with its folder.
    pub fn destroy_index(&self) -> Result<()> {
        Ok(self.index.destroy()?)
    }

    /// Writes the index to disk if anything changed, then forgets the change log it covers. An
    /// index behind the store (a remote one after an outage) first tries to catch up; while it
    /// cannot be reached, this is a no-op (the change log keeps everything it missed).
    pub fn persist(&self) -> Result<()> {
        let writer = self.writer.lock();
        match self.catch_up_locked(&writer) {
            Ok(()) => {}
            Err(VisageError::Index(e)) if e.is_unavailable() => {
                tracing::debug!("{e}: the index is still behind the store");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let index = &self.index;
        if let Err(e) = index.persist() {
            self.dirty.store(true, Ordering::Release);
            if e.is_unavailable() {
                tracing::warn!("{e}: the index's checkpoint will be saved later");
                return Ok(());
            }
            return Err(e.into());
        }
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
        .map_err(|e| VisageError::io(path.display(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(VisageError::conflict(
            Code::GalleryLocked,
            format!(
                "the gallery in {} is open in another process (a server or visage enroll); stop it first",
                dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(VisageError::io(path.display(), e)),
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

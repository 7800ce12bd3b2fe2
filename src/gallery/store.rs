//! The durable gallery store: subjects and faces in SQLite (WAL journal, `synchronous=FULL`, so
//! a committed face survives a crash or power loss), plus a change log that lets the vector
//! index catch up after a restart instead of being rebuilt.
//!
//! Why SQLite: one file, crash-safe transactions, secondary indexes (external ids, content
//! hashes, faces by subject) and paging by SQL, maintained for decades; `rusqlite` bundles it.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};
use crate::pipeline::detect::{BBox, Detection, Landmarks};
use crate::pipeline::quality::Quality;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_pk INTEGER NOT NULL REFERENCES subjects(pk) ON DELETE CASCADE,
    model TEXT NOT NULL,
    embedding BLOB NOT NULL,
    detection TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    external_id TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    quality TEXT,
    crop BLOB
);
CREATE INDEX IF NOT EXISTS faces_by_subject ON faces(subject_pk);
CREATE INDEX IF NOT EXISTS subjects_by_name ON subjects(name);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces(subject_pk, image_sha256);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id INTEGER NOT NULL,
    added INTEGER NOT NULL
);
";

/// A person (or any identity) in the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Subject {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
    /// Number of enrolled faces.
    pub faces: u64,
}

/// An enrolled face. The embedding itself is never returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FaceRecord {
    pub id: u64,
    pub subject_id: String,
    pub model: String,
    pub bbox: BBox,
    pub score: f32,
    #[schema(value_type = Vec<Vec<f32>>)]
    pub landmarks: Landmarks,
    pub image_sha256: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub quality: Option<Quality>,
    /// Whether the aligned crop was kept (`gallery.keep_crops`): `GET /v1/faces/{id}/crop`.
    pub has_crop: bool,
}

/// A face to enrol.
pub struct NewFace<'a> {
    pub model: &'a str,
    pub vector: &'a [f32],
    pub detection: &'a Detection,
    pub image_sha256: &'a str,
    pub external_id: Option<&'a str>,
    /// Measured on the photo; none for an imported embedding.
    pub quality: Option<Quality>,
    /// PNG of the aligned crop, kept only when the gallery is configured to.
    pub crop: Option<&'a [u8]>,
}

impl<'a> NewFace<'a> {
    /// A face the pipeline found in the photo hashed `image_sha256` (see [`photo_sha256`]),
    /// with the PNG of its crop when the gallery keeps crops.
    pub fn detected(
        face: &'a crate::pipeline::Face,
        image_sha256: &'a str,
        external_id: Option<&'a str>,
        crop: Option<&'a [u8]>,
    ) -> Self {
        Self {
            model: &face.embedding.model,
            vector: &face.embedding.vector,
            detection: &face.detection,
            image_sha256,
            external_id,
            quality: Some(face.quality),
            crop,
        }
    }
}

/// The hash a photo is known by in the gallery (hex SHA-256 of its bytes): enrolling the same
/// photo for a subject twice adds nothing.
pub fn photo_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One entry of the change log: a face added to or removed from the gallery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub face_id: u64,
    pub added: bool,
}

/// Bytes of heap memory SQLite holds in this process, its page caches included (each
/// connection's is capped at 32 MiB).
pub fn sqlite_memory_bytes() -> i64 {
    // SAFETY: a read of SQLite's global counter, which SQLite makes thread-safe.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

/// A connection to the gallery database. Writers and readers each hold their own.
pub struct Store {
    pub(super) conn: Connection,
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(super) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes a stored embedding.
pub fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub(super) const FACE_COLUMNS: &str =
    "f.id, s.id, f.model, f.detection, f.image_sha256, f.external_id, f.created_at, f.quality, \
     f.crop IS NOT NULL FROM faces f JOIN subjects s ON s.pk = f.subject_pk";

/// The detection (JSON) in column `i` of a row.
pub(super) fn detection_at(row: &Row, i: usize) -> rusqlite::Result<Detection> {
    let detection: String = row.get(i)?;
    serde_json::from_str(&detection)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

/// The quality (JSON, optional) in column `i` of a row.
pub(super) fn quality_at(row: &Row, i: usize) -> rusqlite::Result<Option<Quality>> {
    Ok(row.get::<_, Option<String>>(i)?.and_then(|q| serde_json::from_str(&q).ok()))
}

pub(super) fn face_from_row(row: &Row) -> rusqlite::Result<FaceRecord> {
    let d = detection_at(row, 3)?;
    Ok(FaceRecord {
        id: row.get::<_, i64>(0)? as u64,
        subject_id: row.get(1)?,
        model: row.get(2)?,
        bbox: d.bbox,
        score: d.score,
        landmarks: d.landmarks,
        image_sha256: row.get(4)?,
        external_id: row.get(5)?,
        created_at: row.get(6)?,
        quality: quality_at(row, 7)?,
        has_crop: row.get(8)?,
    })
}

pub(super) const SUBJECT_COLUMNS: &str =
    "s.id, s.name, s.metadata, s.created_at, (SELECT COUNT(*) FROM faces f WHERE f.subject_pk = s.pk) FROM subjects s";

pub(super) fn subject_from_row(row: &Row) -> rusqlite::Result<Subject> {
    let metadata: String = row.get(2)?;
    Ok(Subject {
        id: row.get(0)?,
        name: row.get(1)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        created_at: row.get(3)?,
        faces: row.get::<_, i64>(4)? as u64,
    })
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows (embeddings, crops) are overwritten with zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Bulk writes (jobs, imports) touch the same B-tree pages batch after batch: a 32 MiB page
        // cache (default 2 MiB) and checkpoints every ~32 MiB of WAL (default 4 MiB) save most
        // re-reads and re-writes of them. Measured on a 1M-face import: see README.
        conn.pragma_update(None, "cache_size", -32768)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(super::jobs::SCHEMA)?;
        conn.execute_batch(super::review::SCHEMA)?;
        Ok(Self { conn })
    }

    /// After a delete: copies the WAL's pages (where deletes left zeros, `secure_delete`) into
    /// the database and truncates the WAL, so that the deleted faces' embeddings and crops are
    /// in no file of the gallery any more. Best effort: a reader in the middle of a long read
    /// can keep the WAL's older frames until a later checkpoint (logged at debug).
    pub fn scrub(&self) {
        let done = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
        match done {
            Ok(0) => {}
            Ok(_) => tracing::debug!("the WAL is in use: deleted faces leave it at a later checkpoint"),
            Err(e) => tracing::warn!("checkpoint after a delete failed: {e}"),
        }
    }

    /// Value of a meta key.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Sets a meta key.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            [key, value],
        )?;
        Ok(())
    }

    /// Number of faces.
    pub fn face_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM faces", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Sequence number of the latest change (0 when nothing ever changed).
    pub fn seq(&self) -> Result<u64> {
        let seq: Option<i64> = self
            .conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'changes'", [], |r| r.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Changes after `seq`, oldest first, and whether the log still reaches back that far.
    pub fn changes_since(&self, seq: u64) -> Result<(Vec<Change>, bool)> {
        let oldest: Option<i64> = self.conn.query_row("SELECT MIN(seq) FROM changes", [], |r| r.get(0))?;
        let complete = oldest.is_none_or(|o| o as u64 <= seq + 1);
        let mut stmt = self.conn.prepare("SELECT seq, face_id, added FROM changes WHERE seq > ?1 ORDER BY seq")?;
        let rows = stmt.query_map([seq as i64], |r| {
            Ok(Change { seq: r.get::<_, i64>(0)? as u64, face_id: r.get::<_, i64>(1)? as u64, added: r.get(2)? })
        })?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, complete))
    }

    /// Forgets changes up to `seq` (the index has persisted them).
    pub fn prune_changes(&self, seq: u64) -> Result<()> {
        self.conn.execute("DELETE FROM changes WHERE seq <= ?1", [seq as i64])?;
        Ok(())
    }

    /// Creates a subject; `Conflict` if the id is taken.
    pub fn insert_subject(&self, id: &str, name: &str, metadata: &serde_json::Value) -> Result<Subject> {
        let inserted = self.conn.execute(
            "INSERT INTO subjects (id, name, metadata, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO NOTHING",
            params![id, name, metadata.to_string(), now()],
        )?;
        if inserted == 0 {
            return Err(VisageError::conflict(Code::SubjectExists, format!("subject {id:?} already exists")));
        }
        self.subject(id)
    }

    /// One subject.
    pub fn subject(&self, id: &str) -> Result<Subject> {
        self.conn
            .query_row(&format!("SELECT {SUBJECT_COLUMNS} WHERE s.id = ?1"), [id], subject_from_row)
            .optional()?
            .ok_or_else(|| VisageError::SubjectNotFound(id.to_string()))
    }

    /// A page of subjects ordered by creation, and the total count.
    pub fn subjects(&self, offset: u64, limit: u64) -> Result<(Vec<Subject>, u64)> {
        let total = self.conn.query_row("SELECT COUNT(*) FROM subjects", [], |r| r.get::<_, i64>(0))? as u64;
        let mut stmt = self.conn.prepare(&format!("SELECT {SUBJECT_COLUMNS} ORDER BY s.pk LIMIT ?1 OFFSET ?2"))?;
        let rows = stmt.query_map([limit as i64, offset as i64], subject_from_row)?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    /// A page of the subjects whose name contains `query` (case-insensitive for ASCII
    /// letters), ordered by creation, and how many match.
    pub fn subjects_matching(&self, query: &str, offset: u64, limit: u64) -> Result<(Vec<Subject>, u64)> {
        const MATCH: &str = "instr(lower(s.name), lower(?1)) > 0";
        let total = self
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM subjects s WHERE {MATCH}"), [query], |r| r.get::<_, i64>(0))?
            as u64;
        let mut stmt =
            self.conn.prepare(&format!("SELECT {SUBJECT_COLUMNS} WHERE {MATCH} ORDER BY s.pk LIMIT ?2 OFFSET ?3"))?;
        let rows = stmt.query_map(params![query, limit as i64, offset as i64], subject_from_row)?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    /// Renames a subject and/or replaces its metadata.
    pub fn update_subject(
        &self,
        id: &str,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Subject> {
        let tx = self.conn.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE subjects SET name = COALESCE(?2, name), metadata = COALESCE(?3, metadata) WHERE id = ?1",
            params![id, name, metadata.map(|m| m.to_string())],
        )?;
        tx.commit()?;
        if n == 0 {
            return Err(VisageError::SubjectNotFound(id.to_string()));
        }
        self.subject(id)
    }

    /// Deletes a subject and its faces (embeddings included); returns the removed face ids and
    /// the sequence number of the last change.
    pub fn delete_subject(&self, id: &str) -> Result<(Vec<u64>, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let pk: i64 = tx
            .query_row("SELECT pk FROM subjects WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| VisageError::SubjectNotFound(id.to_string()))?;
        let faces: Vec<u64> = {
            let mut stmt = tx.prepare("SELECT id FROM faces WHERE subject_pk = ?1")?;
            let rows = stmt.query_map([pk], |r| Ok(r.get::<_, i64>(0)? as u64))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for f in &faces {
            tx.execute("INSERT INTO changes (face_id, added) VALUES (?1, 0)", [*f as i64])?;
        }
        tx.execute("DELETE FROM faces WHERE subject_pk = ?1", [pk])?;
        tx.execute("DELETE FROM subjects WHERE pk = ?1", [pk])?;
        tx.commit()?;
        Ok((faces, self.seq()?))
    }

    /// Enrols a face. Idempotent: the same external id (or, without one, the same image for the
    /// same subject) returns the existing face with `false`. Returns the record, whether it was
    /// created, and the sequence number of the change.
    pub fn insert_face(&self, subject_id: &str, face: &NewFace) -> Result<(FaceRecord, bool, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let (id, created) = insert_face_in(&tx, subject_id, face)?;
        if created {
            tx.commit()?;
        }
        Ok((self.face(id)?, created, self.seq()?))
    }

    /// One face.
    pub fn face(&self, id: u64) -> Result<FaceRecord> {
        self.conn
            .query_row(&format!("SELECT {FACE_COLUMNS} WHERE f.id = ?1"), [id as i64], face_from_row)
            .optional()?
            .ok_or_else(|| VisageError::NotFound(format!("face {id}")))
    }

    /// The kept crop (PNG) of a face: `NotFound` for no such face, `None` when none was kept.
    pub fn crop(&self, id: u64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT crop FROM faces WHERE id = ?1", [id as i64], |r| r.get(0))
            .optional()?
            .ok_or_else(|| VisageError::NotFound(format!("face {id}")))
    }

    /// Faces of a subject, oldest first.
    pub fn faces_of(&self, subject_id: &str) -> Result<Vec<FaceRecord>> {
        self.subject(subject_id)?;
        let mut stmt = self.conn.prepare(&format!("SELECT {FACE_COLUMNS} WHERE s.id = ?1 ORDER BY f.id"))?;
        let rows = stmt.query_map([subject_id], face_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes one face and its embedding; returns the change's sequence number.
    pub fn delete_face(&self, id: u64) -> Result<u64> {
        let tx = self.conn.unchecked_transaction()?;
        let n = tx.execute("DELETE FROM faces WHERE id = ?1", [id as i64])?;
        if n == 0 {
            return Err(VisageError::NotFound(format!("face {id}")));
        }
        tx.execute("INSERT INTO changes (face_id, added) VALUES (?1, 0)", [id as i64])?;
        tx.commit()?;
        self.seq()
    }

    /// Embedding and subject id of each given face that still exists.
    pub fn embeddings(&self, ids: &[u64]) -> Result<Vec<(u64, String, Vec<f32>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.id, s.id, f.embedding FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE f.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = stmt
                .query_row([*id as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, blob_to_vector(&r.get::<_, Vec<u8>>(2)?)))
                })
                .optional()?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Embeddings of one subject's faces.
    pub fn subject_embeddings(&self, subject_id: &str) -> Result<Vec<(u64, Vec<f32>)>> {
        self.subject(subject_id)?;
        let mut stmt = self.conn.prepare(
            "SELECT f.id, f.embedding FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE s.id = ?1 ORDER BY f.id",
        )?;
        let rows = stmt
            .query_map([subject_id], |r| Ok((r.get::<_, i64>(0)? as u64, blob_to_vector(&r.get::<_, Vec<u8>>(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Streams every face as (face id, subject id, embedding) in id order, `batch` at a time.
    pub fn for_each_face(
        &self,
        batch: usize,
        mut f: impl FnMut(Vec<(u64, String, Vec<f32>)>) -> Result<()>,
    ) -> Result<()> {
        let mut after = 0i64;
        let mut stmt = self.conn.prepare(
            "SELECT f.id, s.id, f.embedding FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE f.id > ?1 ORDER BY f.id LIMIT ?2",
        )?;
        loop {
            let rows: Vec<(u64, String, Vec<f32>)> = stmt
                .query_map([after, batch as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, blob_to_vector(&r.get::<_, Vec<u8>>(2)?)))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.0 as i64;
            f(rows)?;
        }
    }

    /// Subject names by id, for answering.
    pub fn subject_names(&self, ids: &[&str]) -> Result<Vec<Option<String>>> {
        let mut stmt = self.conn.prepare_cached("SELECT name FROM subjects WHERE id = ?1")?;
        ids.iter().map(|id| Ok(stmt.query_row([id], |r| r.get(0)).optional()?)).collect()
    }
}

/// The body of [`Store::insert_face`], inside the caller's transaction: the face's id and
/// whether it is new (a new face also enters the change log).
pub(super) fn insert_face_in(tx: &Connection, subject_id: &str, face: &NewFace) -> Result<(u64, bool)> {
    // Cached statements: bulk jobs and imports call this thousands of times per transaction.
    let pk: i64 = tx
        .prepare_cached("SELECT pk FROM subjects WHERE id = ?1")?
        .query_row([subject_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| VisageError::SubjectNotFound(subject_id.to_string()))?;
    let existing: Option<(i64, i64)> = match face.external_id {
        Some(ext) => tx
            .prepare_cached("SELECT id, subject_pk FROM faces WHERE external_id = ?1")?
            .query_row([ext], |r| Ok((r.get(0)?, r.get(1)?))),
        // `+external_id`: without it SQLite takes `external_id IS NULL` as an equality on the
        // unique external-id index and walks every face without one (quadratic bulk imports).
        None => tx
            .prepare_cached(
                "SELECT id, subject_pk FROM faces WHERE subject_pk = ?1 AND image_sha256 = ?2 AND +external_id IS NULL",
            )?
            .query_row(params![pk, face.image_sha256], |r| Ok((r.get(0)?, r.get(1)?))),
    }
    .optional()?;
    if let Some((id, owner)) = existing {
        if owner != pk {
            return Err(VisageError::conflict(
                Code::ExternalIdTaken,
                format!("external id {:?} belongs to a face of another subject", face.external_id.unwrap_or_default()),
            ));
        }
        return Ok((id as u64, false));
    }
    let detection = serde_json::to_string(face.detection).map_err(|e| VisageError::Store(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO faces (subject_pk, model, embedding, detection, image_sha256, external_id, created_at, quality, crop)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        pk,
        face.model,
        vector_to_blob(face.vector),
        detection,
        face.image_sha256,
        face.external_id,
        now(),
        face.quality.and_then(|q| serde_json::to_string(&q).ok()),
        face.crop
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO changes (face_id, added) VALUES (?1, 1)")?.execute([id])?;
    Ok((id as u64, true))
}

impl Store {
    /// (face id, subject id) of every face.
    pub fn face_subjects(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self.conn.prepare("SELECT f.id, s.id FROM faces f JOIN subjects s ON s.pk = f.subject_pk")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A face as `visage export` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedFace {
    pub id: u64,
    pub subject: String,
    pub subject_name: String,
    pub external_id: Option<String>,
    pub model: String,
    pub vector: Vec<f32>,
}

impl Store {
    /// Every face with its subject's name, in id order, `batch` at a time, from one consistent
    /// snapshot (a read transaction: a server enrolling meanwhile changes nothing seen here).
    /// `start` learns the number of faces first. Returns that number.
    pub fn export(
        &self,
        batch: usize,
        start: impl FnOnce(u64) -> Result<()>,
        mut f: impl FnMut(Vec<ExportedFace>) -> Result<()>,
    ) -> Result<u64> {
        let tx = self.conn.unchecked_transaction()?;
        let total = self.face_count()?;
        start(total)?;
        let mut stmt = tx.prepare(
            "SELECT f.id, s.id, s.name, f.external_id, f.model, f.embedding FROM faces f
             JOIN subjects s ON s.pk = f.subject_pk WHERE f.id > ?1 ORDER BY f.id LIMIT ?2",
        )?;
        let mut after = 0i64;
        loop {
            let rows: Vec<ExportedFace> = stmt
                .query_map([after, batch as i64], |r| {
                    Ok(ExportedFace {
                        id: r.get::<_, i64>(0)? as u64,
                        subject: r.get(1)?,
                        subject_name: r.get(2)?,
                        external_id: r.get(3)?,
                        model: r.get(4)?,
                        vector: blob_to_vector(&r.get::<_, Vec<u8>>(5)?),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = rows.last() else { break };
            after = last.id as i64;
            f(rows)?;
        }
        drop(stmt);
        tx.commit()?;
        Ok(total)
    }
}

//! The gallery managed by name and in bulk: subjects found by name, pages of faces across
//! subjects, many faces deleted at once, one subject merged into another, the gallery emptied.
//! Every deletion enters the change log and leaves the index, as single deletions do.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};

use super::store::{face_from_row, subject_from_row, Store, FACE_COLUMNS, SUBJECT_COLUMNS};
use super::{FaceRecord, Gallery, Subject};
use crate::error::{Result, VisageError};

/// A page of faces with their subjects' names, and the number of faces that matched.
#[derive(Debug, Clone)]
pub struct FacePage {
    pub faces: Vec<(FaceRecord, String)>,
    pub total: u64,
}

/// A face that was deleted, with its subject.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedFace {
    pub face_id: u64,
    pub subject_id: String,
    pub subject_name: String,
}

impl Store {
    /// The oldest subject named `name`.
    pub fn subject_named(&self, name: &str) -> Result<Option<Subject>> {
        let sql = format!("SELECT {SUBJECT_COLUMNS} WHERE s.name = ?1 ORDER BY s.pk LIMIT 1");
        Ok(self.conn.query_row(&sql, [name], subject_from_row).optional()?)
    }

    /// Every distinct subject name, in the order the names first appeared.
    pub fn subject_name_list(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM subjects GROUP BY name ORDER BY MIN(pk)")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Faces of one subject (or of all), oldest first, a page at a time, with subject names.
    pub fn face_page(&self, subject_id: Option<&str>, offset: u64, limit: u64) -> Result<FacePage> {
        const FILTER: &str = "(?1 IS NULL OR s.id = ?1)";
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE {FILTER}"),
            [subject_id],
            |r| r.get(0),
        )?;
        let mut stmt =
            self.conn.prepare(&format!("SELECT {FACE_COLUMNS} WHERE {FILTER} ORDER BY f.id LIMIT ?2 OFFSET ?3"))?;
        let rows = stmt.query_map(params![subject_id, limit as i64, offset as i64], face_from_row)?;
        let faces: Vec<FaceRecord> = rows.collect::<rusqlite::Result<_>>()?;
        let ids: Vec<&str> = faces.iter().map(|f| f.subject_id.as_str()).collect();
        let names = self.subject_names(&ids)?;
        let faces = faces.into_iter().zip(names).map(|(f, n)| (f, n.unwrap_or_default())).collect();
        Ok(FacePage { faces, total: total as u64 })
    }

    /// Deletes those of `ids` that exist (others are ignored), in one transaction; returns them
    /// and the sequence number of the last change.
    pub fn delete_faces(&self, ids: &[u64]) -> Result<(Vec<DeletedFace>, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let mut deleted = Vec::new();
        {
            let mut find =
                tx.prepare("SELECT s.id, s.name FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE f.id = ?1")?;
            for &id in ids {
                let Some((subject_id, subject_name)) =
                    find.query_row([id as i64], |r| Ok((r.get(0)?, r.get(1)?))).optional()?
                else {
                    continue;
                };
                tx.execute("DELETE FROM faces WHERE id = ?1", [id as i64])?;
                tx.execute("INSERT INTO changes (face_id, added) VALUES (?1, 0)", [id as i64])?;
                deleted.push(DeletedFace { face_id: id, subject_id, subject_name });
            }
        }
        tx.commit()?;
        Ok((deleted, self.seq()?))
    }

    /// Ids of the faces of one subject, or of every face.
    fn face_ids_of(&self, subject_id: Option<&str>) -> Result<Vec<u64>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.id FROM faces f JOIN subjects s ON s.pk = f.subject_pk WHERE (?1 IS NULL OR s.id = ?1)",
        )?;
        let rows = stmt.query_map([subject_id], |r| Ok(r.get::<_, i64>(0)? as u64))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves every face of subject `from` to subject `into` and deletes `from`; returns the
    /// faces moved and the sequence number of the last change. The moved faces enter the change
    /// log as added again, so that an index storing subjects (Qdrant's payload) that missed the
    /// move relabels them when it catches up.
    pub fn merge_subject(&self, from: &str, into: &str) -> Result<(Vec<u64>, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let pk = |id: &str| -> Result<i64> {
            tx.query_row("SELECT pk FROM subjects WHERE id = ?1", [id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| VisageError::SubjectNotFound(id.to_string()))
        };
        let (from_pk, into_pk) = (pk(from)?, pk(into)?);
        let moved = self.face_ids_of(Some(from))?;
        tx.execute("INSERT INTO changes (face_id, added) SELECT id, 1 FROM faces WHERE subject_pk = ?1", [from_pk])?;
        tx.execute("UPDATE faces SET subject_pk = ?2 WHERE subject_pk = ?1", [from_pk, into_pk])?;
        tx.execute("DELETE FROM subjects WHERE pk = ?1", [from_pk])?;
        tx.commit()?;
        Ok((moved, self.seq()?))
    }

    /// Deletes every subject with its faces; returns the faces, the number of subjects and the
    /// sequence number of the last change.
    pub fn delete_all_subjects(&self) -> Result<(Vec<u64>, u64, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let faces = self.face_ids_of(None)?;
        tx.execute("INSERT INTO changes (face_id, added) SELECT id, 0 FROM faces", [])?;
        tx.execute("DELETE FROM faces", [])?;
        let subjects = tx.execute("DELETE FROM subjects", [])? as u64;
        tx.commit()?;
        Ok((faces, subjects, self.seq()?))
    }
}

impl Gallery {
    /// The oldest subject named `name`, if any.
    pub fn subject_named(&self, name: &str) -> Result<Option<Subject>> {
        self.reader.lock().subject_named(name)
    }

    /// The oldest subject named `name`, created (with a generated id) when there is none; true
    /// when created.
    pub fn subject_named_or_create(&self, name: &str) -> Result<(Subject, bool)> {
        let writer = self.writer.lock();
        if let Some(s) = writer.subject_named(name)? {
            return Ok((s, false));
        }
        let id = uuid::Uuid::new_v4().to_string();
        Ok((writer.insert_subject(&id, name, &serde_json::json!({}))?, true))
    }

    /// Every distinct subject name.
    pub fn subject_name_list(&self) -> Result<Vec<String>> {
        self.reader.lock().subject_name_list()
    }

    /// A page of faces (of one subject, or all) with their subjects' names.
    pub fn face_page(&self, subject_id: Option<&str>, offset: u64, limit: u64) -> Result<FacePage> {
        self.reader.lock().face_page(subject_id, offset, limit)
    }

    /// One face.
    pub fn face(&self, face_id: u64) -> Result<FaceRecord> {
        self.reader.lock().face(face_id)
    }

    /// The stored embedding of one face.
    pub fn face_embedding(&self, face_id: u64) -> Result<Vec<f32>> {
        let mut rows = self.reader.lock().embeddings(&[face_id])?;
        rows.pop().map(|(_, _, v)| v).ok_or_else(|| VisageError::NotFound(format!("face {face_id}")))
    }

    /// Deletes those of `ids` that exist, from the store and the index.
    pub fn delete_faces(&self, ids: &[u64]) -> Result<Vec<DeletedFace>> {
        let writer = self.writer.lock();
        let (deleted, seq) = writer.delete_faces(ids)?;
        let ids: Vec<u64> = deleted.iter().map(|d| d.face_id).collect();
        self.unindex(&writer, &ids, seq)?;
        Ok(deleted)
    }

    /// Deletes every face of one subject (or every face of the gallery); subjects stay.
    pub fn delete_faces_of(&self, subject_id: Option<&str>) -> Result<usize> {
        let writer = self.writer.lock();
        let ids = writer.face_ids_of(subject_id)?;
        let (deleted, seq) = writer.delete_faces(&ids)?;
        let ids: Vec<u64> = deleted.iter().map(|d| d.face_id).collect();
        self.unindex(&writer, &ids, seq)?;
        Ok(ids.len())
    }

    /// Moves every face of `from` to `into` and deletes `from` (embeddings stay in the index).
    pub fn merge_subject(&self, from: &str, into: &str) -> Result<usize> {
        let writer = self.writer.lock();
        let (moved, seq) = writer.merge_subject(from, into)?;
        self.index_write(seq, |index| index.relabel(&moved, into))?;
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        let into: Arc<str> = Arc::from(into);
        let mut map = self.face_subject.write();
        for f in &moved {
            map.insert(*f, into.clone());
        }
        Ok(moved.len())
    }

    /// Deletes every subject and face; returns the number of subjects.
    pub fn delete_all_subjects(&self) -> Result<u64> {
        let writer = self.writer.lock();
        let (faces, subjects, seq) = writer.delete_all_subjects()?;
        self.unindex(&writer, &faces, seq)?;
        Ok(subjects)
    }
}

//! Faces to review: with `review.enabled`, faces that identify answered "unknown" are kept in
//! the gallery database (embedding, box, photo hash, aligned crop, where and when), at most
//! `review.max_items` of them (the oldest are dropped). They are grouped by similarity so that a
//! person can name a whole group at once (its faces are enrolled like any enrolment) or discard
//! it (items and crops erased).

use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{blob_to_vector, detection_at, insert_face_in, now, quality_at, vector_to_blob, NewFace, Store};
use super::{FaceRecord, Gallery};
use crate::error::{Code, Result, VisageError};
use crate::index::dot;
use crate::pipeline::detect::{BBox, Detection};
use crate::pipeline::quality::Quality;

/// Keeping unknown faces for review (`[review]`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReviewSettings {
    /// Keep the faces identify answers "unknown" (with their crops) until a person names or
    /// discards them. Off by default: nothing of an unknown face is stored.
    pub enabled: bool,
    /// Most faces kept; beyond it the oldest are dropped (with their crops).
    pub max_items: u64,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS review (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    embedding BLOB NOT NULL,
    detection TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    quality TEXT,
    crop BLOB,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (image_sha256, detection)
);
";

/// A face kept for review. The embedding itself is never returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewItem {
    pub id: u64,
    pub bbox: BBox,
    /// Detector score.
    pub score: f32,
    /// Hex SHA-256 of the photo the face was found in.
    pub image_sha256: String,
    /// Which use case saw it (`identify`).
    pub source: String,
    /// Unix seconds.
    pub created_at: i64,
    pub quality: Option<Quality>,
    /// Whether its crop is kept: `GET /v1/review/items/{id}/crop`.
    pub has_crop: bool,
}

/// Faces to review that look like one person.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewGroup {
    /// The group's oldest item (a label: groups are formed again as items come and go).
    pub id: u64,
    /// Oldest first.
    pub items: Vec<ReviewItem>,
}

const ITEM_COLUMNS: &str = "id, detection, image_sha256, source, created_at, quality, crop IS NOT NULL FROM review";

fn item_from_row(row: &Row) -> rusqlite::Result<ReviewItem> {
    let d = detection_at(row, 1)?;
    Ok(ReviewItem {
        id: row.get::<_, i64>(0)? as u64,
        bbox: d.bbox,
        score: d.score,
        image_sha256: row.get(2)?,
        source: row.get(3)?,
        created_at: row.get(4)?,
        quality: quality_at(row, 5)?,
        has_crop: row.get(6)?,
    })
}

fn missing(id: u64) -> VisageError {
    VisageError::NotFound(format!("review item {id}"))
}

impl Store {
    /// Keeps `faces` for review (a face already kept, same photo and box, is not kept twice),
    /// then drops the oldest beyond `max_items`. Returns how many were new.
    pub fn keep_for_review(&self, faces: &[NewFace], source: &str, max_items: u64) -> Result<usize> {
        let tx = self.conn.unchecked_transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO review (model, embedding, detection, image_sha256, quality, crop, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for f in faces {
                let detection = serde_json::to_string(f.detection).map_err(|e| VisageError::Store(e.to_string()))?;
                added += insert.execute(params![
                    f.model,
                    vector_to_blob(f.vector),
                    detection,
                    f.image_sha256,
                    f.quality.and_then(|q| serde_json::to_string(&q).ok()),
                    f.crop,
                    source,
                    now()
                ])?;
            }
        }
        tx.execute(
            "DELETE FROM review WHERE id NOT IN (SELECT id FROM review ORDER BY id DESC LIMIT ?1)",
            [max_items as i64],
        )?;
        tx.commit()?;
        Ok(added)
    }

    /// Every kept face of `model` as (id, embedding), oldest first.
    pub fn review_vectors(&self, model: &str) -> Result<Vec<(u64, Vec<f32>)>> {
        let mut stmt = self.conn.prepare("SELECT id, embedding FROM review WHERE model = ?1 ORDER BY id")?;
        let rows =
            stmt.query_map([model], |r| Ok((r.get::<_, i64>(0)? as u64, blob_to_vector(&r.get::<_, Vec<u8>>(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The kept faces `ids`, in that order (`NotFound` for one that is not kept).
    pub fn review_items(&self, ids: &[u64]) -> Result<Vec<ReviewItem>> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} WHERE id = ?1"))?;
        ids.iter()
            .map(|&id| stmt.query_row([id as i64], item_from_row).optional()?.ok_or_else(|| missing(id)))
            .collect()
    }

    /// The crop (PNG) of a kept face: `NotFound` for no such item, `None` when none was kept.
    pub fn review_crop(&self, id: u64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT crop FROM review WHERE id = ?1", [id as i64], |r| r.get(0))
            .optional()?
            .ok_or_else(|| missing(id))
    }

    /// Erases the kept faces `ids` (with their crops), all or none: `NotFound` names the first
    /// that is not kept.
    pub fn discard_review(&self, ids: &[u64]) -> Result<usize> {
        let tx = self.conn.unchecked_transaction()?;
        for &id in ids {
            if tx.execute("DELETE FROM review WHERE id = ?1", [id as i64])? == 0 {
                return Err(missing(id));
            }
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// Enrols the kept faces `ids` for `subject_id` and erases them from review, in one
    /// transaction (all or none). Crops move to the gallery only with `keep_crops`. Returns
    /// each face's id, whether it is new, its embedding, and the last change's sequence number.
    #[allow(clippy::type_complexity)]
    pub fn enrol_review(
        &self,
        ids: &[u64],
        subject_id: &str,
        model: &str,
        keep_crops: bool,
    ) -> Result<(Vec<(u64, bool, Vec<f32>)>, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            type Kept = (String, Vec<u8>, String, String, Option<String>, Option<Vec<u8>>);
            let row: Option<Kept> = tx
                .query_row(
                    "SELECT model, embedding, detection, image_sha256, quality, crop FROM review WHERE id = ?1",
                    [id as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .optional()?;
            let (kept_model, blob, detection, sha, quality, crop) = row.ok_or_else(|| missing(id))?;
            if kept_model != model {
                return Err(VisageError::conflict(
                    Code::ModelMismatch,
                    format!("review item {id} holds an embedding of model {kept_model}, not {model}"),
                ));
            }
            let detection: Detection =
                serde_json::from_str(&detection).map_err(|e| VisageError::Store(e.to_string()))?;
            let vector = blob_to_vector(&blob);
            let face = NewFace {
                model,
                vector: &vector,
                detection: &detection,
                image_sha256: &sha,
                external_id: None,
                quality: quality.and_then(|q| serde_json::from_str(&q).ok()),
                crop: crop.as_deref().filter(|_| keep_crops),
            };
            let (face_id, created) = insert_face_in(&tx, subject_id, &face)?;
            tx.execute("DELETE FROM review WHERE id = ?1", [id as i64])?;
            out.push((face_id, created, vector));
        }
        tx.commit()?;
        Ok((out, self.seq()?))
    }
}

/// Greedy grouping, oldest face first: a face joins the group whose mean direction it is most
/// similar to when that cosine reaches `threshold`, else it starts a group. Groups come largest
/// first, then oldest first; each lists its item ids oldest first.
pub fn group(vectors: &[(u64, Vec<f32>)], threshold: f32) -> Vec<Vec<u64>> {
    let mut groups: Vec<(Vec<f32>, Vec<u64>)> = Vec::new();
    for (id, v) in vectors {
        let best = groups
            .iter()
            .enumerate()
            .map(|(i, (sum, _))| (i, dot(v, sum) / dot(sum, sum).sqrt().max(f32::EPSILON)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, score)) if score >= threshold => {
                let (sum, ids) = &mut groups[i];
                sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                ids.push(*id);
            }
            _ => groups.push((v.clone(), vec![*id])),
        }
    }
    let mut out: Vec<Vec<u64>> = groups.into_iter().map(|(_, ids)| ids).collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    out
}

/// The groups last formed, and what they were formed from.
#[derive(Default)]
pub(super) struct GroupCache {
    key: Option<(usize, u64, u32)>,
    groups: Arc<Vec<Vec<u64>>>,
}

impl Gallery {
    /// Keeps faces identify answered "unknown" for review (at most `max_items` in all); returns
    /// how many were new.
    pub fn keep_for_review(&self, faces: &[NewFace], source: &str, max_items: u64) -> Result<usize> {
        if faces.is_empty() {
            return Ok(0);
        }
        self.writer.lock().keep_for_review(faces, source, max_items)
    }

    /// The faces to review of this gallery's model, grouped at `threshold` (see [`group`]);
    /// formed again only when the items or the threshold changed.
    pub fn review_groups(&self, threshold: f32) -> Result<Arc<Vec<Vec<u64>>>> {
        let vectors = self.reader.lock().review_vectors(&self.model)?;
        let key = (vectors.len(), vectors.last().map_or(0, |v| v.0), threshold.to_bits());
        let mut cache = self.review_cache.lock();
        if cache.key != Some(key) {
            *cache = GroupCache { key: Some(key), groups: Arc::new(group(&vectors, threshold)) };
        }
        Ok(cache.groups.clone())
    }

    /// The kept faces `ids`.
    pub fn review_items(&self, ids: &[u64]) -> Result<Vec<ReviewItem>> {
        self.reader.lock().review_items(ids)
    }

    /// The crop of a kept face.
    pub fn review_crop(&self, id: u64) -> Result<Option<Vec<u8>>> {
        self.reader.lock().review_crop(id)
    }

    /// Erases kept faces and their crops (all or none).
    pub fn discard_review(&self, ids: &[u64]) -> Result<usize> {
        self.writer.lock().discard_review(ids)
    }

    /// Enrols kept faces for a subject (store first, then the index, as every enrolment) and
    /// erases them from review. Returns the gallery faces, new or already there.
    pub fn enrol_review(&self, ids: &[u64], subject_id: &str, keep_crops: bool) -> Result<Vec<FaceRecord>> {
        let writer = self.writer.lock();
        let (faces, seq) = writer.enrol_review(ids, subject_id, &self.model, keep_crops)?;
        let added: Vec<(u64, &[f32])> = faces.iter().filter(|f| f.1).map(|f| (f.0, f.2.as_slice())).collect();
        let labels = vec![subject_id; added.len()];
        self.index_write(seq, |index| if added.is_empty() { Ok(()) } else { index.add_labelled(&added, &labels) })?;
        if !added.is_empty() {
            let subject: Arc<str> = Arc::from(subject_id);
            let mut map = self.face_subject.write();
            for (id, _) in &added {
                map.insert(*id, subject.clone());
            }
            self.dirty.store(true, std::sync::atomic::Ordering::Release);
        }
        drop(writer);
        faces.iter().map(|f| self.reader.lock().face(f.0)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::group;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn similar_faces_group_together_largest_group_first() {
        let vectors = vec![
            (1, unit(&[1.0, 0.0, 0.0])),
            (2, unit(&[0.0, 1.0, 0.0])),
            (3, unit(&[0.0, 1.0, 0.1])),
            (4, unit(&[1.0, 0.05, 0.0])),
            (5, unit(&[0.05, 1.0, 0.0])),
            (6, unit(&[0.0, 0.0, 1.0])),
        ];
        assert_eq!(group(&vectors, 0.9), vec![vec![2, 3, 5], vec![1, 4], vec![6]]);
        // Nothing is similar enough at 0.9999: every face alone, oldest first.
        assert_eq!(group(&vectors, 0.9999).len(), 6);
        assert!(group(&[], 0.5).is_empty());
    }
}

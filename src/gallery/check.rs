//! `visage check`: does the index agree with the store, its source of truth? For any backend:
//! the number of vectors against the number of faces, the index's checkpoint against the
//! store's change log, a sample of faces looked up by id (present, same vector, and for Qdrant
//! the same subject label), ids the index answers that the store does not know, and the recall
//! of the index's top-k against exact brute force over the store for a sample of queries.
//! Nothing is repaired: `visage reindex` (or the next start-up) does that.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::store::Store;
use super::sync::Source;
use super::{lock, DB_FILE};
use crate::error::{Code, Result, VisageError};
use crate::index::{dot, Filter, IndexSettings, SearchParams};

/// What `visage check` samples and how much recall it accepts.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Faces looked up by id.
    pub sample: usize,
    /// Of those, how many are also queries for the recall measurement.
    pub recall_queries: usize,
    /// Results per recall query.
    pub k: usize,
    /// Recall@k below this is drift.
    pub min_recall: f64,
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { sample: 200, recall_queries: 50, k: 10, min_recall: 0.95, seed: 0x0c4ec }
    }
}

/// The findings; `drift` when any `problems`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub backend: String,
    /// The Qdrant collection checked.
    pub collection: Option<String>,
    /// Another process (a server) has the gallery open: its saved index may lag behind by up to
    /// `server.persist_interval_s`.
    pub live: bool,
    pub store_faces: u64,
    pub index_vectors: Option<usize>,
    pub store_seq: u64,
    pub index_checkpoint: Option<u64>,
    /// Changes in the store's log the index has not seen yet (caught up at the next start).
    pub behind_by: u64,
    pub sampled: usize,
    /// Sampled faces the index does not hold.
    pub missing: Vec<u64>,
    /// Sampled faces the index holds with another vector (or, in Qdrant, another subject).
    pub mismatched: Vec<u64>,
    /// Ids the index answered that the store does not know.
    pub unknown: Vec<u64>,
    pub k: usize,
    pub recall_queries: usize,
    /// Mean share of the exact top-k (brute force over the store) the index returned.
    pub recall_at_k: Option<f64>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    pub drift: bool,
}

/// Checks the gallery in `dir` against the index `settings` name. Errors only when the check
/// cannot run (no gallery, an unreachable Qdrant); drift is in the report.
pub fn check(dir: &Path, settings: &IndexSettings, opts: &CheckOptions) -> Result<CheckReport> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(VisageError::unprocessable(Code::NoGallery, format!("no gallery in {}", dir.display())));
    }
    let (_lock, live) = match lock(dir) {
        Ok(l) => (Some(l), false),
        Err(e) if e.code() == Code::GalleryLocked => (None, true),
        Err(e) => return Err(e),
    };
    let store = Store::open(&path)?;
    let mut report = CheckReport {
        backend: settings.kind.to_string(),
        collection: None,
        live,
        store_faces: store.face_count()?,
        index_vectors: None,
        store_seq: store.seq()?,
        index_checkpoint: None,
        behind_by: 0,
        sampled: 0,
        missing: Vec::new(),
        mismatched: Vec::new(),
        unknown: Vec::new(),
        k: opts.k,
        recall_queries: 0,
        recall_at_k: None,
        problems: Vec::new(),
        notes: Vec::new(),
        drift: false,
    };
    let (Some(model), Some(dim)) = (store.meta("model")?, store.meta("dim")?.and_then(|d| d.parse::<usize>().ok()))
    else {
        report.notes.push("the gallery was never opened with a model: nothing to check".into());
        return Ok(report);
    };
    let source = Source::new(settings, dir, &store, &model, dim)?;
    if let Some(q) = source.qdrant() {
        report.collection = Some(q.collection().to_string());
        if !q.exists()? {
            report.problems.push(format!("the Qdrant collection {} does not exist", q.collection()));
            return Ok(finish(report));
        }
    }
    let index = match source.open(dim) {
        Ok(index) => index,
        Err(e) if e.needs_rebuild() => {
            report.problems.push(format!("no usable index: {e}"));
            return Ok(finish(report));
        }
        Err(e) => return Err(e.into()),
    };
    let index = index.as_ref();
    let checkpoint = index.checkpoint();
    report.index_vectors = Some(index.len());
    report.index_checkpoint = Some(checkpoint);

    // Checkpoint and count.
    let mut changed: HashSet<u64> = HashSet::new();
    if checkpoint > report.store_seq {
        report.problems.push(format!(
            "the index's checkpoint {checkpoint} is ahead of the store's change log ({}): a restored backup?",
            report.store_seq
        ));
    } else if checkpoint < report.store_seq {
        let (changes, complete) = store.changes_since(checkpoint)?;
        if complete {
            report.behind_by = changes.len() as u64;
            changed.extend(changes.iter().map(|c| c.face_id));
            report.notes.push(format!(
                "the index is {} changes behind the store; they are replayed at the next start{}",
                changes.len(),
                if live { " (a running server saves its index every server.persist_interval_s)" } else { "" }
            ));
        } else {
            report.problems.push(format!(
                "the index's checkpoint {checkpoint} is older than the store's change log reaches: it must be rebuilt"
            ));
        }
    }
    if report.behind_by == 0 && checkpoint <= report.store_seq && index.len() as u64 != report.store_faces {
        report.problems.push(format!(
            "{} vectors in the index, {} faces in the store",
            index.len(),
            report.store_faces
        ));
    }

    // A sample of faces, looked up by id.
    let sample = store.sample_face_ids(opts.sample, opts.seed)?;
    let rows = store.embeddings(&sample)?;
    report.sampled = rows.len();
    for (id, _, vector) in &rows {
        let hits = index.search(vector, 1, &SearchParams::new().filter(Filter::Ids(std::slice::from_ref(id))))?;
        match hits.first() {
            None if !changed.contains(id) => report.missing.push(*id),
            Some(h) if h.id == *id && h.score < 0.999 && !changed.contains(id) => report.mismatched.push(*id),
            _ => {}
        }
    }
    if let Some(q) = source.qdrant() {
        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
        for ((id, subject, _), label) in rows.iter().zip(q.labels(&ids)?) {
            if label.as_deref().is_some_and(|l| l != subject) && !changed.contains(id) {
                report.mismatched.push(*id);
            }
        }
        report.mismatched.sort_unstable();
        report.mismatched.dedup();
    }
    if !report.missing.is_empty() {
        report.problems.push(format!(
            "{} of {} sampled faces are missing from the index",
            report.missing.len(),
            rows.len()
        ));
    }
    if !report.mismatched.is_empty() {
        report.problems.push(format!(
            "{} of {} sampled faces differ in the index (vector or subject)",
            report.mismatched.len(),
            rows.len()
        ));
    }

    // Recall of the index's top-k against brute force over the store.
    let queries: Vec<&[f32]> = rows.iter().take(opts.recall_queries).map(|r| r.2.as_slice()).collect();
    if !queries.is_empty() && opts.k > 0 {
        let answers = index.search_batch(&queries, opts.k, &SearchParams::new())?;
        let exact = brute_force(&store, &queries, opts.k)?;
        let mut total = 0.0;
        for (got, want) in answers.iter().zip(&exact) {
            let want: HashSet<u64> = want.iter().copied().collect();
            let found = got.iter().filter(|h| want.contains(&h.id)).count();
            total += if want.is_empty() { 1.0 } else { found as f64 / want.len() as f64 };
        }
        let recall = total / queries.len() as f64;
        report.recall_queries = queries.len();
        report.recall_at_k = Some(recall);
        let mut answered: Vec<u64> = answers.iter().flatten().map(|h| h.id).collect();
        answered.sort_unstable();
        answered.dedup();
        let known: HashSet<u64> = store.embeddings(&answered)?.into_iter().map(|r| r.0).collect();
        report.unknown = answered.into_iter().filter(|id| !known.contains(id) && !changed.contains(id)).collect();
        if !report.unknown.is_empty() {
            report.problems.push(format!(
                "the index answered {} ids the store does not know (deleted faces still indexed?)",
                report.unknown.len()
            ));
        }
        if recall < opts.min_recall && report.behind_by == 0 {
            report
                .problems
                .push(format!("recall@{} against exact search is {recall:.4}, below {}", opts.k, opts.min_recall));
        }
    }
    Ok(finish(report))
}

fn finish(mut report: CheckReport) -> CheckReport {
    report.drift = !report.problems.is_empty();
    report
}

/// Exact top-k ids of each query over every face of the store (streamed, queries in parallel).
fn brute_force(store: &Store, queries: &[&[f32]], k: usize) -> Result<Vec<Vec<u64>>> {
    let mut tops: Vec<Vec<(f32, u64)>> = vec![Vec::with_capacity(k + 1); queries.len()];
    store.for_each_face(8192, |rows| {
        tops.par_iter_mut().zip(queries.par_iter()).for_each(|(top, q)| {
            for (id, _, v) in &rows {
                if v.len() != q.len() {
                    continue;
                }
                let s = dot(q, v);
                if top.len() < k || s > top[top.len() - 1].0 {
                    let at = top.partition_point(|(t, tid)| *t > s || (*t == s && tid < id));
                    top.insert(at, (s, *id));
                    top.truncate(k);
                }
            }
        });
        Ok(())
    })?;
    Ok(tops.into_iter().map(|t| t.into_iter().map(|(_, id)| id).collect()).collect())
}

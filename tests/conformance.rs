//! One suite of gallery scenarios — search, identify (open set), delete, restart, reindex — run
//! against every backend: exact, scan, the graph index (hnsw, auto) and Qdrant. The Qdrant run
//! starts a real server (`common::qdrant`) and is reported as skipped, with the reason, when no
//! Qdrant binary is at hand.

mod common;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use visage::gallery::check::{check, CheckOptions};
use visage::gallery::Gallery;
use visage::index::{Backend, IndexParams, IndexSettings, QdrantIndex};
use visage::pipeline::embed::Embedding;
use visage::synth::Rng;

const DIM: usize = 32;
const MODEL: &str = "conformance@1";
const SUBJECTS: usize = 25;
const PER: usize = 4;
const THRESHOLD: f32 = 0.6;

/// A face of `subject` (photo `face`): its centre plus noise; genuine pairs score about 0.8,
/// different subjects about 0 ± 0.18.
fn vector(subject: usize, face: usize) -> Vec<f32> {
    let centre = Rng::new(7000 + subject as u64).unit_vector(DIM);
    let noise = Rng::new((subject * 1000 + face) as u64 + 1).unit_vector(DIM);
    let v: Vec<f32> = centre.iter().zip(&noise).map(|(c, n)| c + 0.5 * n).collect();
    visage::index::normalize(&v).unwrap()
}

fn embedding(v: Vec<f32>) -> Embedding {
    Embedding { model: Arc::from(MODEL), vector: v }
}

fn add(g: &Gallery, subject: &str, v: &[f32], tag: &str) -> u64 {
    common::add_vector(g, MODEL, subject, v, tag)
}

/// Who each probe (a new photo of every subject, then strangers) is, as the gallery answers.
fn answers(g: &Gallery) -> Vec<Option<String>> {
    let mut probes: Vec<Embedding> = (0..SUBJECTS).map(|s| embedding(vector(s, 99))).collect();
    probes.extend((0..5).map(|i| embedding(Rng::new(555 + i).unit_vector(DIM))));
    probes
        .iter()
        .map(|p| {
            g.identify(std::slice::from_ref(p), 3, THRESHOLD, None).unwrap()[0]
                .matched
                .as_ref()
                .map(|c| c.subject_id.clone())
        })
        .collect()
}

fn expected(deleted: &[usize]) -> Vec<Option<String>> {
    let mut want: Vec<Option<String>> =
        (0..SUBJECTS).map(|s| (!deleted.contains(&s)).then(|| format!("s{s}"))).collect();
    want.extend([None, None, None, None, None]);
    want
}

fn run(index: &IndexSettings, data: &Path) {
    let kind = index.kind;
    let mut face_ids = Vec::new();
    {
        let g = Gallery::open_with(data, MODEL, DIM, index).unwrap();
        assert_eq!(g.backend(), kind);
        for s in 0..SUBJECTS {
            let id = format!("s{s}");
            g.create_subject(Some(&id), &id, &json!({})).unwrap();
            for f in 0..PER {
                face_ids.push(add(&g, &id, &vector(s, f), &format!("{s}-{f}")));
            }
        }
        assert_eq!(g.len(), SUBJECTS * PER, "{kind}");
        // Search: the nearest face of a new photo is its subject's, with the exact score.
        let hits = g.search(&embedding(vector(3, 50)), 5, None).unwrap();
        assert_eq!(hits[0].subject_id, "s3", "{kind}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{kind}: best first");
        let own = g.search(&embedding(vector(4, 1)), 1, None).unwrap();
        assert!((own[0].score - 1.0).abs() < 1e-3, "{kind}: a stored face finds itself: {own:?}");
        // Identify: every enrolled subject recognised, every stranger unknown.
        assert_eq!(answers(&g), expected(&[]), "{kind}");
        // Delete one face, then a whole subject.
        g.delete_face(face_ids[0]).unwrap();
        assert_eq!(g.delete_subject("s7").unwrap(), PER);
        assert_eq!(g.len(), SUBJECTS * PER - 1 - PER, "{kind}");
        assert!(g.search(&embedding(vector(7, 0)), 10, None).unwrap().iter().all(|h| h.subject_id != "s7"));
        assert!(g.search(&embedding(vector(0, 0)), 10, None).unwrap().iter().all(|h| h.face_id != face_ids[0]));
        assert_eq!(answers(&g), expected(&[7]), "{kind}");
        g.persist().unwrap();
    }
    // Restart: the same answers without a rebuild's loss.
    {
        let g = Gallery::open_with(data, MODEL, DIM, index).unwrap();
        assert_eq!(g.len(), SUBJECTS * PER - 1 - PER, "{kind}: after a restart");
        assert_eq!(answers(&g), expected(&[7]), "{kind}: after a restart");
        // A change that is never saved: replayed from the change log at the next start.
        g.create_subject(Some("late"), "late", &json!({})).unwrap();
        add(&g, "late", &vector(40, 0), "late");
    }
    let report = check(data, index, &CheckOptions::default()).unwrap();
    assert!(report.problems.is_empty(), "{kind}: {report:#?}");
    {
        let g = Gallery::open_with(data, MODEL, DIM, index).unwrap();
        assert_eq!(g.search(&embedding(vector(40, 1)), 1, None).unwrap()[0].subject_id, "late", "{kind}");
    }
    // Reindex into exact and back: the same answers.
    let exact = IndexSettings::new(Backend::Exact, &IndexParams::default());
    drop(Gallery::reindex(data, MODEL, DIM, &exact, None).unwrap());
    let g = Gallery::reindex(data, MODEL, DIM, index, None).unwrap();
    assert_eq!(g.len(), SUBJECTS * PER - PER, "{kind}: after reindexing");
    assert_eq!(answers(&g), expected(&[7]), "{kind}: after reindexing");
    drop(g);
    let report = check(data, index, &CheckOptions::default()).unwrap();
    assert!(!report.drift && report.recall_at_k.unwrap() >= 0.95, "{kind}: {report:#?}");
}

fn embedded(kind: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    // auto switches to the graph during the run.
    let params = IndexParams { auto_threshold: 40, ..IndexParams::default() };
    run(&IndexSettings::new(kind, &params), &tmp.path().join("data"));
}

#[test]
fn exact() {
    embedded(Backend::Exact);
}

#[test]
fn scan() {
    embedded(Backend::Scan);
}

#[test]
fn hnsw() {
    embedded(Backend::Hnsw);
}

#[test]
fn auto() {
    embedded(Backend::Auto);
}

#[test]
fn qdrant() {
    let Some(qdrant) = common::qdrant::Qdrant::single("conformance::qdrant") else { return };
    let settings = qdrant.settings();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let index = IndexSettings { kind: Backend::Qdrant, qdrant: settings.clone(), ..IndexSettings::default() };
    let result = std::panic::catch_unwind(|| run(&index, &data));
    // Drop the collection whatever happened.
    let store = visage::gallery::store::Store::open(&data.join("gallery.sqlite3")).unwrap();
    let id = visage::gallery::sync::gallery_id(&store).unwrap();
    let _ = QdrantIndex::connect(&settings, &id, MODEL, DIM).unwrap().drop_collection();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

//! The gallery as a library: durable records, idempotent enrolment, model binding, forgetting,
//! and the index catching up with (or being rebuilt from) the store.

use std::sync::Arc;

use serde_json::json;
use visage::gallery::{Gallery, NewFace};
use visage::index::{Backend, IndexParams};
use visage::pipeline::detect::{BBox, Detection};
use visage::pipeline::embed::Embedding;
use visage::pipeline::quality::Quality;

const DIM: usize = 8;

fn embedding(model: &str, seed: usize) -> Embedding {
    let v: Vec<f32> =
        (0..DIM).map(|i| ((seed * 31 + i * 7) % 13) as f32 - 6.0 + if i == seed % DIM { 9.0 } else { 0.0 }).collect();
    Embedding { model: Arc::from(model), vector: visage::index::normalize(&v).unwrap_or(v) }
}

fn detection() -> Detection {
    Detection { bbox: BBox { x1: 1.0, y1: 2.0, x2: 50.0, y2: 60.0 }, score: 0.9, landmarks: [[10.0, 20.0]; 5] }
}

fn open(dir: &std::path::Path, model: &str) -> visage::Result<Gallery> {
    Gallery::open(dir, model, DIM, Backend::Auto, &IndexParams::default())
}

fn add(g: &Gallery, subject: &str, seed: usize, external: Option<&str>) -> visage::Result<(u64, bool)> {
    let e = embedding(g.model(), seed);
    let hash = format!("hash-{seed}");
    let face = NewFace {
        model: &e.model,
        vector: &e.vector,
        detection: &detection(),
        image_sha256: &hash,
        external_id: external,
        quality: Some(Quality { eye_distance: 40.0, sharpness: 100.0 }),
        crop: None,
    };
    g.add_face(subject, &e, face).map(|(r, created)| (r.id, created))
}

#[test]
fn enrolment_is_durable_idempotent_and_bound_to_one_model() {
    let dir = tempfile::tempdir().unwrap();
    {
        let g = open(dir.path(), "m1").unwrap();
        g.create_subject(Some("alice"), "Alice", &json!({ "team": "a" })).unwrap();
        g.create_subject(Some("bob"), "Bob", &json!({})).unwrap();
        let (id, created) = add(&g, "alice", 1, Some("ext-1")).unwrap();
        assert!(created);
        assert_eq!(add(&g, "alice", 1, Some("ext-1")).unwrap(), (id, false), "same external id: same face");
        assert_eq!(add(&g, "bob", 2, Some("ext-1")).unwrap_err().code(), "external_id_taken");
        assert!(add(&g, "alice", 3, None).unwrap().1);
        assert!(!add(&g, "alice", 3, None).unwrap().1, "same image again: same face");
        assert_eq!(g.create_subject(Some("alice"), "again", &json!({})).unwrap_err().code(), "subject_exists");
        assert_eq!(add(&g, "nobody", 4, None).unwrap_err().code(), "not_found");
        // No save of the index: the reopen below must catch up from the store's change log.
    }
    let err = open(dir.path(), "m2").err().expect("another model is refused");
    assert_eq!(err.code(), "model_mismatch");
    let g = open(dir.path(), "m1").unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g.subject("alice").unwrap().faces, 2);
    let hits = g.search(&embedding("m1", 3), 1, None).unwrap();
    assert_eq!((hits[0].subject_id.as_str(), hits[0].subject_name.as_str()), ("alice", "Alice"));
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert_eq!(g.search(&embedding("m2", 3), 1, None).unwrap_err().code(), "model_mismatch");
}

#[test]
fn forgetting_a_subject_erases_it_everywhere_and_a_lost_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let g = open(dir.path(), "m").unwrap();
    for (s, seeds) in [("alice", [1, 2]), ("bob", [3, 4])] {
        g.create_subject(Some(s), s, &json!({})).unwrap();
        for seed in seeds {
            add(&g, s, seed, None).unwrap();
        }
    }
    assert_eq!(g.delete_subject("alice").unwrap(), 2);
    let hits = g.search(&embedding("m", 1), 10, None).unwrap();
    assert!(hits.iter().all(|h| h.subject_id == "bob"), "{hits:?}");
    assert_eq!(g.len(), 2);
    assert!(g.faces("alice").is_err());
    g.persist().unwrap();
    drop(g);
    // The index files vanish (disk trouble, manual cleanup): the store rebuilds them.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let g = open(dir.path(), "m").unwrap();
    assert_eq!(g.len(), 2);
    let answers = g.identify(&[embedding("m", 4), embedding("m", 1)], 3, 0.99, None).unwrap();
    assert_eq!(answers[0].matched.as_ref().map(|c| c.subject_id.as_str()), Some("bob"));
    assert!(answers[1].matched.is_none(), "alice's own face no longer matches anyone at 0.99");
}

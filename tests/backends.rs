//! Index backends behind the gallery, without a Qdrant server: the `[index]` settings (file and
//! environment), `visage check` finding an injected drift and `visage reindex` moving a gallery
//! between the embedded backends, and a Qdrant that cannot be reached (a closed port):
//! enrolment still durable, searches `index_unavailable`, and the index catching up from the
//! store's change log once one answers again.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use visage::gallery::check::{check, CheckOptions};
use visage::gallery::{Gallery, NewFace};
use visage::index::{Backend, ExactIndex, IndexParams, IndexSettings, Kernel, QdrantSearch, VectorIndex};
use visage::pipeline::detect::{BBox, Detection};
use visage::pipeline::embed::Embedding;
use visage::synth::Rng;
use visage::Settings;

const DIM: usize = 16;
const MODEL: &str = "test@1";
/// Nothing listens there: connections are refused at once.
const CLOSED: &str = "http://127.0.0.1:1";

fn visage(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_visage")).args(args).envs(env.iter().copied()).output().expect("run visage");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn detection() -> Detection {
    Detection { bbox: BBox { x1: 1.0, y1: 2.0, x2: 50.0, y2: 60.0 }, score: 0.9, landmarks: [[10.0, 20.0]; 5] }
}

/// A face near its subject's centre.
fn vector(subject: usize, face: usize) -> Vec<f32> {
    let centre = Rng::new(1000 + subject as u64).unit_vector(DIM);
    let noise = Rng::new((subject * 100 + face) as u64).unit_vector(DIM);
    let v: Vec<f32> = centre.iter().zip(&noise).map(|(c, n)| c + 0.4 * n).collect();
    visage::index::normalize(&v).unwrap()
}

fn add(g: &Gallery, subject: &str, v: &[f32], tag: &str) -> visage::Result<u64> {
    let e = Embedding { model: Arc::from(MODEL), vector: v.to_vec() };
    let face = NewFace {
        model: &e.model,
        vector: &e.vector,
        detection: &detection(),
        image_sha256: tag,
        external_id: None,
        quality: None,
        crop: None,
    };
    g.add_face(subject, &e, face).map(|(r, _)| r.id)
}

/// `subjects` subjects of `per` faces each in a gallery with an exact index.
fn gallery(dir: &Path, subjects: usize, per: usize) -> Vec<u64> {
    let g = Gallery::open(dir, MODEL, DIM, Backend::Exact, &IndexParams::default()).unwrap();
    let mut ids = Vec::new();
    for s in 0..subjects {
        let id = format!("s{s}");
        g.create_subject(Some(&id), &id, &json!({})).unwrap();
        for f in 0..per {
            ids.push(add(&g, &id, &vector(s, f), &format!("{s}-{f}")).unwrap());
        }
    }
    g.persist().unwrap();
    ids
}

fn qdrant_settings(url: &str) -> IndexSettings {
    let mut settings = IndexSettings { kind: Backend::Qdrant, ..IndexSettings::default() };
    settings.qdrant.url = vec![url.to_string()];
    settings.qdrant.timeout_ms = 1000;
    settings
}

/// One enum names every backend: each name parses back to it (any case) and is what the
/// configuration and `visage reindex --to` take; the embedded ones open from files, Qdrant is
/// refused there (it is connected to) and evaluates on a scratch scan index.
#[test]
fn one_enum_names_and_opens_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let params = IndexParams::default();
    for b in Backend::ALL {
        assert_eq!(b.as_str().to_uppercase().parse::<Backend>().unwrap(), b);
        let file = dir.path().join(format!("{b}.toml"));
        std::fs::write(&file, format!("[index]\nkind = \"{b}\"\n")).unwrap();
        assert_eq!(Settings::load(Some(&file)).unwrap().index.kind, b);
        let at = dir.path().join(b.as_str());
        let v = vector(0, 0);
        match visage::index::create_index(b, &at, DIM, &params) {
            Ok(index) => {
                assert!(!b.is_remote());
                index.add(&[(7, &v)]).unwrap();
                index.persist().unwrap();
                assert_eq!(visage::index::open_index(b, &at, DIM, &params).unwrap().len(), 1, "{b}");
            }
            Err(e) => {
                assert!(b.is_remote() && e.is_client_error(), "{b}: {e}");
                assert!(visage::index::open_index(b, &at, DIM, &params).is_err());
            }
        }
        let scratch = visage::index::scratch_index(b, DIM, &params).unwrap();
        scratch.add(&[(7, &v)]).unwrap();
        assert_eq!(scratch.search(&v, 1, &Default::default()).unwrap()[0].id, 7, "{b}");
    }
}

#[test]
fn index_settings_from_a_file_and_the_environment() {
    let defaults = Settings::load(None).unwrap();
    assert_eq!(defaults.index.kind, Backend::Scan);
    assert_eq!(defaults.index.qdrant.url, ["http://127.0.0.1:6334"]);
    assert_eq!(defaults.index.qdrant.search, QdrantSearch::Exact, "answers as brute force by default");
    assert_eq!(defaults.index.qdrant.collection_prefix, "visage_");
    assert_eq!(defaults.index.params.auto_threshold, 50_000, "the embedded keys still flatten into [index]");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("visage.toml");
    std::fs::write(
        &file,
        r#"
[index]
kind = "qdrant"
auto_threshold = 1234
[index.hnsw]
max_nb_conn = 24
[index.qdrant]
url = ["https://qdrant-1.example:6334", "https://qdrant-2.example:6334"]
search = "hnsw"
api_key = "secret"
collection_prefix = "faces_"
quantization = true
on_disk = true
shard_number = 2
replication_factor = 2
[index.qdrant.hnsw]
m = 32
ef = 200
"#,
    )
    .unwrap();
    let settings = Settings::load(Some(&file)).unwrap();
    let index = &settings.index;
    assert_eq!(index.kind, Backend::Qdrant);
    assert_eq!((index.params.auto_threshold, index.params.hnsw.max_nb_conn), (1234, 24));
    let q = &index.qdrant;
    assert_eq!(
        (q.url.join(" "), q.api_key(), q.collection_prefix.as_str()),
        ("https://qdrant-1.example:6334 https://qdrant-2.example:6334".to_string(), Some("secret"), "faces_")
    );
    assert!(q.quantization && q.rescore && q.on_disk && q.search == QdrantSearch::Hnsw);
    assert_eq!((q.shard_number, q.replication_factor, q.hnsw.m, q.hnsw.ef, q.hnsw.ef_construct), (2, 2, 32, 200, 100));
    assert_eq!(q.collection_name("abc", "sface_2021dec@1f"), "faces_abc__sface_2021dec-1f");
    assert_eq!("QDRANT".parse::<Backend>().unwrap(), Backend::Qdrant);
    assert!("faiss".parse::<Backend>().is_err());

    // VISAGE_INDEX__QDRANT__* reach the settings (a bad URL is refused by name), and a bad
    // kind is a configuration error, both before anything runs.
    let data = dir.path().join("data");
    let (code, _, err) = visage(
        &["check", "--data-dir", s(&data)],
        &[("VISAGE_INDEX__KIND", "qdrant"), ("VISAGE_INDEX__QDRANT__URL", "http://a:6334,qdrant:6334")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("[invalid_config]") && err.contains("index.qdrant: url \"qdrant:6334\""), "{err}");
    let (code, _, err) = visage(&["check", "--data-dir", s(&data)], &[("VISAGE_INDEX__KIND", "faiss")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("[invalid_config]"), "{err}");
    // A scan path: an unknown one, or (where the processor lacks it) one it cannot run, names
    // the paths it can.
    let (code, _, err) = visage(&["check", "--data-dir", s(&data)], &[("VISAGE_INDEX__SCAN__KERNEL", "sse")]);
    assert!(code == 1 && err.contains("[invalid_config]") && err.contains("avx512"), "{err}");
    if let Some(missing) = Kernel::ALL.into_iter().find(|k| !k.supported()) {
        let (code, _, err) =
            visage(&["check", "--data-dir", s(&data)], &[("VISAGE_INDEX__SCAN__KERNEL", missing.name())]);
        assert!(code == 1 && err.contains("[invalid_config]") && err.contains("it has scalar"), "{err}");
    }
}

#[test]
fn check_finds_an_injected_drift_and_reindex_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ids = gallery(&data, 30, 5);
    let exact = [("VISAGE_INDEX__KIND", "exact")];

    let (code, report, err) = visage(&["check", "--data-dir", s(&data)], &exact);
    assert_eq!(code, 0, "{err}\n{report:#}");
    assert_eq!((report["backend"].as_str(), report["drift"].as_bool()), (Some("exact"), Some(false)));
    assert_eq!((report["store_faces"].as_u64(), report["index_vectors"].as_u64()), (Some(150), Some(150)));
    assert_eq!(report["recall_at_k"].as_f64(), Some(1.0), "{report:#}");
    assert!(report["sampled"].as_u64().unwrap() >= 50, "{report:#}");

    // Drift behind the store's back: three vectors lost from the saved index, one changed.
    let dir = data.join("index");
    let index = ExactIndex::open(&dir, DIM).unwrap();
    assert_eq!(index.remove(&ids[..3]).unwrap(), 3);
    let other = vector(99, 0);
    index.add(&[(ids[10], &other[..])]).unwrap();
    index.persist().unwrap();
    let report = check(
        &data,
        &IndexSettings::new(Backend::Exact, &IndexParams::default()),
        &CheckOptions { sample: 1000, ..CheckOptions::default() },
    )
    .unwrap();
    assert!(report.drift, "{report:#?}");
    assert_eq!(report.missing, ids[..3].to_vec());
    assert_eq!(report.mismatched, vec![ids[10]]);
    assert!(report.problems.iter().any(|p| p.contains("147 vectors in the index, 150 faces")), "{report:#?}");
    let (code, report, err) = visage(&["check", "--data-dir", s(&data)], &exact);
    assert_eq!(code, 2, "{report:#}");
    assert!(err.contains("[index_drift]") && err.contains("visage reindex --to exact"), "{err}");

    // Reindex repairs it, and moves the gallery to the graph index and back.
    for to in ["exact", "hnsw", "scan"] {
        let (code, out, err) = visage(&["reindex", "-q", "--to", to, "--data-dir", s(&data)], &[]);
        assert_eq!(code, 0, "reindex --to {to}: {err}\n{out:#}");
        assert_eq!((out["faces"].as_u64(), out["check"]["drift"].as_bool()), (Some(150), Some(false)), "{out:#}");
        let (code, report, err) = visage(&["check", "--data-dir", s(&data), "--kind", to], &[]);
        assert_eq!(code, 0, "check {to}: {err}\n{report:#}");
        assert!(report["recall_at_k"].as_f64().unwrap() >= 0.95, "{report:#}");
    }
    // The gallery opens on the new backend without a rebuild, with every face.
    let g = Gallery::open(&data, MODEL, DIM, Backend::Hnsw, &IndexParams::default()).unwrap();
    assert_eq!(g.len(), 150);
    let e = Embedding { model: Arc::from(MODEL), vector: vector(7, 2) };
    assert_eq!(g.search(&e, 1, None).unwrap()[0].subject_id, "s7");
}

#[test]
fn an_unreachable_qdrant_keeps_enrolment_durable_and_the_index_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gallery(&data, 4, 3);
    let down = qdrant_settings(CLOSED);
    {
        // The gallery opens without its index; enrolment and deletion still reach the store.
        let g = Gallery::open_with(&data, MODEL, DIM, &down).unwrap();
        assert!(g.index_behind());
        assert_eq!(g.backend(), Backend::Qdrant);
        g.create_subject(Some("new"), "New", &json!({})).unwrap();
        add(&g, "new", &vector(50, 0), "n-0").unwrap();
        add(&g, "new", &vector(50, 1), "n-1").unwrap();
        assert_eq!(g.delete_subject("s0").unwrap(), 3);
        assert_eq!(g.subject("new").unwrap().faces, 2);
        let e = Embedding { model: Arc::from(MODEL), vector: vector(50, 0) };
        let err = g.search(&e, 3, None).unwrap_err();
        assert_eq!(err.code(), "index_unavailable", "{err}");
        assert_eq!(err.code().status(), 503);
        assert_eq!(err.retry_after_s(), Some(5));
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        // Verification against a subject reads the store: it still answers.
        assert!(g.verify_subject(&e, "new").unwrap().unwrap().1 > 0.99);
        // Saving keeps the change log (nothing is lost while the index is away).
        g.persist().unwrap();
    }
    // `visage check` cannot run against a closed port: an error, not a drift report.
    let err = check(&data, &down, &CheckOptions::default()).unwrap_err();
    assert_eq!(err.code(), "index_unavailable", "{err}");

    // An index that answers catches up from the change log: the embedded one here (the same
    // path a Qdrant collection takes when its server is back).
    let g = Gallery::open(&data, MODEL, DIM, Backend::Exact, &IndexParams::default()).unwrap();
    assert!(!g.index_behind());
    assert_eq!(g.len(), 4 * 3 - 3 + 2);
    let e = Embedding { model: Arc::from(MODEL), vector: vector(50, 1) };
    let hits = g.search(&e, 2, None).unwrap();
    assert_eq!((hits[0].subject_id.as_str(), hits[1].subject_id.as_str()), ("new", "new"));
    let e = Embedding { model: Arc::from(MODEL), vector: vector(0, 0) };
    assert!(g.search(&e, 20, None).unwrap().iter().all(|h| h.subject_id != "s0"), "deleted while away");
    drop(g);
    let report =
        check(&data, &IndexSettings::new(Backend::Exact, &IndexParams::default()), &CheckOptions::default()).unwrap();
    assert!(!report.drift, "{report:#?}");
}

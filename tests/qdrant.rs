//! The Qdrant backend against real Qdrant servers that the tests start themselves
//! (`common::qdrant`: the binary in `QDRANT_BIN`, free loopback ports, an API key), or an
//! external one at `QDRANT_URL`. Without either a test says SKIPPED and why; scripts/test.sh
//! requires them whenever it found a binary. What is asserted is Qdrant's documented behaviour
//! (integer point ids, payload filters, writes visible once acknowledged with `wait=true`) and
//! Visage's promises around it: a lost server answers 503 while enrolment stays durable, a
//! restarted or wiped one is caught up from the store with no step by hand, galleries never see
//! each other's points, and a wrong key is a clear error.
//!
//! Without a server, the unreachable case still runs: a closed port makes identify and search
//! answer 503 `index_unavailable` with Retry-After while enrolment stays durable.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bytes;
use common::qdrant::Qdrant;
use common::server::{Part, Reply, Server};
use serde_json::json;
use visage::gallery::check::{check, CheckOptions};
use visage::gallery::Gallery;
use visage::index::{
    Backend, ExactIndex, Filter, IndexParams, IndexSettings, QdrantIndex, QdrantSettings, SearchParams, VectorIndex,
};
use visage::pipeline::embed::Embedding;
use visage::synth::Rng;

const DIM: usize = 32;
const MODEL: &str = "test@1";

fn vector(subject: usize, face: usize) -> Vec<f32> {
    let centre = Rng::new(1000 + subject as u64).unit_vector(DIM);
    let noise = Rng::new((subject * 1000 + face) as u64).unit_vector(DIM);
    let v: Vec<f32> = centre.iter().zip(&noise).map(|(c, n)| c + 0.5 * n).collect();
    visage::index::normalize(&v).unwrap()
}

/// Drops the test's collection even when an assertion failed.
struct Cleanup<'a>(&'a QdrantIndex);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.drop_collection();
    }
}

#[test]
fn collection_add_search_filter_delete_and_checkpoint() {
    let Some(qdrant) = Qdrant::single("collection_add_search_filter_delete_and_checkpoint") else { return };
    let settings = qdrant.settings();
    let q = QdrantIndex::connect(&settings, "g1", "sface_2021dec@ab", DIM).unwrap();
    let _cleanup = Cleanup(&q);
    assert!(q.collection().ends_with("__sface_2021dec-ab"), "the name carries the model: {}", q.collection());
    q.recreate().unwrap();
    assert_eq!(q.len(), 0);

    // 60 subjects × 10 faces, labelled, in batches smaller than the upsert batch and larger.
    let exact = ExactIndex::new(DIM).unwrap();
    let mut rows = Vec::new();
    for s in 0..60 {
        for f in 0..10 {
            rows.push(((s * 10 + f + 1) as u64, format!("s{s}"), vector(s, f)));
        }
    }
    for chunk in rows.chunks(250) {
        let items: Vec<(u64, &[f32])> = chunk.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
        let labels: Vec<&str> = chunk.iter().map(|(_, s, _)| s.as_str()).collect();
        q.add_labelled(&items, &labels).unwrap();
        exact.add(&items).unwrap();
    }
    assert_eq!(q.len(), 600, "acknowledged writes are counted");
    assert_eq!(q.labels(&[1, 11, 99_999]).unwrap(), vec![Some("s0".into()), Some("s1".into()), None]);

    // Recall against exact, and the server's exact mode agrees with brute force.
    let mut found = 0;
    let queries: Vec<Vec<f32>> = (0..60).map(|s| vector(s, 77)).collect();
    for query in &queries {
        let want = exact.search(query, 10, &SearchParams::new()).unwrap();
        let got = q.search(query, 10, &SearchParams::new().ef(128)).unwrap();
        found += got.iter().filter(|h| want.iter().any(|w| w.id == h.id)).count();
        let oracle = q.search_with(query, 10, &SearchParams::new(), true).unwrap();
        assert_eq!(oracle.iter().map(|h| h.id).collect::<Vec<_>>(), want.iter().map(|h| h.id).collect::<Vec<_>>());
        for (a, b) in oracle.iter().zip(&want) {
            assert!((a.score - b.score).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }
    let recall = found as f64 / (60.0 * 10.0);
    assert!(recall >= 0.95, "recall@10 {recall}");
    let refs: Vec<&[f32]> = queries.iter().map(|v| v.as_slice()).collect();
    let batch = q.search_batch(&refs, 10, &SearchParams::new()).unwrap();
    assert_eq!(batch.len(), 60);
    assert_eq!(batch[3], q.search(&queries[3], 10, &SearchParams::new()).unwrap());

    // Filters: an id list, and a predicate (evaluated here, on growing candidate lists).
    let allowed = [5u64, 15, 25, 600];
    let hits = q.search(&queries[0], 10, &SearchParams::new().filter(Filter::Ids(&allowed))).unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| allowed.contains(&h.id)), "{hits:?}");
    let odd = |id: u64| id % 2 == 1;
    let hits = q.search(&queries[0], 5, &SearchParams::new().filter(Filter::Predicate(&odd))).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.id % 2 == 1));

    // Deletes by face and by subject; relabelling.
    assert_eq!(q.remove(&[1, 2, 2, 99_999]).unwrap(), 2);
    assert_eq!(q.len(), 598);
    q.remove_subject("s1").unwrap();
    assert_eq!(q.len(), 588);
    assert_eq!(q.missing(&[3, 11, 20, 21]).unwrap(), vec![11, 20]);
    q.relabel(&[3, 4], "s9").unwrap();
    assert_eq!(q.labels(&[3, 4]).unwrap(), vec![Some("s9".into()), Some("s9".into())]);

    // The checkpoint is kept in the collection (the marker point, never a search result).
    q.set_checkpoint(42);
    q.persist().unwrap();
    let again = QdrantIndex::connect(&settings, "g1", "sface_2021dec@ab", DIM).unwrap();
    again.load().unwrap();
    assert_eq!((again.checkpoint(), again.len()), (42, 588));
    let e0 = {
        let mut v = vec![0.0; DIM];
        v[0] = 1.0;
        v
    };
    assert!(again.search(&e0, 600, &SearchParams::new()).unwrap().len() <= 588);

    // Another model's collection is another collection; a collection of another dimension is stale.
    let other = QdrantIndex::connect(&settings, "g1", "w600k_r50@cd", DIM).unwrap();
    assert_ne!(other.collection(), q.collection());
    let wrong = QdrantIndex::connect(&settings, "g1", "sface_2021dec@ab", DIM * 2).unwrap();
    let err = wrong.load().unwrap_err();
    assert!(err.needs_rebuild(), "{err}");
}

fn add(g: &Gallery, subject: &str, v: &[f32], tag: &str) -> u64 {
    common::add_vector(g, MODEL, subject, v, tag)
}

fn qdrant_index(settings: &QdrantSettings) -> IndexSettings {
    IndexSettings { kind: Backend::Qdrant, qdrant: settings.clone(), ..IndexSettings::default() }
}

fn fill(dir: &Path, index: &IndexSettings, subjects: usize, per: usize) {
    let g = Gallery::open_with(dir, MODEL, DIM, index).unwrap();
    for s in 0..subjects {
        let id = format!("s{s}");
        g.create_subject(Some(&id), &id, &json!({})).unwrap();
        for f in 0..per {
            add(&g, &id, &vector(s, f), &format!("{s}-{f}"));
        }
    }
    g.persist().unwrap();
}

#[test]
fn the_store_refills_a_lost_collection_and_the_index_catches_up() {
    let Some(qdrant) = Qdrant::single("the_store_refills_a_lost_collection_and_the_index_catches_up") else {
        return;
    };
    let settings = qdrant.settings();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let index = qdrant_index(&settings);
    fill(&data, &index, 20, 5);
    let g = Gallery::open_with(&data, MODEL, DIM, &index).unwrap();
    let collection = QdrantIndex::connect(&settings, &gallery_id(&data), MODEL, DIM).unwrap();
    let _cleanup = Cleanup(&collection);
    assert_eq!(g.len(), 100);
    let e = Embedding { model: Arc::from(MODEL), vector: vector(3, 50) };
    assert_eq!(g.search(&e, 1, None).unwrap()[0].subject_id, "s3");
    // Deleted and merged faces follow (the merge relabels the payload).
    g.delete_subject("s4").unwrap();
    g.merge_subject("s5", "s6").unwrap();
    g.persist().unwrap();
    drop(g);
    let report = check(&data, &index, &CheckOptions::default()).unwrap();
    assert!(!report.drift, "{report:#?}");
    assert_eq!((report.store_faces, report.index_vectors), (95, Some(95)));

    // A lost volume: the collection is gone; the next start refills it from the store.
    assert!(collection.drop_collection().unwrap());
    let g = Gallery::open_with(&data, MODEL, DIM, &index).unwrap();
    assert_eq!(g.len(), 95);
    drop(g);
    // Behind: changes made while the gallery used another index are replayed at the next start.
    {
        let g = Gallery::open(&data, MODEL, DIM, Backend::Exact, &IndexParams::default()).unwrap();
        g.create_subject(Some("late"), "Late", &json!({})).unwrap();
        add(&g, "late", &vector(40, 0), "late-0");
        g.delete_subject("s7").unwrap();
        // No persist of the exact index: its change log stays, as Qdrant's checkpoint is older.
    }
    let g = Gallery::open_with(&data, MODEL, DIM, &index).unwrap();
    assert_eq!(g.len(), 95 + 1 - 5);
    let e = Embedding { model: Arc::from(MODEL), vector: vector(40, 0) };
    assert_eq!(g.search(&e, 1, None).unwrap()[0].subject_id, "late");
    drop(g);
    let report = check(&data, &index, &CheckOptions::default()).unwrap();
    assert!(!report.drift, "{report:#?}");
}

#[test]
fn reindex_moves_a_gallery_from_scan_to_qdrant_and_back_with_check_clean() {
    let Some(qdrant) = Qdrant::single("reindex_moves_a_gallery_from_scan_to_qdrant_and_back_with_check_clean") else {
        return;
    };
    let settings = qdrant.settings();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let scan = IndexSettings::new(Backend::Scan, &IndexParams::default());
    fill(&data, &scan, 30, 4);
    let clean = |index: &IndexSettings| {
        let report = check(&data, index, &CheckOptions::default()).unwrap();
        assert!(report.problems.is_empty() && report.recall_at_k.unwrap() >= 0.95, "{report:#?}");
        assert_eq!((report.store_faces, report.index_vectors), (120, Some(120)));
    };
    clean(&scan);
    let index = qdrant_index(&settings);
    let g = Gallery::reindex(&data, MODEL, DIM, &index, None).unwrap();
    let collection = QdrantIndex::connect(&settings, &gallery_id(&data), MODEL, DIM).unwrap();
    let _cleanup = Cleanup(&collection);
    assert_eq!(g.len(), 120);
    let e = Embedding { model: Arc::from(MODEL), vector: vector(12, 60) };
    assert_eq!(g.search(&e, 1, None).unwrap()[0].subject_id, "s12");
    drop(g);
    clean(&index);
    // Drift injected behind the gallery's back is found.
    collection.load().unwrap();
    collection.remove(&[1, 2, 3]).unwrap();
    let report = check(&data, &index, &CheckOptions { sample: 500, ..CheckOptions::default() }).unwrap();
    assert!(report.drift && report.missing == vec![1, 2, 3], "{report:#?}");
    // And back: the scan index holds every face of the store again.
    let g = Gallery::reindex(&data, MODEL, DIM, &scan, None).unwrap();
    assert_eq!((g.len(), g.backend()), (120, Backend::Scan));
    assert_eq!(g.search(&e, 1, None).unwrap()[0].subject_id, "s12");
    drop(g);
    clean(&scan);
}

fn gallery_id(data: &Path) -> String {
    let store = visage::gallery::store::Store::open(&data.join("gallery.sqlite3")).unwrap();
    visage::gallery::sync::gallery_id(&store).unwrap()
}

/// Runs without a server: nothing listens on port 1.
#[test]
fn an_unreachable_qdrant_answers_503_while_enrolment_stays_durable() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("VISAGE_INDEX__KIND", "qdrant"),
        ("VISAGE_INDEX__QDRANT__URL", "http://127.0.0.1:1"),
        ("VISAGE_INDEX__QDRANT__RETRY_AFTER_S", "7"),
        ("VISAGE_SERVER__PERSIST_INTERVAL_S", "1"),
    ];
    let mut s = Server::start(dir.path(), &env);
    let r = s.json("POST", "/v1/subjects", &json!({ "id": "obama", "name": "Barack Obama" }));
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s.multipart("/v1/subjects/obama/faces", &[("image", Part::File(&bytes("obama.jpg")))]);
    assert_eq!(r.status, 201, "enrolment is stored while the index is away: {}", r.json);
    for path in ["/v1/identify", "/v1/search"] {
        let r = s.multipart(path, &[("image", Part::File(&bytes("obama2.jpg")))]);
        assert_eq!((r.status, r.json["code"].as_str()), (503, Some("index_unavailable")), "{path}: {}", r.json);
        assert_eq!(r.retry_after.as_deref(), Some("7"), "{path}");
    }
    // The CompreFace door says the same.
    let r = s.multipart("/api/v1/recognition/recognize", &[("file", Part::File(&bytes("obama2.jpg")))]);
    assert_eq!(r.status, 503, "{}", r.json);
    // Verifying against a subject reads the store, not the index.
    let r =
        s.multipart("/v1/verify", &[("image", Part::File(&bytes("obama3.jpg"))), ("subject_id", Part::Text("obama"))]);
    assert_eq!((r.status, r.json["same"].as_bool()), (200, Some(true)), "{}", r.json);
    assert_eq!(s.get("/v1/subjects/obama").json["faces"], 1);
    let ready = s.get("/readyz");
    assert_eq!(
        (ready.status, ready.json["index"].as_str(), ready.json["index_behind"].as_bool()),
        (200, Some("qdrant"), Some(true))
    );
    assert!(ready.json.get("index_kernel").is_none(), "a path only the scan index has");
    s.stop(true);

    // Nothing acknowledged was lost: on an index that answers, the face is there.
    let s = Server::start(dir.path(), &[("VISAGE_INDEX__KIND", "exact")]);
    let r = s.multipart("/v1/identify", &[("image", Part::File(&bytes("obama2.jpg")))]);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["faces"][0]["match"]["subject_id"], "obama", "{}", r.json);
}

/// `env` as the server takes it.
fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Who `photo`'s face is, as `/v1/identify` answers: `Ok(Some(subject))`, `Ok(None)` for
/// unknown, or `Err(reply)` for anything but 200.
fn identify(s: &Server, photo: &str) -> Result<Option<String>, Reply> {
    let r = s.multipart("/v1/identify", &[("image", Part::File(&bytes(photo)))]);
    if r.status != 200 {
        return Err(r);
    }
    Ok(r.json["faces"][0]["match"]["subject_id"].as_str().map(str::to_string))
}

fn enrol(s: &Server, subject: &str, photo: &str) {
    let r = s.json("POST", "/v1/subjects", &json!({ "id": subject, "name": subject }));
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s.multipart(&format!("/v1/subjects/{subject}/faces"), &[("image", Part::File(&bytes(photo)))]);
    assert_eq!(r.status, 201, "{subject}: {}", r.json);
}

/// Polls identify until `photo` is answered as `want`; the time it took.
fn until_identified(s: &Server, photo: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match identify(s, photo) {
            Ok(Some(who)) if who == want => return start.elapsed(),
            Ok(other) => assert!(start.elapsed() < limit, "{photo}: {other:?} after {:?}", start.elapsed()),
            Err(r) => assert!(start.elapsed() < limit, "{photo}: {} {} after {:?}", r.status, r.json, start.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn killed_restarted_and_wiped_qdrant_behind_a_running_server() {
    let Some(mut qdrant) = Qdrant::single("killed_restarted_and_wiped_qdrant_behind_a_running_server") else { return };
    if !qdrant.spawned() {
        return common::qdrant::skip(
            "killed_restarted_and_wiped_qdrant_behind_a_running_server",
            "QDRANT_URL's server cannot be killed here",
        );
    }
    let settings = qdrant.settings();
    let mut env = qdrant.env(&settings);
    env.push(("VISAGE_SERVER__PERSIST_INTERVAL_S".into(), "1".into()));
    env.push(("VISAGE_INDEX__QDRANT__RETRY_AFTER_S".into(), "1".into()));
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), &pairs(&env));
    enrol(&s, "obama", "obama.jpg");
    assert_eq!(identify(&s, "obama2.jpg").unwrap().as_deref(), Some("obama"));
    assert_eq!(identify(&s, "hopper.png").unwrap(), None, "a stranger is unknown");

    // Killed: searches answer 503 index_unavailable, enrolment is acknowledged and durable.
    qdrant.nodes[0].kill();
    let r = identify(&s, "obama2.jpg").unwrap_err();
    assert_eq!((r.status, r.json["code"].as_str()), (503, Some("index_unavailable")), "{}", r.json);
    assert!(r.retry_after.is_some());
    enrol(&s, "hopper", "hopper.jpg");
    assert_eq!(s.get("/readyz").json["index_behind"], true);

    // Restarted on its storage: caught up with no step by hand, the outage's enrolment found.
    qdrant.nodes[0].start();
    let took = until_identified(&s, "hopper.png", "hopper", Duration::from_secs(30));
    eprintln!("restarted Qdrant: the enrolment made while it was down found after {took:?}");
    assert_eq!(identify(&s, "obama2.jpg").unwrap().as_deref(), Some("obama"));
    assert_eq!(s.get("/readyz").json["index_behind"], false);

    // Wiped (a lost volume): the collection is refilled from the store.
    qdrant.nodes[0].wipe();
    qdrant.nodes[0].start();
    let took = until_identified(&s, "obama2.jpg", "obama", Duration::from_secs(30));
    eprintln!("wiped Qdrant: the collection refilled and answering after {took:?}");
    assert_eq!(identify(&s, "hopper.png").unwrap().as_deref(), Some("hopper"));
    let collection = QdrantIndex::connect(&settings, &gallery_id(&s.data_dir), &model_of(&s.data_dir), 128).unwrap();
    collection.load().unwrap();
    assert_eq!(collection.len(), 2, "exactly the store's faces");
    s.stop(true);

    // `visage check` finds nothing wrong.
    let out = Command::new(env!("CARGO_BIN_EXE_visage"))
        .args(["check", "--data-dir"])
        .arg(&s.data_dir)
        .envs(pairs(&env))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = collection.drop_collection();
}

fn model_of(data: &Path) -> String {
    Gallery::binding(data).unwrap().unwrap().model.unwrap()
}

#[test]
fn two_servers_on_one_qdrant_never_see_each_others_faces() {
    let Some(qdrant) = Qdrant::single("two_servers_on_one_qdrant_never_see_each_others_faces") else { return };
    // The same settings, prefix included: only the galleries' own ids keep them apart.
    let settings = qdrant.settings();
    let env = qdrant.env(&settings);
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(a_dir.path(), &pairs(&env));
    let b = Server::start(b_dir.path(), &pairs(&env));
    enrol(&a, "obama", "obama.jpg");
    enrol(&b, "hopper", "hopper.jpg");
    assert_eq!(identify(&a, "obama2.jpg").unwrap().as_deref(), Some("obama"));
    assert_eq!(identify(&b, "hopper.png").unwrap().as_deref(), Some("hopper"));
    assert_eq!(identify(&a, "hopper.png").unwrap(), None, "A never answers with B's face");
    assert_eq!(identify(&b, "obama2.jpg").unwrap(), None, "B never answers with A's face");
    let r = b.multipart("/v1/search", &[("image", Part::File(&bytes("obama2.jpg")))]);
    let hits = r.json["faces"][0]["results"].as_array().cloned().unwrap_or_default();
    assert!(hits.iter().all(|h| h["subject_id"] == "hopper"), "{}", r.json);
    let mut names = Vec::new();
    for dir in [a_dir.path(), b_dir.path()] {
        let c = QdrantIndex::connect(&settings, &gallery_id(dir), &model_of(dir), 128).unwrap();
        c.load().unwrap();
        assert_eq!(c.len(), 1, "{}", c.collection());
        names.push(c.collection().to_string());
        let _ = c.drop_collection();
    }
    assert_ne!(names[0], names[1]);
}

#[test]
fn a_wrong_api_key_is_a_clear_error_not_a_hang() {
    let Some(qdrant) = Qdrant::single("a_wrong_api_key_is_a_clear_error_not_a_hang") else { return };
    if qdrant.api_key().is_empty() {
        return common::qdrant::skip(
            "a_wrong_api_key_is_a_clear_error_not_a_hang",
            "QDRANT_URL's server has no API key",
        );
    }
    let settings = QdrantSettings { api_key: "not-the-key".into(), ..qdrant.settings() };
    let start = Instant::now();
    let err = QdrantIndex::connect(&settings, "g1", MODEL, DIM).unwrap().load().unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(err.to_string().contains("refused the API key") && !err.is_unavailable(), "{err}");

    // The server refuses to start, naming the setting, instead of serving without its index.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_visage"))
        .args(["serve", "--address", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .envs(pairs(&qdrant.env(&settings)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("index.qdrant.api_key"), "{stderr}");
}

/// 100k face-shaped vectors (the MegaFace-like shape, where graphs lose neighbours) in Qdrant
/// with the default settings answer as exact search does: identification decisions for
/// enrolled people and strangers, and top-10 recall.
#[test]
fn a_100k_face_shaped_collection_answers_as_exact_search() {
    use visage::synth::{gallery, queries, Shape};
    let Some(qdrant) = Qdrant::single("a_100k_face_shaped_collection_answers_as_exact_search") else { return };
    let settings = qdrant.settings();
    const D: usize = 128;
    let identities = Shape::Isotropic.identities(50_000, D, 11);
    let data = gallery(&identities, 2, 12);
    let q = QdrantIndex::connect(&settings, "g100k", MODEL, D).unwrap();
    let _cleanup = Cleanup(&q);
    q.recreate().unwrap();
    let exact = ExactIndex::new(D).unwrap();
    let items = data.items();
    for chunk in items.chunks(8192) {
        q.add(chunk).unwrap();
    }
    exact.add(&items).unwrap();
    assert_eq!(q.len(), 100_000);
    // Answers from the collection as it serves once the server has optimised it.
    let took = qdrant.wait("the collection to be optimised", Duration::from_secs(600), || {
        q.optimized().is_ok_and(|(green, _)| green)
    });
    eprintln!("100k in Qdrant: green {took:?} after the upload");
    let probes = queries(&identities, 100, 100, 13);
    let threshold = 0.55;
    let (mut same_decision, mut found, mut wanted) = (0, 0, 0);
    for probe in &probes {
        let want = exact.search(probe, 10, &SearchParams::new()).unwrap();
        let got = q.search(probe, 10, &SearchParams::new()).unwrap();
        let decide = |h: &[visage::index::Hit]| h.first().filter(|h| h.score >= threshold).map(|h| h.id);
        same_decision += usize::from(decide(&want) == decide(&got));
        found += got.iter().filter(|h| want.iter().any(|w| w.id == h.id)).count();
        wanted += want.len();
    }
    let recall = found as f64 / wanted as f64;
    eprintln!("100k in Qdrant: decisions equal to exact {same_decision}/{}, recall@10 {recall:.4}", probes.len());
    assert_eq!(same_decision, probes.len());
    assert!(recall >= 0.99, "recall@10 {recall}");
}

/// Visage on a real 3-node cluster (distributed mode; the collection in 2 shards, each on 2
/// nodes), given every node's URL: each node in turn is killed with SIGKILL while identify and
/// enrolment go on, then started again; nothing acknowledged may be missing afterwards.
#[test]
fn a_three_node_cluster_survives_the_loss_of_any_node() {
    const TEST: &str = "a_three_node_cluster_survives_the_loss_of_any_node";
    let Some(mut cluster) = Qdrant::cluster(TEST, 3) else { return };
    let settings = QdrantSettings { shard_number: 2, replication_factor: 2, ..cluster.settings() };
    let mut env = cluster.env(&settings);
    env.push(("VISAGE_SERVER__PERSIST_INTERVAL_S".into(), "1".into()));
    env.push(("VISAGE_INDEX__QDRANT__RETRY_AFTER_S".into(), "1".into()));
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &pairs(&env));
    enrol(&s, "obama", "obama.jpg");
    enrol(&s, "hopper", "hopper.jpg");
    let collection = QdrantIndex::connect(&settings, &gallery_id(dir.path()), &model_of(dir.path()), 128).unwrap();
    cluster.wait_active(collection.collection(), 4, Duration::from_secs(60));
    // (probe, who it is); messi5.jpg is a stranger.
    let mut probes: Vec<(&str, Option<&str>)> =
        vec![("obama2.jpg", Some("obama")), ("hopper.png", Some("hopper")), ("messi5.jpg", None)];
    let answers_right = |probes: &[(&str, Option<&str>)]| {
        probes.iter().all(|(photo, who)| identify(&s, photo).is_ok_and(|got| got.as_deref() == *who))
    };
    assert!(answers_right(&probes));
    // While each node is down: (subject, photo) enrolled, and the face added to an existing one.
    let outages = [("biden", "biden.jpg"), ("astronaut", "astronaut.png"), ("obama", "obama3.jpg")];
    for (i, (subject, photo)) in outages.into_iter().enumerate() {
        cluster.nodes[i].kill();
        let killed = Instant::now();
        // Identify stays right; any seconds of 503 are counted.
        let (mut asked, mut refused, mut wrong) = (0, 0, 0);
        while killed.elapsed() < Duration::from_secs(5) {
            for (photo, who) in &probes {
                asked += 1;
                match identify(&s, photo) {
                    Ok(got) if got.as_deref() == *who => {}
                    Ok(got) => {
                        wrong += 1;
                        eprintln!("node {} down: {photo} answered {got:?}", i + 1);
                    }
                    Err(r) => {
                        refused += 1;
                        eprintln!("node {} down: {photo}: {} {}", i + 1, r.status, r.json);
                    }
                }
            }
        }
        eprintln!("node {} down: {refused} refused and {wrong} wrong of {asked} answers in the first 5 s", i + 1);
        assert_eq!((refused, wrong), (0, 0), "node {} down", i + 1);
        if s.get(&format!("/v1/subjects/{subject}")).status == 404 {
            enrol(&s, subject, photo);
        } else {
            let r = s.multipart(&format!("/v1/subjects/{subject}/faces"), &[("image", Part::File(&bytes(photo)))]);
            assert_eq!(r.status, 201, "{}", r.json);
        }
        if subject != "obama" {
            probes.push((photo, Some(subject)));
        }
        assert!(answers_right(&probes), "node {} down: the enrolment is found", i + 1);

        // Back: its replicas recover; the collection holds exactly the store's faces.
        cluster.nodes[i].start();
        let took = cluster.wait_active(collection.collection(), 4, Duration::from_secs(120));
        eprintln!("node {} back: every replica active after {took:?}", i + 1);
        let store = visage::gallery::store::Store::open(&dir.path().join("gallery.sqlite3")).unwrap();
        let ids: Vec<u64> = store.face_subjects().unwrap().into_iter().map(|(id, _)| id).collect();
        collection.load().unwrap();
        assert_eq!(collection.len(), ids.len(), "node {} back", i + 1);
        assert_eq!(collection.missing(&ids).unwrap(), Vec::<u64>::new(), "node {} back", i + 1);
        assert!(answers_right(&probes), "node {} back", i + 1);
    }
    let _ = collection.drop_collection();
}

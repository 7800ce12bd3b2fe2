//! The vector index from outside: recall of HNSW against the exact index on clustered,
//! face-like data, removal and compaction, persistence and damaged files, filters, the auto
//! switch, concurrency, and inputs that must not panic. Run with `--release`
//! (`cargo test --release --test index -- --nocapture` prints build times and recall).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use visage::index::bench::recall;
use visage::index::{
    create_index, dot, open_index, AutoIndex, Backend, ExactIndex, Filter, Hit, HnswIndex, HnswParams, IndexError,
    IndexParams, ScanIndex, ScanParams, SearchParams, VectorIndex,
};
use visage::synth::{gallery, queries, Dataset, Identities, Rng};

const DIM: usize = 128;

/// 5000 identities × 10 photos = 50k vectors, both indexes built once for the tests that share them.
struct Big {
    identities: Identities,
    data: Dataset,
    exact: ExactIndex,
    hnsw: HnswIndex,
    _dir: tempfile::TempDir,
}

fn big() -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let identities = Identities::new(5000, DIM, 1);
        let data = gallery(&identities, 10, 2);
        let items = data.items();
        let exact = ExactIndex::new(DIM).unwrap();
        exact.add(&items).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let hnsw = HnswIndex::create(dir.path(), DIM, HnswParams::default()).unwrap();
        let started = Instant::now();
        hnsw.add(&items).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!("hnsw build: {} vectors in {secs:.1} s ({:.0} inserts/s)", data.len(), data.len() as f64 / secs);
        Big { identities, data, exact, hnsw, _dir: dir }
    })
}

fn small(identities: usize, seed: u64) -> (Identities, Dataset) {
    let ids = Identities::new(identities, DIM, seed);
    let data = gallery(&ids, 10, seed + 1);
    (ids, data)
}

fn ids(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.id).collect()
}

fn default() -> SearchParams<'static> {
    SearchParams::default()
}

#[test]
fn hnsw_recall_at_10_against_exact_on_50k_clustered_vectors() {
    let big = big();
    // 900 fresh photos of enrolled identities, 100 photos of strangers.
    let qs = queries(&big.identities, 900, 100, 3);
    let started = Instant::now();
    let truth: Vec<Vec<Hit>> = qs.iter().map(|q| big.exact.search(q, 10, &default()).unwrap()).collect();
    let exact_ms = started.elapsed().as_secs_f64() * 1e3 / qs.len() as f64;
    let started = Instant::now();
    let found: Vec<Vec<Hit>> = qs.iter().map(|q| big.hnsw.search(q, 10, &default()).unwrap()).collect();
    let hnsw_ms = started.elapsed().as_secs_f64() * 1e3 / qs.len() as f64;

    let recalls: Vec<f64> = truth.iter().zip(&found).map(|(t, f)| recall(t, f)).collect();
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let (all, enrolled, strangers) = (mean(&recalls), mean(&recalls[..900]), mean(&recalls[900..]));
    println!(
        "recall@10 at default settings: {all:.4} (enrolled {enrolled:.4}, strangers {strangers:.4}); \
         mean query exact {exact_ms:.2} ms, hnsw {hnsw_ms:.2} ms"
    );
    assert!(all >= 0.99, "recall@10 {all}");
    assert!(enrolled >= 0.99, "recall@10 of enrolled identities {enrolled}");

    for (t, f) in truth.iter().zip(&found) {
        assert_eq!(f.len(), 10);
        assert!(f.windows(2).all(|w| w[0].score > w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id)));
        // Exact re-rank: when the true neighbour is among the candidates it comes first, with the
        // exact index's score to the bit.
        if f.iter().any(|h| h.id == t[0].id) {
            assert_eq!(f[0], t[0]);
        }
    }
}

#[test]
fn a_stored_vector_finds_itself_first() {
    let big = big();
    for i in (0..big.data.len()).step_by(257) {
        let v = big.data.row(i);
        for index in [&big.exact as &dyn VectorIndex, &big.hnsw] {
            let hits = index.search(v, 5, &default()).unwrap();
            assert_eq!(hits[0].id, big.data.ids[i]);
            assert!((hits[0].score - 1.0).abs() < 1e-5, "self score {}", hits[0].score);
        }
    }
}

/// Naive answer: every score, sorted by descending score then ascending id.
fn naive(data: &[(u64, Vec<f32>)], q: &[f32], k: usize, allow: impl Fn(u64) -> bool) -> Vec<Hit> {
    let mut all: Vec<Hit> =
        data.iter().filter(|(id, _)| allow(*id)).map(|(id, v)| Hit { id: *id, score: dot(q, v) }).collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

#[test]
fn exact_top_k_equals_a_naive_sort_with_deterministic_ties() {
    let mut rng = Rng::new(11);
    // 3000 random vectors, plus 5 copies of one vector under scattered ids (exact ties).
    let mut data: Vec<(u64, Vec<f32>)> = (0..3000).map(|i| (i * 7 + 3, rng.unit_vector(DIM))).collect();
    let twin = rng.unit_vector(DIM);
    for id in [90_001, 5, 70_000, 42, 999_999] {
        data.push((id, twin.clone()));
    }
    let index = ExactIndex::new(DIM).unwrap();
    let items: Vec<(u64, &[f32])> = data.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    // In several batches, in shuffled order: the answer must not depend on insertion order.
    let mut shuffled = items.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    for chunk in shuffled.chunks(700) {
        index.add(chunk).unwrap();
    }
    for k in [1, 3, 10, 100, 5000] {
        for _ in 0..10 {
            let q = rng.unit_vector(DIM);
            assert_eq!(index.search(&q, k, &default()).unwrap(), naive(&data, &q, k, |_| true));
        }
    }
    let hits = index.search(&twin, 5, &default()).unwrap();
    assert_eq!(ids(&hits), vec![5, 42, 70_000, 90_001, 999_999]);
    assert!(hits.iter().all(|h| h.score == hits[0].score));

    // Filters: a short list, a long unsorted list, a predicate.
    let q = rng.unit_vector(DIM);
    let short: Vec<u64> = data.iter().step_by(97).map(|(id, _)| *id).collect();
    let mut long: Vec<u64> = data.iter().step_by(2).map(|(id, _)| *id).rev().collect();
    long.push(123_456_789); // unknown ids are ignored
    for list in [&short, &long] {
        let got = index.search(&q, 10, &SearchParams::default().filter(Filter::Ids(list))).unwrap();
        assert_eq!(got, naive(&data, &q, 10, |id| list.contains(&id)));
    }
    let odd = |id: u64| id % 2 == 1;
    let got = index.search(&q, 10, &SearchParams::default().filter(Filter::Predicate(&odd))).unwrap();
    assert_eq!(got, naive(&data, &q, 10, odd));
}

#[test]
fn the_large_exact_scan_is_parallel_and_still_exact() {
    // Above the parallel threshold: compare with a naive sort on the shared 50k gallery.
    let big = big();
    let data: Vec<(u64, Vec<f32>)> = (0..big.data.len()).map(|i| (big.data.ids[i], big.data.row(i).to_vec())).collect();
    for q in queries(&big.identities, 5, 5, 21) {
        assert_eq!(big.exact.search(&q, 20, &default()).unwrap(), naive(&data, &q, 20, |_| true));
    }
}

#[test]
fn removed_ids_are_never_returned_and_compaction_keeps_recall() {
    let (identities, data) = small(1000, 30);
    let dir = tempfile::tempdir().unwrap();
    let hnsw = HnswIndex::create(dir.path(), DIM, HnswParams::default()).unwrap();
    let exact = ExactIndex::new(DIM).unwrap();
    for index in [&hnsw as &dyn VectorIndex, &exact] {
        index.add(&data.items()).unwrap();
        assert_eq!(index.len(), 10_000);
    }
    // Remove 10 % (below the compaction ratio): tombstones only.
    let first: Vec<u64> = data.ids.iter().copied().filter(|id| id % 10 == 3).collect();
    for index in [&hnsw as &dyn VectorIndex, &exact] {
        assert_eq!(index.remove(&first).unwrap(), 1000);
        assert_eq!(index.remove(&first[..10]).unwrap(), 0, "already removed");
        assert_eq!(index.len(), 9000);
    }
    hnsw.wait_for_compaction();
    assert_eq!(hnsw.stats().tombstones, 1000);
    assert_eq!(hnsw.stats().compactions, 0);
    let check_gone = |gone: &[u64]| {
        for &id in gone.iter().step_by(7) {
            // Searching with a removed vector itself: it is the closest by far, yet never returned.
            let v = data.row(id as usize);
            for index in [&hnsw as &dyn VectorIndex, &exact] {
                let hits = index.search(v, 20, &default()).unwrap();
                assert_eq!(hits.len(), 20);
                assert!(hits.iter().all(|h| !gone.contains(&h.id)), "removed id {id} returned");
            }
        }
    };
    check_gone(&first);

    // Another 20 %: past the ratio, a background compaction rebuilds the graph.
    let second: Vec<u64> = data.ids.iter().copied().filter(|id| id % 10 == 5 || id % 10 == 7).collect();
    assert_eq!(hnsw.remove(&second).unwrap(), 2000);
    assert_eq!(exact.remove(&second).unwrap(), 2000);
    hnsw.wait_for_compaction();
    let stats = hnsw.stats();
    assert!(stats.compactions >= 1, "{stats:?}");
    assert_eq!(stats.tombstones, 0, "{stats:?}");
    assert_eq!(hnsw.len(), 7000);
    let gone: Vec<u64> = first.iter().chain(&second).copied().collect();
    check_gone(&gone);

    let qs = queries(&identities, 180, 20, 31);
    let r: f64 = qs
        .iter()
        .map(|q| recall(&exact.search(q, 10, &default()).unwrap(), &hnsw.search(q, 10, &default()).unwrap()))
        .sum::<f64>()
        / qs.len() as f64;
    println!("recall@10 after compaction: {r:.4}");
    assert!(r >= 0.99, "recall after compaction {r}");
}

#[test]
fn re_adding_an_id_replaces_its_vector() {
    let (identities, data) = small(300, 40);
    let dir = tempfile::tempdir().unwrap();
    let hnsw = HnswIndex::create(dir.path(), DIM, HnswParams::default()).unwrap();
    let exact = ExactIndex::new(DIM).unwrap();
    let mut rng = Rng::new(41);
    let fresh = identities.sample(7, &mut rng); // a photo of identity 7 ...
    for index in [&hnsw as &dyn VectorIndex, &exact] {
        index.add(&data.items()).unwrap();
        // ... now stored under id 1234 (identity 123), and twice in one batch: the last wins.
        let other = data.row(0).to_vec();
        index.add(&[(1234, &other), (1234, &fresh)]).unwrap();
        assert_eq!(index.len(), 3000);
        let hits = index.search(&fresh, 1, &default()).unwrap();
        assert_eq!(hits[0].id, 1234);
        assert!((hits[0].score - 1.0).abs() < 1e-5);
        // The old vector of 1234 no longer answers for it.
        let old = data.row(1234);
        let hits = index.search(old, 3000, &default()).unwrap();
        let h = hits.iter().find(|h| h.id == 1234).unwrap();
        assert_eq!(h.score, dot(old, &fresh));
        assert_eq!(hits.len(), 3000, "no duplicates, nothing lost");
    }
    // One tombstone: the old vector. The first copy in the batch never reached the graph.
    assert_eq!(hnsw.stats().tombstones, 1);
}

#[test]
fn persist_and_reopen_give_identical_answers() {
    let (identities, data) = small(800, 50);
    let dir = tempfile::tempdir().unwrap();
    let params = IndexParams::default();
    for kind in [Backend::Hnsw, Backend::Exact, Backend::Scan] {
        let sub = dir.path().join(format!("{kind:?}"));
        let index = create_index(kind, &sub, DIM, &params).unwrap();
        index.add(&data.items()).unwrap();
        index.remove(&(0..500).map(|i| i * 13).collect::<Vec<u64>>()).unwrap(); // tombstones too
        index.set_checkpoint(77);
        index.persist().unwrap();
        let qs = queries(&identities, 180, 20, 51);
        let before: Vec<Vec<Hit>> = qs.iter().map(|q| index.search(q, 10, &default()).unwrap()).collect();
        let stats = index.stats();
        drop(index);

        let started = Instant::now();
        let reopened = open_index(kind, &sub, DIM, &params).unwrap();
        println!("{kind:?}: reopened {} vectors in {:.3} s", reopened.len(), started.elapsed().as_secs_f64());
        assert_eq!(reopened.stats(), stats);
        assert_eq!(reopened.checkpoint(), 77);
        let after: Vec<Vec<Hit>> = qs.iter().map(|q| reopened.search(q, 10, &default()).unwrap()).collect();
        assert_eq!(before, after, "{kind:?}");
        // Still writable after reload, and persists again.
        let extra = data.row(13).to_vec();
        reopened.add(&[(13, &extra)]).unwrap();
        assert_eq!(reopened.search(&extra, 1, &default()).unwrap()[0].id, 13);
        reopened.persist().unwrap();
        assert_eq!(open_index(kind, &sub, DIM, &params).unwrap().len(), stats.len + 1);
    }
    // Only the current generation of the graph dump is kept.
    let dumps = std::fs::read_dir(dir.path().join("Hnsw")).unwrap().filter_map(|e| e.ok()).count();
    assert_eq!(dumps, 3, "hnsw.meta + one .hnsw.graph + one .hnsw.data");
}

#[test]
fn missing_corrupt_or_stale_files_are_reported_not_panicked_on() {
    let (_, data) = small(50, 60);
    let root = tempfile::tempdir().unwrap();
    let params = IndexParams::default();
    let expect_rebuild = |r: Result<Arc<dyn VectorIndex>, IndexError>, what: &str| match r {
        Err(e) => {
            assert!(e.needs_rebuild(), "{what}: {e}");
            println!("{what}: {e}");
            e
        }
        Ok(_) => panic!("{what}: opened"),
    };
    for kind in [Backend::Hnsw, Backend::Exact, Backend::Scan, Backend::Auto] {
        let e = expect_rebuild(open_index(kind, &root.path().join("nothing"), DIM, &params), "missing");
        assert!(matches!(e, IndexError::Missing { .. }));
    }

    let fresh = |name: &str, kind: Backend| {
        let dir = root.path().join(name);
        let index = create_index(kind, &dir, DIM, &params).unwrap();
        index.add(&data.items()).unwrap();
        index.persist().unwrap();
        dir
    };
    let files = |dir: &std::path::Path, suffix: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        v.sort();
        v
    };
    let flip = |path: &std::path::Path, at: usize| {
        let mut bytes = std::fs::read(path).unwrap();
        let i = at.min(bytes.len() - 1);
        bytes[i] ^= 0x40;
        std::fs::write(path, bytes).unwrap();
    };
    let truncate = |path: &std::path::Path, keep: usize| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
    };

    // HNSW: every file, flipped in its header, its middle and its end, or truncated.
    for suffix in ["hnsw.meta", ".hnsw.graph", ".hnsw.data"] {
        for (n, damage) in ["flip-head", "flip-mid", "flip-tail", "truncate", "empty"].iter().enumerate() {
            let dir = fresh(&format!("h-{suffix}-{n}"), Backend::Hnsw);
            let path = files(&dir, suffix).pop().unwrap();
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            match *damage {
                "flip-head" => flip(&path, 9),
                "flip-mid" => flip(&path, len / 2),
                "flip-tail" => flip(&path, len - 1),
                "truncate" => truncate(&path, len / 3),
                _ => truncate(&path, 0),
            }
            let e = expect_rebuild(open_index(Backend::Hnsw, &dir, DIM, &params), &format!("{suffix} {damage}"));
            assert!(matches!(e, IndexError::Corrupt { .. }), "{suffix} {damage}: {e}");
        }
    }
    let dir = fresh("h-graph-missing", Backend::Hnsw);
    std::fs::remove_file(files(&dir, ".hnsw.graph").pop().unwrap()).unwrap();
    expect_rebuild(open_index(Backend::Hnsw, &dir, DIM, &params), "graph file missing");

    // Exact and scan: flipped anywhere, truncated, or not an index at all.
    for (kind, file) in [(Backend::Exact, "exact.idx"), (Backend::Scan, "scan.idx")] {
        for (n, at) in [0usize, 9, 30, 5000, 70_000, usize::MAX].iter().enumerate() {
            let dir = fresh(&format!("{kind:?}-flip-{n}"), kind);
            flip(&files(&dir, file).pop().unwrap(), *at);
            let e = expect_rebuild(open_index(kind, &dir, DIM, &params), &format!("{kind:?} flip at {at}"));
            assert!(matches!(e, IndexError::Corrupt { .. }));
        }
        let dir = fresh(&format!("{kind:?}-trunc"), kind);
        truncate(&files(&dir, file).pop().unwrap(), 100);
        expect_rebuild(open_index(kind, &dir, DIM, &params), "truncated");
        std::fs::write(files(&dir, file).pop().unwrap(), b"hello").unwrap();
        expect_rebuild(open_index(kind, &dir, DIM, &params), "garbage");
    }

    // Stale: another dimension (model changed) or other graph parameters.
    for kind in [Backend::Hnsw, Backend::Exact, Backend::Scan] {
        let dir = fresh(&format!("stale-{kind:?}"), kind);
        let e = expect_rebuild(open_index(kind, &dir, 512, &params), "other dimension");
        assert!(matches!(e, IndexError::Stale { .. }));
    }
    let dir = fresh("stale-m", Backend::Hnsw);
    let other = IndexParams { hnsw: HnswParams { max_nb_conn: 32, ..params.hnsw }, ..params };
    let e = expect_rebuild(open_index(Backend::Hnsw, &dir, DIM, &other), "other M");
    assert!(matches!(e, IndexError::Stale { .. }));
    // Search-time knobs are not part of the persisted state.
    let other = IndexParams { hnsw: HnswParams { ef_search: 300, ..params.hnsw }, ..params };
    assert_eq!(open_index(Backend::Hnsw, &dir, DIM, &other).unwrap().len(), 500);
}

#[test]
fn bad_inputs_are_errors_or_empty_answers_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let hnsw = HnswIndex::create(dir.path(), DIM, HnswParams::default()).unwrap();
    let exact = ExactIndex::new(DIM).unwrap();
    let scan = ScanIndex::new(DIM, ScanParams::default()).unwrap();
    let (_, data) = small(30, 70);
    let q = data.row(0).to_vec();
    for index in [&hnsw as &dyn VectorIndex, &exact, &scan] {
        // Empty index.
        assert!(index.is_empty());
        assert!(index.search(&q, 10, &default()).unwrap().is_empty());
        assert_eq!(index.remove(&[1, 2, 3]).unwrap(), 0);
        index.add(&[]).unwrap();

        index.add(&data.items()).unwrap();
        // Wrong dimension, non-finite, zero or unnormalised vectors.
        let short = vec![0.1f32; DIM - 1];
        assert!(matches!(
            index.search(&short, 5, &default()),
            Err(IndexError::DimensionMismatch { expected: DIM, got: 127 })
        ));
        assert!(index.search(&[], 5, &default()).is_err());
        let mut nan = q.clone();
        nan[5] = f32::NAN;
        let mut inf = q.clone();
        inf[0] = f32::INFINITY;
        for bad in [&nan, &inf, &vec![0.0; DIM]] {
            let e = index.search(bad, 5, &default()).unwrap_err();
            assert!(e.is_client_error(), "{e}");
        }
        let half: Vec<f32> = q.iter().map(|x| x * 0.5).collect();
        // A batch with one bad vector is refused whole.
        for bad in [&nan, &short, &half] {
            let e = index.add(&[(900_000, &q), (900_001, bad)]).unwrap_err();
            assert!(e.is_client_error(), "{e}");
            assert_eq!(index.len(), 300);
        }
        // An unnormalised query is fine: cosine is scale-free.
        let scaled: Vec<f32> = q.iter().map(|x| x * 3.0).collect();
        assert_eq!(index.search(&scaled, 3, &default()).unwrap(), index.search(&q, 3, &default()).unwrap());
        // k = 0, k beyond the size, absurd ef.
        assert!(index.search(&q, 0, &default()).unwrap().is_empty());
        assert_eq!(index.search(&q, usize::MAX, &default()).unwrap().len(), 300);
        assert_eq!(index.search(&q, 10, &SearchParams::default().ef(usize::MAX)).unwrap().len(), 10);
        assert_eq!(index.search(&q, 10, &SearchParams::default().ef(0)).unwrap().len(), 10);
        // Filters that let nothing through, or ids that do not exist.
        let none = |_: u64| false;
        assert!(index.search(&q, 10, &SearchParams::default().filter(Filter::Predicate(&none))).unwrap().is_empty());
        assert!(index.search(&q, 10, &SearchParams::default().filter(Filter::Ids(&[]))).unwrap().is_empty());
        assert!(index.search(&q, 10, &SearchParams::default().filter(Filter::Ids(&[u64::MAX]))).unwrap().is_empty());
        // Everything removed.
        assert_eq!(index.remove(&data.ids).unwrap(), 300);
        assert!(index.search(&q, 10, &default()).unwrap().is_empty());
    }
    assert!(ExactIndex::new(0).is_err());
    assert!(ScanIndex::new(0, ScanParams::default()).is_err());
    assert!(ScanIndex::new(4096, ScanParams::default()).is_err());
    assert!(ScanIndex::new(DIM, ScanParams { lambda: f32::NAN, ..ScanParams::default() }).is_err());
    assert!(HnswIndex::create(dir.path(), 0, HnswParams::default()).is_err());
}

#[test]
fn hnsw_filters_agree_with_exact() {
    let big = big();
    let qs = queries(&big.identities, 45, 5, 80);
    // A subject's faces (short list: scored exactly), half the gallery (graph search with the
    // filter), and a predicate.
    let short: Vec<u64> = (0..40).map(|i| i * 1237 % 50_000).collect();
    let half: Vec<u64> = (0..50_000u64).step_by(2).collect();
    let every_third = |id: u64| id.is_multiple_of(3);
    let mut r_half = 0.0;
    let mut r_pred = 0.0;
    for q in &qs {
        let p = SearchParams::default().filter(Filter::Ids(&short));
        assert_eq!(big.hnsw.search(q, 10, &p).unwrap(), big.exact.search(q, 10, &p).unwrap());
        for (filter, acc) in [(Filter::Ids(&half), &mut r_half), (Filter::Predicate(&every_third), &mut r_pred)] {
            let p = SearchParams::default().filter(filter);
            let (t, f) = (big.exact.search(q, 10, &p).unwrap(), big.hnsw.search(q, 10, &p).unwrap());
            assert_eq!(f.len(), 10);
            assert!(f.iter().all(|h| match filter {
                Filter::Ids(list) => list.contains(&h.id),
                Filter::Predicate(p) => p(h.id),
            }));
            *acc += recall(&t, &f) / qs.len() as f64;
        }
    }
    println!("filtered recall@10: half the ids {r_half:.4}, predicate {r_pred:.4}");
    assert!(r_half >= 0.95 && r_pred >= 0.95, "{r_half} {r_pred}");
}

#[test]
fn auto_switches_to_hnsw_past_the_threshold_and_reopens_as_such() {
    let (identities, data) = small(300, 90);
    let dir = tempfile::tempdir().unwrap();
    let params = IndexParams { auto_threshold: 2000, ..IndexParams::default() };
    let auto = AutoIndex::create(dir.path(), DIM, &params).unwrap();
    let items = data.items();
    auto.add(&items[..1500]).unwrap();
    auto.set_checkpoint(5);
    auto.persist().unwrap();
    assert_eq!(auto.stats().kind, "exact");
    assert_eq!(open_index(Backend::Auto, dir.path(), DIM, &params).unwrap().stats().kind, "exact");

    auto.add(&items[1500..]).unwrap();
    let stats = auto.stats();
    assert_eq!((stats.kind, stats.len, stats.checkpoint), ("hnsw", 3000, 5));
    let qs = queries(&identities, 50, 0, 91);
    for q in &qs {
        assert_eq!(auto.search(q, 10, &default()).unwrap().len(), 10);
    }
    auto.persist().unwrap();
    assert!(!dir.path().join("exact.idx").exists(), "the exact file is gone once HNSW is persisted");
    let reopened = open_index(Backend::Auto, dir.path(), DIM, &params).unwrap();
    assert_eq!(reopened.stats().kind, "hnsw");
    for q in &qs {
        assert_eq!(reopened.search(q, 10, &default()).unwrap(), auto.search(q, 10, &default()).unwrap());
    }
}

#[test]
fn concurrent_searches_during_adds_removes_and_compaction() {
    let (identities, data) = small(600, 100);
    let dir = tempfile::tempdir().unwrap();
    let params = HnswParams { compaction_ratio: 0.1, ..HnswParams::default() };
    let hnsw = Arc::new(HnswIndex::create(dir.path(), DIM, params).unwrap());
    let index: Arc<dyn VectorIndex> = hnsw.clone();
    let items = data.items();
    index.add(&items[..3000]).unwrap();
    let qs = queries(&identities, 50, 10, 101);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (index, qs, stop) = (index.clone(), qs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let hits = index.search(&qs[(n + t) % qs.len()], 10, &default()).unwrap();
                    assert!(hits.len() <= 10 && hits.iter().all(|h| h.id < 6000));
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                    n += 1;
                }
                n
            })
        })
        .collect();
    for (i, chunk) in items[3000..].chunks(500).enumerate() {
        index.add(chunk).unwrap();
        let gone: Vec<u64> = (0..400).map(|j| (i * 400 + j) as u64).collect();
        index.remove(&gone).unwrap();
        index.persist().unwrap();
    }
    hnsw.wait_for_compaction();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let searches: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let stats = index.stats();
    println!("{searches} searches ran during the writes; {stats:?}");
    assert_eq!(index.len(), 6000 - 2400);
    assert!(stats.compactions >= 1);
    // The end state is consistent: what persists reopens with the same content.
    index.persist().unwrap();
    let reopened = HnswIndex::open(dir.path(), DIM, params).unwrap();
    assert_eq!(reopened.len(), 3600);
    for q in &qs {
        assert_eq!(reopened.search(q, 10, &default()).unwrap(), index.search(q, 10, &default()).unwrap());
    }
}

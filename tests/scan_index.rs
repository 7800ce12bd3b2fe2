//! The default engine, the scan index, against brute force on both data shapes at a size that
//! spans two of its segments: decision equivalence (identification at a threshold), recall and
//! top-1 agreement (top-k retrieval), after removals and replacements, after a reload, with
//! filters, and while writers insert. Run with `--release`.

use std::sync::Arc;

use visage::index::bench::recall;
use visage::index::{ExactIndex, Filter, Hit, ScanIndex, ScanParams, SearchParams, VectorIndex};
use visage::synth::{gallery, queries, Dataset, Identities, Shape};

const DIM: usize = 128;
/// More than one segment (65,536 rows).
const N: usize = 70_000;
const THRESHOLD: f32 = 0.55;

struct Fixture {
    identities: Identities,
    data: Dataset,
    exact: ExactIndex,
    scan: ScanIndex,
}

fn fixture(shape: Shape, seed: u64) -> Fixture {
    let per = shape.per_identity();
    let identities = shape.identities(N / per, DIM, seed);
    let data = gallery(&identities, per, seed + 1);
    let exact = ExactIndex::new(DIM).unwrap();
    let scan = ScanIndex::new(DIM, ScanParams::default()).unwrap();
    for chunk in data.items().chunks(7_000) {
        exact.add(chunk).unwrap();
        scan.add(chunk).unwrap();
    }
    Fixture { identities, data, exact, scan }
}

/// The identity an identification answers at the threshold (`None`: unknown).
fn decision(hits: &[Hit], per: usize) -> Option<u64> {
    hits.first().filter(|h| h.score >= THRESHOLD).map(|h| h.id / per as u64)
}

/// Compares the scan with brute force on enrolled and stranger queries; returns
/// (decision equivalence, recall@10, same top-1), each as (enrolled, strangers).
fn compare(f: &Fixture, scan: &dyn VectorIndex, per: usize, seed: u64) -> [(f64, f64); 3] {
    let qs = queries(&f.identities, 300, 300, seed);
    let mut sums = [[0.0f64; 2]; 3];
    for (i, q) in qs.iter().enumerate() {
        let class = usize::from(i >= 300);
        let truth = f.exact.search(q, 10, &SearchParams::new()).unwrap();
        let top = scan.search(q, 10, &SearchParams::new()).unwrap();
        // Identification asks for 64 faces, exact only at or above the threshold.
        let ident = scan.search(q, 64, &SearchParams::new().floor(THRESHOLD)).unwrap();
        sums[0][class] += (decision(&ident, per) == decision(&truth, per)) as u8 as f64;
        sums[1][class] += recall(&truth, &top);
        sums[2][class] += (truth[0].id == top[0].id) as u8 as f64;
        // Whatever is returned carries its exact score (ids are row numbers here).
        for h in top.iter().chain(&ident) {
            assert_eq!(h.score, visage::index::dot(q, f.data.row(h.id as usize)));
        }
    }
    sums.map(|[a, b]| (a / 300.0, b / 300.0))
}

fn check(shape: Shape, seed: u64) {
    let f = fixture(shape, seed);
    let per = shape.per_identity();
    let [decide, rec, top1] = compare(&f, &f.scan, per, seed + 2);
    println!("{}: decision {decide:?}, recall@10 {rec:?}, same top-1 {top1:?}", shape.name());
    for (what, (enrolled, strangers)) in [("decision equivalence", decide), ("recall@10", rec), ("same top-1", top1)] {
        assert!(enrolled >= 0.999 && strangers >= 0.999, "{} {what}: {enrolled} / {strangers}", shape.name());
    }

    // A batch (groups of queries sharing each block, or on processors with AVX-512 VNNI every
    // code scored exactly) answers each query as a search alone would, or as brute force does;
    // at a floor, the faces at or above it are a single search's. Brute force's batch too.
    let qs = queries(&f.identities, 100, 100, seed + 4);
    let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
    let truth: Vec<Vec<Hit>> = qs.iter().map(|q| f.exact.search(q, 10, &SearchParams::new()).unwrap()).collect();
    let single: Vec<Vec<Hit>> = qs.iter().map(|q| f.scan.search(q, 10, &SearchParams::new()).unwrap()).collect();
    let batch = f.scan.search_batch(&refs, 10, &SearchParams::new()).unwrap();
    for ((b, s), t) in batch.iter().zip(&single).zip(&truth) {
        assert!(b == s || b == t, "batch {b:?}, single {s:?}, brute force {t:?}");
    }
    let at = SearchParams::new().floor(THRESHOLD);
    let above = |hits: &[Hit]| hits.iter().filter(|h| h.score >= THRESHOLD).copied().collect::<Vec<_>>();
    for (b, q) in f.scan.search_batch(&refs, 10, &at).unwrap().iter().zip(&qs) {
        assert_eq!(above(b), above(&f.scan.search(q, 10, &at).unwrap()));
        assert_eq!(b.len(), 10);
    }
    assert_eq!(f.exact.search_batch(&refs, 10, &SearchParams::new()).unwrap(), truth);

    // Removals (swap-removes across both segments) and replacements.
    let gone: Vec<u64> = f.data.ids.iter().copied().filter(|id| id % 9 == 4).collect();
    assert_eq!(f.scan.remove(&gone).unwrap(), gone.len());
    assert_eq!(f.exact.remove(&gone).unwrap(), gone.len());
    // Existing ids get another face's vector (ids that were not removed).
    let moved: Vec<(u64, Vec<f32>)> = (0..200u64)
        .map(|i| i * 300 + 1)
        .filter(|id| id % 9 != 4)
        .map(|id| (id, f.data.row(((id * 7919) % N as u64) as usize).to_vec()))
        .collect();
    let items: Vec<(u64, &[f32])> = moved.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    f.scan.add(&items).unwrap();
    f.exact.add(&items).unwrap();
    assert_eq!(f.scan.len(), f.exact.len());
    let qs = queries(&f.identities, 100, 100, seed + 3);
    for q in &qs {
        let truth = f.exact.search(q, 10, &SearchParams::new()).unwrap();
        let got = f.scan.search(q, 10, &SearchParams::new()).unwrap();
        assert!(got.iter().all(|h| !gone.contains(&h.id)));
        assert!(recall(&truth, &got) >= 0.99, "after removals and replacements");
    }

    // Reload: the same answers.
    let dir = tempfile::tempdir().unwrap();
    let disk = ScanIndex::create(dir.path(), DIM, ScanParams::default()).unwrap();
    disk.add(&f.data.items()).unwrap();
    disk.remove(&gone).unwrap();
    disk.set_checkpoint(42);
    disk.persist().unwrap();
    let before: Vec<Vec<Hit>> = qs.iter().map(|q| disk.search(q, 10, &SearchParams::new()).unwrap()).collect();
    drop(disk);
    let reopened = ScanIndex::open(dir.path(), DIM, ScanParams::default()).unwrap();
    assert_eq!(reopened.checkpoint(), 42);
    assert_eq!(reopened.len(), N - gone.len());
    let after: Vec<Vec<Hit>> = qs.iter().map(|q| reopened.search(q, 10, &SearchParams::new()).unwrap()).collect();
    assert_eq!(before, after);
}

#[test]
fn clustered_gallery_answers_like_brute_force() {
    check(Shape::Clustered, 100);
}

#[test]
fn isotropic_gallery_answers_like_brute_force() {
    check(Shape::Isotropic, 200);
}

#[test]
fn filters_agree_with_brute_force() {
    let f = fixture(Shape::Clustered, 300);
    let qs = queries(&f.identities, 40, 40, 301);
    // A long id list (a scan), a short one (direct look-ups), unsorted, and a predicate.
    let long: Vec<u64> = f.data.ids.iter().copied().filter(|id| id % 3 == 0).rev().collect();
    let short: Vec<u64> = f.data.ids.iter().copied().filter(|id| id % 97 == 0).collect();
    let odd = |id: u64| id % 2 == 1;
    for q in &qs {
        for filter in [Filter::Ids(&long), Filter::Ids(&short), Filter::Predicate(&odd)] {
            let p = SearchParams::new().filter(filter);
            let truth = f.exact.search(q, 10, &p).unwrap();
            let got = f.scan.search(q, 10, &p).unwrap();
            assert_eq!(got, truth, "{filter:?}");
        }
    }
    let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
    for filter in [Filter::Ids(&long), Filter::Ids(&short), Filter::Predicate(&odd)] {
        let p = SearchParams::new().filter(filter);
        let truth: Vec<Vec<Hit>> = qs.iter().map(|q| f.exact.search(q, 10, &p).unwrap()).collect();
        assert_eq!(f.scan.search_batch(&refs, 10, &p).unwrap(), truth, "batch {filter:?}");
    }
}

#[test]
fn searches_stay_exact_while_writers_insert_and_remove() {
    let identities = Identities::isotropic(20_000, DIM, 400);
    let data = gallery(&identities, 2, 401);
    let scan = Arc::new(ScanIndex::new(DIM, ScanParams::default()).unwrap());
    let items = data.items();
    scan.add(&items[..20_000]).unwrap();
    let rest: Vec<(u64, Vec<f32>)> = items[20_000..].iter().map(|(i, v)| (*i, v.to_vec())).collect();
    let writer = {
        let scan = scan.clone();
        std::thread::spawn(move || {
            for chunk in rest.chunks(1000) {
                let batch: Vec<(u64, &[f32])> = chunk.iter().map(|(i, v)| (*i, v.as_slice())).collect();
                scan.add(&batch).unwrap();
                scan.remove(&[chunk[0].0]).unwrap();
            }
        })
    };
    // Every vector of the first 20k finds itself first, however far the writer has got.
    for (id, v) in items[..20_000].iter().step_by(50) {
        let hits = scan.search(v, 5, &SearchParams::new()).unwrap();
        assert_eq!(hits[0].id, *id);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    writer.join().unwrap();
    assert_eq!(scan.len(), 40_000 - 20);
}

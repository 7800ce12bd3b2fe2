//! Index benchmark (`cargo bench --bench index`, or `visage bench index` once the CLI calls
//! [`run`]): on clustered synthetic 128-d galleries (see [`super::synth`]), exact vs HNSW build
//! rate, single-query latency (median, p99), HNSW recall@k against the exact answer at several
//! `ef`, throughput with all cores, resident memory growth, and persist / reopen times.

use std::time::Instant;

use rayon::prelude::*;

use super::synth::{gallery, queries, Identities};
use super::{ExactIndex, HnswIndex, HnswParams, Result, SearchParams, VectorIndex};

/// What to measure.
#[derive(Debug, Clone)]
pub struct IndexBenchOptions {
    /// Gallery sizes (10 photos per identity).
    pub sizes: Vec<usize>,
    pub dim: usize,
    /// Queries per size: 90 % fresh photos of enrolled identities, 10 % strangers.
    pub queries: usize,
    pub k: usize,
    /// Explicit `ef` values to measure, besides the default search (`ef: None`: `ef_search`,
    /// with the wider second look for far queries).
    pub efs: Vec<usize>,
    pub hnsw: HnswParams,
    pub seed: u64,
}

impl Default for IndexBenchOptions {
    fn default() -> Self {
        Self {
            sizes: vec![50_000],
            dim: 128,
            queries: 1000,
            k: 10,
            efs: vec![32, 64, 128, 256],
            hnsw: HnswParams::default(),
            seed: 42,
        }
    }
}

/// Latency and recall at one `ef`.
#[derive(Debug, Clone)]
pub struct EfFigures {
    /// `None`: the default search.
    pub ef: Option<usize>,
    pub median_ms: f64,
    pub p99_ms: f64,
    /// Median latency over queries of enrolled identities, then strangers.
    pub median_seen_ms: f64,
    pub median_unseen_ms: f64,
    /// Mean recall@k against the exact answer, over all queries.
    pub recall: f64,
    /// The same over queries of enrolled identities only, then strangers only.
    pub recall_seen: f64,
    pub recall_unseen: f64,
    /// Fraction of queries whose top-1 equals the exact top-1.
    pub top1: f64,
}

/// Everything measured for one gallery size.
#[derive(Debug, Clone)]
pub struct SizeFigures {
    pub n: usize,
    pub exact_build_s: f64,
    pub hnsw_build_s: f64,
    pub exact_median_ms: f64,
    pub exact_p99_ms: f64,
    pub efs: Vec<EfFigures>,
    /// Resident memory growth while building, MiB (Linux; 0 elsewhere).
    pub exact_rss_mib: f64,
    pub hnsw_rss_mib: f64,
    /// Queries per second with every core busy (rayon over queries), exact then HNSW at the default ef.
    pub exact_qps: f64,
    pub hnsw_qps: f64,
    pub persist_s: f64,
    pub open_s: f64,
}

/// Runs the benchmark, printing as it goes, and returns the figures.
pub fn run(opts: &IndexBenchOptions) -> Result<Vec<SizeFigures>> {
    let efs: Vec<Option<usize>> = std::iter::once(None).chain(opts.efs.iter().map(|e| Some(*e))).collect();
    let h = &opts.hnsw;
    println!(
        "index bench: {}-d clustered vectors, 10 per identity, {} queries (10% strangers), k={}, {} threads; \
         HNSW M={}, ef_construction={}, default search ef={} (ef={} when the best score < {})",
        opts.dim,
        opts.queries,
        opts.k,
        rayon::current_num_threads(),
        h.max_nb_conn,
        h.ef_construction,
        h.ef_search,
        h.ef_search_far,
        h.far_score,
    );
    let mut all = Vec::new();
    for &n in &opts.sizes {
        all.push(run_size(opts, n, &efs)?);
    }
    Ok(all)
}

fn run_size(opts: &IndexBenchOptions, n: usize, efs: &[Option<usize>]) -> Result<SizeFigures> {
    let identities = Identities::new(n.div_ceil(10), opts.dim, opts.seed);
    let data = gallery(&identities, 10, opts.seed + 1);
    let items = data.items();
    let unseen = opts.queries / 10;
    let qs = queries(&identities, opts.queries - unseen, unseen, opts.seed + 2);
    let n = data.len();

    let rss0 = rss_mib();
    let t = Instant::now();
    let exact = ExactIndex::new(opts.dim)?;
    exact.add(&items)?;
    let exact_build_s = t.elapsed().as_secs_f64();
    let exact_rss_mib = rss_mib() - rss0;

    let dir = std::env::temp_dir().join(format!("visage-index-bench-{}-{n}", std::process::id()));
    let rss1 = rss_mib();
    let t = Instant::now();
    let hnsw = HnswIndex::create(&dir, opts.dim, opts.hnsw)?;
    for chunk in items.chunks(10_000) {
        hnsw.add(chunk)?;
    }
    let hnsw_build_s = t.elapsed().as_secs_f64();
    let hnsw_rss_mib = rss_mib() - rss1;
    println!(
        "n={n}: build exact {exact_build_s:.3} s, hnsw {hnsw_build_s:.2} s ({:.0} inserts/s); RSS growth exact {exact_rss_mib:.0} MiB, hnsw {hnsw_rss_mib:.0} MiB ({:.0} B/vector)",
        n as f64 / hnsw_build_s,
        hnsw_rss_mib * 1048576.0 / n as f64
    );

    let plain = SearchParams::default();
    let (truth, exact_times) = timed(&qs, |q| exact.search(q, opts.k, &plain))?;
    let (exact_median_ms, exact_p99_ms) = percentiles(exact_times);
    println!("  exact: median {exact_median_ms:.3} ms, p99 {exact_p99_ms:.3} ms");

    let seen = qs.len() - unseen;
    let mut figures = Vec::new();
    for &ef in efs {
        let params = SearchParams { ef, filter: None };
        let (found, times) = timed(&qs, |q| hnsw.search(q, opts.k, &params))?;
        let recalls: Vec<f64> = truth.iter().zip(&found).map(|(t, f)| recall(t, f)).collect();
        let mean = |r: &[f64]| if r.is_empty() { 1.0 } else { r.iter().sum::<f64>() / r.len() as f64 };
        let same_top1 = truth.iter().zip(&found).filter(|(t, f)| t.first() == f.first()).count();
        let (median_seen_ms, _) = percentiles(times[..seen].to_vec());
        let (median_unseen_ms, _) = percentiles(times[seen..].to_vec());
        let (median_ms, p99_ms) = percentiles(times);
        let f = EfFigures {
            ef,
            median_ms,
            p99_ms,
            median_seen_ms,
            median_unseen_ms,
            recall: mean(&recalls),
            recall_seen: mean(&recalls[..seen]),
            recall_unseen: mean(&recalls[seen..]),
            top1: same_top1 as f64 / qs.len() as f64,
        };
        let label = ef.map_or("default".to_string(), |e| format!("ef={e}"));
        println!(
            "  hnsw {label:<8} median {median_ms:.3} ms (enrolled {median_seen_ms:.3}, strangers {median_unseen_ms:.3}), \
             p99 {p99_ms:.3} ms, recall@{} {:.4} (enrolled {:.4}, strangers {:.4}), same top-1 {:.4}, \
             median hnsw/exact {:.3}",
            opts.k,
            f.recall,
            f.recall_seen,
            f.recall_unseen,
            f.top1,
            median_ms / exact_median_ms
        );
        figures.push(f);
    }

    let exact_qps = throughput(&qs, |q| exact.search(q, opts.k, &plain).map(drop))?;
    let hnsw_qps = throughput(&qs, |q| hnsw.search(q, opts.k, &plain).map(drop))?;
    println!("  throughput, all cores: exact {exact_qps:.0} q/s, hnsw {hnsw_qps:.0} q/s (ef={})", opts.hnsw.ef_search);

    let before: Vec<_> = qs.iter().take(200).map(|q| hnsw.search(q, opts.k, &plain)).collect::<Result<_>>()?;
    let t = Instant::now();
    hnsw.persist()?;
    let persist_s = t.elapsed().as_secs_f64();
    drop(hnsw);
    let t = Instant::now();
    let reopened = HnswIndex::open(&dir, opts.dim, opts.hnsw)?;
    let open_s = t.elapsed().as_secs_f64();
    let same = qs.iter().zip(&before).all(|(q, b)| reopened.search(q, opts.k, &plain).is_ok_and(|h| &h == b));
    println!(
        "  persist {persist_s:.2} s, reopen {open_s:.2} s (answers after reopen: {})",
        if same { "identical" } else { "DIFFERENT" }
    );
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);

    Ok(SizeFigures {
        n,
        exact_build_s,
        hnsw_build_s,
        exact_median_ms,
        exact_p99_ms,
        efs: figures,
        exact_rss_mib,
        hnsw_rss_mib,
        exact_qps,
        hnsw_qps,
        persist_s,
        open_s,
    })
}

type Answers = Vec<Vec<super::Hit>>;

/// Runs `f` on every query, one at a time; returns the answers and the times in ms.
fn timed(qs: &[Vec<f32>], f: impl Fn(&[f32]) -> Result<Vec<super::Hit>>) -> Result<(Answers, Vec<f64>)> {
    for q in qs.iter().take(20) {
        std::hint::black_box(f(q)?);
    }
    let mut answers = Vec::with_capacity(qs.len());
    let mut times = Vec::with_capacity(qs.len());
    for q in qs {
        let t = Instant::now();
        let hits = f(q)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        answers.push(hits);
    }
    Ok((answers, times))
}

fn throughput(qs: &[Vec<f32>], f: impl Fn(&[f32]) -> Result<()> + Sync) -> Result<f64> {
    let t = Instant::now();
    qs.par_iter().try_for_each(|q| f(q))?;
    Ok(qs.len() as f64 / t.elapsed().as_secs_f64())
}

fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    if times.is_empty() {
        return (0.0, 0.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// |approx ∩ exact| / |exact|.
pub fn recall(exact: &[super::Hit], approx: &[super::Hit]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let found = exact.iter().filter(|e| approx.iter().any(|a| a.id == e.id)).count();
    found as f64 / exact.len() as f64
}

/// Resident set size in MiB (Linux), 0 elsewhere.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<f64>().ok()))
        .map(|pages| pages * 4096.0 / 1048576.0)
        .unwrap_or(0.0)
}

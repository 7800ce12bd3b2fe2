//! Index benchmark (`cargo bench --features testing --bench index`): every engine on the same
//! synthetic galleries of both data shapes ([`Shape`]), against the exact answer, and FAISS
//! (PyPI `faiss-cpu`, `scripts/faiss_reference.py`) and Qdrant (a running server, see
//! [`QdrantBenchOptions`]) on the same vectors in the same run.
//!
//! Per gallery size and shape it prints build rate, bytes per vector, persist and reload time,
//! single-thread p50 / p99, latency with two concurrent clients, and, separately for enrolled
//! people and strangers: recall@k and top-1 agreement with exact search (top-k retrieval), and
//! decision equivalence (identification: the same identity, or the same "unknown", at the
//! threshold), with each engine's speed as a ratio of exact search measured in the same run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

mod faiss;
mod floor;
mod qdrant;

pub use floor::Bandwidth;
pub use qdrant::{QdrantBenchOptions, QdrantConfig};

use crate::index::{
    ExactIndex, Hit, HnswIndex, HnswParams, Kernel, Result, ScanIndex, ScanParams, SearchParams, VectorIndex,
};
use crate::synth::{gallery, queries, Identities, Shape};

/// What to measure.
#[derive(Debug, Clone)]
pub struct IndexBenchOptions {
    pub sizes: Vec<usize>,
    pub shapes: Vec<Shape>,
    pub dim: usize,
    /// Queries per class: this many enrolled people, and as many strangers.
    pub queries: usize,
    /// Queries per class that brute force itself is timed on (its answers are the truth for all).
    pub baseline_queries: usize,
    /// Top-k of the retrieval measurements.
    pub k: usize,
    /// Faces fetched per identification (the gallery's `faces_to_fetch` at its default k).
    pub identify_k: usize,
    /// Identification threshold for decision equivalence (the configured default).
    pub threshold: f32,
    pub scan: ScanParams,
    /// The scan's instruction-set paths measured side by side (by default every one this
    /// processor has).
    pub kernels: Vec<Kernel>,
    /// Further `lambda` values to measure the scan at (speed against accuracy).
    pub lambdas: Vec<f32>,
    pub hnsw: HnswParams,
    /// hnsw_rs is built only up to this size (it inserts a few hundred vectors per second).
    pub hnsw_max: usize,
    /// The FAISS reference, when a Python with `faiss-cpu` is given.
    pub faiss: Option<FaissOptions>,
    /// Qdrant beside the embedded indexes, when a server is given.
    pub qdrant: Option<QdrantBenchOptions>,
    pub seed: u64,
}

/// How to run `scripts/faiss_reference.py`.
#[derive(Debug, Clone)]
pub struct FaissOptions {
    pub python: PathBuf,
    pub script: PathBuf,
    /// Index kinds (`hnsw,ivf,sq8,flat`).
    pub kinds: String,
    /// FAISS's HNSW is built only up to this size (about 10 minutes at 1M here).
    pub hnsw_max: usize,
}

impl Default for IndexBenchOptions {
    fn default() -> Self {
        Self {
            sizes: vec![10_000, 100_000],
            shapes: vec![Shape::Clustered, Shape::Isotropic],
            dim: 128,
            queries: 1000,
            baseline_queries: 200,
            k: 10,
            identify_k: 64,
            threshold: 0.55,
            scan: ScanParams::default(),
            kernels: Kernel::available(),
            lambdas: vec![],
            hnsw: HnswParams::default(),
            hnsw_max: 100_000,
            faiss: None,
            qdrant: None,
            seed: 42,
        }
    }
}

/// Accuracy and speed of one engine (or setting) on one gallery.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub engine: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Identification's p50 (0 where not measured).
    pub identify_p50_ms: f64,
    /// Per-query latency and wall time per query with two concurrent clients.
    pub p50_2t_ms: f64,
    pub ms_per_query_2t: f64,
    /// Wall time per query of one `search_batch` of every query on two threads: top-k, then
    /// identification (0 where not measured).
    pub batch_ms: [f64; 2],
    /// Enrolled, then strangers.
    pub recall: [f64; 2],
    pub top1: [f64; 2],
    pub decision: [f64; 2],
}

/// Everything measured on one gallery.
#[derive(Debug, Clone)]
pub struct GalleryFigures {
    pub shape: Shape,
    pub n: usize,
    pub scan_build_rate: f64,
    pub scan_bytes_per_vector: f64,
    pub scan_persist_s: f64,
    pub scan_open_s: f64,
    pub rows: Vec<Figures>,
}

/// Runs the benchmark, printing as it goes, and returns the figures.
pub fn run(opts: &IndexBenchOptions) -> Result<Vec<GalleryFigures>> {
    println!(
        "index bench: {}-d, {} enrolled + {} stranger queries, top-{} retrieval, identification at cosine {} \
         ({} faces fetched), {} threads available",
        opts.dim,
        opts.queries,
        opts.queries,
        opts.k,
        opts.threshold,
        opts.identify_k,
        rayon::current_num_threads()
    );
    let bandwidth = Bandwidth::measure();
    println!(
        "memory floor: this machine reads {:.1} GB/s on one core, {:.1} GB/s on all {} threads",
        bandwidth.one_core / 1e9,
        bandwidth.all_cores / 1e9,
        rayon::current_num_threads()
    );
    let mut all = Vec::new();
    for &shape in &opts.shapes {
        for &n in &opts.sizes {
            all.push(run_gallery(opts, shape, n, bandwidth)?);
        }
    }
    print_summary(&all);
    Ok(all)
}

/// The exact answers and decisions that every engine is compared with.
struct Truth {
    top: Vec<Vec<Hit>>,
    decisions: Vec<Option<u64>>,
}

struct Bench<'a> {
    opts: &'a IndexBenchOptions,
    qs: Vec<Vec<f32>>,
    per_identity: usize,
    truth: Truth,
    exact_p50: f64,
}

fn run_gallery(opts: &IndexBenchOptions, shape: Shape, n: usize, bandwidth: Bandwidth) -> Result<GalleryFigures> {
    let per = shape.per_identity();
    let identities = shape.identities(n.div_ceil(per), opts.dim, opts.seed);
    let data = gallery(&identities, per, opts.seed + 1);
    let items = data.items();
    let qs = queries(&identities, opts.queries, opts.queries, opts.seed + 2);
    let n = data.len();
    println!("\n== {} gallery, n = {n}", shape.name());

    let exact = ExactIndex::new(opts.dim)?;
    exact.add(&items)?;
    let top =
        qs.par_iter().map(|q| exact.search(q, opts.k.max(1), &SearchParams::new())).collect::<Result<Vec<_>>>()?;
    let decisions = top.iter().map(|hits| decide(hits, opts.threshold, per)).collect();
    let mut bench = Bench { opts, qs, per_identity: per, truth: Truth { top, decisions }, exact_p50: 0.0 };
    let exact_row = bench.baseline(|q, k| exact.search(q, k, &SearchParams::new()))?;
    let mut rows = vec![exact_row];
    drop(exact);

    // The scan index: build, persist, reopen, then search the reopened one.
    let dir = std::env::temp_dir().join(format!("visage-index-bench-{}-{}-{n}", std::process::id(), shape.name()));
    let rss0 = rss_bytes();
    let t = Instant::now();
    let scan = ScanIndex::create(&dir, opts.dim, opts.scan)?;
    for chunk in items.chunks(10_000) {
        scan.add(chunk)?;
    }
    let build_s = t.elapsed().as_secs_f64();
    let bytes_per_vector = (rss_bytes() - rss0) / n as f64;
    let t = Instant::now();
    scan.persist()?;
    let persist_s = t.elapsed().as_secs_f64();
    drop(scan);
    let t = Instant::now();
    let scan = ScanIndex::open(&dir, opts.dim, opts.scan)?;
    let open_s = t.elapsed().as_secs_f64();
    println!(
        "scan: build {:.0} vectors/s ({build_s:.1} s), {bytes_per_vector:.0} B/vector resident, persist {persist_s:.2} s, \
         reopen {open_s:.2} s",
        n as f64 / build_s
    );
    let (identify_bytes, top_bytes) = floor::streamed(n, scan.dp());
    let (identify_floor, top_floor) = (identify_bytes / bandwidth.one_core * 1e3, top_bytes / bandwidth.one_core * 1e3);
    println!(
        "  memory floor of one query on one core: identification {:.1} MB, {identify_floor:.2} ms; top-{} {:.1} MB, \
         {top_floor:.2} ms",
        identify_bytes / 1e6,
        opts.k,
        top_bytes / 1e6
    );
    for &kernel in &opts.kernels {
        let s = ScanIndex::open(&dir, opts.dim, ScanParams { kernel: Some(kernel), ..opts.scan })?;
        let label = format!("scan {kernel} (lambda {})", opts.scan.lambda);
        let mut row = bench.measure(&label, |q, k, floor| s.search(q, k, &with_floor(floor)))?;
        row.batch_ms = bench.batched(&s)?;
        println!(
            "  {label}: top-{} p50 {:.2}x the memory floor, identification p50 {:.2}x",
            opts.k,
            row.p50_ms / top_floor,
            row.identify_p50_ms / identify_floor
        );
        rows.push(row);
    }
    let (idle_p99, busy_p99) = bench.while_inserting(&scan, &identities, per)?;
    println!(
        "  scan while another thread inserts: identification p99 {busy_p99:.3} ms against {idle_p99:.3} ms idle \
         ({:.2}x)",
        busy_p99 / idle_p99.max(1e-9)
    );
    drop(scan);
    for &lambda in &opts.lambdas {
        let s = ScanIndex::open(&dir, opts.dim, ScanParams { lambda, ..opts.scan })?;
        rows.push(bench.measure(&format!("scan (lambda {lambda})"), |q, k, floor| s.search(q, k, &with_floor(floor)))?);
    }
    let _ = std::fs::remove_dir_all(&dir);

    if n <= opts.hnsw_max {
        let dir = dir.with_extension("hnsw");
        let t = Instant::now();
        let hnsw = HnswIndex::create(&dir, opts.dim, opts.hnsw)?;
        for chunk in items.chunks(10_000) {
            hnsw.add(chunk)?;
        }
        println!("hnsw_rs: build {:.0} vectors/s", n as f64 / t.elapsed().as_secs_f64());
        let label = format!("hnsw_rs (M {}, ef {})", opts.hnsw.max_nb_conn, opts.hnsw.ef_search);
        rows.push(bench.measure(&label, |q, k, _| hnsw.search(q, k, &SearchParams::new()))?);
        drop(hnsw);
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("hnsw_rs: skipped above {} vectors (build rate ~400/s here)", opts.hnsw_max);
    }

    if let Some(faiss) = &opts.faiss {
        match faiss::run(faiss, &data.vectors, &bench.qs, opts.dim, opts.k, n) {
            Ok(results) => {
                for r in results {
                    rows.push(bench.figures_from(&r.name, &r.top, r.p50_ms, r.p99_ms, r.batched_ms, r.batched_ms));
                    println!("  {}: build {:.1} s, {:.0} B/vector", r.name, r.build_s, r.bytes as f64 / n as f64);
                }
            }
            Err(e) => println!("faiss reference failed: {e}"),
        }
    }
    if let Some(q) = &opts.qdrant {
        rows.extend(qdrant::run(&bench, q, &items, &format!("{}-{n}", shape.name()))?);
    }
    Ok(GalleryFigures {
        shape,
        n,
        scan_build_rate: n as f64 / build_s,
        scan_bytes_per_vector: bytes_per_vector,
        scan_persist_s: persist_s,
        scan_open_s: open_s,
        rows,
    })
}

fn with_floor(floor: Option<f32>) -> SearchParams<'static> {
    SearchParams { floor, ..SearchParams::new() }
}

/// The identity an identification answers (`None`: unknown).
fn decide(hits: &[Hit], threshold: f32, per_identity: usize) -> Option<u64> {
    hits.first().filter(|h| h.score >= threshold).map(|h| h.id / per_identity as u64)
}

type SearchFn<'a> = dyn Fn(&[f32], usize, Option<f32>) -> Result<Vec<Hit>> + Sync + 'a;

impl Bench<'_> {
    /// Times `search` as top-k retrieval (no floor) on one thread and with two clients, and as
    /// identification (`identify_k` faces, floor at the threshold) for decision equivalence.
    fn measure(
        &self,
        engine: &str,
        search: impl Fn(&[f32], usize, Option<f32>) -> Result<Vec<Hit>> + Sync,
    ) -> Result<Figures> {
        let search: &SearchFn = &search;
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a thread pool");
        let k = self.opts.k;
        let (top, times) = one.install(|| timed(&self.qs, |q| search(q, k, None)))?;
        let (p50, p99) = percentiles(times);
        let (p50_2t, per_query_2t) = two.install(|| concurrent(&self.qs, |q| search(q, k, None)))?;
        let floor = Some(self.opts.threshold);
        let ik = self.opts.identify_k;
        let (ident, ident_times) = one.install(|| timed(&self.qs, |q| search(q, ik, floor)))?;
        let f = self.figures_from(engine, &top, p50, p99, p50_2t, per_query_2t);
        let decided: Vec<Option<u64>> =
            ident.iter().map(|h| decide(h, self.opts.threshold, self.per_identity)).collect();
        let decision = self.split_mean(|i| (decided[i] == self.truth.decisions[i]) as u8 as f64);
        let (ip50, ip99) = percentiles(ident_times);
        println!(
            "  {engine}: identification p50 {ip50:.3} ms, p99 {ip99:.3} ms ({:.1}x faster than exact), \
             decision equivalence {:.4} enrolled / {:.4} strangers",
            self.exact_p50 / ip50.max(1e-9),
            decision[0],
            decision[1]
        );
        Ok(Figures { decision, identify_p50_ms: ip50, ..f })
    }

    /// Wall time per query of one batch of every query on two threads, top-k and identification,
    /// checking that every answer is that of a single search or brute force's (a top-k batch
    /// may take an exact path that a single search's estimates only approach).
    fn batched(&self, index: &dyn VectorIndex) -> Result<[f64; 2]> {
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a thread pool");
        let refs: Vec<&[f32]> = self.qs.iter().map(|q| q.as_slice()).collect();
        let mut out = [0.0; 2];
        let mut exact = 0;
        for (i, (k, floor)) in
            [(self.opts.k, None), (self.opts.identify_k, Some(self.opts.threshold))].into_iter().enumerate()
        {
            let t = Instant::now();
            let answers = two.install(|| index.search_batch(&refs, k, &with_floor(floor)))?;
            out[i] = t.elapsed().as_secs_f64() * 1e3 / refs.len().max(1) as f64;
            for (qi, (q, a)) in refs.iter().zip(&answers).enumerate() {
                let single = index.search(q, k, &with_floor(floor))?;
                match floor {
                    None => {
                        let is_exact = *a == self.truth.top[qi];
                        exact += is_exact as usize;
                        assert!(
                            is_exact || single == *a,
                            "a batch answered differently from single searches and brute force"
                        );
                    }
                    // Exactness is promised at or above the floor only.
                    Some(f) => assert!(
                        a.iter().take_while(|h| h.score >= f).eq(single.iter().take_while(|h| h.score >= f)),
                        "a batch found other faces at or above the threshold than single searches"
                    ),
                }
            }
        }
        println!(
            "  batched, 2 threads: top-{} {:.3} ms/query ({:.2} % of answers identical to brute force's, the rest to \
             single searches'), identification {:.3} ms/query (the same faces at or above the threshold as single \
             searches)",
            self.opts.k,
            out[0],
            100.0 * exact as f64 / refs.len().max(1) as f64,
            out[1]
        );
        Ok(out)
    }

    /// Times brute force on `baseline_queries` of each class (its answers are the truth).
    fn baseline(&mut self, search: impl Fn(&[f32], usize) -> Result<Vec<Hit>> + Sync) -> Result<Figures> {
        let m = self.opts.baseline_queries.min(self.opts.queries);
        let half = self.opts.queries;
        let qs: Vec<Vec<f32>> = self.qs[..m].iter().chain(&self.qs[half..half + m]).cloned().collect();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a thread pool");
        let k = self.opts.k;
        let (_, times) = one.install(|| timed(&qs, |q| search(q, k)))?;
        let (p50, p99) = percentiles(times);
        let (p50_2t, per_query_2t) = two.install(|| concurrent(&qs, |q| search(q, k)))?;
        self.exact_p50 = p50;
        let batch_ms = [per_query_2t, 0.0];
        println!(
            "  exact (brute force, {} queries): p50 {p50:.3} ms, p99 {p99:.3} ms, 2 clients p50 {p50_2t:.3} ms, \
             {per_query_2t:.3} ms/query",
            qs.len()
        );
        Ok(Figures {
            engine: "exact (brute force)".into(),
            p50_ms: p50,
            p99_ms: p99,
            identify_p50_ms: p50,
            p50_2t_ms: p50_2t,
            ms_per_query_2t: per_query_2t,
            batch_ms,
            recall: [1.0; 2],
            top1: [1.0; 2],
            decision: [1.0; 2],
        })
    }

    /// Identification p99 on one thread, idle and while another thread adds `n / 10` new faces
    /// (at most 100k) in batches of 10k, as an import does (three times over).
    fn while_inserting(&self, scan: &ScanIndex, identities: &Identities, per: usize) -> Result<(f64, f64)> {
        let extra =
            gallery(&identities.strangers((scan.len() / 10).clamp(1000, 100_000) / per, self.opts.seed + 7), per, 9);
        let offset = u64::MAX / 2;
        let ik = self.opts.identify_k;
        let floor = Some(self.opts.threshold);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
        let (_, idle) = one.install(|| timed(&self.qs, |q| scan.search(q, ik, &with_floor(floor))))?;
        // Three inserts (each removed again), so that the p99 rests on a few thousand queries.
        let items: Vec<(u64, &[f32])> = extra.items().into_iter().map(|(i, v)| (i + offset, v)).collect();
        let mut busy = Vec::new();
        for _ in 0..3 {
            let done = std::sync::atomic::AtomicBool::new(false);
            let times = std::thread::scope(|s| {
                let writer = s.spawn(|| {
                    let r = items.chunks(10_000).try_for_each(|c| scan.add(c));
                    done.store(true, std::sync::atomic::Ordering::Release);
                    r
                });
                // Enrolled people and strangers in turn (the queries hold the enrolled first), so
                // that an insert shorter than the query list still meets both kinds.
                let n = self.qs.len();
                let half = n.div_ceil(2);
                let order = (0..n).map(|i| if i % 2 == 0 { i / 2 } else { half + i / 2 });
                // The whole loop on the pool's thread (as `timed` runs the idle figure): a hop
                // to it per query would time thread wake-ups on a machine the writer keeps busy.
                let times = one.install(|| {
                    let mut times = Vec::new();
                    for qi in order.cycle() {
                        if done.load(std::sync::atomic::Ordering::Acquire) {
                            break;
                        }
                        let t = Instant::now();
                        scan.search(&self.qs[qi], ik, &with_floor(floor))?;
                        times.push((qi, t.elapsed().as_secs_f64() * 1e3));
                    }
                    Ok::<_, crate::index::IndexError>(times)
                })?;
                writer.join().expect("the writer thread")?;
                Ok::<_, crate::index::IndexError>(times)
            })?;
            scan.remove(&items.iter().map(|(i, _)| *i).collect::<Vec<_>>())?;
            busy.extend(times);
        }
        // The idle figure is over the same queries as the busy one: some cost more than others.
        let idle_same = busy.iter().map(|(qi, _)| idle[*qi]).collect();
        Ok((percentiles(idle_same).1, percentiles(busy.into_iter().map(|(_, t)| t).collect()).1))
    }

    /// Retrieval figures from answers and times measured elsewhere (FAISS).
    fn figures_from(
        &self,
        engine: &str,
        top: &[Vec<Hit>],
        p50: f64,
        p99: f64,
        p50_2t: f64,
        per_query_2t: f64,
    ) -> Figures {
        let recall = self.split_mean(|i| recall(&self.truth.top[i], &top[i]));
        let top1 =
            self.split_mean(|i| (self.truth.top[i].first().map(|h| h.id) == top[i].first().map(|h| h.id)) as u8 as f64);
        let decision = self.split_mean(|i| {
            (decide(&top[i], self.opts.threshold, self.per_identity) == self.truth.decisions[i]) as u8 as f64
        });
        println!(
            "  {engine}: top-{} p50 {p50:.3} ms, p99 {p99:.3} ms ({:.1}x faster than exact), 2 clients p50 {p50_2t:.3} ms, \
             {per_query_2t:.3} ms/query; recall@{} {:.4} / {:.4}, same top-1 {:.4} / {:.4} (enrolled / strangers)",
            self.opts.k,
            self.exact_p50 / p50.max(1e-9),
            self.opts.k,
            recall[0],
            recall[1],
            top1[0],
            top1[1]
        );
        Figures {
            engine: engine.to_string(),
            p50_ms: p50,
            p99_ms: p99,
            identify_p50_ms: 0.0,
            p50_2t_ms: p50_2t,
            ms_per_query_2t: per_query_2t,
            batch_ms: [0.0; 2],
            recall,
            top1,
            decision,
        }
    }

    /// Means of `f` over the enrolled queries, then the strangers.
    fn split_mean(&self, f: impl Fn(usize) -> f64) -> [f64; 2] {
        let half = self.opts.queries;
        let mean = |r: std::ops::Range<usize>| {
            let len = r.len().max(1) as f64;
            r.map(&f).sum::<f64>() / len
        };
        [mean(0..half), mean(half..self.qs.len())]
    }
}

fn print_summary(all: &[GalleryFigures]) {
    println!("\n| shape | n | engine | p50 1 thread | p99 | p50 2 clients | ms/query 2 threads | batched ms/query top-k / identify | recall@10 enrolled / strangers | same top-1 | decision equivalence |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for g in all {
        for r in &g.rows {
            println!(
                "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {} | {:.4} / {:.4} | {:.4} / {:.4} | {:.4} / {:.4} |",
                g.shape.name(),
                g.n,
                r.engine,
                r.p50_ms,
                r.p99_ms,
                r.p50_2t_ms,
                r.ms_per_query_2t,
                match r.batch_ms {
                    [0.0, 0.0] => "-".to_string(),
                    [t, 0.0] => format!("{t:.2} / -"),
                    [t, i] => format!("{t:.2} / {i:.2}"),
                },
                r.recall[0],
                r.recall[1],
                r.top1[0],
                r.top1[1],
                r.decision[0],
                r.decision[1]
            );
        }
    }
    println!("\n| shape | n | scan build | bytes/vector | persist | reload |");
    println!("|---|---|---|---|---|---|");
    for g in all {
        println!(
            "| {} | {} | {:.0} vectors/s | {:.0} | {:.2} s | {:.2} s |",
            g.shape.name(),
            g.n,
            g.scan_build_rate,
            g.scan_bytes_per_vector,
            g.scan_persist_s,
            g.scan_open_s
        );
    }
}

type Answers = Vec<Vec<Hit>>;

/// Runs `f` on every query, one at a time; returns the answers and the times in ms.
fn timed(qs: &[Vec<f32>], f: impl Fn(&[f32]) -> Result<Vec<Hit>>) -> Result<(Answers, Vec<f64>)> {
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

/// Every query from as many concurrent clients as the current pool has threads: the median
/// per-query latency and the wall time per query.
fn concurrent(qs: &[Vec<f32>], f: impl Fn(&[f32]) -> Result<Vec<Hit>> + Sync) -> Result<(f64, f64)> {
    let t = Instant::now();
    let times = qs
        .par_iter()
        .map(|q| {
            let t = Instant::now();
            f(q).map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>>>()?;
    let wall = t.elapsed().as_secs_f64() * 1e3 / qs.len().max(1) as f64;
    Ok((percentiles(times).0, wall))
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
pub fn recall(exact: &[Hit], approx: &[Hit]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let found = exact.iter().filter(|e| approx.iter().any(|a| a.id == e.id)).count();
    found as f64 / exact.len() as f64
}

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss_bytes() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<f64>().ok()))
        .map(|pages| pages * 4096.0)
        .unwrap_or(0.0)
}

/// Where `scripts/faiss_reference.py` is, relative to the crate.
pub fn default_faiss_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faiss_reference.py")
}

//! Qdrant in the index benchmark (`--qdrant=URL[,URL] --qdrant-key=KEY`, or
//! `scripts/bench_qdrant.sh`, which starts a Qdrant for the run): the same gallery loaded into a
//! running Qdrant through [`QdrantIndex`] the way `visage reindex --to qdrant` loads it (a
//! recreated collection, points in acknowledged batches, the graph built once at the end), timed
//! until the collection is green, then searched like every other engine. One collection per
//! configuration, dropped afterwards.

use std::time::{Duration, Instant};

use super::{Bench, Figures};
use crate::index::{IndexError, QdrantIndex, QdrantSearch, QdrantSettings, Result, SearchParams, VectorIndex};

/// One collection configuration and the `ef`s it is searched with (graph configurations).
#[derive(Debug, Clone, PartialEq)]
pub struct QdrantConfig {
    pub search: QdrantSearch,
    /// Scalar int8 quantization, candidates rescored with the original vectors.
    pub quantization: bool,
    pub efs: Vec<u64>,
}

impl QdrantConfig {
    /// `exact`, `hnsw` or `hnsw-int8`, searched at `efs` (graphs only).
    pub fn parse(name: &str, efs: &[u64]) -> Option<Self> {
        let (search, quantization) = match name {
            "exact" => (QdrantSearch::Exact, false),
            "hnsw" => (QdrantSearch::Hnsw, false),
            "hnsw-int8" => (QdrantSearch::Hnsw, true),
            _ => return None,
        };
        let efs = if search == QdrantSearch::Exact { vec![0] } else { efs.to_vec() };
        Some(Self { search, quantization, efs })
    }

    fn name(&self) -> &'static str {
        match (self.search, self.quantization) {
            (QdrantSearch::Exact, _) => "exact",
            (QdrantSearch::Hnsw, false) => "hnsw",
            (QdrantSearch::Hnsw, true) => "hnsw-int8",
        }
    }
}

/// Where the server is and what to measure on it.
#[derive(Debug, Clone)]
pub struct QdrantBenchOptions {
    /// The server (`url`, `api_key`); the rest are the collection defaults each configuration
    /// starts from.
    pub settings: QdrantSettings,
    pub configs: Vec<QdrantConfig>,
}

/// Loads `items` into one collection per configuration and measures it; rows for the summary.
pub(super) fn run(
    bench: &Bench,
    opts: &QdrantBenchOptions,
    items: &[(u64, &[f32])],
    tag: &str,
) -> Result<Vec<Figures>> {
    let dim = bench.opts.dim;
    let mut rows = Vec::new();
    for config in &opts.configs {
        let settings = QdrantSettings {
            search: config.search,
            quantization: config.quantization,
            collection_prefix: "visage_bench_".into(),
            ..opts.settings.clone()
        };
        let q = QdrantIndex::connect(&settings, tag, config.name(), dim)?;
        q.recreate()?;
        let t = Instant::now();
        for chunk in items.chunks(4096) {
            q.add(chunk)?;
        }
        let upload_s = t.elapsed().as_secs_f64();
        q.build_graph()?;
        let graph = config.search == QdrantSearch::Hnsw;
        // Green with every vector in the graph (a graph build may not have begun at the first look).
        while !q
            .optimized()
            .is_ok_and(|(green, indexed)| green && (!graph || indexed as usize >= items.len() * 99 / 100))
        {
            if t.elapsed() > Duration::from_secs(4 * 3600) {
                return Err(IndexError::Backend(format!("{} not optimised after 4 hours", q.collection())));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let ready_s = t.elapsed().as_secs_f64();
        println!(
            "qdrant {}: upload {:.0} points/s ({upload_s:.1} s), green {ready_s:.1} s after the upload began, \
             Qdrant's RSS {:.0} MB",
            config.name(),
            items.len() as f64 / upload_s,
            server_rss_bytes() / 1e6
        );
        for &ef in &config.efs {
            let label = match config.search {
                QdrantSearch::Exact => "qdrant exact".to_string(),
                QdrantSearch::Hnsw => format!("qdrant {} (m {}, ef {ef})", config.name(), settings.hnsw.m),
            };
            let params = if ef > 0 { SearchParams::new().ef(ef as usize) } else { SearchParams::new() };
            rows.push(bench.measure(&label, |v, k, _| q.search(v, k, &params))?);
        }
        let _ = q.drop_collection();
    }
    Ok(rows)
}

/// Resident memory of the processes named `qdrant` on this machine (the benchmark's server).
fn server_rss_bytes() -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        if status.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("qdrant")) {
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()));
            total += kb.unwrap_or(0.0) * 1024.0;
        }
    }
    total
}

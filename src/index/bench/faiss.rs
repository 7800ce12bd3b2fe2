//! FAISS on the benchmark's own vectors: writes them as `.npy`, runs
//! `scripts/faiss_reference.py` (PyPI `faiss-cpu`) and reads back its timings and answers.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::Command;

use npyz::WriterBuilder;
use serde::Deserialize;

use super::FaissOptions;
use crate::index::{Hit, IndexError, Result};

/// One FAISS index's figures and its answers.
pub(super) struct FaissResult {
    pub name: String,
    pub build_s: f64,
    pub bytes: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub batched_ms: f64,
    pub top: Vec<Vec<Hit>>,
}

#[derive(Deserialize)]
struct Report {
    indexes: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    #[serde(default)]
    skipped: Option<String>,
    #[serde(default)]
    build_s: f64,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    p50_ms: f64,
    #[serde(default)]
    p99_ms: f64,
    #[serde(default)]
    batched_ms_per_query: f64,
    #[serde(default)]
    ids_file: Option<String>,
    #[serde(default)]
    scores_file: Option<String>,
}

fn fail(what: impl std::fmt::Display) -> IndexError {
    IndexError::InvalidArgument(format!("faiss reference: {what}"))
}

fn write_npy(path: &Path, rows: usize, dim: usize, values: impl Iterator<Item = f32>) -> Result<()> {
    let file = File::create(path).map_err(|e| IndexError::io(path, e))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, dim as u64])
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(|e| IndexError::io(path, e))?;
    w.extend(values).map_err(|e| IndexError::io(path, e))?;
    w.finish().map_err(|e| IndexError::io(path, e))
}

fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<(Vec<u64>, Vec<T>)> {
    let file = File::open(path).map_err(|e| IndexError::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| IndexError::io(path, e))?;
    let shape = npy.shape().to_vec();
    Ok((shape, npy.into_vec().map_err(|e| IndexError::io(path, e))?))
}

/// Runs every configured FAISS index on `base` (`n × dim`, row-major) and `queries`.
pub(super) fn run(
    opts: &FaissOptions,
    base: &[f32],
    queries: &[Vec<f32>],
    dim: usize,
    k: usize,
    n: usize,
) -> Result<Vec<FaissResult>> {
    let dir = std::env::temp_dir().join(format!("visage-faiss-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
    let result = (|| {
        write_npy(&dir.join("base.npy"), n, dim, base.iter().copied())?;
        write_npy(&dir.join("queries.npy"), queries.len(), dim, queries.iter().flatten().copied())?;
        let kinds: Vec<&str> = opts.kinds.split(',').filter(|k| *k != "hnsw" || n <= opts.hnsw_max).collect();
        let out = Command::new(&opts.python)
            .arg(&opts.script)
            .arg("--base")
            .arg(dir.join("base.npy"))
            .arg("--queries")
            .arg(dir.join("queries.npy"))
            .args(["--k", &k.to_string(), "--indexes", &kinds.join(",")])
            .arg("--out-dir")
            .arg(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| fail(format!("cannot run {}: {e}", opts.python.display())))?;
        if !out.status.success() {
            return Err(fail(format!("exited with {}", out.status)));
        }
        let report: Report = serde_json::from_slice(&out.stdout).map_err(fail)?;
        let mut results = Vec::new();
        for e in report.indexes {
            if let Some(why) = &e.skipped {
                println!("  faiss {}: skipped ({why})", e.name);
                continue;
            }
            let (Some(ids), Some(scores)) = (&e.ids_file, &e.scores_file) else { continue };
            let (shape, ids) = read_npy::<i64>(&dir.join(ids))?;
            let (_, scores) = read_npy::<f32>(&dir.join(scores))?;
            let width = shape.get(1).copied().unwrap_or(0) as usize;
            let top = ids
                .chunks(width.max(1))
                .zip(scores.chunks(width.max(1)))
                .map(|(i, s)| {
                    i.iter().zip(s).filter(|(i, _)| **i >= 0).map(|(i, s)| Hit { id: *i as u64, score: *s }).collect()
                })
                .collect();
            results.push(FaissResult {
                name: format!("faiss {}", e.name),
                build_s: e.build_s,
                bytes: e.bytes,
                p50_ms: e.p50_ms,
                p99_ms: e.p99_ms,
                batched_ms: e.batched_ms_per_query,
                top,
            });
        }
        Ok(results)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

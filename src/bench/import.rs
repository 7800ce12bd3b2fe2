//! `visage bench import`: the time a large gallery takes to be imported and then served. It
//! writes the synthetic face-shaped gallery of `visage bench gallery`, runs the real
//! `visage import` on it into a scratch data directory, then starts `visage serve` over that
//! directory and times it until `/readyz` answers, twice: the first start after the import, and
//! a restart after a graceful stop (the warm reopen). Every step is a child process of this
//! executable with the same global flags, so the figures are the commands' own.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use super::client::{Conn, Target};
use super::gallery::{gallery, GalleryOptions};
use super::server::{OwnServer, Scratch};
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{configured_embedder, Backend};
use crate::synth::Shape;

/// `visage bench import` options.
#[derive(Debug, Args)]
pub struct ImportOptions {
    /// Faces in the gallery (rounded up to whole identities).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// `isotropic` (MegaFace-like, 2 photos per person) or `clustered` (10 per person).
    #[arg(long, default_value = "isotropic")]
    pub shape: Shape,
    /// Length of the vectors (default: the configured embedder's, which it must be).
    #[arg(long)]
    pub dim: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The index backend: scan, exact, hnsw, auto or qdrant (default: index.kind).
    #[arg(long)]
    pub index: Option<Backend>,
    /// Keep the scratch directory (gallery file, data directory) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Global flags passed on to the import and the servers (`--config`, `--threads`).
    #[arg(skip)]
    pub server_args: Vec<OsString>,
}

/// A graceful stop may take this long (it saves the index).
const STOP_GRACE: Duration = Duration::from_secs(120);

/// Runs the benchmark; returns its summary.
pub fn import(settings: &Settings, opts: &ImportOptions) -> Result<Value> {
    let (_, embedder_dim) = configured_embedder(settings)?;
    let dim = match (opts.dim, embedder_dim) {
        (Some(d), Some(e)) if d != e => {
            return Err(VisageError::unprocessable(
                Code::InvalidParameter,
                format!(
                    "--dim {d}: the configured embedder's vectors have {e} values, and the server serves only those"
                ),
            ))
        }
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => return Err(VisageError::Config("the embedder's output length is unknown; give --dim".into())),
    };
    if opts.rows == 0 {
        return Err(VisageError::unprocessable(Code::InvalidParameter, "--rows must be at least 1"));
    }
    let backend = opts.index.unwrap_or(settings.index.kind);
    let scratch = Scratch::create("import", opts.keep)?;
    let file = scratch.path.join("gallery.npy");
    let data_dir = scratch.path.join("data");

    let generated = gallery(&GalleryOptions {
        out: file.clone(),
        rows: opts.rows,
        shape: opts.shape,
        dim,
        seed: opts.seed,
        model: "synthetic".into(),
    })?;
    let command = || {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(&opts.server_args).env("VISAGE_INDEX__KIND", backend.as_str());
        Ok::<_, std::io::Error>(command)
    };
    let setup = |e: std::io::Error| VisageError::io("visage", e);

    eprintln!("visage bench import: importing {} rows into {}", generated["rows"], data_dir.display());
    let started = Instant::now();
    let output = command()
        .map_err(setup)?
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(setup)?;
    let import_s = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(VisageError::Internal(format!("visage import failed ({})", output.status)));
    }
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let imported = report["imported"].as_u64().unwrap_or(0);
    let index_bytes = tree_bytes(&data_dir.join("index"));

    let first = serve(command().map_err(setup)?, &data_dir)?;
    let restart = serve(command().map_err(setup)?, &data_dir)?;
    Ok(json!({
        "rows": generated["rows"],
        "shape": opts.shape.name(),
        "dim": dim,
        "index": backend.as_str(),
        "generate_s": generated["seconds"],
        "import_s": import_s,
        "imported": imported,
        "import_rows_per_s": imported as f64 / import_s.max(1e-9),
        "index_bytes": index_bytes,
        "first_ready_s": first["ready_s"],
        "restart_ready_s": restart["ready_s"],
        "first_start": first,
        "restart": restart,
        "scratch": scratch.path,
        "kept": opts.keep,
    }))
}

/// Starts `visage serve` over `data_dir`, times it until `/readyz` answers 200, notes what it
/// says and the server's peak RSS, and stops it gracefully.
fn serve(command: Command, data_dir: &Path) -> Result<Value> {
    let started = Instant::now();
    let mut server = OwnServer::spawn(command, data_dir, Stdio::inherit())?;
    let target = Target::loopback(server.port, None); // /readyz is open
    server.wait_ready(&target)?;
    let ready_s = started.elapsed().as_secs_f64();
    let ready = Conn::new(&target).call_full(&target.request("GET", "/readyz", None, &[])).map(|r| r.json());
    let peak_rss_kib = peak_rss_kib(server.pid());
    let stopping = Instant::now();
    let clean = server.terminate(STOP_GRACE);
    Ok(json!({
        "ready_s": ready_s,
        "gallery_faces": ready.as_ref().map_or(Value::Null, |r| r["gallery_faces"].clone()),
        "index_kernel": ready.as_ref().map_or(Value::Null, |r| r["index_kernel"].clone()),
        "index_behind": ready.as_ref().map_or(Value::Null, |r| r["index_behind"].clone()),
        "peak_rss_mib": peak_rss_kib.map(|k| k as f64 / 1024.0),
        "stop_s": stopping.elapsed().as_secs_f64(),
        "clean_stop": clean,
    }))
}

/// The largest resident set `pid` has had (`VmHWM`), from `/proc`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()
}

/// Bytes of the files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

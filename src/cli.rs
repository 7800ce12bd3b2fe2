//! The command-line door: `visage serve | detect | embed | compare | enroll | import | export |
//! eval | calibrate | reindex | check | bench`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::config::{Settings, Sources};
use crate::error::{Result, VisageError};
use crate::http::HttpSettings;
use crate::service::{AttributeSet, Engine, Mode};

mod enroll;
mod eval;
mod import;
mod index;

/// Visage: face detection, alignment, embedding and comparison.
#[derive(Debug, Parser)]
#[command(name = "visage", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which gallery a command works on.
#[derive(Debug, Args)]
pub struct GalleryArgs {
    /// Data directory (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The collection in it.
    #[arg(long, default_value = crate::service::collections::DEFAULT)]
    pub collection: String,
}

impl GalleryArgs {
    /// `settings` for this gallery: its folder and index backend; not found when the
    /// collection does not exist.
    pub fn settings(&self, mut settings: Settings) -> Result<Settings> {
        if let Some(dir) = &self.data_dir {
            settings.server.data_dir = dir.clone();
        }
        crate::service::collections::settings_for(&settings, &self.collection)
    }
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file layered over config/default.toml.
    #[arg(long, global = true, env = "VISAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Threads per model run (overrides runtime.intra_threads).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (gallery, verify, identify, search) until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (overrides server.address), e.g. 0.0.0.0:8080.
        #[arg(long)]
        address: Option<String>,
        /// Gallery directory (overrides server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Detect faces: JSON with boxes, scores and landmarks.
    Detect {
        image: PathBuf,
        /// Also write a copy of the image with the detections drawn.
        #[arg(long, value_name = "OUT.png")]
        draw: Option<PathBuf>,
        /// Also estimate each face's apparent attributes, comma-separated: age, gender.
        #[arg(long, value_name = "age,gender")]
        attributes: Option<String>,
    },
    /// Detect, align and embed every face: JSON per face.
    Embed {
        image: PathBuf,
        /// Also estimate each face's apparent attributes, comma-separated: age, gender.
        #[arg(long, value_name = "age,gender")]
        attributes: Option<String>,
    },
    /// Cosine similarity of every face pair across two images, with the same/different decision.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Decision threshold (default: the one in force for the gallery, as `/v1/verify` decides:
        /// its calibrated threshold once `visage calibrate --apply` ran, else compare.threshold).
        #[arg(long)]
        threshold: Option<f32>,
        /// The gallery whose threshold is in force.
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Enrol a labelled folder (ROOT/<subject>/*.jpg), a zip/tar archive or a CSV/JSON manifest
    /// into the gallery as a durable job: a progress bar on stderr, a JSON report on stdout.
    /// Running it again resumes an interrupted job and enrols only what is new.
    Enroll(EnrollArgs),
    /// Import embeddings computed elsewhere (.npy + subjects CSV, or JSON Lines) into the
    /// gallery as a durable, resumable job without running any model: a progress bar on
    /// stderr, a JSON report on stdout. Re-importing the same rows adds nothing.
    Import(import::ImportArgs),
    /// Export every face's embedding (.npy + FILE.subjects.csv, or JSON Lines).
    Export(import::ExportArgs),
    /// Evaluate recognition on a labelled folder: top-k / CMC, ROC / AUC / EER / TAR@FAR,
    /// precision / recall / F1, open-set FPIR / FNIR, distractors; eval.json + eval.html.
    Eval(eval::EvalArgs),
    /// Thresholds from the gallery's own genuine and impostor pairs for a target FAR / FPIR.
    Calibrate(eval::CalibrateArgs),
    /// Build the gallery's index in another backend (scan, exact, hnsw, auto, qdrant) from the
    /// store, then check it: switching backends is this plus `index.kind` in the configuration.
    Reindex(index::ReindexArgs),
    /// Compare the store with the index (counts, checkpoint, a sample of ids, recall against
    /// exact search): a JSON report; exit status 2 with `index_drift` when they disagree.
    Check(index::CheckArgs),
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

/// `visage enroll` options; unset gate options come from `[enroll]`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Folder, archive (.zip/.tar/.tar.gz) or manifest (.csv/.json/.jsonl).
    pub source: PathBuf,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    /// Job id (default: derived from the source path and the gate, so a re-run resumes it).
    #[arg(long)]
    pub job: Option<String>,
    /// Write every item's outcome here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Worker threads (overrides enroll.workers).
    #[arg(long)]
    pub workers: Option<usize>,
    #[arg(long)]
    pub min_eye_distance: Option<f32>,
    #[arg(long)]
    pub min_score: Option<f32>,
    #[arg(long)]
    pub min_sharpness: Option<f32>,
    /// `reject` photos with several faces, or take the `largest`.
    #[arg(long, value_parser = ["reject", "largest"])]
    pub multi_face: Option<String>,
    /// Keep the aligned crops of enrolled faces.
    #[arg(long)]
    pub keep_crops: bool,
    /// Every photo already is an aligned face crop (LFW-aligned, 112×112): no detection.
    #[arg(long)]
    pub aligned: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// A synthetic gallery file shaped like real face embeddings (the index benchmark's, by
    /// default 1M × 128 MegaFace-like), for `visage import`: a JSON summary on stdout.
    Gallery(crate::bench::GalleryOptions),
    /// Seconds to import a synthetic gallery (by default 1M × 128) with `visage import` into a
    /// scratch data directory, then until `visage serve` over it is ready, and again after a
    /// restart: a JSON summary on stdout.
    Import(crate::bench::ImportOptions),
    /// Photos/s of a bulk enrolment job into a scratch gallery against the model-bound rate
    /// (detector + embedder runs alone, measured in the same run).
    Enroll {
        /// Folder, archive or manifest.
        source: PathBuf,
        /// Worker threads (default: enroll.workers, 0 = one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Photos per worker batch (default: enroll.batch).
        #[arg(long)]
        batch: Option<usize>,
        /// Photos timed for the model-bound baseline.
        #[arg(long, default_value_t = 20)]
        samples: usize,
    },
    /// Per-stage median latency of the pipeline and its overhead over pure model time.
    Pipeline {
        /// Photos to run (one face each is the usual case).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Timed repetitions per photo (after one warm-up).
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// Requests/s and p50/p99 latency of POST /v1/identify at several client concurrencies,
    /// against the pipeline's own time for the photo (the limit). Starts its own server on a
    /// loopback port unless --url names a running one (loopback only).
    Service {
        /// The photo sent to /v1/identify (one face is the usual case).
        image: PathBuf,
        /// A running server, e.g. http://127.0.0.1:8080 (loopback only); default: start one.
        #[arg(long)]
        url: Option<String>,
        /// Concurrent clients per level, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16])]
        concurrency: Vec<usize>,
        /// Timed seconds per level.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Untimed warm-up seconds per level.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Enrol IMAGE as a subject first (always done on a server started here; on a running
        /// server the subject is deleted at the end).
        #[arg(long)]
        enrol: bool,
        /// X-API-Key to send (default: the first of server.api_keys).
        #[arg(long)]
        api_key: Option<String>,
        /// Timed runs of the in-process pipeline baseline.
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// Kill -9 trials: a real server under concurrent enrolments, deletes, a bulk job and an
    /// embedding import is SIGKILLed at a random moment, restarted and checked (acknowledged
    /// faces present once, deletes kept, jobs finished once, index = store, SQLite integrity);
    /// plus torn-index and full-disk trials. A JSON summary; non-zero exit on any failure.
    Crash(crate::bench::CrashOptions),
    /// A mixed workload (identify, search, enrol, delete, a job) against a real server at and
    /// above saturation: requests/s, p50/p99 per route, status counts, RSS and open descriptors
    /// every 10 s; non-zero exit unless only 2xx, expected 4xx and 503 with Retry-After came
    /// back, memory and descriptors stayed flat and no request outlasted queue timeout + model.
    Soak {
        /// Folders of photos to send.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long, default_value_t = 1.0)]
        minutes: f64,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Seconds between /proc samples.
        #[arg(long, default_value_t = 10.0)]
        sample_s: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

impl Cli {
    /// The layered configuration. Every command reads the same files, so a key that neither
    /// the engine nor the HTTP door reads is refused whatever the command.
    pub fn sources(&self) -> Result<Sources> {
        let sources = Sources::open(self.global.config.as_deref())?;
        sources.check(&[Settings::known()?, HttpSettings::known()?])?;
        Ok(sources)
    }

    /// Settings from the layered configuration plus this command line's overrides.
    pub fn settings(&self, sources: &Sources) -> Result<Settings> {
        let mut settings = Settings::read(sources)?;
        if let Some(t) = self.global.threads {
            settings.runtime.intra_threads = t;
        }
        Ok(settings)
    }
}

/// Runs one command, printing its JSON result to stdout.
pub fn run(cli: Cli) -> Result<()> {
    let sources = cli.sources()?;
    let mut settings = cli.settings(&sources)?;
    let mut http = HttpSettings::read(&sources)?;
    let output = match cli.command {
        Command::Serve { address, data_dir } => {
            http.server.address = address.unwrap_or(http.server.address);
            settings.server.data_dir = data_dir.unwrap_or(settings.server.data_dir);
            let serve = crate::http::serve(settings, http);
            return actix_web::rt::System::new().block_on(serve).map_err(|e| match e.downcast::<VisageError>() {
                Ok(v) => v,
                Err(other) => VisageError::Config(format!("{other:#}")),
            });
        }
        Command::Detect { image, draw: out, attributes } => {
            let wanted = AttributeSet::parse(attributes.as_deref().unwrap_or(""))?;
            let engine = models(settings)?;
            let bytes = read(&image)?;
            let detected = match &out {
                Some(out) => {
                    let (detected, png) = block_on(engine.detect_drawn(bytes, wanted))?;
                    std::fs::write(out, png).map_err(|e| VisageError::io(out.display(), e))?;
                    detected
                }
                None => block_on(engine.detect(bytes, false, wanted))?,
            };
            with_image(&image, &detected)
        }
        Command::Embed { image, attributes } => {
            let wanted = AttributeSet::parse(attributes.as_deref().unwrap_or(""))?;
            let engine = models(settings)?;
            let embedded = block_on(engine.embed(read(&image)?, false, wanted))?;
            let detector = engine.pipeline()?.detector.model_id();
            let mut out = with_image(&image, &embedded);
            out["detector"] = detector.into();
            out
        }
        Command::Compare { a, b, threshold, gallery } => {
            let engine = Engine::open(gallery.settings(settings)?, Mode::Models { workers: 1 })?;
            let pairs = block_on(engine.compare_all(read(&a)?, read(&b)?, threshold))?;
            let mut out = json!({ "a": a, "b": b, "best": pairs.best() });
            merge(&mut out, &pairs);
            out
        }
        Command::Enroll(args) => return enroll::run(settings, &args),
        Command::Import(args) => return import::run_import(settings, &args),
        Command::Export(args) => return import::run_export(settings, &args),
        Command::Eval(args) => return eval::run(settings, &args),
        Command::Calibrate(args) => return eval::calibrate(settings, &args),
        Command::Reindex(args) => return index::reindex(settings, &args),
        Command::Check(args) => return index::run_check(settings, &args),
        Command::Bench { what: BenchCommand::Enroll { source, workers, batch, samples } } => {
            settings.enroll.batch = batch.unwrap_or(settings.enroll.batch);
            let workers = workers.unwrap_or(settings.enroll.workers);
            return crate::bench::enroll(&settings, &source, workers, samples);
        }
        Command::Bench { what: BenchCommand::Gallery(opts) } => crate::bench::gallery(&opts)?,
        Command::Bench { what: BenchCommand::Import(mut opts) } => {
            opts.server_args = server_args(&cli.global);
            crate::bench::import(&settings, &opts)?
        }
        Command::Bench { what: BenchCommand::Pipeline { images, runs } } => {
            let engine = models(settings.clone())?;
            return crate::bench::pipeline(&engine, &images, runs);
        }
        Command::Bench { what: BenchCommand::Crash(mut opts) } => {
            opts.server_args = server_args(&cli.global);
            opts.api_key = http.admin_key();
            return crate::bench::crash(&settings, &opts);
        }
        Command::Bench { what: BenchCommand::Soak { images, minutes, clients, sample_s, seed } } => {
            let opts = crate::bench::SoakOptions {
                images,
                minutes,
                clients,
                sample_s,
                seed,
                server_args: server_args(&cli.global),
                api_key: http.admin_key(),
            };
            return crate::bench::soak(&settings, &opts);
        }
        Command::Bench {
            what: BenchCommand::Service { image, url, concurrency, seconds, warmup, enrol, api_key, runs },
        } => {
            let server_args = server_args(&cli.global);
            let opts = crate::bench::ServiceOptions {
                image,
                url,
                concurrency,
                seconds,
                warmup,
                enrol,
                api_key: api_key.or_else(|| http.admin_key()),
                runs,
                server_args,
            };
            return crate::bench::service(&settings, &opts);
        }
    };
    println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
    Ok(())
}

/// The global flags a server started by a benchmark gets, so that it loads the same settings:
/// same file, same threads.
fn server_args(global: &GlobalArgs) -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    if let Some(config) = &global.config {
        args.extend(["--config".into(), config.clone().into_os_string()]);
    }
    if let Some(threads) = global.threads {
        args.extend(["--threads".into(), threads.to_string().into()]);
    }
    args
}

/// Opens the engine for the models alone (a server may hold the gallery meanwhile).
fn models(settings: Settings) -> Result<Engine> {
    Engine::open(settings, Mode::Models { workers: 1 })
}

/// Runs one of the engine's use cases to its end on this thread.
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| VisageError::Internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(f)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| VisageError::CorruptImage(format!("{}: {e}", path.display())))
}

/// An answer with the image's path first.
fn with_image(path: &Path, answer: &impl serde::Serialize) -> Value {
    let mut out = json!({ "image": path });
    merge(&mut out, answer);
    out
}

/// Adds `answer`'s fields to the object `out`.
fn merge(out: &mut Value, answer: &impl serde::Serialize) {
    if let (Some(o), Value::Object(fields)) = (out.as_object_mut(), serde_json::to_value(answer).unwrap_or_default()) {
        o.extend(fields);
    }
}

//! Settings: `config/default.toml` (compiled in), then an optional file, then `VISAGE_*`
//! environment variables (`VISAGE_DETECTOR__SCORE_THRESHOLD=0.7`), then CLI flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, VisageError};
use crate::index::{IndexKind, IndexParams};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// All of Visage's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub runtime: RuntimeSettings,
    pub detector: DetectorSettings,
    pub embedder: EmbedderSettings,
    pub limits: ImageLimits,
    pub compare: CompareSettings,
    pub identify: IdentifySettings,
    pub index: IndexSettings,
    pub server: ServerSettings,
    pub gallery: GallerySettings,
    pub enroll: EnrollSettings,
}

/// Bulk enrolment jobs: parallelism, the default quality gate and what a server may read.
#[derive(Debug, Clone, Deserialize)]
pub struct EnrollSettings {
    /// Worker threads of a job (0 = one per core); each runs the models single-threaded.
    pub workers: usize,
    /// Photos per worker batch (their faces are embedded in one model run).
    pub batch: usize,
    /// Folders a server-side job may read (a folder, or a manifest's files); empty = none, only
    /// uploaded archives. The CLI reads anything its user can.
    #[serde(deserialize_with = "list_or_csv_paths")]
    pub allowed_roots: Vec<PathBuf>,
    /// Largest archive accepted by `POST /v1/jobs/enroll`, bytes.
    pub max_upload_bytes: u64,
    /// The default enrolment quality gate.
    #[serde(flatten)]
    pub gate: crate::enroll::Gate,
}

/// What the gallery keeps besides embeddings.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct GallerySettings {
    /// Keep each enrolled face's aligned 112×112 crop (PNG, erased with the face). Off by
    /// default: only the embedding, box and image hash are stored.
    pub keep_crops: bool,
}

/// 1:N identification and search defaults.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct IdentifySettings {
    /// Cosine at or above which the best subject is the answer; below it the face is unknown.
    pub threshold: f32,
    /// With `compare.target_far`: calibrate the identify threshold for this false-positive
    /// identification rate (unknown faces wrongly matched) on the gallery at start-up.
    pub target_fpir: Option<f64>,
    /// Candidates returned per face when the request does not say.
    pub k: usize,
    /// Largest `k` a request may ask for.
    pub max_k: usize,
}

/// Vector index choice and parameters.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct IndexSettings {
    pub kind: IndexKind,
    #[serde(flatten)]
    pub params: IndexParams,
}

/// The HTTP service.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// `host:port` to listen on.
    pub address: String,
    /// Where the gallery (database + index) lives.
    pub data_dir: PathBuf,
    /// Requests running models at once (0 = one per core); each gets its own model sessions.
    pub workers: usize,
    /// Requests allowed to wait for a worker; beyond that the answer is 503 at once.
    pub max_queue: usize,
    /// How long a request waits for a worker before 503 with Retry-After.
    pub queue_timeout_ms: u64,
    /// API keys accepted in the `X-API-Key` header; empty = no authentication. From the
    /// environment as a comma-separated list.
    #[serde(deserialize_with = "list_or_csv")]
    pub api_keys: Vec<String>,
    /// Seconds between background saves of the index (it is also saved at shutdown).
    pub persist_interval_s: u64,
}

/// ONNX Runtime library and session options.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSettings {
    pub ort_library: PathBuf,
    pub intra_threads: usize,
    pub optimization_level: u8,
    pub sessions: usize,
}

/// Which detector family decodes a model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorFamilySetting {
    Auto,
    Yunet,
    Scrfd,
}

/// Order of the faces found in one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceOrder {
    /// Largest box first.
    Size,
    /// Highest detector score first.
    Score,
}

/// Face detector model and decoding parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct DetectorSettings {
    pub model: PathBuf,
    pub family: DetectorFamilySetting,
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub input_size: u32,
    pub min_face_size: f32,
    pub max_faces: usize,
    pub sort: FaceOrder,
}

/// How an embedder's input pixels are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormalizationSetting {
    Auto,
    Raw,
    Symmetric,
}

/// Face embedder model.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbedderSettings {
    pub model: PathBuf,
    pub normalization: NormalizationSetting,
}

/// Limits applied to every image before and while it is decoded.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ImageLimits {
    pub max_image_bytes: usize,
    pub max_image_pixels: u64,
    pub max_image_side: u32,
}

/// Decision threshold for 1:1 comparison.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct CompareSettings {
    pub threshold: f32,
    /// When set (with `identify.target_fpir`), the thresholds are calibrated on the gallery at
    /// start-up for this false-accept rate, if it holds enough pairs to measure it.
    pub target_far: Option<f64>,
}

/// A list given either as a sequence or as one comma-separated string (environment variables).
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect(),
    })
}

fn list_or_csv_paths<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<PathBuf>, D::Error> {
    Ok(list_or_csv(d)?.into_iter().map(PathBuf::from).collect())
}

impl Settings {
    /// Loads the defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(VisageError::Config(format!("config file {} not found", path.display())));
            }
            builder = builder.add_source(config::File::from(path));
        }
        let builder = builder.add_source(
            config::Environment::with_prefix("VISAGE").prefix_separator("_").separator("__").try_parsing(true),
        );
        let mut settings: Settings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|e| VisageError::Config(e.to_string()))?;
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
            settings.runtime.ort_library = PathBuf::from(path);
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(VisageError::Config(m.to_string()));
        if self.detector.input_size < 32 || !self.detector.input_size.is_multiple_of(32) {
            return bad("detector.input_size must be a positive multiple of 32");
        }
        if !(0.0..=1.0).contains(&self.detector.score_threshold) || !(0.0..=1.0).contains(&self.detector.nms_iou) {
            return bad("detector.score_threshold and detector.nms_iou must lie in [0, 1]");
        }
        if self.detector.max_faces == 0 {
            return bad("detector.max_faces must be at least 1");
        }
        if !(-1.0..=1.0).contains(&self.compare.threshold) || !(-1.0..=1.0).contains(&self.identify.threshold) {
            return bad("compare.threshold and identify.threshold are cosine similarities and must lie in [-1, 1]");
        }
        if self.identify.k == 0 || self.identify.k > self.identify.max_k {
            return bad("identify.k must be between 1 and identify.max_k");
        }
        let rate = |r: Option<f64>| r.is_none_or(|r| r > 0.0 && r < 1.0);
        if !rate(self.compare.target_far) || !rate(self.identify.target_fpir) {
            return bad("compare.target_far and identify.target_fpir are rates in (0, 1)");
        }
        if let Err(e) = self.enroll.gate.validate() {
            return bad(&format!("enroll: {e}"));
        }
        if self.enroll.batch == 0 || self.enroll.batch > 256 {
            return bad("enroll.batch must be 1..=256");
        }
        if self.runtime.optimization_level > 3 || self.runtime.sessions == 0 {
            return bad("runtime.optimization_level must be 0..=3 and runtime.sessions at least 1");
        }
        Ok(())
    }
}

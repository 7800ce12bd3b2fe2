//! Settings: `config/default.toml` (compiled in), then an optional file, then `VISAGE_*`
//! environment variables (`VISAGE_DETECTOR__SCORE_THRESHOLD=0.7`), then CLI flags. Each module
//! owns its settings type; this file only aggregates them (one section each), loads and checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::calibrate::{CompareSettings, IdentifySettings};
pub use crate::enroll::EnrollSettings;
use crate::error::{Result, VisageError};
pub use crate::gallery::{GallerySettings, IndexSettings, ReviewSettings};
use crate::pipeline::attributes::AttributeSettings;
pub use crate::pipeline::decode::ImageLimits;
pub use crate::pipeline::detect::{DetectorFamilySetting, DetectorSettings, FaceOrder};
pub use crate::pipeline::embed::{EmbedderSettings, NormalizationSetting};
pub use crate::pipeline::runtime::RuntimeSettings;
use crate::pipeline::PipelineSettings;
pub use crate::service::{CompatSettings, ServerSettings, UiSettings};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// All of Visage's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub runtime: RuntimeSettings,
    pub detector: DetectorSettings,
    pub embedder: EmbedderSettings,
    pub attributes: AttributeSettings,
    pub limits: ImageLimits,
    pub compare: CompareSettings,
    pub identify: IdentifySettings,
    pub index: IndexSettings,
    pub server: ServerSettings,
    pub compat: CompatSettings,
    pub gallery: GallerySettings,
    pub review: ReviewSettings,
    pub enroll: EnrollSettings,
    pub ui: UiSettings,
}

impl<'a> From<&'a Settings> for PipelineSettings<'a> {
    fn from(s: &'a Settings) -> Self {
        Self {
            runtime: &s.runtime,
            detector: &s.detector,
            embedder: &s.embedder,
            attributes: &s.attributes,
            limits: s.limits,
        }
    }
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
        if self.review.max_items == 0 {
            return bad("review.max_items must be at least 1");
        }
        if self.enroll.batch == 0 || self.enroll.batch > 256 {
            return bad("enroll.batch must be 1..=256");
        }
        if let Err(e) = self.index.validate() {
            return bad(&e.to_string());
        }
        for (name, keys) in [
            ("server.api_keys", &self.server.api_keys),
            ("server.read_keys", &self.server.read_keys),
            ("compat.recognition_keys", &self.compat.recognition_keys),
            ("compat.detection_keys", &self.compat.detection_keys),
            ("compat.verification_keys", &self.compat.verification_keys),
        ] {
            if let Err(e) = crate::service::keys::KeySet::parse(keys) {
                return bad(&format!("{name}: {e}"));
            }
        }
        if self.server.max_form_fields == 0 || self.server.body_timeout_s == 0 {
            return bad("server.max_form_fields and server.body_timeout_s must be at least 1");
        }
        if self.runtime.optimization_level > 3 || self.runtime.sessions == 0 {
            return bad("runtime.optimization_level must be 0..=3 and runtime.sessions at least 1");
        }
        Ok(())
    }
}

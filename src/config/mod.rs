//! Settings: `config/default.toml` (compiled in), then an optional file, then `VISAGE_*`
//! environment variables (`VISAGE_DETECTOR__SCORE_THRESHOLD=0.7`), then CLI flags. Each module
//! owns its settings type; this file only aggregates them (one section each), loads and checks.
//! A key no setting has is refused ([`Sources::check`]), so a typo never leaves a default in force.

mod server;
mod sources;
mod unknown;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use server::ServerSettings;
pub use sources::Sources;

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

/// All of Visage's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub runtime: RuntimeSettings,
    pub detector: DetectorSettings,
    pub embedder: EmbedderSettings,
    pub attributes: AttributeSettings,
    pub limits: ImageLimits,
    pub compare: CompareSettings,
    pub identify: IdentifySettings,
    pub index: IndexSettings,
    /// The engine's keys of `[server]` (the HTTP door reads its own from the same table).
    pub server: ServerSettings,
    pub gallery: GallerySettings,
    pub review: ReviewSettings,
    pub enroll: EnrollSettings,
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
    /// Loads the defaults, then `file` (if given), then the environment. Keys are not checked
    /// here: the file also holds the doors' keys, so the caller that knows every part checks
    /// them ([`Sources::check`], as the command line does).
    pub fn load(file: Option<&Path>) -> Result<Self> {
        Self::read(&Sources::open(file)?)
    }

    /// The settings' key tree (see [`Sources::known`]).
    pub fn known() -> Result<Value> {
        Sources::known::<Self>()
    }

    /// The settings `sources` give, checked (their keys are not: see [`Sources::check`]).
    pub fn read(sources: &Sources) -> Result<Self> {
        let mut settings: Settings = sources.read()?;
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
        if self.runtime.optimization_level > 3 || self.runtime.sessions == 0 {
            return bad("runtime.optimization_level must be 0..=3 and runtime.sessions at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(tree: &Value, path: &str, found: &mut Vec<(String, usize)>) {
        if let Value::Object(map) = tree {
            found.push((path.to_string(), map.len()));
            for (key, value) in map {
                tables(value, &format!("{path}.{key}"), found);
            }
        }
    }

    #[test]
    fn the_key_tree_holds_flattened_parts_and_options_and_no_open_map() {
        let known = Settings::known().unwrap();
        for path in ["/index/auto_threshold", "/index/hnsw/ef_search", "/enroll/min_score", "/enroll/multi_face"] {
            assert!(known.pointer(path).is_some(), "{path} (flattened)");
        }
        for path in ["/compare/target_far", "/identify/target_fpir", "/index/scan/kernel"] {
            assert_eq!(known.pointer(path), Some(&Value::Null), "{path} (an option)");
        }
        // An empty table is what a map's default looks like: every key given to it would be refused.
        let mut found = Vec::new();
        tables(&known, "", &mut found);
        assert!(found.len() > 15 && found.iter().all(|(_, keys)| *keys > 0), "{found:?}");
    }
}

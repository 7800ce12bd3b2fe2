//! The `[index]` section of the configuration: which backend holds the gallery's vectors, and
//! each backend's own settings beside it (`index.hnsw`, `index.scan`, `index.qdrant`), so that
//! switching backends is a change of `index.kind` (plus `visage reindex`) and nothing else.

use serde::{Deserialize, Serialize};

use super::qdrant::QdrantSettings;
use super::{Backend, IndexParams, Result};

/// The `[index]` section: the backend and the settings of every backend (only the chosen one's
/// are used).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexSettings {
    pub kind: Backend,
    /// The embedded indexes' parameters (`index.hnsw`, `index.scan`, `index.auto_threshold`).
    #[serde(flatten)]
    pub params: IndexParams,
    /// `index.qdrant`.
    #[serde(default)]
    pub qdrant: QdrantSettings,
}

impl IndexSettings {
    /// Settings for the backend `kind` with `params` (and Qdrant's defaults).
    pub fn new(kind: Backend, params: &IndexParams) -> Self {
        Self { kind, params: *params, qdrant: QdrantSettings::default() }
    }

    /// The same settings with another backend.
    pub fn with_kind(&self, kind: Backend) -> Self {
        Self { kind, ..self.clone() }
    }

    /// Checks the chosen backend's settings.
    pub fn validate(&self) -> Result<()> {
        self.kind.check(self)
    }
}

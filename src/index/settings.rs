//! The `[index]` section of the configuration: which backend holds the gallery's vectors, and
//! each backend's own settings beside it (`index.hnsw`, `index.scan`, `index.qdrant`), so that
//! switching backends is a change of `index.kind` (plus `visage reindex`) and nothing else.

use serde::{Deserialize, Serialize};

use super::qdrant::QdrantSettings;
use super::{IndexError, IndexKind, IndexParams, Result};

/// Where the vectors live: one of the embedded indexes (files in the gallery's directory) or a
/// Qdrant server (a collection per gallery and model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Scan,
    Exact,
    Hnsw,
    Auto,
    Qdrant,
}

impl Backend {
    /// Every backend, in the order the documentation lists them.
    pub const ALL: [Backend; 5] = [Self::Scan, Self::Exact, Self::Hnsw, Self::Auto, Self::Qdrant];

    /// The embedded index kind, or `None` for a remote backend.
    pub fn embedded(self) -> Option<IndexKind> {
        match self {
            Self::Scan => Some(IndexKind::Scan),
            Self::Exact => Some(IndexKind::Exact),
            Self::Hnsw => Some(IndexKind::Hnsw),
            Self::Auto => Some(IndexKind::Auto),
            Self::Qdrant => None,
        }
    }

    /// The name used in the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scan => "scan",
            Self::Exact => "exact",
            Self::Hnsw => "hnsw",
            Self::Auto => "auto",
            Self::Qdrant => "qdrant",
        }
    }
}

impl From<IndexKind> for Backend {
    fn from(kind: IndexKind) -> Self {
        match kind {
            IndexKind::Scan => Self::Scan,
            IndexKind::Exact => Self::Exact,
            IndexKind::Hnsw => Self::Hnsw,
            IndexKind::Auto => Self::Auto,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = IndexError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.to_ascii_lowercase();
        Self::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            IndexError::InvalidArgument(format!("unknown index kind {s:?} (scan, exact, hnsw, auto or qdrant)"))
        })
    }
}

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
    /// Settings for an embedded index of `kind` with `params`.
    pub fn embedded(kind: IndexKind, params: &IndexParams) -> Self {
        Self { kind: kind.into(), params: *params, qdrant: QdrantSettings::default() }
    }

    /// The same settings with another backend.
    pub fn with_kind(&self, kind: Backend) -> Self {
        Self { kind, ..self.clone() }
    }

    /// Checks the chosen backend's settings.
    pub fn validate(&self) -> Result<()> {
        match self.kind {
            Backend::Qdrant => self.qdrant.validate(),
            Backend::Hnsw | Backend::Auto => self.params.hnsw.check(),
            Backend::Scan => self.params.scan.check(),
            Backend::Exact => Ok(()),
        }
    }
}

//! The backends that can hold a gallery's vectors, declared once: their names (`index.kind`,
//! `visage reindex --to`), the settings each one checks, and how each embedded one is opened,
//! created and made scratch. Adding a backend is an arm here and its module.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AutoIndex, ExactIndex, HnswIndex, IndexError, IndexParams, IndexSettings, Result, ScanIndex, VectorIndex};

/// Where the vectors live: one of the embedded indexes (files in the gallery's directory) or a
/// Qdrant server (a collection per gallery and model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Sign-code scan with exact re-rank ([`ScanIndex`]): brute-force answers at any size.
    #[default]
    Scan,
    /// Brute force ([`ExactIndex`]).
    Exact,
    /// An HNSW graph ([`HnswIndex`]).
    Hnsw,
    /// Exact below [`IndexParams::auto_threshold`] live vectors, HNSW from there on.
    Auto,
    /// A collection on a Qdrant server or cluster ([`super::QdrantIndex`]).
    Qdrant,
}

impl Backend {
    /// Every backend, in the order the documentation lists them.
    pub const ALL: [Backend; 5] = [Self::Scan, Self::Exact, Self::Hnsw, Self::Auto, Self::Qdrant];

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

    /// True for a backend on a server, which the gallery connects to instead of opening files.
    pub fn is_remote(self) -> bool {
        matches!(self, Self::Qdrant)
    }

    /// Checks the settings this backend uses.
    pub(crate) fn check(self, settings: &IndexSettings) -> Result<()> {
        match self {
            Self::Qdrant => settings.qdrant.validate(),
            Self::Hnsw | Self::Auto => settings.params.hnsw.check(),
            Self::Scan => settings.params.scan.check(),
            Self::Exact => Ok(()),
        }
    }

    /// Refuses a remote backend where an embedded index is needed.
    fn remote(self) -> IndexError {
        IndexError::InvalidArgument(format!("{self} is a remote backend: it is connected to, not opened from files"))
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

/// Opens the embedded index of `kind` persisted in `dir`. Errors for which
/// [`IndexError::needs_rebuild`] is true (nothing there, corrupt files, other dimension or
/// parameters) mean: rebuild with [`create_index`] from the source of truth. A remote `kind` is
/// an invalid argument.
pub fn open_index(kind: Backend, dir: &Path, dim: usize, params: &IndexParams) -> Result<Arc<dyn VectorIndex>> {
    Ok(match kind {
        Backend::Exact => Arc::new(ExactIndex::open(dir, dim)?),
        Backend::Hnsw => Arc::new(HnswIndex::open(dir, dim, params.hnsw)?),
        Backend::Scan => Arc::new(ScanIndex::open(dir, dim, params.scan)?),
        Backend::Auto => Arc::new(AutoIndex::open(dir, dim, params)?),
        Backend::Qdrant => return Err(kind.remote()),
    })
}

/// A new, empty embedded index of `kind` that will persist to `dir` (created if needed). Files of
/// a previous index in `dir` are replaced at the first [`VectorIndex::persist`]. A remote `kind`
/// is an invalid argument.
pub fn create_index(kind: Backend, dir: &Path, dim: usize, params: &IndexParams) -> Result<Arc<dyn VectorIndex>> {
    Ok(match kind {
        Backend::Exact => Arc::new(ExactIndex::create(dir, dim)?),
        Backend::Hnsw => Arc::new(HnswIndex::create(dir, dim, params.hnsw)?),
        Backend::Scan => Arc::new(ScanIndex::create(dir, dim, params.scan)?),
        Backend::Auto => Arc::new(AutoIndex::create(dir, dim, params)?),
        Backend::Qdrant => return Err(kind.remote()),
    })
}

/// A new, empty index of `kind` that is never persisted, for one computation (an evaluation's
/// distractor curve): in memory for exact and scan; hnsw and auto, which keep a directory for
/// their files, get a fresh one under the system's temporary directory, removed on drop. A
/// remote backend computes on the scan index (a scratch collection on a server is not worth it).
pub fn scratch_index(kind: Backend, dim: usize, params: &IndexParams) -> Result<ScratchIndex> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (index, dir): (Arc<dyn VectorIndex>, _) = match kind {
        Backend::Exact => (Arc::new(ExactIndex::new(dim)?), None),
        Backend::Scan | Backend::Qdrant => (Arc::new(ScanIndex::new(dim, params.scan)?), None),
        Backend::Hnsw | Backend::Auto => {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("visage-scratch-{}-{n}", std::process::id()));
            match create_index(kind, &dir, dim, params) {
                Ok(index) => (index, Some(dir)),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        }
    };
    Ok(ScratchIndex { index, dir })
}

/// An index from [`scratch_index`]; use it as a `dyn VectorIndex`.
pub struct ScratchIndex {
    index: Arc<dyn VectorIndex>,
    dir: Option<PathBuf>,
}

impl std::ops::Deref for ScratchIndex {
    type Target = dyn VectorIndex;

    fn deref(&self) -> &Self::Target {
        self.index.as_ref()
    }
}

impl Drop for ScratchIndex {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

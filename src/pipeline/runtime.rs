//! ONNX Runtime: the dynamically loaded library, one process-wide environment, and pools of
//! sessions (a session runs one request at a time, so concurrent callers each take their own).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::ValueType;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::error::{Result, VisageError};
use serde::{Deserialize, Serialize};

/// ONNX Runtime library and session options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeSettings {
    pub ort_library: PathBuf,
    pub intra_threads: usize,
    pub optimization_level: u8,
    pub sessions: usize,
}

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Loads the ONNX Runtime library once per process and returns the shared environment.
/// A missing library is a clear error naming the set-up command, never a panic.
pub fn environment(library: &Path) -> Result<&'static Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err(format!("missing:{}", library.display()));
        }
        let builder = ort::init_from(library).map_err(|e| format!("{}: {e}", library.display()))?;
        builder.with_name("visage").build().map_err(|e| e.to_string())
    });
    match env {
        Ok(env) => Ok(env),
        Err(e) if e.starts_with("missing:") => Err(VisageError::SetupRequired {
            what: "ONNX Runtime library",
            path: PathBuf::from(&e["missing:".len()..]),
        }),
        Err(e) => Err(VisageError::Config(format!("cannot load ONNX Runtime: {e}"))),
    }
}

/// A loaded model: a pool of identical sessions plus facts read from the graph.
pub struct ModelSessions {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    /// Input names in graph order.
    pub inputs: Vec<TensorInfo>,
    /// Output names in graph order.
    pub outputs: Vec<TensorInfo>,
    /// `<file stem>@<first 12 hex digits of the file's sha256>`: identifies the exact weights.
    pub id: String,
    /// The model file.
    pub path: PathBuf,
}

/// Name and shape of a graph input or output (-1 for a symbolic dimension).
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<i64>,
}

impl ModelSessions {
    /// Loads `path` into `settings.sessions` sessions. `what` names the model in errors.
    pub fn load(path: &Path, settings: &RuntimeSettings, what: &'static str) -> Result<Self> {
        let env = environment(&settings.ort_library)?;
        let bytes = std::fs::read(path).map_err(|_| VisageError::SetupRequired { what, path: path.to_path_buf() })?;
        let incompatible = |reason: String| VisageError::IncompatibleModel { path: path.to_path_buf(), reason };
        let level = match settings.optimization_level {
            0 => GraphOptimizationLevel::Disable,
            1 => GraphOptimizationLevel::Level1,
            2 => GraphOptimizationLevel::Level2,
            _ => GraphOptimizationLevel::Level3,
        };
        let mut sessions = Vec::with_capacity(settings.sessions);
        for _ in 0..settings.sessions.max(1) {
            let mut builder = Session::builder(env)
                .and_then(|b| b.with_optimization_level(level).map_err(Into::into))
                .map_err(|e| incompatible(e.to_string()))?;
            if settings.intra_threads > 0 {
                builder =
                    builder.with_intra_threads(settings.intra_threads).map_err(|e| incompatible(e.to_string()))?;
            }
            let session = builder.commit_from_memory(&bytes).map_err(|e| incompatible(e.to_string()))?;
            sessions.push(Mutex::new(session));
        }
        let info = |outlets: &[ort::value::Outlet]| {
            outlets
                .iter()
                .map(|o| TensorInfo {
                    name: o.name().to_string(),
                    shape: match o.dtype() {
                        ValueType::Tensor { shape, .. } => shape.iter().copied().collect(),
                        _ => Vec::new(),
                    },
                })
                .collect::<Vec<_>>()
        };
        let first = sessions[0].lock();
        let (inputs, outputs) = (info(first.inputs()), info(first.outputs()));
        drop(first);
        Ok(Self {
            sessions,
            next: AtomicUsize::new(0),
            inputs,
            outputs,
            id: weights_id(path, &bytes),
            path: path.to_path_buf(),
        })
    }

    /// Runs `f` with exclusive use of one session: a free one if any, else waits for the next.
    pub fn with_session<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        for s in &self.sessions {
            if let Some(mut guard) = s.try_lock() {
                return f(&mut guard);
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        let mut guard = self.sessions[i].lock();
        f(&mut guard)
    }

    /// Reads the model file's protobuf and returns the op types of its first `n` graph nodes.
    pub fn first_ops(&self, n: usize) -> Vec<String> {
        std::fs::read(&self.path).ok().and_then(|bytes| onnx_graph::first_ops(&bytes, n)).unwrap_or_default()
    }
}

/// `<file stem>@<first 12 hex digits of the sha256 of the bytes>`: the id of a model's weights.
pub fn weights_id(path: &Path, bytes: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(bytes));
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{stem}@{}", &digest[..12])
}

/// A model file's weights id and, when the graph fixes it, the last dimension of its first
/// output, read from the file alone (no ONNX Runtime): what a model is called and how long its
/// vectors are, for work that never runs it (importing embeddings).
pub fn describe(path: &Path, what: &'static str) -> Result<(String, Option<usize>)> {
    let bytes = std::fs::read(path).map_err(|_| VisageError::SetupRequired { what, path: path.to_path_buf() })?;
    let dim = onnx_graph::first_output_last_dim(&bytes).filter(|d| *d > 0).map(|d| d as usize);
    Ok((weights_id(path, &bytes), dim))
}

/// Just enough of the ONNX protobuf schema to list a graph's node types.
mod onnx_graph {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    struct ModelProto {
        #[prost(message, optional, tag = "7")]
        graph: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        node: Vec<NodeProto>,
        #[prost(message, repeated, tag = "12")]
        output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct ValueInfoProto {
        #[prost(message, optional, tag = "2")]
        r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct TypeProto {
        #[prost(message, optional, tag = "1")]
        tensor_type: Option<TensorTypeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct TensorTypeProto {
        #[prost(message, optional, tag = "2")]
        shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        dim: Vec<Dimension>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Dimension {
        /// Absent for a symbolic dimension (`dim_param`, tag 2).
        #[prost(int64, optional, tag = "1")]
        dim_value: Option<i64>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct NodeProto {
        #[prost(string, tag = "4")]
        op_type: String,
    }

    /// The last dimension of the graph's first output, when it is a fixed number.
    pub fn first_output_last_dim(bytes: &[u8]) -> Option<i64> {
        let graph = ModelProto::decode(bytes).ok()?.graph?;
        graph.output.first()?.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?.dim.last()?.dim_value
    }

    pub fn first_ops(bytes: &[u8], n: usize) -> Option<Vec<String>> {
        let model = ModelProto::decode(bytes).ok()?;
        Some(model.graph?.node.into_iter().take(n).map(|node| node.op_type).collect())
    }
}

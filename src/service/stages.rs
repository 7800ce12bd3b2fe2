//! Stage timing inside the engine: decode, detect, embed and search are each timed where they
//! run, as a `tracing` span and through an optional hook (the HTTP door feeds its Prometheus
//! histogram from it), so no door wraps the engine's steps to time them.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A step of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decode,
    Detect,
    Embed,
    Attributes,
    Search,
}

impl Stage {
    /// The stage's name (the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Detect => "detect",
            Self::Embed => "embed",
            Self::Attributes => "attributes",
            Self::Search => "search",
        }
    }
}

/// Called with each stage's duration.
pub type StageHook = Arc<dyn Fn(Stage, Duration) + Send + Sync>;

/// Times stages and reports them.
#[derive(Clone, Default)]
pub struct Stages {
    hook: Option<StageHook>,
}

impl Stages {
    /// Reports to `hook` as well as to `tracing`.
    pub fn with_hook(hook: StageHook) -> Self {
        Self { hook: Some(hook) }
    }

    /// Runs `f` as `stage`.
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let span = tracing::debug_span!("stage", name = stage.as_str()).entered();
        let start = Instant::now();
        let out = f();
        let elapsed = start.elapsed();
        drop(span);
        if let Some(hook) = &self.hook {
            hook(stage, elapsed);
        }
        out
    }
}

//! The bridge between the synchronous [`VectorIndex`](crate::index::VectorIndex) contract and
//! the async Qdrant client: the index owns a small tokio runtime, every call is spawned onto it
//! and its answer awaited over a plain channel. That works from any thread: the engine calls the
//! gallery from `spawn_blocking` workers, the CLI from its main thread, and even a stray call
//! from an async task would only block, never panic (as a nested `block_on` would).

use std::future::Future;

use tokio::runtime::Runtime;

use crate::index::{IndexError, Result};

/// An owned runtime for the index's requests.
pub(super) struct Bridge {
    rt: Option<Runtime>,
}

impl Bridge {
    /// Two worker threads: requests are mostly waiting on the network.
    pub(super) fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("visage-qdrant")
            .enable_all()
            .build()
            .map_err(|e| IndexError::Backend(format!("cannot start the Qdrant client's runtime: {e}")))?;
        Ok(Self { rt: Some(rt) })
    }

    /// Runs `fut` on the runtime and waits for its output.
    pub(super) fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let rt = self.rt.as_ref().ok_or_else(|| IndexError::Backend("the Qdrant client was shut down".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| IndexError::Backend("a Qdrant request was dropped (runtime shutting down)".into()))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Never blocks: dropping a runtime inside an async context (the server's shutdown) would panic.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

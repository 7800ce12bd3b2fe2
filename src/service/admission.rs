//! Admission control, owned by the engine as TEI's `infer.rs` owns its permits: `workers`
//! model runs at once, at most `max_queue` callers waiting, each for at most `timeout`; beyond
//! either limit the caller gets [`VisageError::Busy`] (the HTTP door answers 503 + Retry-After).
//! Requests whose bodies are held are bounded too (workers + queue), and bulk jobs take the same
//! model permits, so online traffic keeps its share of the cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::enroll::process::Throttle;
use crate::error::{Result, VisageError};

/// A held right to run (dropping it frees the slot).
pub type Permit = OwnedSemaphorePermit;

/// The engine's bounded pool.
pub struct Admission {
    /// Requests in flight (their bodies are what costs memory): workers + queue.
    requests: Arc<Semaphore>,
    /// Model runs at once.
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    timeout: Duration,
}

impl Admission {
    /// A pool of `workers` model permits with `max_queue` waiting places.
    pub fn new(workers: usize, max_queue: usize, timeout: Duration) -> Self {
        Self {
            requests: Arc::new(Semaphore::new(workers + max_queue)),
            permits: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            max_queue,
            timeout,
        }
    }

    fn busy(&self) -> VisageError {
        VisageError::Busy { retry_after_s: self.timeout.as_secs().max(1) }
    }

    /// Admits one request (held while its body is read and answered), waiting at most the
    /// queue timeout.
    pub async fn request(&self) -> Result<Permit> {
        match tokio::time::timeout(self.timeout, self.requests.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(self.busy()),
        }
    }

    /// A model permit: at once if free, else a place in the queue (busy at once when the queue
    /// is full, after the timeout otherwise).
    pub async fn model(&self) -> Result<Permit> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(VisageError::Busy { retry_after_s: 1 });
        }
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(p)) => Ok(p),
            _ => Err(self.busy()),
        }
    }

    /// What a bulk job's workers hold while they run the models: the same permits, taken
    /// blocking (job workers are threads, not tasks).
    pub fn throttle(&self) -> Throttle {
        let permits = self.permits.clone();
        Arc::new(move || Box::new(futures_executor::block_on(permits.clone().acquire_owned()).ok()))
    }
}

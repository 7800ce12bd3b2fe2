//! Runs a service's jobs one after another on a background thread, resuming unfinished ones at
//! start-up, with live progress and cancellation. Not tied to HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::{Options, Progress, StageTimes};
use crate::error::{Result, VisageError};
use crate::gallery::{Gallery, JobState};
use crate::pipeline::Pipeline;

/// The origin tag of jobs this manager owns.
pub const ORIGIN: &str = "http";

struct Live {
    cancel: Arc<AtomicBool>,
    progress: Option<Progress>,
}

/// The queue and its worker thread.
pub struct Manager {
    queue: Mutex<Option<Sender<String>>>,
    live: Arc<Mutex<HashMap<String, Live>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    gallery: Arc<Gallery>,
}

impl Manager {
    /// Starts the worker and queues the unfinished jobs found in the gallery. `base` gives the
    /// workers, batch size, allowed roots and throttle every job runs with.
    pub fn start(pipeline: Arc<Pipeline>, gallery: Arc<Gallery>, base: Options) -> Result<Arc<Self>> {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(HashMap::new()));
        let manager = Arc::new(Self {
            queue: Mutex::new(Some(tx)),
            live: live.clone(),
            stop: stop.clone(),
            thread: Mutex::new(None),
            gallery: gallery.clone(),
        });
        let unfinished = gallery.unfinished_jobs(ORIGIN)?;
        for job in &unfinished {
            manager.submit(&job.id);
        }
        if !unfinished.is_empty() {
            tracing::info!(jobs = unfinished.len(), "resuming unfinished enrolment jobs");
        }
        let worker = std::thread::Builder::new()
            .name("visage-jobs".into())
            .spawn(move || work(rx, &pipeline, &gallery, &base, &live, &stop))
            .map_err(|e| VisageError::Internal(format!("cannot start the job thread: {e}")))?;
        *manager.thread.lock() = Some(worker);
        Ok(manager)
    }

    /// Queues a created job.
    pub fn submit(&self, id: &str) {
        let cancel = Arc::new(AtomicBool::new(false));
        self.live.lock().entry(id.to_string()).or_insert(Live { cancel, progress: None });
        if let Some(tx) = self.queue.lock().as_ref() {
            let _ = tx.send(id.to_string());
        }
    }

    /// Live progress of a queued or running job (rate and ETA), if this process runs it.
    pub fn progress(&self, id: &str) -> Option<Progress> {
        self.live.lock().get(id).and_then(|l| l.progress.clone())
    }

    /// Cancels a queued or running job: in-flight photos are finished and recorded, the rest
    /// is left, and the job ends `cancelled`. Finished jobs are left as they are.
    pub fn cancel(&self, id: &str) -> Result<()> {
        let job = self.gallery.job(id)?;
        if job.state.is_final() {
            return Ok(());
        }
        // Durable at once for a queued job; a running one stops after its photos in flight.
        match self.live.lock().get(id) {
            Some(live) => {
                live.cancel.store(true, Ordering::Release);
                self.gallery.cancel_job(id, false)?;
            }
            None => {
                self.gallery.cancel_job(id, true)?;
            }
        }
        Ok(())
    }

    /// Stops taking work, lets the running job finish its in-flight photos and waits for it.
    /// Unfinished jobs stay `running`/`queued` and resume at the next start.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.queue.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn work(
    rx: Receiver<String>,
    pipeline: &Pipeline,
    gallery: &Gallery,
    base: &Options,
    live: &Mutex<HashMap<String, Live>>,
    stop: &Arc<AtomicBool>,
) {
    for id in rx.iter() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Some(cancel) = live.lock().get(&id).map(|l| l.cancel.clone()) else { continue };
        match gallery.job(&id) {
            Ok(job) if job.state.is_final() => {
                if let Ok(spec) = super::spec_of(&job) {
                    super::discard_upload(&spec);
                }
                live.lock().remove(&id);
                continue;
            }
            Ok(_) => {}
            Err(_) => {
                live.lock().remove(&id);
                continue;
            }
        }
        let opts = Options { cancel, stop: stop.clone(), ..base.clone() };
        let mut times = StageTimes::default();
        let mut progress = |p: &Progress| {
            if let Some(l) = live.lock().get_mut(&id) {
                l.progress = Some(p.clone());
            }
        };
        let _ = drive(Some(pipeline), gallery, &id, &opts, &mut progress, &mut times);
        live.lock().remove(&id);
    }
}

/// Runs one job to its end, or until `opts.cancel`/`opts.stop`: the one way every job runs, in
/// the manager's background thread or in a command's foreground. A panic fails the job, not the
/// process; the index is saved afterwards. `times` receives this run's stage timings.
pub fn drive(
    pipeline: Option<&Pipeline>,
    gallery: &Gallery,
    id: &str,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
    times: &mut StageTimes,
) -> Result<JobState> {
    tracing::info!(job = %id, "enrolment job started");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        super::run(pipeline, gallery, id, opts, progress, times)
    }));
    let result = match result {
        Ok(Ok(state)) => {
            tracing::info!(job = %id, ?state, items = times.items, "enrolment job stopped");
            Ok(state)
        }
        Ok(Err(e)) => {
            tracing::error!(job = %id, "enrolment job failed: {e}");
            Err(e)
        }
        Err(_) => {
            tracing::error!(job = %id, "enrolment job panicked");
            let _ = gallery.set_job_state(id, JobState::Failed, Some("internal error (panic); see the server log"));
            Err(VisageError::Internal(format!("job {id} panicked")))
        }
    };
    let saving = std::time::Instant::now();
    let saved = gallery.persist();
    times.persist_ms = saving.elapsed().as_secs_f64() * 1000.0;
    if let Err(e) = saved {
        tracing::error!("saving the index failed: {e}");
        return result.and(Err(e));
    }
    result
}

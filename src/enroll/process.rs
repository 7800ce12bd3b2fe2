//! The streaming engine under bulk enrolment and evaluation: one thread reads the source, a
//! pool of workers decodes, detects, gates and aligns, and embeds each worker's batch in one
//! model run; the caller's thread consumes the results. Channels are bounded, so memory holds at
//! most a few batches of photos whatever the size of the source.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::gate::{Gate, Outcome, Refusal};
use super::source::{ArchiveLimits, Entry, ReadLimits, ReadResult, Source};
use crate::error::{Result, VisageError};
use crate::gallery::photo_sha256;
use crate::pipeline::{align, quality, whole_image_face, Face, Pipeline};

/// Something held while a worker runs the models (a server hands out its model permits so a
/// bulk job shares the cores fairly with online requests).
pub type Throttle = Arc<dyn Fn() -> Box<dyn Send> + Send + Sync>;

/// How to run the engine.
#[derive(Clone)]
pub struct Options {
    /// Worker threads (each runs its own models; give each one model thread).
    pub workers: usize,
    /// Photos per worker batch (their faces are embedded in one run).
    pub batch: usize,
    pub gate: Gate,
    /// Confines a manifest's paths (server jobs).
    pub roots: Option<Vec<PathBuf>>,
    /// What an archive source may cost (`enroll.max_archive_bytes`, `max_archive_entries`).
    pub archive: ArchiveLimits,
    /// Set to cancel: in-flight items are finished, the rest is never processed.
    pub cancel: Arc<AtomicBool>,
    /// Set to pause (shutdown): in-flight items are finished, the rest is left for a later run.
    pub stop: Arc<AtomicBool>,
    pub throttle: Option<Throttle>,
    /// Every photo already is an aligned face: no detection, the whole photo is the face.
    pub aligned: bool,
}

/// One processed item: its entry, the photo's SHA-256 and the chosen face or why none.
pub struct Processed {
    pub entry: Entry,
    pub sha256: String,
    pub result: std::result::Result<Face, Refusal>,
}

/// Time spent per stage, summed over items (milliseconds), for throughput figures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub items: u64,
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub embed_ms: f64,
    /// Adding the enrolled faces to the vector index (the rest of recording is the store's).
    pub index_ms: f64,
    /// Saving the index once the run stopped.
    pub persist_ms: f64,
}

impl StageTimes {
    fn add(&mut self, other: &StageTimes) {
        self.items += other.items;
        self.decode_ms += other.decode_ms;
        self.detect_ms += other.detect_ms;
        self.embed_ms += other.embed_ms;
        self.index_ms += other.index_ms;
        self.persist_ms += other.persist_ms;
    }

    /// Items per second the models alone would allow on `workers` parallel workers.
    pub fn model_bound_rate(&self, workers: usize) -> Option<f64> {
        let per_item = (self.detect_ms + self.embed_ms) / self.items as f64;
        (self.items > 0 && per_item > 0.0).then(|| workers as f64 * 1000.0 / per_item)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Runs every entry of `source` not in `skip` through the pipeline and the gate, calling `sink`
/// on the caller's thread for each (in completion order). A `sink` error stops the run.
pub fn process(
    pipeline: &Pipeline,
    source: &Source,
    skip: &HashSet<String>,
    opts: &Options,
    sink: &mut dyn FnMut(Processed) -> Result<()>,
) -> Result<StageTimes> {
    let workers = opts.workers.max(1);
    let batch = opts.batch.max(1);
    let (item_tx, item_rx) = sync_channel::<(Entry, ReadResult)>(workers * batch * 2);
    let (out_tx, out_rx) = sync_channel::<Processed>(workers * batch * 2);
    let item_rx = Mutex::new(item_rx);
    let times = Mutex::new(StageTimes::default());
    let stop = AtomicBool::new(false);
    let limits = ReadLimits { item_bytes: pipeline.limits.max_image_bytes, archive: opts.archive };
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            // Item names identify items within a job; an archive may repeat one.
            let mut seen = HashSet::new();
            source.walk(opts.roots.as_deref(), limits, &mut |mut entry, read| {
                if opts.cancel.load(Ordering::Acquire)
                    || opts.stop.load(Ordering::Acquire)
                    || stop.load(Ordering::Acquire)
                {
                    return ControlFlow::Break(());
                }
                let mut n = 1;
                while !seen.insert(entry.name.clone()) {
                    n += 1;
                    entry.name = format!("{}#{n}", entry.name.split('#').next().unwrap_or_default());
                }
                if skip.contains(&entry.name) {
                    return ControlFlow::Continue(());
                }
                let bytes = read();
                match item_tx.send((entry, bytes)) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            })?;
            drop(item_tx);
            Ok::<(), VisageError>(())
        });
        for _ in 0..workers {
            let out_tx = out_tx.clone();
            let (item_rx, times, stop) = (&item_rx, &times, &stop);
            scope.spawn(move || {
                while let Some(items) = next_batch(item_rx, batch) {
                    let mut local = StageTimes::default();
                    let names: Vec<Entry> = items.iter().map(|(e, _)| e.clone()).collect();
                    let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let _permit = opts.throttle.as_ref().map(|t| t());
                        run_batch(pipeline, opts, items, &mut local)
                    }))
                    .unwrap_or_else(|_| {
                        // A bug must cost its batch, not the job: each photo says so.
                        let why = || (Outcome::Unreadable, "internal error while processing (see the log)".to_string());
                        names
                            .into_iter()
                            .map(|entry| Processed { entry, sha256: String::new(), result: Err(why()) })
                            .collect()
                    });
                    times.lock().add(&local);
                    for r in results {
                        if out_tx.send(r).is_err() {
                            stop.store(true, Ordering::Release);
                            return;
                        }
                    }
                }
            });
        }
        drop(out_tx);
        let mut outcome = Ok(());
        for processed in out_rx.iter() {
            if let Err(e) = sink(processed) {
                outcome = Err(e);
                stop.store(true, Ordering::Release);
                break;
            }
        }
        // Unblock the workers and the reader whatever happened, then wait for them.
        stop.store(true, Ordering::Release);
        drop(out_rx);
        while item_rx.lock().try_recv().is_ok() {}
        let read = reader.join().unwrap_or_else(|_| Err(VisageError::Internal("the source reader panicked".into())));
        outcome.and(read)
    })?;
    Ok(times.into_inner())
}

/// The next batch: one item (waiting for it), then whatever else is ready, up to `batch`.
fn next_batch(rx: &Mutex<Receiver<(Entry, ReadResult)>>, batch: usize) -> Option<Vec<(Entry, ReadResult)>> {
    let rx = rx.lock();
    let first = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(item) => break item,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    };
    let mut items = vec![first];
    while items.len() < batch {
        match rx.try_recv() {
            Ok(item) => items.push(item),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(items)
}

/// Decodes, detects, gates and aligns each photo, then embeds the survivors in one run.
fn run_batch(
    pipeline: &Pipeline,
    opts: &Options,
    items: Vec<(Entry, ReadResult)>,
    times: &mut StageTimes,
) -> Vec<Processed> {
    let mut out = Vec::with_capacity(items.len());
    let mut pending = Vec::new();
    for (entry, bytes) in items {
        times.items += 1;
        let (sha256, chosen) = match bytes {
            Ok(bytes) => (photo_sha256(&bytes), prepare(pipeline, opts, &bytes, times)),
            Err(e) => (String::new(), Err((Outcome::Unreadable, e))),
        };
        match chosen {
            Ok(face) => pending.push((entry, sha256, face)),
            Err(refusal) => out.push(Processed { entry, sha256, result: Err(refusal) }),
        }
    }
    if pending.is_empty() {
        return out;
    }
    let t = Instant::now();
    let crops: Vec<_> = pending.iter().map(|(_, _, (_, crop, _))| crop.clone()).collect();
    let embedded = pipeline.embedder.embed(&crops);
    times.embed_ms += ms(t);
    match embedded {
        Ok(embeddings) => {
            for ((entry, sha256, (detection, crop, quality)), embedding) in pending.into_iter().zip(embeddings) {
                let face = Face { detection, quality, embedding, attributes: None, crop };
                out.push(Processed { entry, sha256, result: Ok(face) });
            }
        }
        Err(e) => {
            for (entry, sha256, _) in pending {
                out.push(Processed {
                    entry,
                    sha256,
                    result: Err((Outcome::Unreadable, format!("embedding failed: {e}"))),
                });
            }
        }
    }
    out
}

type Prepared = (crate::pipeline::detect::Detection, image::RgbImage, quality::Quality);

fn prepare(
    pipeline: &Pipeline,
    opts: &Options,
    bytes: &[u8],
    times: &mut StageTimes,
) -> std::result::Result<Prepared, Refusal> {
    let gate = &opts.gate;
    let t = Instant::now();
    let image = pipeline.decode(bytes).map_err(|e| (Outcome::Unreadable, format!("{}: {e}", e.code())))?;
    times.decode_ms += ms(t);
    let detection = if opts.aligned {
        whole_image_face(&image)
    } else {
        let t = Instant::now();
        let detections =
            pipeline.detect(&image).map_err(|e| (Outcome::Unreadable, format!("detection failed: {e}")))?;
        times.detect_ms += ms(t);
        gate.choose(detections)?
    };
    let crop = align::align(&image, &detection.landmarks);
    let quality = quality::assess(&detection, &crop);
    gate.check_sharpness(quality.sharpness)?;
    Ok((detection, crop, quality))
}

//! The engine's use-case layer: [`Engine::open`] assembles the pipeline, gallery, index,
//! thresholds and job manager once, and one method per use case holds its logic (checking
//! options, running the models on an admitted worker, timing each stage). Every door (the
//! native HTTP API, the CLI, the benches, a second API later) only translates its own requests
//! into these calls and the answers back; nothing here knows HTTP.

pub mod admission;
mod analyze;
pub mod assemble;
mod calibration;
pub mod collections;
mod compare;
mod embeddings;
mod enrol;
mod jobs;
mod labelled;
pub mod maintenance;
mod profile;
mod recognize;
mod review;
pub mod stages;
mod subjects;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::calibrate::{self, FpirEstimate, Thresholds};
use crate::config::Settings;
pub use crate::enroll::embeddings::{
    Reader as EmbeddingsReader, Record as EmbeddingRecord, Writer as EmbeddingsWriter,
};
use crate::enroll::{manager::Manager, Options};
pub use crate::enroll::{Counts, EmbeddingsFile, Gate, JobSpec, MultiFace, Progress, Source, StageTimes};
use crate::error::{Code, Result, VisageError};
use crate::eval::{EvalOptions, EvalReport};
pub use crate::gallery::Gallery;
use crate::gallery::{DeletedFace, FaceRecord, ItemRecord, Subject};
pub use crate::index::Backend;
pub use crate::pipeline::attributes::AttributeSet;
use crate::pipeline::Pipeline;
use admission::{Admission, Permit};
pub use analyze::{Detected, Embedded, Work};
pub use calibration::{calibrate_gallery, Calibrated};
pub use compare::{Compared, Matched, Pair, Pairs};
pub use embeddings::{configured_embedder, import_binding, item_position};
pub use enrol::EnrolOptions;
pub use jobs::{gate_with, job_id, JobRun, JobSource, JobStatus, NewJob, ServerFolder};
pub use labelled::Unembedded;
pub use profile::{median_ms, StageProfile};
pub use recognize::{
    Identified, IdentifiedFace, IdentifyOptions, Reference, SearchBy, SearchOptions, SearchQuery, SearchResults,
    Searched, Verification, VerifyQuery,
};
pub use review::{Named, ReviewPage, ReviewTarget};
use stages::{StageHook, Stages};

/// What an engine is opened for: how its model sessions are sized, and which parts it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The server: `server.workers` model runs at once, each request admitted through a bounded
    /// queue; bulk jobs run in the background and unfinished ones resume.
    Serve,
    /// One command's work in this process on `workers` threads (0 = one per core), one
    /// single-threaded model session each; jobs run in the foreground ([`Engine::run_job`]).
    Batch { workers: usize },
    /// The models alone, sized like [`Mode::Batch`]; the gallery is not opened (so the command
    /// runs beside a server holding it), only its thresholds in force are read.
    Models { workers: usize },
    /// The gallery alone, no model loaded: an existing gallery, or a new one bound to `bind`
    /// (model id, dimension).
    Offline { bind: Option<(String, usize)> },
}

/// The parts only a server runs: request admission and the background job manager.
struct Serving {
    /// Shared by every collection's engine: the models are.
    admission: Arc<Admission>,
    jobs: Arc<Manager>,
}

impl Serving {
    /// The job manager of `gallery` (its workers take the same model permits as requests from
    /// `admission`, or from a new one for `workers` model runs), which resumes the unfinished jobs.
    fn start(
        settings: &Settings,
        workers: usize,
        pipeline: &Arc<Pipeline>,
        gallery: &Arc<Gallery>,
        admission: Option<Arc<Admission>>,
    ) -> Result<Self> {
        let s = &settings.server;
        let admission = admission.unwrap_or_else(|| {
            Arc::new(Admission::new(workers, s.max_queue, Duration::from_millis(s.queue_timeout_ms)))
        });
        let base = Options {
            workers: if settings.enroll.workers == 0 { workers } else { settings.enroll.workers },
            roots: Some(settings.enroll.allowed_roots.clone()),
            throttle: Some(admission.throttle()),
            ..assemble::job_options(settings, workers)
        };
        let jobs = Manager::start(pipeline.clone(), gallery.clone(), base)?;
        Ok(Self { admission, jobs })
    }
}

/// A part this engine's mode did not open, asked for by a door: a door's bug, not the caller's.
fn not_opened(part: &str, mode: &Mode) -> VisageError {
    VisageError::Internal(format!("the engine was opened as {mode:?}, without its {part}"))
}

/// The engine: everything a use case needs, assembled once and shared by every door.
pub struct Engine {
    settings: Settings,
    mode: Mode,
    /// Model runs at once (jobs run in the foreground on as many threads).
    workers: usize,
    pipeline: Option<Arc<Pipeline>>,
    gallery: Option<Arc<Gallery>>,
    stages: Stages,
    serving: Option<Serving>,
    thresholds: calibration::ThresholdState,
}

/// Runs blocking work off the async executor.
async fn spawn<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| VisageError::Internal(e.to_string()))?
}

impl Engine {
    /// Loads what `mode` needs (the models, the gallery, or both) once. Serving: `server.workers`
    /// sessions per model, each with `cores / workers` threads unless `runtime.intra_threads`
    /// says otherwise, and unfinished jobs resume.
    pub fn open(mut settings: Settings, mode: Mode) -> Result<Self> {
        let workers = match &mode {
            Mode::Serve => assemble::size_for_serving(&mut settings),
            Mode::Batch { workers } | Mode::Models { workers } => assemble::size_for_batch(&mut settings, *workers),
            Mode::Offline { .. } => 1,
        };
        let pipeline = match &mode {
            Mode::Offline { .. } => None,
            _ => Some(Arc::new(Pipeline::load(&settings)?)),
        };
        Self::assemble(settings, mode, workers, pipeline, None, Stages::default())
    }

    /// The engine of another collection, whose gallery is in `dir` (its index of `index`, else
    /// this engine's kind): the same models, admission and stage timer, its own gallery,
    /// thresholds and jobs.
    pub fn open_sibling(&self, dir: PathBuf, index: Option<Backend>) -> Result<Self> {
        let mut settings = self.settings.clone();
        settings.server.data_dir = dir;
        if let Some(kind) = index {
            settings.index.kind = kind;
        }
        let admission = self.serving.as_ref().map(|s| s.admission.clone());
        Self::assemble(settings, self.mode.clone(), self.workers, self.pipeline.clone(), admission, self.stages.clone())
    }

    /// Opens the gallery `mode` needs with `pipeline`, and the serving parts when serving.
    fn assemble(
        settings: Settings,
        mode: Mode,
        workers: usize,
        pipeline: Option<Arc<Pipeline>>,
        admission: Option<Arc<Admission>>,
        stages: Stages,
    ) -> Result<Self> {
        let dir = settings.server.data_dir.clone();
        let gallery = match (&mode, &pipeline) {
            (Mode::Models { .. }, _) => None,
            (_, Some(p)) => Some(Gallery::open_with(&dir, p.embedder.model_id(), p.embedder.dim(), &settings.index)?),
            (Mode::Offline { bind }, None) => Some(assemble::open_bound(&settings, bind.as_ref())?),
            (_, None) => None,
        };
        // A server calibrates at start when targets are configured; a command reads what is in force.
        let model = gallery.as_ref().map(|g| g.model()).or(pipeline.as_ref().map(|p| p.embedder.model_id()));
        let thresholds = match (&mode, &gallery, model) {
            (Mode::Serve, Some(g), _) => Some(calibrate::in_force(&settings.compare, &settings.identify, g)?),
            (_, _, Some(model)) => calibrate::stored(&dir, model)?,
            _ => None,
        }
        .unwrap_or_else(|| Thresholds::configured(&settings.compare, &settings.identify));
        tracing::info!(
            ?mode,
            workers,
            threads_per_worker = settings.runtime.intra_threads,
            detector = pipeline.as_ref().map_or("-", |p| p.detector.model_id()),
            embedder = pipeline.as_ref().map_or("-", |p| p.embedder.model_id()),
            faces = gallery.as_ref().map_or(0, |g| g.len()),
            index = %gallery.as_ref().map_or_else(|| "-".to_string(), |g| g.backend().to_string()),
            kernel = gallery.as_ref().and_then(|g| g.index_kernel()).unwrap_or("-"),
            data_dir = %dir.display(),
            "visage ready"
        );
        tracing::info!(compare = thresholds.compare, identify = thresholds.identify, source = %thresholds.source, "thresholds");
        let gallery = gallery.map(Arc::new);
        let serving = match (&mode, &pipeline, &gallery) {
            (Mode::Serve, Some(p), Some(g)) => Some(Serving::start(&settings, workers, p, g, admission)?),
            _ => None,
        };
        Ok(Self {
            thresholds: calibration::ThresholdState::new(thresholds, gallery.as_ref().map_or(0, |g| g.len())),
            mode,
            workers,
            pipeline,
            gallery,
            stages,
            serving,
            settings,
        })
    }

    /// Reports every stage's duration to `hook` (besides `tracing`).
    pub fn with_stage_hook(mut self, hook: StageHook) -> Self {
        self.stages = Stages::with_hook(hook);
        self
    }

    /// The settings in force (sized for the mode).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Model runs at once: the serving workers, or a batch's threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// What the engine was opened for.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The loaded models ([`Mode::Offline`] loads none).
    pub fn pipeline(&self) -> Result<&Pipeline> {
        self.pipeline.as_deref().ok_or_else(|| not_opened("models", &self.mode))
    }

    /// The gallery ([`Mode::Models`] opens none).
    pub fn gallery(&self) -> Result<&Gallery> {
        self.gallery.as_deref().ok_or_else(|| not_opened("gallery", &self.mode))
    }

    /// The serving parts ([`Mode::Serve`] only).
    fn serving(&self) -> Result<&Serving> {
        self.serving.as_ref().ok_or_else(|| not_opened("job manager", &self.mode))
    }

    /// Admits one request for as long as the permit is held (bounds the requests whose bodies
    /// are held); [`VisageError::Busy`] after the queue timeout. Outside [`Mode::Serve`] every
    /// request is admitted.
    pub async fn admit(&self) -> Result<Option<Permit>> {
        match &self.serving {
            Some(s) => s.admission.request().await.map(Some),
            None => Ok(None),
        }
    }

    /// What model work runs with: the models, the gallery (when opened) and the stage timer.
    fn work(&self) -> Result<Work> {
        let pipeline = self.pipeline.clone().ok_or_else(|| not_opened("models", &self.mode))?;
        Ok(Work { pipeline, gallery: self.gallery.clone(), stages: self.stages.clone() })
    }

    /// Runs model work off the async executor, on an admitted worker when serving.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Work) -> Result<T> + Send + 'static) -> Result<T> {
        let work = self.work()?;
        let permit = match &self.serving {
            Some(s) => Some(s.admission.model().await?),
            None => None,
        };
        spawn(move || {
            let _permit = permit;
            f(&work)
        })
        .await
    }

    /// Runs gallery-only work (database i/o) off the async executor, without a model worker.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Gallery) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let gallery = self.gallery.clone().ok_or_else(|| not_opened("gallery", &self.mode))?;
        spawn(move || f(&gallery)).await
    }

    // Faces of one image.

    /// Boxes, scores and landmarks of every face of an image, with the attributes in `wanted`
    /// (none computed, no model run, when it is empty).
    pub async fn detect(&self, image: Vec<u8>, aligned: bool, wanted: AttributeSet) -> Result<Detected> {
        self.run(move |w| w.detected(&image, aligned, wanted)).await
    }

    /// [`Engine::detect`] with the faces drawn on the image (PNG).
    pub async fn detect_drawn(&self, image: Vec<u8>, wanted: AttributeSet) -> Result<(Detected, Vec<u8>)> {
        self.run(move |w| {
            let detected = w.detected(&image, false, wanted)?;
            let png = w.drawn(&image, &detected.faces)?;
            Ok((detected, png))
        })
        .await
    }

    /// Every face of an image with its embedding, and the attributes in `wanted`.
    pub async fn embed(&self, image: Vec<u8>, aligned: bool, wanted: AttributeSet) -> Result<Embedded> {
        self.run(move |w| w.embedded(&image, aligned, wanted)).await
    }

    // Recognition.

    /// Same person? At `threshold`, else the 1:1 threshold in force.
    pub async fn verify(&self, query: VerifyQuery, threshold: Option<f32>, aligned: bool) -> Result<Verification> {
        let threshold = recognize::check_threshold(threshold, self.thresholds().compare)?;
        self.run(move |w| w.verify(query, threshold, aligned)).await
    }

    /// Who is each face of `image`? Top-k subjects per face, the best one when it reaches the
    /// threshold (else unknown); two faces of one photo are never given the same subject. With
    /// `review.enabled`, the unknown faces are kept for review.
    pub async fn identify(&self, image: Vec<u8>, opts: IdentifyOptions) -> Result<Identified> {
        let s = &self.settings.identify;
        let k = recognize::check_k(opts.k, s.k, s.max_k)?;
        let threshold = recognize::check_threshold(opts.threshold, self.thresholds().identify)?;
        let review = self.settings.review;
        self.run(move |w| {
            let identified = w.identify(&image, k, threshold, &opts)?;
            if review.enabled {
                // The answer stands even when the faces cannot be kept for review.
                if let Err(e) = w.keep_unknowns(&image, &identified, review.max_items) {
                    tracing::error!("keeping unknown faces for review failed: {e}");
                }
            }
            Ok(identified)
        })
        .await
    }

    /// The k most similar gallery faces or subjects for a query face or embedding.
    pub async fn search(&self, query: SearchQuery, opts: SearchOptions) -> Result<Searched> {
        let s = &self.settings.identify;
        let k = recognize::check_k(opts.k, s.k, s.max_k)?;
        self.run(move |w| w.search(query, k, &opts)).await
    }

    // The gallery.

    /// Creates a subject (`id` generated when absent).
    pub async fn create_subject(
        &self,
        id: Option<String>,
        name: String,
        metadata: serde_json::Value,
    ) -> Result<Subject> {
        let metadata = if metadata.is_null() { serde_json::json!({}) } else { metadata };
        self.blocking(move |g| g.create_subject(id.as_deref(), &name, &metadata)).await
    }

    /// A page of subjects, oldest first, and the total (`limit` 1..=1000); with `query`, only
    /// those whose name contains it (case-insensitive for ASCII letters), and their total.
    pub async fn subjects(&self, offset: u64, limit: u64, query: Option<String>) -> Result<(Vec<Subject>, u64)> {
        if limit == 0 || limit > 1000 {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "limit must be 1..=1000"));
        }
        match query.filter(|q| !q.is_empty()) {
            Some(q) => self.blocking(move |g| g.subjects_matching(&q, offset, limit)).await,
            None => self.blocking(move |g| g.subjects(offset, limit)).await,
        }
    }

    /// Merges the subject `from` into `into`: its faces move (embeddings stay in the index) and
    /// `from` is deleted. Returns `into` as it is afterwards.
    pub async fn merge_subject(&self, from: String, into: String) -> Result<Subject> {
        if from == into {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "a subject cannot be merged into itself"));
        }
        self.blocking(move |g| {
            g.merge_subject(&from, &into)?;
            g.subject(&into)
        })
        .await
    }

    /// One subject.
    pub async fn subject(&self, id: String) -> Result<Subject> {
        self.blocking(move |g| g.subject(&id)).await
    }

    /// Renames a subject and/or replaces its metadata.
    pub async fn update_subject(
        &self,
        id: String,
        name: Option<String>,
        metadata: Option<serde_json::Value>,
    ) -> Result<Subject> {
        self.blocking(move |g| g.update_subject(&id, name.as_deref(), metadata.as_ref())).await
    }

    /// Deletes a subject with its faces; returns how many faces were erased.
    pub async fn delete_subject(&self, id: String) -> Result<usize> {
        self.blocking(move |g| g.delete_subject(&id)).await
    }

    /// Enrols the face of `image` for a subject: one face expected, or the one `opts.face`
    /// names. True when new, false when the same face was there already.
    pub async fn enrol_face(
        &self,
        subject_id: String,
        image: Vec<u8>,
        opts: EnrolOptions,
    ) -> Result<(FaceRecord, bool)> {
        let keep_crops = self.settings.gallery.keep_crops;
        self.run(move |w| w.enrol_face(&subject_id, &image, &opts, keep_crops)).await
    }

    /// The faces enrolled for a subject.
    pub async fn faces(&self, subject_id: String) -> Result<Vec<FaceRecord>> {
        self.blocking(move |g| g.faces(&subject_id)).await
    }

    /// Deletes one face (record and embedding); returns it with its subject.
    pub async fn delete_face(&self, face_id: u64) -> Result<DeletedFace> {
        self.blocking(move |g| {
            g.delete_faces(&[face_id])?.pop().ok_or_else(|| VisageError::NotFound(format!("face {face_id}")))
        })
        .await
    }

    /// The aligned crop of an enrolled face (PNG), when `gallery.keep_crops` is on.
    pub async fn face_crop(&self, face_id: u64) -> Result<Vec<u8>> {
        self.blocking(move |g| g.crop(face_id)).await?.ok_or_else(|| {
            VisageError::unprocessable(
                Code::CropNotKept,
                format!("face {face_id} has no crop: this gallery keeps none (gallery.keep_crops is off)"),
            )
        })
    }

    // Bulk enrolment jobs.

    /// Where a door saves an uploaded archive for job `id` (`ext`: zip, tar or tar.gz).
    pub fn upload_path(&self, id: &str, ext: &str) -> PathBuf {
        self.settings.server.data_dir.join("uploads").join(format!("{id}.{ext}"))
    }

    /// The configured gate with a request's overrides.
    pub fn gate_with(&self, overrides: &serde_json::Value) -> Result<Gate> {
        gate_with(self.settings.enroll.gate, overrides)
    }

    /// Creates a job and queues it, unless the caller's id exists already with the same spec
    /// (a conflict with another). Returns its status and whether it was created.
    pub async fn create_job(&self, request: NewJob) -> Result<(JobStatus, bool)> {
        let (roots, gate, keep) =
            (self.settings.enroll.allowed_roots.clone(), self.settings.enroll.gate, self.settings.gallery.keep_crops);
        let jobs = self.serving()?.jobs.clone();
        self.blocking(move |g| {
            let upload = match &request.source {
                JobSource::Upload(path) => Some(path.clone()),
                JobSource::Server(_) => None,
            };
            let (id, spec) = jobs::spec_of(request, &roots, gate, keep).inspect_err(|_| {
                if let Some(path) = &upload {
                    let _ = std::fs::remove_file(path);
                }
            })?;
            let created = jobs::create(g, &jobs, &id, &spec)?;
            Ok((jobs::status(g, &jobs, &id)?, created))
        })
        .await
    }

    /// Runs a job in this process, on the calling thread with the engine's workers (a command's
    /// foreground job; a server runs jobs in the background instead): created unless `id`
    /// exists with the same spec, resumed when interrupted, and run again when finished, to take
    /// what was added to its source since (what is recorded is skipped).
    pub fn run_job(&self, id: &str, spec: &JobSpec, progress: &mut dyn FnMut(&Progress)) -> Result<JobRun> {
        jobs::run_here(self.gallery()?, self.pipeline.as_deref(), id, spec, progress, &self.settings, self.workers)
    }

    /// The server folders a job may read: `enroll.allowed_roots` and the folders inside them.
    pub async fn server_folders(&self) -> Result<Vec<ServerFolder>> {
        let roots = self.settings.enroll.allowed_roots.clone();
        spawn(move || Ok(jobs::server_folders(&roots))).await
    }

    /// A job's state, counts, rate and ETA.
    pub async fn job(&self, id: String) -> Result<JobStatus> {
        let jobs = self.serving()?.jobs.clone();
        self.blocking(move |g| jobs::status(g, &jobs, &id)).await
    }

    /// A page of a job's report (`limit` 1..=10000), in processing order; `problems`: only the
    /// items not enrolled.
    pub async fn job_report(&self, id: String, problems: bool, offset: u64, limit: u64) -> Result<Vec<ItemRecord>> {
        if limit == 0 || limit > 10_000 {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "limit must be 1..=10000"));
        }
        self.blocking(move |g| {
            g.job(&id)?;
            g.job_items(&id, problems, offset, limit)
        })
        .await
    }

    /// Cancels a queued or running job (photos in flight are finished); a finished job is
    /// left as it is.
    pub async fn cancel_job(&self, id: String) -> Result<JobStatus> {
        let jobs = self.serving()?.jobs.clone();
        self.blocking(move |g| {
            jobs.cancel(&id)?;
            jobs::status(g, &jobs, &id)
        })
        .await
    }

    // Thresholds and evaluation.

    /// The decision thresholds in force.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds.get()
    }

    /// The thresholds in force and the FPIR their identify threshold gives on the gallery as it
    /// is now (measured again only when the gallery or the threshold changed), from one reading
    /// of the thresholds, which a recalibration may replace meanwhile.
    pub async fn fpir_estimate(&self) -> Result<(Thresholds, FpirEstimate)> {
        let thresholds = self.thresholds();
        let threshold = thresholds.identify;
        let version = self.gallery()?.version();
        if let Some(e) = self.thresholds.cached_fpir(version, threshold) {
            return Ok((thresholds, e));
        }
        let estimate = self.blocking(move |g| calibrate::estimate_fpir(g, threshold)).await?;
        self.thresholds.cache_fpir(version, estimate.clone());
        Ok((thresholds, estimate))
    }

    /// Calibrates the thresholds on the gallery's pairs for a target FAR (1:1) and FPIR (1:N),
    /// by default the configured ones, else 1e-3 and 1e-2; `apply` puts them in force.
    pub async fn calibrate(&self, far: Option<f64>, fpir: Option<f64>, apply: bool) -> Result<Calibrated> {
        let far = far.or(self.settings.compare.target_far).unwrap_or(1e-3);
        let fpir = fpir.or(self.settings.identify.target_fpir).unwrap_or(1e-2);
        calibration::check_rates(far, fpir)?;
        let (calibration, thresholds) = self.blocking(move |g| calibrate_gallery(g, far, fpir, apply)).await?;
        if let (Some(t), true) = (&thresholds, apply) {
            tracing::info!(compare = t.compare, identify = t.identify, far, fpir, "calibrated thresholds in force");
            self.thresholds.set(t.clone());
        }
        Ok(Calibrated { calibration, thresholds, applied: apply, in_force: self.thresholds() })
    }

    /// With calibration targets configured (`compare.target_far`, `identify.target_fpir`),
    /// calibrates again once the gallery has grown or shrunk by a quarter since the last time: a
    /// stranger's chance of passing the 1:N threshold grows with the gallery.
    pub async fn follow_gallery_size(&self) {
        let (Some(far), Some(fpir)) = (self.settings.compare.target_far, self.settings.identify.target_fpir) else {
            return;
        };
        let Ok(now) = self.gallery().map(Gallery::len) else { return };
        let Some(last) = self.thresholds.size_step(now) else { return };
        match self
            .blocking(move |g| {
                calibrate_gallery(g, far, fpir, false).and_then(|(c, t)| {
                    if let Some(t) = &t {
                        calibrate::apply(g, t)?;
                    }
                    Ok((c, t))
                })
            })
            .await
        {
            Ok((_, Some(t))) => {
                tracing::info!(
                    faces = now,
                    was = last,
                    identify = t.identify,
                    compare = t.compare,
                    "gallery size changed: thresholds calibrated again"
                );
                self.thresholds.set(t);
            }
            Ok((c, None)) => {
                tracing::warn!(warnings = ?c.warnings, "gallery size changed, but too few pairs to calibrate")
            }
            Err(e) => tracing::warn!("gallery size changed, but calibration failed: {e}"),
        }
    }

    /// Evaluates the gallery: subjects' first faces are the gallery, the rest probes (at most
    /// 20000 faces; larger sets: `visage eval`).
    pub async fn evaluate(&self, options: EvalOptions) -> Result<EvalReport> {
        calibration::check_eval(&options)?;
        let engine = crate::eval::Engine::for_index(&self.settings.index);
        self.blocking(move |g| calibration::evaluate_gallery(g, &options, &engine)).await
    }

    // Lifecycle.

    /// Saves the index.
    pub async fn persist(&self) -> Result<()> {
        self.blocking(|g| g.persist()).await
    }

    /// Stops the job manager, if serving, and erases the index's data kept outside the
    /// gallery's folder: the engine of a collection being deleted with its folder.
    pub async fn close_for_deletion(&self) -> Result<()> {
        self.stop_jobs_then(Gallery::destroy_index).await
    }

    /// Stops the job manager, if serving (unfinished jobs resume at the next start), and saves
    /// the index.
    pub async fn shutdown(&self) -> Result<()> {
        self.stop_jobs_then(Gallery::persist).await
    }

    /// Stops the job manager, if serving, then runs `last` on the gallery.
    async fn stop_jobs_then(&self, last: fn(&Gallery) -> Result<()>) -> Result<()> {
        let jobs = self.serving.as_ref().map(|s| s.jobs.clone());
        self.blocking(move |g| {
            if let Some(jobs) = jobs {
                jobs.shutdown();
            }
            last(g)
        })
        .await
    }
}

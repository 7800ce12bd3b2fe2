//! The HTTP door (actix-web): request parsing, errors, auth and routing only. Every model run
//! goes through a bounded worker pool off the async executor; the engine does the work.

pub mod api;
pub mod error;
mod input;
mod metrics;
mod routes;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger, Next};
use actix_web::{web, App, HttpServer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Settings;
use crate::gallery::Gallery;
use crate::pipeline::Pipeline;
use error::ApiError;

/// Everything a request handler may use.
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub gallery: Arc<Gallery>,
    pub settings: Settings,
    /// Bulk enrolment jobs, run in the background.
    pub jobs: Arc<crate::enroll::manager::Manager>,
    /// Decision thresholds in force (configured or calibrated; `POST /v1/calibrate` changes them).
    thresholds: parking_lot::RwLock<crate::calibrate::Thresholds>,
    /// The last FPIR estimate and the gallery version it was measured on.
    fpir: parking_lot::Mutex<Option<(u64, crate::calibrate::FpirEstimate)>>,
    /// Gallery size at the last calibration (or attempt), to calibrate again as it grows.
    calibrated_size: AtomicUsize,
    workers: Workers,
}

/// The bounded pool: `permits` model runs at once, at most `max_queue` waiting, each for at
/// most `timeout`; beyond either limit the answer is 503 with Retry-After. `admission` bounds
/// the requests whose bodies are being read or held (workers + queue), so memory stays bounded
/// by that many bodies however many clients connect.
struct Workers {
    admission: Arc<Semaphore>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    timeout: Duration,
}

impl Workers {
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::busy(1));
        }
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(p)) => Ok(p),
            _ => Err(ApiError::busy(self.timeout.as_secs().max(1))),
        }
    }
}

impl AppState {
    /// Loads the models and opens the gallery. `workers` sessions per model are created, each
    /// with `cores / workers` threads unless `runtime.intra_threads` says otherwise.
    pub fn load(mut settings: Settings) -> crate::Result<Self> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = if settings.server.workers == 0 { cores } else { settings.server.workers };
        settings.runtime.sessions = workers;
        if settings.runtime.intra_threads == 0 {
            settings.runtime.intra_threads = (cores / workers).max(1);
        }
        let pipeline = Pipeline::load(&settings)?;
        let embedder = &pipeline.embedder;
        let gallery = Gallery::open(
            &settings.server.data_dir,
            embedder.model_id(),
            embedder.dim(),
            settings.index.kind,
            &settings.index.params,
        )?;
        tracing::info!(
            workers,
            threads_per_worker = settings.runtime.intra_threads,
            detector = pipeline.detector.model_id(),
            embedder = embedder.model_id(),
            faces = gallery.len(),
            data_dir = %settings.server.data_dir.display(),
            "visage ready"
        );
        let thresholds = crate::calibrate::in_force(&settings, &gallery)?;
        tracing::info!(compare = thresholds.compare, identify = thresholds.identify, source = %thresholds.source, "thresholds");
        let (pipeline, gallery) = (Arc::new(pipeline), Arc::new(gallery));
        let permits = Arc::new(Semaphore::new(workers));
        // Job workers take the same model permits as requests, so online traffic keeps its share.
        let throttle_permits = permits.clone();
        let throttle: crate::enroll::process::Throttle =
            Arc::new(move || Box::new(futures_executor::block_on(throttle_permits.clone().acquire_owned()).ok()));
        let base = crate::enroll::Options {
            workers: if settings.enroll.workers == 0 { workers } else { settings.enroll.workers },
            batch: settings.enroll.batch,
            gate: settings.enroll.gate,
            roots: Some(settings.enroll.allowed_roots.clone()),
            cancel: Default::default(),
            stop: Default::default(),
            throttle: Some(throttle),
        };
        let jobs = crate::enroll::manager::Manager::start(pipeline.clone(), gallery.clone(), base)?;
        Ok(Self {
            calibrated_size: AtomicUsize::new(thresholds.gallery_faces.unwrap_or(gallery.len())),
            pipeline,
            gallery,
            jobs,
            thresholds: parking_lot::RwLock::new(thresholds),
            fpir: parking_lot::Mutex::new(None),
            workers: Workers {
                admission: Arc::new(Semaphore::new(workers + settings.server.max_queue)),
                permits,
                waiting: AtomicUsize::new(0),
                max_queue: settings.server.max_queue,
                timeout: Duration::from_millis(settings.server.queue_timeout_ms),
            },
            settings,
        })
    }

    /// Runs model work on the worker pool, off the async executor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Pipeline, &Gallery) -> crate::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.workers.acquire().await?;
        let (pipeline, gallery) = (self.pipeline.clone(), self.gallery.clone());
        let result = web::block(move || {
            let _permit = permit;
            f(&pipeline, &gallery)
        })
        .await
        .map_err(|e| ApiError::new(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
        Ok(result?)
    }

    /// Runs gallery-only work (database i/o) off the async executor, without a model worker.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Gallery) -> crate::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let gallery = self.gallery.clone();
        let result = web::block(move || f(&gallery)).await.map_err(|e| {
            ApiError::new(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        Ok(result?)
    }

    /// The decision thresholds in force.
    pub fn thresholds(&self) -> crate::calibrate::Thresholds {
        self.thresholds.read().clone()
    }

    /// Puts new thresholds in force.
    pub fn set_thresholds(&self, t: crate::calibrate::Thresholds) {
        *self.thresholds.write() = t;
    }

    /// With calibration targets configured (`compare.target_far`, `identify.target_fpir`),
    /// calibrates again once the gallery has grown or shrunk by a quarter since the last time: a
    /// stranger's chance of passing the 1:N threshold grows with the gallery.
    pub async fn follow_gallery_size(&self) {
        let (Some(far), Some(fpir)) = (self.settings.compare.target_far, self.settings.identify.target_fpir) else {
            return;
        };
        let (last, now) = (self.calibrated_size.load(Ordering::Acquire), self.gallery.len());
        if !crate::calibrate::size_changed(last, now) {
            return;
        }
        self.calibrated_size.store(now, Ordering::Release);
        let result = self
            .blocking(move |g| {
                let (c, t) = crate::calibrate::calibrate(g, far, fpir)?;
                if let Some(t) = &t {
                    crate::calibrate::apply(g, t)?;
                }
                Ok((c, t))
            })
            .await;
        match result {
            Ok((_, Some(t))) => {
                tracing::info!(
                    faces = now,
                    was = last,
                    identify = t.identify,
                    compare = t.compare,
                    "gallery size changed: thresholds calibrated again"
                );
                self.set_thresholds(t);
            }
            Ok((c, None)) => {
                tracing::warn!(warnings = ?c.warnings, "gallery size changed, but too few pairs to calibrate")
            }
            Err(e) => tracing::warn!("gallery size changed, but calibration failed: {}", e.message),
        }
    }

    /// The FPIR of the identify threshold in force on the gallery as it is now (measured again
    /// only when the gallery or the threshold changed).
    pub async fn fpir_estimate(&self) -> Result<crate::calibrate::FpirEstimate, ApiError> {
        let threshold = self.thresholds().identify;
        let version = self.gallery.version();
        if let Some((v, e)) = &*self.fpir.lock() {
            if *v == version && e.threshold == threshold {
                return Ok(e.clone());
            }
        }
        let estimate = self.blocking(move |g| crate::calibrate::estimate_fpir(g, threshold)).await?;
        *self.fpir.lock() = Some((version, estimate.clone()));
        Ok(estimate)
    }

    /// Largest request body accepted: two images, base64-inflated, plus fields.
    fn body_limit(&self) -> usize {
        self.settings.limits.max_image_bytes * 8 / 3 + (1 << 20)
    }
}

/// Admits a `/v1` request only while fewer than workers + queue requests are in flight (their
/// bodies are what costs memory); otherwise 503 after the queue timeout.
async fn admit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let workers = &state.workers;
    let permit = tokio::time::timeout(workers.timeout, workers.admission.clone().acquire_owned()).await;
    let Ok(Ok(_permit)) = permit else {
        return Err(ApiError::busy(workers.timeout.as_secs().max(1)).into());
    };
    next.call(req).await
}

/// Checks `X-API-Key` (or `Authorization: Bearer`) when keys are configured; health probes are open.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let keys: &[String] = state.as_ref().map_or(&[], |s| &s.settings.server.api_keys);
    let open = keys.is_empty()
        || matches!(req.path(), "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || req.path().starts_with("/docs");
    if !open {
        let headers = req.headers();
        let given = headers.get("x-api-key").and_then(|v| v.to_str().ok()).or_else(|| {
            headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        });
        if !given.is_some_and(|g| keys.iter().any(|k| k == g)) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required (X-API-Key header)",
            )
            .into());
        }
    }
    next.call(req).await
}

/// Serves until SIGINT/SIGTERM, saving the index periodically and at shutdown.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let address = settings.server.address.clone();
    let interval = Duration::from_secs(settings.server.persist_interval_s.max(1));
    let state = web::Data::new(web::block(move || AppState::load(settings)).await??);
    let background = state.clone();
    let saver = actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(interval).await;
            let g = background.gallery.clone();
            if let Ok(Err(e)) = web::block(move || g.persist()).await {
                tracing::error!("saving the index failed: {e}");
            }
            background.follow_gallery_size().await;
        }
    });
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(|e, _| ApiError::bad_request("invalid_json", e.to_string()).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| ApiError::bad_request("invalid_path", e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::bad_request("invalid_query", e.to_string()).into()),
            )
            .wrap(from_fn(authenticate))
            .wrap(from_fn(metrics::track))
            .wrap(Logger::new("%r %s %b %Dms").log_target("visage::http"))
            .configure(routes::configure)
    })
    .bind(&address)?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}");
        eprintln!("visage: listening on http://{addr}");
    }
    server.run().await?;
    saver.abort();
    let (g, jobs) = (state.gallery.clone(), state.jobs.clone());
    web::block(move || {
        jobs.shutdown();
        g.persist()
    })
    .await??;
    tracing::info!("index saved; bye");
    Ok(())
}

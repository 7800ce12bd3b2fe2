//! Prometheus metrics at `GET /metrics`: requests and latency per route and status, time per
//! pipeline stage, gallery size, SQLite's memory.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::service::stages::Stage;
use crate::service::Engine;

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    stages: HistogramVec,
    gallery_faces: IntGauge,
    sqlite_memory: IntGauge,
}

/// Latency buckets from 1 ms to 30 s.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new("visage_http_requests_total", "HTTP requests by route, method and status"),
        &["route", "method", "status"],
    )
    .expect("valid metric");
    let latency = HistogramVec::new(
        HistogramOpts::new("visage_http_request_duration_seconds", "HTTP request latency by route")
            .buckets(BUCKETS.to_vec()),
        &["route"],
    )
    .expect("valid metric");
    let stages = HistogramVec::new(
        HistogramOpts::new("visage_stage_duration_seconds", "Time per pipeline stage (decode, detect, embed, search)")
            .buckets(BUCKETS.to_vec()),
        &["stage"],
    )
    .expect("valid metric");
    let gallery_faces = IntGauge::new("visage_gallery_faces", "Faces in the gallery's index").expect("valid metric");
    let sqlite_memory = IntGauge::new(
        "visage_sqlite_memory_bytes",
        "Heap memory held by SQLite, its page caches included (bounded: 32 MiB per connection)",
    )
    .expect("valid metric");
    for m in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(stages.clone()),
        Box::new(gallery_faces.clone()),
        Box::new(sqlite_memory.clone()),
    ] {
        registry.register(m).expect("unique metric");
    }
    Metrics { registry, requests, latency, stages, gallery_faces, sqlite_memory }
});

/// The engine's stage hook: records a stage's duration.
pub fn observe_stage(stage: Stage, elapsed: Duration) {
    METRICS.stages.with_label_values(&[stage.as_str()]).observe(elapsed.as_secs_f64());
}

/// Middleware: counts and times every request under its route pattern (not its raw path, so
/// ids do not explode the label set).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let response = next.call(req).await;
    let status = match &response {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    METRICS.requests.with_label_values(&[route.as_str(), method.as_str(), &status.to_string()]).inc();
    METRICS.latency.with_label_values(&[route.as_str()]).observe(start.elapsed().as_secs_f64());
    response
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(engine: web::Data<Engine>) -> HttpResponse {
    if let Ok(g) = engine.gallery() {
        METRICS.gallery_faces.set(g.len() as i64);
    }
    METRICS.sqlite_memory.set(crate::gallery::store::sqlite_memory_bytes());
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out) {
        return HttpResponse::InternalServerError().body(e.to_string());
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}

//! `visage bench soak`: a mixed workload against a real `visage serve` started for the run, at
//! and above saturation, for minutes: closed-loop clients each pick identify, search, enrol
//! (a new subject and a photo), or delete (one of their own faces), and delete their oldest
//! subject once they hold [`KEEP`]; one more client keeps a bulk job (an uploaded archive)
//! running and deletes each job's subjects when it ends. The gallery so stays about the same
//! size, and memory that grows is the server's, not the data's. Every 10 s the server's RSS and open file
//! descriptors are read from `/proc`. The report gives requests/s, p50/p99/max per route, the
//! status counts and the samples; the command fails (non-zero exit) unless:
//!
//! - every answer is 2xx, an expected 4xx (422: a photo without exactly one face; 409: a
//!   duplicate) or 503 with `Retry-After`, and every request got an answer;
//! - RSS at the end is at most 10 % above its level after the warm-up;
//! - the open file descriptors at the end are no more than after the warm-up, plus the
//!   clients' connections that may be reconnecting (flat);
//! - no request took longer than the queue timeout plus the model time plus 0.25 s: the model
//!   time is the slowest run of the pipeline on the largest photo timed in this process at
//!   every sample, under the same load (with one server worker's threads).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;

use super::client::{content_type, percentile, photo_archive, Conn, Target};
use super::crash::photos;
use super::server::OwnServer;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{Engine, Mode};
use crate::synth::Rng;

/// What `visage bench soak` was asked to do.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Folders of photos for identify, search and enrolments.
    pub images: Vec<PathBuf>,
    pub minutes: f64,
    /// Closed-loop clients (the job client comes on top).
    pub clients: usize,
    /// Seconds between `/proc` samples.
    pub sample_s: f64,
    pub seed: u64,
    /// Global flags passed on to the server (`--config`, `--threads`).
    pub server_args: Vec<OsString>,
    /// The key the server accepts (the first admin key given in clear).
    pub api_key: Option<String>,
}

/// Latencies and statuses of one route.
#[derive(Default)]
struct Route {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
    /// 503 answers without `Retry-After`, and other answers the pass criteria refuse.
    unexpected: u64,
    /// Requests that got no answer.
    failures: u64,
    last_failure: Option<String>,
}

/// One `/proc` sample, with SQLite's memory from `/metrics`.
#[derive(Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    fds: u64,
    /// `visage_sqlite_memory_bytes` in KiB: page caches that fill up to their cap, which a
    /// growing RSS may be made of.
    sqlite_kib: Option<u64>,
}

type Routes = Mutex<BTreeMap<&'static str, Route>>;

/// Allowed on top of queue timeout + model time for reading the request and writing the answer.
const SLACK_MS: f64 = 250.0;
/// Subjects each client keeps before it deletes its oldest (the gallery stays this size).
const KEEP: usize = 16;
/// Photos in each bulk job's archive.
const JOB_PHOTOS: usize = 4;

/// Runs the soak and prints its report; an error when a pass criterion failed.
pub fn soak(settings: &Settings, opts: &SoakOptions) -> Result<()> {
    let bad = |m: &str| Err(VisageError::unprocessable(Code::InvalidParameter, m.to_string()));
    if !(opts.minutes.is_finite() && opts.minutes > 0.0 && opts.minutes <= 24.0 * 60.0) {
        return bad("--minutes must lie in (0, 1440]");
    }
    if opts.clients == 0 || opts.clients > super::service::MAX_CLIENTS {
        return bad("--clients takes 1..=1024");
    }
    if !(opts.sample_s.is_finite() && opts.sample_s >= 1.0) {
        return bad("--sample-s must be at least 1");
    }
    let photos = photos(&opts.images)?;
    let mut sized = settings.clone();
    let workers = crate::service::assemble::size_for_serving(&mut sized);
    // The model time: the pipeline's own time for the largest photo, with one worker's threads.
    let mut baseline = settings.clone();
    baseline.runtime.sessions = 1;
    baseline.runtime.intra_threads = sized.runtime.intra_threads;
    let largest = photos.iter().max_by_key(|(_, b)| b.len()).map(|(_, b)| b.as_slice()).unwrap_or_default();
    // Loaded before the server starts; timed once per sample while the load runs, so that the
    // model time is what a model run takes under the same load.
    let engine = Engine::open(baseline, Mode::Models { workers: 1 })?;
    let idle_model_ms = engine.end_to_end_ms(largest, 5)?;
    let queue_timeout_ms = settings.server.queue_timeout_ms as f64;

    let mut server = OwnServer::start(&opts.server_args)?;
    let target = Target::loopback(server.port, opts.api_key.clone());
    server.wait_ready(&target)?;
    let pid = server.pid();
    let duration = Duration::from_secs_f64(opts.minutes * 60.0);
    let floor = opts.sample_s.min(duration.as_secs_f64());
    let warmup_s = (duration.as_secs_f64() / 3.0).clamp(floor, 300f64.max(floor));
    let routes: Routes = Mutex::new(BTreeMap::new());
    let samples = Mutex::new(Vec::<Sample>::new());
    let stop = AtomicBool::new(false);
    let mut loaded_model_ms = idle_model_ms;
    let subjects = AtomicU64::new(0);
    let start = Instant::now();
    let until = start + duration;
    let seeds: Vec<u64> = {
        let mut rng = Rng::new(opts.seed);
        (0..=opts.clients).map(|_| rng.next_u64()).collect()
    };
    eprintln!(
        "visage bench soak: {} client(s) + a job for {:.1} min against {} worker(s); samples every {}s",
        opts.clients, opts.minutes, workers, opts.sample_s
    );
    std::thread::scope(|scope| {
        for seed in seeds.iter().take(opts.clients) {
            let (target, routes, photos, subjects) = (&target, &routes, &photos, &subjects);
            scope.spawn(move || mixed_client(*seed, target, photos, routes, subjects, until));
        }
        let (target, routes, photos, stop) = (&target, &routes, &photos, &stop);
        let seed = seeds[opts.clients];
        scope.spawn(move || job_client(seed, target, photos, routes, stop, until));
        let mut next = start;
        while Instant::now() < until {
            let at_s = start.elapsed().as_secs_f64();
            if let Ok(ms) = engine.end_to_end_ms(largest, 1) {
                loaded_model_ms = loaded_model_ms.max(ms);
            }
            if let Some((rss_kib, fds)) = proc_sample(pid) {
                let sqlite_kib = sqlite_sample(target);
                samples.lock().push(Sample { at_s, rss_kib, fds, sqlite_kib });
                eprintln!(
                    "visage bench soak: t={at_s:>6.0}s rss={:.1} MiB fds={fds} sqlite={:.1} MiB",
                    rss_kib as f64 / 1024.0,
                    sqlite_kib.unwrap_or(0) as f64 / 1024.0
                );
            }
            next += Duration::from_secs_f64(opts.sample_s);
            std::thread::sleep(
                next.saturating_duration_since(Instant::now()).min(until.saturating_duration_since(Instant::now())),
            );
        }
        if let Some((rss_kib, fds)) = proc_sample(pid) {
            let sqlite_kib = sqlite_sample(target);
            samples.lock().push(Sample { at_s: start.elapsed().as_secs_f64(), rss_kib, fds, sqlite_kib });
        }
        stop.store(true, Ordering::Release);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let alive = matches!(Conn::new(&target).call(&target.request("GET", "/healthz", None, &[])), Ok((200, _)));
    drop(server);

    drop(engine);
    let model_ms = loaded_model_ms;
    let bound_ms = queue_timeout_ms + model_ms + SLACK_MS;
    let routes = routes.into_inner();
    let samples = samples.into_inner();
    let mut problems = Vec::new();
    let mut table = serde_json::Map::new();
    let mut total = 0u64;
    let mut slowest = 0f64;
    for (name, mut r) in routes {
        r.latencies_ms.sort_by(f64::total_cmp);
        let n = r.latencies_ms.len() as u64;
        total += n;
        let max = r.latencies_ms.last().copied().unwrap_or(0.0);
        slowest = slowest.max(max);
        if r.unexpected > 0 {
            problems.push(format!("{name}: {} unexpected answer(s) {:?}", r.unexpected, r.statuses));
        }
        if r.failures > 0 {
            problems.push(format!("{name}: {} request(s) without an answer ({:?})", r.failures, r.last_failure));
        }
        table.insert(
            name.to_string(),
            json!({
                "requests": n, "per_second": n as f64 / elapsed,
                "p50_ms": percentile(&r.latencies_ms, 0.5), "p99_ms": percentile(&r.latencies_ms, 0.99), "max_ms": max,
                "statuses": r.statuses.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
                "failures": r.failures,
            }),
        );
    }
    if slowest > bound_ms {
        problems.push(format!(
            "the slowest request took {slowest:.0} ms, above the queue timeout plus the model time ({bound_ms:.0} ms)"
        ));
    }
    if !alive {
        problems.push("GET /healthz failed at the end".into());
    }
    let warm = samples.iter().find(|s| s.at_s >= warmup_s).copied();
    let end = samples.last().copied();
    let (mut rss_growth, mut fd_growth, mut sqlite_growth_mib) = (None, None, None);
    match (warm, end) {
        (Some(w), Some(e)) if e.at_s > w.at_s => {
            let growth = e.rss_kib as f64 / w.rss_kib.max(1) as f64 - 1.0;
            rss_growth = Some(growth);
            if let (Some(ws), Some(es)) = (w.sqlite_kib, e.sqlite_kib) {
                sqlite_growth_mib = Some((es as f64 - ws as f64) / 1024.0);
            }
            if growth > 0.10 {
                problems.push(format!(
                    "RSS grew {:.1} % after the warm-up ({} -> {} KiB)",
                    growth * 100.0,
                    w.rss_kib,
                    e.rss_kib
                ));
            }
            let slack = opts.clients as u64 / 4 + 4;
            fd_growth = Some(e.fds as i64 - w.fds as i64);
            if e.fds > w.fds + slack {
                problems.push(format!("open file descriptors grew from {} to {} (allowed +{slack})", w.fds, e.fds));
            }
        }
        _ => problems.push("too few /proc samples after the warm-up to judge memory and descriptors".into()),
    }
    let report = json!({
        "minutes": opts.minutes, "clients": opts.clients, "workers": workers, "seconds": elapsed,
        "requests": total, "requests_per_second": total as f64 / elapsed,
        "queue_timeout_ms": queue_timeout_ms, "idle_model_ms": idle_model_ms, "model_ms": model_ms, "latency_bound_ms": bound_ms, "slowest_ms": slowest,
        "routes": table, "warmup_s": warmup_s,
        "samples": samples.iter().map(|s| json!({
            "t_s": s.at_s, "rss_mib": s.rss_kib as f64 / 1024.0, "fds": s.fds,
            "sqlite_mib": s.sqlite_kib.map(|k| k as f64 / 1024.0),
        })).collect::<Vec<_>>(),
        "rss_growth_after_warmup": rss_growth, "fd_growth_after_warmup": fd_growth,
        "sqlite_growth_after_warmup_mib": sqlite_growth_mib,
        "problems": problems, "passed": problems.is_empty(),
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(VisageError::Internal(format!("soak failed: {}", problems.join("; "))))
    }
}

/// `visage_sqlite_memory_bytes` (in KiB) from the server's `/metrics`.
fn sqlite_sample(target: &Target) -> Option<u64> {
    let (status, body) = Conn::new(target).call(&target.request("GET", "/metrics", None, &[])).ok()?;
    let text = String::from_utf8(body).ok().filter(|_| status == 200)?;
    let line = text.lines().find(|l| l.starts_with("visage_sqlite_memory_bytes "))?;
    Some(line.rsplit(' ').next()?.parse::<f64>().ok()? as u64 / 1024)
}

/// RSS (KiB) and open descriptors of `pid`, from `/proc`.
fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

/// Records one exchange under `route`; true when it was answered with 2xx.
fn record(
    routes: &Routes,
    route: &'static str,
    sent: Instant,
    outcome: &std::io::Result<super::client::Reply>,
) -> bool {
    record_allowing(routes, route, sent, outcome, &[])
}

/// [`record`], with `also` statuses expected too.
fn record_allowing(
    routes: &Routes,
    route: &'static str,
    sent: Instant,
    outcome: &std::io::Result<super::client::Reply>,
    also: &[u16],
) -> bool {
    let ms = sent.elapsed().as_secs_f64() * 1e3;
    let mut all = routes.lock();
    let r = all.entry(route).or_default();
    match outcome {
        Ok(reply) => {
            r.latencies_ms.push(ms);
            *r.statuses.entry(reply.status).or_default() += 1;
            let expected = (200..300).contains(&reply.status)
                || matches!(reply.status, 409 | 422)
                || also.contains(&reply.status)
                || (reply.status == 503 && reply.retry_after.is_some());
            if !expected {
                r.unexpected += 1;
            }
            (200..300).contains(&reply.status)
        }
        Err(e) => {
            r.failures += 1;
            r.last_failure = Some(e.to_string());
            false
        }
    }
}

/// One closed-loop client of the mixed workload.
fn mixed_client(
    seed: u64,
    target: &Target,
    photos: &[(PathBuf, Vec<u8>)],
    routes: &Routes,
    subjects: &AtomicU64,
    until: Instant,
) {
    let mut rng = Rng::new(seed);
    let mut conn = Conn::new(target);
    // This client's subjects, oldest first, with their face while it is there. Beyond `KEEP`
    // the oldest is deleted, so that the gallery stays the same size and memory can be judged.
    let mut mine: VecDeque<(String, Option<u64>)> = VecDeque::new();
    while Instant::now() < until {
        if mine.len() > KEEP {
            let Some((id, _)) = mine.pop_front() else { continue };
            let sent = Instant::now();
            let deleted = conn.call_full(&target.request("DELETE", &format!("/v1/subjects/{id}"), None, &[]));
            record(routes, "DELETE /v1/subjects/{id}", sent, &deleted);
            continue;
        }
        let (path, bytes) = &photos[rng.below(photos.len())];
        let ct = Some(content_type(path));
        let pick = rng.below(100);
        let (route, request) = match pick {
            0..40 => ("POST /v1/identify", target.request("POST", "/v1/identify", ct, bytes)),
            40..65 => ("POST /v1/search", target.request("POST", "/v1/search", ct, bytes)),
            65..85 => {
                let id = format!("soak-{seed:x}-{}", subjects.fetch_add(1, Ordering::Relaxed));
                let body = json!({ "id": id, "name": id }).to_string();
                let sent = Instant::now();
                let created =
                    conn.call_full(&target.request("POST", "/v1/subjects", Some("application/json"), body.as_bytes()));
                if !record(routes, "POST /v1/subjects", sent, &created) {
                    continue;
                }
                let sent = Instant::now();
                let added = conn.call_full(&target.request("POST", &format!("/v1/subjects/{id}/faces"), ct, bytes));
                let face = if record(routes, "POST /v1/subjects/{id}/faces", sent, &added) {
                    added.ok().and_then(|r| r.json()["id"].as_u64())
                } else {
                    None
                };
                mine.push_back((id, face));
                continue;
            }
            _ => match mine.iter_mut().rev().find_map(|(_, face)| face.take()) {
                Some(face) => {
                    ("DELETE /v1/faces/{id}", target.request("DELETE", &format!("/v1/faces/{face}"), None, &[]))
                }
                None => continue,
            },
        };
        let sent = Instant::now();
        let outcome = conn.call_full(&request);
        if let Ok(r) = &outcome {
            if r.status == 503 {
                // A refused request costs the server little; do not spin on it.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        record(routes, route, sent, &outcome);
    }
}

/// Keeps one bulk job (a small uploaded archive) running, following it until it ends.
fn job_client(
    seed: u64,
    target: &Target,
    photos: &[(PathBuf, Vec<u8>)],
    routes: &Routes,
    stop: &AtomicBool,
    until: Instant,
) {
    let mut rng = Rng::new(seed);
    let mut conn = Conn::new(target);
    let mut n = 0;
    while Instant::now() < until && !stop.load(Ordering::Acquire) {
        let Ok(archive) = photo_archive(photos, JOB_PHOTOS, |k| format!("soakjob-{seed:x}-{n}-{k}"), &mut rng) else {
            return;
        };
        let id = format!("soak-job-{seed:x}-{n}");
        n += 1;
        let sent = Instant::now();
        let created = conn.call_full(&target.request(
            "POST",
            &format!("/v1/jobs/enroll?id={id}"),
            Some("application/x-tar"),
            &archive,
        ));
        if !record(routes, "POST /v1/jobs/enroll", sent, &created) {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        let poll = target.request("GET", &format!("/v1/jobs/{id}"), None, &[]);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(500));
            let sent = Instant::now();
            let status = conn.call_full(&poll);
            record(routes, "GET /v1/jobs/{id}", sent, &status);
            match status.map(|r| r.json()["state"].as_str().map(str::to_string)) {
                Ok(Some(state)) if state != "queued" && state != "running" => break,
                _ => {}
            }
        }
        // The job's subjects go again (a photo the job refused left none: 404).
        for k in 0..JOB_PHOTOS {
            let sent = Instant::now();
            let path = format!("/v1/subjects/soakjob-{seed:x}-{}-{k}", n - 1);
            let deleted = conn.call_full(&target.request("DELETE", &path, None, &[]));
            record_allowing(routes, "DELETE /v1/subjects/{id} (a job's)", sent, &deleted, &[404]);
        }
    }
}

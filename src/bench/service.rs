//! `visage bench service`: requests/s and p50/p99 latency of `POST /v1/identify` on one photo
//! at several numbers of concurrent clients, against the limit the models set, measured in the
//! same run: the pipeline's own time for that photo (decode + detect + align + embed, in this
//! process, with the threads one server worker gets) and the throughput ceiling
//! `workers / pipeline time`.
//!
//! The server is either one already running (`--url`, loopback only) or one this command starts
//! as a child process (`visage serve` on a free loopback port over a throw-away data directory)
//! and kills at the end. The clients are plain threads, each with one keep-alive connection and
//! one request in flight at a time (a closed loop), on the same machine as the server: on a small
//! machine they take some of its CPU, which the ratios then show.
//!
//! Each client sends a request built once over its own keep-alive connection
//! ([`super::client::Conn`]). Every wait is bounded (request timeouts, deadlines), so the
//! command always ends by itself.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{content_type, percentile, server_error, Conn, Request, Target};
use super::server::OwnServer;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::{Engine, Mode};

/// What `visage bench service` was asked to do.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The photo sent to `/v1/identify` (one face is the usual case).
    pub image: PathBuf,
    /// A running server (`http://127.0.0.1:8080`); `None` starts one for the run.
    pub url: Option<String>,
    /// Numbers of concurrent clients, one level after the other.
    pub concurrency: Vec<usize>,
    /// Timed seconds per level.
    pub seconds: f64,
    /// Untimed seconds per level before the timed ones (same clients, same connections).
    pub warmup: f64,
    /// Enrol `image` as a new subject first (always done on a server this command starts); on
    /// a running server the subject is deleted again at the end.
    pub enrol: bool,
    /// `X-API-Key` to send (default: the first of `server.api_keys`).
    pub api_key: Option<String>,
    /// Timed runs of the in-process pipeline baseline (median).
    pub runs: usize,
    /// Global flags passed on to a server this command starts (`--config`, `--threads`), so it
    /// loads the same settings as the baseline. `VISAGE_*` variables are inherited anyway.
    pub server_args: Vec<OsString>,
}

/// Most concurrent clients accepted (each is a thread with its own connection).
pub(super) const MAX_CLIENTS: usize = 1024;

/// Runs the benchmark and prints its table to stdout. `settings` are the ones the server runs
/// with (for a server started here they are by construction; for `--url` they are assumed).
pub fn service(settings: &Settings, opts: &ServiceOptions) -> Result<()> {
    validate(opts)?;
    let photo =
        std::fs::read(&opts.image).map_err(|e| VisageError::CorruptImage(format!("{}: {e}", opts.image.display())))?;
    // The server's sizing: `workers` model runs at once, each with `threads` ORT threads.
    let mut sized = settings.clone();
    let workers = crate::service::assemble::size_for_serving(&mut sized);
    let threads = sized.runtime.intra_threads;
    let api_key = opts.api_key.clone();

    // The server: started here (killed and its data removed when `_own` drops) or given.
    let (_own, target) = match &opts.url {
        Some(url) => {
            let target = Target::parse(url, api_key)?;
            let ready = Conn::new(&target).call(&target.request("GET", "/readyz", None, &[]));
            match ready {
                Ok((200, _)) => {}
                Ok((status, body)) => return Err(server_error(&format!("GET {url}/readyz answered {status}"), &body)),
                Err(e) => return Err(VisageError::Config(format!("cannot reach the server at {url}: {e}"))),
            }
            (None, target)
        }
        None => {
            let mut own = OwnServer::start(&opts.server_args)?;
            let target = Target::loopback(own.port, api_key);
            own.wait_ready(&target)?;
            (Some(own), target)
        }
    };
    let server_kind = if opts.url.is_some() { "running server" } else { "started for this run" };

    // A gallery to search: the photo itself as one subject, so identify does real 1:N work.
    let enrolled = if opts.enrol || opts.url.is_none() { Some(enrol(&target, &photo, &opts.image)?) } else { None };
    let outcome = measure(settings, opts, &target, &photo, workers, threads, server_kind);
    // Leave a running server's gallery as it was, whatever happened above.
    if let (Some(id), Some(_)) = (&enrolled, &opts.url) {
        let path = format!("/v1/subjects/{id}");
        match Conn::new(&target).call(&target.request("DELETE", &path, None, &[])) {
            Ok((200 | 204, _)) => {}
            Ok((status, _)) => eprintln!("visage: warning: DELETE {path} answered {status}; remove it by hand"),
            Err(e) => eprintln!("visage: warning: DELETE {path} failed ({e}); remove it by hand"),
        }
    }
    outcome
}

/// Checks one identify answer, measures the baseline, then runs every concurrency level.
fn measure(
    settings: &Settings,
    opts: &ServiceOptions,
    target: &Target,
    photo: &[u8],
    workers: usize,
    threads: usize,
    server_kind: &str,
) -> Result<()> {
    let identify = target.request("POST", "/v1/identify", Some(content_type(&opts.image)), photo);
    let first =
        Conn::new(target).call(&identify).map_err(|e| VisageError::Config(format!("POST /v1/identify failed: {e}")))?;
    let answer = match first {
        (200, body) => serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        (status, body) => return Err(server_error(&format!("POST /v1/identify answered {status}"), &body)),
    };
    let faces = answer["faces"].as_array().map_or(0, Vec::len);
    let matched = answer["faces"][0]["match"]["subject_id"].as_str().unwrap_or("unknown").to_string();

    // The limit: the pipeline's own time for this photo, here, while the server is idle.
    let mut baseline = settings.clone();
    baseline.runtime.sessions = 1;
    baseline.runtime.intra_threads = threads;
    let engine = Engine::open(baseline, Mode::Models { workers: 1 })?;
    let pipeline_ms = engine.end_to_end_ms(photo, opts.runs)?;
    drop(engine); // no idle ORT threads competing with the server from here on
    let ceiling = workers as f64 * 1e3 / pipeline_ms;

    let name = opts.image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    println!(
        "POST {}/v1/identify with {name} ({} KiB, {faces} face(s), first face matched: {matched})",
        target.base,
        photo.len() / 1024
    );
    println!(
        "server: {server_kind}; {workers} worker(s) x {threads} ORT thread(s){}; clients on this machine ({} cores)",
        if opts.url.is_some() { " assumed from local settings" } else { "" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "pipeline in-process (decode+detect+align+embed, {threads} thread(s), median of {}): {pipeline_ms:.2} ms \
         -> ceiling {workers} / {pipeline_ms:.2} ms = {ceiling:.1} req/s",
        opts.runs
    );
    println!(
        "timed {}s per level after {}s warm-up; errors = non-200 answers + failed requests",
        opts.seconds, opts.warmup
    );
    println!(
        "{:>11} {:>9} {:>7} {:>9} {:>8} {:>8} {:>13} {:>14}",
        "concurrency", "requests", "errors", "req/s", "p50_ms", "p99_ms", "p50/pipeline", "req/s/ceiling"
    );
    let mut notes = Vec::new();
    for &clients in &opts.concurrency {
        let level = load(
            target,
            &identify,
            clients,
            Duration::from_secs_f64(opts.warmup),
            Duration::from_secs_f64(opts.seconds),
        )?;
        let (p50, p99) = (percentile(&level.latencies_ms, 0.50), percentile(&level.latencies_ms, 0.99));
        println!(
            "{clients:>11} {:>9} {:>7} {:>9.1} {:>8.2} {:>8.2} {:>13.2} {:>14.2}",
            level.latencies_ms.len(),
            level.errors(),
            level.per_second,
            p50,
            p99,
            p50 / pipeline_ms,
            level.per_second / ceiling
        );
        let _ = std::io::stdout().flush();
        if level.errors() > 0 {
            let statuses: Vec<String> = level.statuses.iter().map(|(s, n)| format!("{n} x {s}")).collect();
            let mut note = format!("concurrency {clients}: {}", statuses.join(", "));
            if level.failures > 0 {
                let why = level.last_failure.as_deref().unwrap_or("?");
                note.push_str(&format!(
                    "{}{} failed ({why})",
                    if statuses.is_empty() { "" } else { ", " },
                    level.failures
                ));
            }
            notes.push(note);
        }
    }
    for note in notes {
        println!("errors at {note}");
    }
    Ok(())
}

fn validate(opts: &ServiceOptions) -> Result<()> {
    let bad = |m: String| Err(VisageError::unprocessable(Code::InvalidParameter, m));
    if opts.concurrency.is_empty() || opts.concurrency.iter().any(|&c| c == 0 || c > MAX_CLIENTS) {
        return bad(format!("--concurrency takes numbers 1..={MAX_CLIENTS}, e.g. 1,4,16"));
    }
    if !(opts.seconds.is_finite() && opts.seconds > 0.0 && opts.seconds <= 3600.0) {
        return bad("--seconds must lie in (0, 3600]".into());
    }
    if !(opts.warmup.is_finite() && (0.0..=600.0).contains(&opts.warmup)) {
        return bad("--warmup must lie in [0, 600]".into());
    }
    if opts.runs == 0 {
        return bad("--runs must be at least 1".into());
    }
    Ok(())
}

/// Creates a subject and enrols the photo's face; returns the subject id.
fn enrol(target: &Target, photo: &[u8], image: &Path) -> Result<String> {
    let body =
        serde_json::json!({ "name": "visage bench service", "metadata": { "created_by": "visage bench service" } });
    let create = target.request("POST", "/v1/subjects", Some("application/json"), body.to_string().as_bytes());
    let mut conn = Conn::new(target);
    let id = match conn.call(&create) {
        Ok((201, body)) => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .ok_or_else(|| VisageError::Config("POST /v1/subjects answered 201 without an id".into()))?,
        Ok((status, body)) => return Err(server_error(&format!("POST /v1/subjects answered {status}"), &body)),
        Err(e) => return Err(VisageError::Config(format!("POST /v1/subjects failed: {e}"))),
    };
    let path = format!("/v1/subjects/{id}/faces");
    match conn.call(&target.request("POST", &path, Some(content_type(image)), photo)) {
        Ok((200 | 201, _)) => Ok(id),
        Ok((status, body)) => {
            Err(server_error(&format!("POST {path} (enrolling {}) answered {status}", image.display()), &body))
        }
        Err(e) => Err(VisageError::Config(format!("POST {path} failed: {e}"))),
    }
}

/// What one concurrency level measured.
#[derive(Default)]
struct Level {
    /// Latency of every 200 answer to a request sent in the timed window, sorted.
    latencies_ms: Vec<f64>,
    /// 200 answers completed inside the timed window, per second of it.
    per_second: f64,
    /// Non-200 answers to requests sent in the timed window, by status.
    statuses: BTreeMap<u16, usize>,
    /// Requests sent in the timed window that got no answer (connection or timeout errors).
    failures: usize,
    last_failure: Option<String>,
}

impl Level {
    fn errors(&self) -> usize {
        self.statuses.values().sum::<usize>() + self.failures
    }
}

/// One client's tally.
#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    completed_in_window: usize,
    statuses: BTreeMap<u16, usize>,
    failures: usize,
    last_failure: Option<String>,
}

/// `clients` threads send `request` back to back for `warmup + timed`, each over its own
/// keep-alive connection; requests sent during the warm-up are not counted.
fn load(target: &Target, request: &Request, clients: usize, warmup: Duration, timed: Duration) -> Result<Level> {
    let start = Instant::now();
    let window = (start + warmup, start + warmup + timed);
    let tallies = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(clients);
        for i in 0..clients {
            let spawned = std::thread::Builder::new()
                .name(format!("bench-client-{i}"))
                .spawn_scoped(scope, move || client(target, request, window));
            // Clients already started stop at the deadline by themselves.
            handles.push(spawned.map_err(|e| VisageError::Internal(format!("cannot start a client thread: {e}")))?);
        }
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| VisageError::Internal("a client thread panicked".into())))
            .collect::<Result<Vec<Tally>>>()
    })?;
    let mut level = Level::default();
    let mut completed = 0;
    for t in tallies {
        level.latencies_ms.extend(t.latencies_ms);
        completed += t.completed_in_window;
        for (status, n) in t.statuses {
            *level.statuses.entry(status).or_default() += n;
        }
        level.failures += t.failures;
        level.last_failure = t.last_failure.or(level.last_failure);
    }
    level.latencies_ms.sort_by(f64::total_cmp);
    level.per_second = completed as f64 / timed.as_secs_f64();
    Ok(level)
}

/// One closed-loop client: the next request leaves when the previous answer is in.
fn client(target: &Target, request: &Request, (from, until): (Instant, Instant)) -> Tally {
    let mut conn = Conn::new(target);
    let mut tally = Tally::default();
    loop {
        let sent = Instant::now();
        if sent >= until {
            return tally;
        }
        let result = conn.call(request);
        let done = Instant::now();
        let counted = sent >= from;
        match result {
            Ok((200, _)) => {
                if counted {
                    tally.latencies_ms.push((done - sent).as_secs_f64() * 1e3);
                }
                if done >= from && done <= until {
                    tally.completed_in_window += 1;
                }
            }
            Ok((status, _)) => {
                if counted {
                    *tally.statuses.entry(status).or_default() += 1;
                }
                // A refused request costs the server little; do not spin on it and starve the workers.
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                if counted {
                    tally.failures += 1;
                    tally.last_failure = Some(e.to_string());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

//! `visage bench crash`: kill -9 trials. Each trial imports embeddings with `visage import`
//! (killed half-way in about half the trials, then resumed), starts a real `visage serve` over a
//! continuing data directory, drives concurrent enrolments, deletes and a bulk job (an uploaded
//! archive) against it, SIGKILLs it at a random moment, restarts it, waits for the jobs, stops
//! it gracefully and checks, from the files it left:
//!
//! - every acknowledged face is present, under its subject, once;
//! - every acknowledged delete stayed deleted;
//! - every acknowledged job resumed and completed, each photo counted once and enrolled once;
//! - every imported row is in the gallery once;
//! - the index agrees with the store ([`crate::gallery::check`]: counts, checkpoint, a sample
//!   of ids, recall against exact search);
//! - SQLite's `PRAGMA integrity_check` answers `ok`.
//!
//! Two trials tear the saved index (truncated, then overwritten with garbage) before a start,
//! and one runs the service on a small full file system (a tmpfs, or a loop-mounted ext4 image):
//! writes must be refused with a clear status (507 `storage_full`, or 503 with `Retry-After`),
//! never a 500, nothing must be corrupted, and the service must take writes again once space
//! is back. The summary (JSON on stdout) counts every check; any failure makes the exit status
//! non-zero.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::client::{content_type, photo_archive, Conn, Target};
use super::server::OwnServer;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::service::configured_embedder;
use crate::service::maintenance::{self, CheckOptions};
use crate::synth::Rng;

/// What `visage bench crash` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct CrashOptions {
    /// Folders of photos to enrol, searched recursively (one face each is the useful case:
    /// photos without exactly one face are refused by the server and never acknowledged).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Kill -9 trials (the torn-index and full-disk trials come on top).
    #[arg(long, default_value_t = 10)]
    pub trials: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent enrolment clients per trial.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Longest time under load before the kill, ms (the moment is uniform in [0.2 s, this]).
    #[arg(long, default_value_t = 3000)]
    pub max_kill_ms: u64,
    /// Embedding rows imported per trial.
    #[arg(long, default_value_t = 200)]
    pub import_rows: usize,
    /// Run the two torn-index trials.
    #[arg(long = "no-torn", action = clap::ArgAction::SetFalse, help = "Skip the two torn-index trials")]
    pub torn: bool,
    /// Run the full-disk trial (it mounts a small tmpfs or loop ext4: needs root).
    #[arg(
        long = "no-full-disk",
        action = clap::ArgAction::SetFalse,
        help = "Skip the full-disk trial (it mounts a small tmpfs or loop ext4: needs root)"
    )]
    pub full_disk: bool,
    /// Keep the data directories and the servers' log here (default: a new folder under the
    /// temp dir, removed at the end when every check passed).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Global flags passed on to the servers and imports started (`--config`, `--threads`).
    #[arg(skip)]
    pub server_args: Vec<OsString>,
    /// The key the servers started accept (the first admin key given in clear).
    #[arg(skip)]
    pub api_key: Option<String>,
}

/// Gives up waiting for a resumed job after this long.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);
/// A graceful stop (SIGTERM) may take this long (it saves the index).
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Tallies of checks passed and failed, by name.
#[derive(Default)]
struct Tally {
    passed: BTreeMap<&'static str, u64>,
    failed: BTreeMap<&'static str, u64>,
    failures: Vec<String>,
    trial: String,
}

impl Tally {
    /// Records one check; `detail` says what went wrong when `ok` is false.
    fn check(&mut self, name: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            *self.passed.entry(name).or_default() += 1;
        } else {
            *self.failed.entry(name).or_default() += 1;
            let line = format!("{}: {name}: {}", self.trial, detail());
            eprintln!("visage bench crash: FAILED {line}");
            self.failures.push(line);
        }
    }
}

/// What the clients were told, kept across trials: the truth the gallery must match.
#[derive(Default)]
struct Ledger {
    /// Acknowledged faces still expected: face id -> subject.
    live: BTreeMap<u64, String>,
    /// Faces whose delete was acknowledged.
    deleted: BTreeSet<u64>,
    /// Faces whose delete was sent but not answered (either outcome is right).
    doubtful: BTreeSet<u64>,
    /// Subjects enrolment clients created (one photo each: never more than one face).
    enrol_subjects: BTreeSet<String>,
    /// Imported subjects (one row each: exactly one face).
    import_subjects: BTreeSet<String>,
    /// Job id -> whether its creation was acknowledged, and its subjects' prefix.
    jobs: BTreeMap<String, (bool, String)>,
}

/// Runs the trials and prints the summary; an error when any check failed.
pub fn crash(settings: &Settings, opts: &CrashOptions) -> Result<()> {
    let bad = |m: &str| Err(VisageError::unprocessable(Code::InvalidParameter, m.to_string()));
    if opts.clients == 0 || opts.clients > 64 {
        return bad("--clients takes 1..=64");
    }
    if opts.max_kill_ms < 200 {
        return bad("--max-kill-ms must be at least 200");
    }
    let photos = photos(&opts.images)?;
    let (model, dim) = configured_embedder(settings)?;
    let dim = dim.ok_or_else(|| VisageError::Config("the embedder's output length is unknown".into()))?;
    let work = match &opts.work_dir {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("visage-crash-{}", std::process::id())),
    };
    let data_dir = work.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| VisageError::Store(format!("{}: {e}", work.display())))?;
    let started = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let mut tally = Tally::default();
    let mut ledger = Ledger::default();
    let ctx = Ctx { settings, opts, photos: &photos, model: &model, dim, work: &work };
    let mut kinds: Vec<Trial> = (0..opts.trials).map(|_| Trial::Kill).collect();
    if opts.torn {
        kinds.push(Trial::Torn(Tear::Truncate));
        kinds.push(Trial::Torn(Tear::Garbage));
    }
    for (n, kind) in kinds.iter().enumerate() {
        tally.trial = format!("trial {} ({})", n + 1, kind.name());
        let t0 = Instant::now();
        if let Err(e) = ctx.trial(n, *kind, &data_dir, &mut rng, &mut ledger, &mut tally) {
            tally.check("trial_ran", false, || e.to_string());
        }
        eprintln!(
            "visage bench crash: {} done in {:.1}s ({} faces expected, {} failures so far)",
            tally.trial,
            t0.elapsed().as_secs_f64(),
            ledger.live.len(),
            tally.failures.len()
        );
    }
    let full_disk = if opts.full_disk {
        tally.trial = "full disk".into();
        match ctx.full_disk(&mut rng, &mut tally) {
            Ok(outcome) => outcome,
            Err(e) => {
                tally.check("trial_ran", false, || e.to_string());
                "failed".into()
            }
        }
    } else {
        "not run".into()
    };
    let failures: u64 = tally.failed.values().sum();
    let summary = json!({
        "trials": kinds.len(), "kill_trials": opts.trials, "torn_trials": kinds.len() - opts.trials,
        "full_disk": full_disk, "seed": opts.seed, "seconds": started.elapsed().as_secs_f64(),
        "failures": failures, "checks_passed": tally.passed, "checks_failed": tally.failed,
        "failure_details": tally.failures, "faces_expected_at_end": ledger.live.len(),
        "deletes_acknowledged": ledger.deleted.len(), "work_dir": work,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    if failures > 0 {
        return Err(VisageError::Internal(format!(
            "{failures} crash-trial check(s) failed; the data is kept in {}",
            work.display()
        )));
    }
    if opts.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Trial {
    /// Load, SIGKILL at a random moment, restart.
    Kill,
    /// A kill trial that starts from a torn saved index.
    Torn(Tear),
}

#[derive(Debug, Clone, Copy)]
enum Tear {
    Truncate,
    Garbage,
}

impl Trial {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill -9",
            Self::Torn(Tear::Truncate) => "truncated index file, then kill -9",
            Self::Torn(Tear::Garbage) => "garbage index file, then kill -9",
        }
    }
}

/// What every trial shares.
struct Ctx<'a> {
    settings: &'a Settings,
    opts: &'a CrashOptions,
    photos: &'a [(PathBuf, Vec<u8>)],
    model: &'a str,
    dim: usize,
    work: &'a Path,
}

impl Ctx<'_> {
    fn start(&self, data_dir: &Path) -> Result<(OwnServer, Target)> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("server.log"))
            .map_err(|e| VisageError::Store(format!("server.log: {e}")))?;
        let mut server = OwnServer::start_in(&self.opts.server_args, data_dir, Stdio::from(log))?;
        let target = Target::loopback(server.port, self.opts.api_key.clone());
        server
            .wait_ready(&target)
            .map_err(|e| VisageError::Internal(format!("{e} (log: {})", self.work.join("server.log").display())))?;
        Ok((server, target))
    }

    fn trial(
        &self,
        n: usize,
        kind: Trial,
        data_dir: &Path,
        rng: &mut Rng,
        ledger: &mut Ledger,
        tally: &mut Tally,
    ) -> Result<()> {
        self.import(n, data_dir, rng, ledger, tally)?;
        if let Trial::Torn(tear) = kind {
            let torn = tear_index(data_dir, tear, rng)?;
            tally.check("index_file_torn", torn.is_some(), || "no saved index file to tear".into());
        }
        let (mut server, target) = self.start(data_dir)?;
        tally.check("restart_ready", true, String::new);
        self.load_and_kill(n, &target, &mut server, rng, ledger)?;
        let (mut server, target) = self.start(data_dir)?;
        tally.check("restart_ready", true, String::new);
        self.wait_jobs(&target, ledger, tally)?;
        let clean = server.terminate(STOP_GRACE);
        tally.check("graceful_stop", clean, || "visage serve did not exit cleanly on SIGTERM".into());
        self.verify(data_dir, ledger, tally, true)
    }

    /// Imports `import_rows` random unit vectors as new subjects with `visage import`, killed
    /// at a random moment in half the trials and then run again to completion.
    fn import(&self, n: usize, data_dir: &Path, rng: &mut Rng, ledger: &mut Ledger, tally: &mut Tally) -> Result<()> {
        let file = self.work.join(format!("import-{n}.jsonl"));
        let mut text = String::new();
        let mut subjects = Vec::new();
        for row in 0..self.opts.import_rows {
            let subject = format!("i{n}-{row}");
            let embedding = rng.unit_vector(self.dim);
            text.push_str(&json!({ "subject": subject, "embedding": embedding, "model": self.model }).to_string());
            text.push('\n');
            subjects.push(subject);
        }
        std::fs::write(&file, text).map_err(|e| VisageError::Store(format!("{}: {e}", file.display())))?;
        let job = format!("import-{n}");
        let run = |kill_after: Option<Duration>| -> Result<bool> {
            let exe = std::env::current_exe().map_err(|e| VisageError::io("the visage executable", e))?;
            let mut child = Command::new(exe)
                .args(&self.opts.server_args)
                .arg("import")
                .arg(&file)
                .arg("--data-dir")
                .arg(data_dir)
                .args(["--job", &job, "--quiet"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| VisageError::io("visage import", e))?;
            if let Some(after) = kill_after {
                std::thread::sleep(after);
                let _ = child.kill();
            }
            let status = child.wait().map_err(|e| VisageError::io("visage import", e))?;
            Ok(status.success())
        };
        if rng.uniform() < 0.5 {
            run(Some(Duration::from_millis(rng.below(600) as u64)))?;
        }
        let done = run(None)?;
        tally.check("import_completed", done, || format!("visage import of {} failed", file.display()));
        ledger.import_subjects.extend(subjects);
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    /// Concurrent enrolments, deletes and a job upload, then SIGKILL at a random moment.
    fn load_and_kill(
        &self,
        n: usize,
        target: &Target,
        server: &mut OwnServer,
        rng: &mut Rng,
        ledger: &mut Ledger,
    ) -> Result<()> {
        let stop = AtomicBool::new(false);
        let shared = Mutex::new(std::mem::take(ledger));
        let job_id = format!("job-{n}");
        let prefix = format!("j{n}-");
        let archive = self.archive(&prefix, rng)?;
        let kill_after = Duration::from_millis(200 + rng.below((self.opts.max_kill_ms - 200) as usize + 1) as u64);
        let seeds: Vec<u64> = (0..=self.opts.clients).map(|_| rng.next_u64()).collect();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                shared.lock().jobs.insert(job_id.clone(), (false, prefix.clone()));
                let path = format!("/v1/jobs/enroll?id={job_id}");
                let request = target.request("POST", &path, Some("application/x-tar"), &archive);
                if let Ok(202 | 200) = Conn::new(target).call(&request).map(|r| r.0) {
                    shared.lock().jobs.insert(job_id.clone(), (true, prefix.clone()));
                }
            });
            for (c, seed) in seeds.iter().enumerate().take(self.opts.clients) {
                let (stop, shared) = (&stop, &shared);
                scope.spawn(move || self.enrol_client(n, c, *seed, target, stop, shared));
            }
            let (stop, shared, seed) = (&stop, &shared, seeds[self.opts.clients]);
            scope.spawn(move || delete_client(seed, target, stop, shared));
            std::thread::sleep(kill_after);
            server.kill();
            stop.store(true, Ordering::Release);
        });
        *ledger = shared.into_inner();
        Ok(())
    }

    /// One enrolment client: a new subject and one photo, again and again.
    fn enrol_client(&self, n: usize, c: usize, seed: u64, target: &Target, stop: &AtomicBool, shared: &Mutex<Ledger>) {
        let mut rng = Rng::new(seed);
        let mut conn = Conn::new(target);
        for i in 0.. {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let subject = format!("e{n}-{c}-{i}");
            shared.lock().enrol_subjects.insert(subject.clone());
            let body = json!({ "id": subject, "name": subject });
            let create = target.request("POST", "/v1/subjects", Some("application/json"), body.to_string().as_bytes());
            match conn.call(&create) {
                Ok((201, _)) => {}
                Ok(_) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
            let (path, bytes) = &self.photos[rng.below(self.photos.len())];
            let add = target.request("POST", &format!("/v1/subjects/{subject}/faces"), Some(content_type(path)), bytes);
            if let Ok((201, body)) = conn.call(&add) {
                let face = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["id"].as_u64());
                if let Some(face) = face {
                    shared.lock().live.insert(face, subject);
                }
            }
        }
    }

    /// A small archive for the trial's job: each photo in its own subject folder.
    fn archive(&self, prefix: &str, rng: &mut Rng) -> Result<Vec<u8>> {
        photo_archive(self.photos, 6, |k| format!("{prefix}{k}"), rng)
    }

    /// Waits until every job that exists has finished, and checks that acknowledged ones did.
    fn wait_jobs(&self, target: &Target, ledger: &Ledger, tally: &mut Tally) -> Result<()> {
        let mut conn = Conn::new(target);
        for (id, (acked, _)) in &ledger.jobs {
            let deadline = Instant::now() + JOB_TIMEOUT;
            let request = target.request("GET", &format!("/v1/jobs/{id}"), None, &[]);
            let job = loop {
                match conn.call(&request) {
                    Ok((404, _)) => break None,
                    Ok((200, body)) => {
                        let job: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let state = job["state"].as_str().unwrap_or("");
                        if !matches!(state, "queued" | "running") || Instant::now() > deadline {
                            break Some(job);
                        }
                    }
                    Ok((status, _)) => {
                        return Err(VisageError::Internal(format!("GET /v1/jobs/{id} answered {status}")))
                    }
                    Err(e) => return Err(VisageError::Internal(format!("GET /v1/jobs/{id}: {e}"))),
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            match job {
                None => {
                    tally.check("acknowledged_job_exists", !acked, || format!("job {id} was acknowledged but is gone"))
                }
                Some(job) => {
                    let (total, processed) = (job["total"].as_u64(), job["counts"]["processed"].as_u64());
                    let ok = job["state"] == "completed" && total.is_some() && total == processed;
                    tally.check("job_completed_once", ok, || format!("job {id} ended as {job}"));
                }
            }
        }
        Ok(())
    }

    /// The checks on a stopped gallery; `settle` folds in the outcome of doubtful deletes.
    fn verify(&self, data_dir: &Path, ledger: &mut Ledger, tally: &mut Tally, settle: bool) -> Result<()> {
        let mut faces: HashMap<u64, String> = HashMap::new();
        let mut per_subject: HashMap<String, u64> = HashMap::new();
        maintenance::read_faces(data_dir, |rows| {
            for f in rows {
                *per_subject.entry(f.subject.clone()).or_default() += 1;
                faces.insert(f.id, f.subject);
            }
            Ok(())
        })?;
        if settle {
            for face in std::mem::take(&mut ledger.doubtful) {
                if !faces.contains_key(&face) {
                    ledger.live.remove(&face);
                    ledger.deleted.insert(face);
                }
            }
        }
        let mut lost = Vec::new();
        for (face, subject) in &ledger.live {
            if ledger.doubtful.contains(face) {
                continue;
            }
            if faces.get(face) != Some(subject) {
                lost.push(*face);
            }
        }
        tally.check("acknowledged_faces_present", lost.is_empty(), || {
            format!("{} acknowledged face(s) missing, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)])
        });
        let back: Vec<u64> = ledger.deleted.iter().copied().filter(|f| faces.contains_key(f)).collect();
        tally.check("acknowledged_deletes_stay_deleted", back.is_empty(), || {
            format!("{} deleted face(s) back, e.g. {:?}", back.len(), &back[..back.len().min(5)])
        });
        let doubled: Vec<&String> =
            ledger.enrol_subjects.iter().filter(|s| per_subject.get(*s).copied().unwrap_or(0) > 1).collect();
        tally.check("faces_enrolled_once", doubled.is_empty(), || {
            format!("{} one-photo subject(s) hold several faces, e.g. {:?}", doubled.len(), doubled.first())
        });
        let imported: Vec<&String> =
            ledger.import_subjects.iter().filter(|s| per_subject.get(*s).copied() != Some(1)).collect();
        tally.check("imported_rows_present_once", imported.is_empty(), || {
            format!("{} imported subject(s) without exactly one face, e.g. {:?}", imported.len(), imported.first())
        });
        let job_faces: Vec<(&String, u64)> = per_subject
            .iter()
            .filter(|(s, _)| ledger.jobs.values().any(|(_, p)| s.starts_with(p.as_str())))
            .map(|(s, n)| (s, *n))
            .collect();
        let doubled = job_faces.iter().filter(|(_, n)| *n > 1).count();
        tally
            .check("job_photos_enrolled_once", doubled == 0, || format!("{doubled} job subject(s) hold several faces"));
        let mut at = self.settings.clone();
        at.server.data_dir = data_dir.to_path_buf();
        let report = maintenance::check(&at, &CheckOptions::default())?;
        tally.check("index_agrees_with_store", !report.drift && report.behind_by == 0, || {
            format!("visage check: {}", serde_json::to_string(&report).unwrap_or_default())
        });
        let integrity = maintenance::integrity(data_dir)?;
        tally.check("sqlite_integrity_ok", integrity == "ok", || format!("PRAGMA integrity_check: {integrity}"));
        Ok(())
    }

    /// The service on a small full file system: clear refusals, no corruption, recovery.
    fn full_disk(&self, rng: &mut Rng, tally: &mut Tally) -> Result<String> {
        let mount = match SmallDisk::mount(&self.work.join("small"), 48) {
            Ok(m) => m,
            Err(why) => {
                eprintln!("visage bench crash: full-disk trial SKIPPED: {why}");
                return Ok(format!("skipped: {why}"));
            }
        };
        let data_dir = mount.path.join("data");
        let mut ledger = Ledger::default();
        let (mut server, target) = self.start(&data_dir)?;
        let mut conn = Conn::new(&target);
        let enrol = |conn: &mut Conn, subject: &str, rng: &mut Rng| -> std::io::Result<(u16, Value)> {
            let body = json!({ "id": subject, "name": subject }).to_string();
            let create = target.request("POST", "/v1/subjects", Some("application/json"), body.as_bytes());
            let r = conn.call_full(&create)?;
            if r.status != 201 {
                return Ok((r.status, r.json()));
            }
            let (path, bytes) = &self.photos[rng.below(self.photos.len())];
            let add = target.request("POST", &format!("/v1/subjects/{subject}/faces"), Some(content_type(path)), bytes);
            let r = conn.call_full(&add)?;
            Ok((r.status, r.json()))
        };
        let io = |e: std::io::Error| VisageError::Internal(format!("full-disk trial: {e}"));
        for i in 0..3 {
            let subject = format!("before-{i}");
            if let (201, face) = enrol(&mut conn, &subject, rng).map_err(io)? {
                ledger.live.insert(face["id"].as_u64().unwrap_or(0), subject.clone());
            }
            ledger.enrol_subjects.insert(subject);
        }
        let filler = mount.fill().map_err(io)?;
        let mut refused = BTreeMap::<String, u64>::new();
        let mut clear = true;
        let mut note = |status: u16, body: &Value, retry_after: bool, clear: &mut bool| {
            let code = body["error"]["code"].as_str().or(body["code"].as_str()).unwrap_or("?").to_string();
            let ok = (200..300).contains(&status) || status == 507 || (status == 503 && retry_after);
            if !ok {
                *clear = false;
            }
            if status >= 300 {
                *refused.entry(format!("{status} {code}")).or_default() += 1;
            }
        };
        for i in 0..6 {
            let subject = format!("full-{i}");
            ledger.enrol_subjects.insert(subject.clone());
            let body = json!({ "id": subject, "name": subject }).to_string();
            let r = conn
                .call_full(&target.request("POST", "/v1/subjects", Some("application/json"), body.as_bytes()))
                .map_err(io)?;
            note(r.status, &r.json(), r.retry_after.is_some(), &mut clear);
            if r.status != 201 {
                continue;
            }
            let (path, bytes) = &self.photos[rng.below(self.photos.len())];
            let r = conn
                .call_full(&target.request(
                    "POST",
                    &format!("/v1/subjects/{subject}/faces"),
                    Some(content_type(path)),
                    bytes,
                ))
                .map_err(io)?;
            note(r.status, &r.json(), r.retry_after.is_some(), &mut clear);
            if r.status == 201 {
                ledger.live.insert(r.json()["id"].as_u64().unwrap_or(0), subject);
            }
        }
        if let Some((&face, _)) = ledger.live.iter().next() {
            let r = conn.call_full(&target.request("DELETE", &format!("/v1/faces/{face}"), None, &[])).map_err(io)?;
            note(r.status, &r.json(), r.retry_after.is_some(), &mut clear);
            if r.status == 200 {
                ledger.live.remove(&face);
                ledger.deleted.insert(face);
            }
        }
        let archive = self.archive("fulljob-", rng)?;
        let r = conn
            .call_full(&target.request("POST", "/v1/jobs/enroll?id=full-job", Some("application/x-tar"), &archive))
            .map_err(io)?;
        note(r.status, &r.json(), r.retry_after.is_some(), &mut clear);
        if r.status == 202 {
            ledger.jobs.insert("full-job".into(), (true, "fulljob-".into()));
        }
        let (path, bytes) = &self.photos[0];
        let r = conn.call_full(&target.request("POST", "/v1/identify", Some(content_type(path)), bytes)).map_err(io)?;
        note(r.status, &r.json(), r.retry_after.is_some(), &mut clear);
        let refusals: Vec<String> = refused.iter().map(|(k, n)| format!("{n} x {k}")).collect();
        tally.check("full_disk_clear_errors", clear, || format!("answers on a full disk: {}", refusals.join(", ")));
        tally.check("full_disk_refused_writes", !refused.is_empty(), || {
            "every write succeeded on a full disk: the disk was not full".into()
        });
        let alive = matches!(conn.call(&target.request("GET", "/healthz", None, &[])), Ok((200, _)));
        tally.check("full_disk_service_alive", alive, || "GET /healthz failed on a full disk".into());
        drop(filler);
        let mut recovered = true;
        for i in 0..2 {
            // A photo refused for its faces (422: none, or several) says nothing of the disk:
            // another is tried, for a new subject.
            for attempt in 0.. {
                let subject = format!("after-{i}-{attempt}");
                ledger.enrol_subjects.insert(subject.clone());
                match enrol(&mut conn, &subject, rng).map_err(io)? {
                    (201, face) => {
                        ledger.live.insert(face["id"].as_u64().unwrap_or(0), subject);
                        break;
                    }
                    (422, _) if attempt < 8 => continue,
                    (status, body) => {
                        recovered = false;
                        eprintln!("visage bench crash: after the disk emptied, enrolling answered {status} {body}");
                        break;
                    }
                }
            }
        }
        tally.check("full_disk_recovers", recovered, || "enrolments still fail once space is back".into());
        server.kill();
        let (mut server, target) = self.start(&data_dir)?;
        self.wait_jobs(&target, &ledger, tally)?;
        tally.check("graceful_stop", server.terminate(STOP_GRACE), || "visage serve did not exit cleanly".into());
        self.verify(&data_dir, &mut ledger, tally, false)?;
        Ok(format!("{} ({}); refused: {}", mount.kind, mount.size_mb_text(), refusals.join(", ")))
    }
}

/// One deleting client: deletes acknowledged faces (earlier trials' or this one's).
fn delete_client(seed: u64, target: &Target, stop: &AtomicBool, shared: &Mutex<Ledger>) {
    let mut rng = Rng::new(seed);
    let mut conn = Conn::new(target);
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(150 + rng.below(300) as u64));
        let face = {
            let mut l = shared.lock();
            // Keep most faces: delete now and then, never the last few.
            if l.live.len() < 5 {
                continue;
            }
            let Some((&face, _)) = l.live.iter().nth(rng.below(l.live.len())) else { continue };
            l.doubtful.insert(face);
            face
        };
        match conn.call(&target.request("DELETE", &format!("/v1/faces/{face}"), None, &[])) {
            Ok((200, _)) => {
                let mut l = shared.lock();
                l.doubtful.remove(&face);
                l.live.remove(&face);
                l.deleted.insert(face);
            }
            // An answer that is not a success: the face stays (a refusal changes nothing).
            Ok(_) => {
                shared.lock().doubtful.remove(&face);
            }
            // No answer: either outcome is right; settled after the restart.
            Err(_) => {}
        }
    }
}

/// Tears the largest file of the saved index: cut to half its length, or overwritten with
/// random bytes of the same length. Returns the file.
fn tear_index(data_dir: &Path, tear: Tear, rng: &mut Rng) -> Result<Option<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![data_dir.join("index")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() && m.len() > 0 => files.push((m.len(), path)),
                _ => {}
            }
        }
    }
    let Some((len, path)) = files.into_iter().max() else { return Ok(None) };
    let io = |e: std::io::Error| VisageError::Store(format!("tearing {}: {e}", path.display()));
    match tear {
        Tear::Truncate => {
            std::fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(len / 2)).map_err(io)?
        }
        Tear::Garbage => {
            let garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            std::fs::write(&path, garbage).map_err(io)?
        }
    }
    Ok(Some(path))
}

/// Photo files under `dirs` (recursively), read once.
pub(super) fn photos(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if content_type(&path) != "application/octet-stream" {
                found.push(path);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(VisageError::unprocessable(
            Code::InvalidSource,
            "no photos (.jpg, .png, ...) in the folders given",
        ));
    }
    found
        .into_iter()
        .map(|p| {
            std::fs::read(&p).map(|b| (p.clone(), b)).map_err(|e| VisageError::Store(format!("{}: {e}", p.display())))
        })
        .collect()
}

/// A small file system mounted for the full-disk trial: a tmpfs, or else a loop-mounted ext4
/// image; unmounted on drop.
struct SmallDisk {
    path: PathBuf,
    kind: &'static str,
    size_mb: u64,
    image: Option<PathBuf>,
}

/// A file filling a [`SmallDisk`]; removed on drop (space is back).
struct Filler(PathBuf);

impl Drop for Filler {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl SmallDisk {
    /// Mounts `size_mb` MiB at `path`, or says why neither way works here.
    fn mount(path: &Path, size_mb: u64) -> std::result::Result<Self, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let run = |cmd: &mut Command| -> std::result::Result<(), String> {
            let out = cmd.stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
            }
        };
        let size = format!("size={size_mb}m");
        let tmpfs = run(Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(path));
        if tmpfs.is_ok() {
            return Ok(Self { path: path.to_path_buf(), kind: "tmpfs", size_mb, image: None });
        }
        let image = path.with_extension("img");
        let loop_mount = std::fs::File::create(&image)
            .and_then(|f| f.set_len(size_mb << 20))
            .map_err(|e| e.to_string())
            .and_then(|_| run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image)))
            .and_then(|_| run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(path)));
        match loop_mount {
            Ok(()) => Ok(Self { path: path.to_path_buf(), kind: "loop-mounted ext4", size_mb, image: Some(image) }),
            Err(e) => {
                let _ = std::fs::remove_file(&image);
                Err(format!(
                    "cannot mount a small file system here (tmpfs: {}; loop ext4: {e}); run as root",
                    tmpfs.err().unwrap_or_default()
                ))
            }
        }
    }

    fn size_mb_text(&self) -> String {
        format!("{} MiB", self.size_mb)
    }

    /// Fills the file system to the last byte.
    fn fill(&self) -> std::io::Result<Filler> {
        let filler = Filler(self.path.join("filler"));
        let mut file = std::fs::File::create(&filler.0)?;
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0xA5u8; chunk];
            loop {
                match file.write_all(&block).and_then(|_| file.sync_data()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(filler)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).stderr(Stdio::null()).status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

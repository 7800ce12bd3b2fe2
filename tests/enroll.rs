//! Bulk enrolment on real photos: `visage enroll` and `/v1/jobs`, each outcome with its reason,
//! idempotent re-runs, and jobs killed mid-way that resume and enrol every item exactly once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use visage::gallery::store::Store;

fn enroll(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_visage")).arg("enroll").args(args).output().expect("run visage");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "visage enroll {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A labelled folder holding one photo of each outcome the gate can give.
fn outcome_set(dir: &Path) -> HashMap<&'static str, &'static str> {
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        common::copy(name, dir, &format!("Barack Obama/{name}"));
    }
    common::copy("biden.jpg", dir, "biden/biden.jpg");
    common::copy("coffee.png", dir, "junk/coffee.png");
    common::copy("broken_truncated_jpeg.jpg", dir, "junk/broken_truncated_jpeg.jpg");
    common::copy("not_an_image.jpg", dir, "junk/not_an_image.jpg");
    common::copy("t1.jpg", dir, "junk/t1.jpg");
    common::copy("obama.jpg", dir, "loose.jpg");
    std::fs::write(dir.join("junk/notes.txt"), "not a photo, not an item").unwrap();
    let obama = common::rgb("obama.jpg");
    common::save(&image::imageops::blur(&obama, 12.0), dir, "junk/blurred.png");
    let (w, h) = (obama.width() / 10, obama.height() / 10);
    common::save(&image::imageops::resize(&obama, w, h, image::imageops::FilterType::Lanczos3), dir, "junk/tiny.png");
    HashMap::from([
        ("junk/coffee.png", "no_face"),
        ("junk/broken_truncated_jpeg.jpg", "unreadable"),
        ("junk/not_an_image.jpg", "unreadable"),
        ("junk/t1.jpg", "several_faces"),
        ("junk/blurred.png", "blurry"),
        ("junk/tiny.png", "face_too_small"),
        ("loose.jpg", "invalid"),
    ])
}

/// A labelled folder of symbolic links (photos linked one by one, and a subject folder that is
/// itself a link) enrols every photo, as its copy would.
#[cfg(unix)]
#[test]
fn cli_enroll_follows_a_labelled_folder_of_symbolic_links() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, linked, data) = (tmp.path().join("store"), tmp.path().join("linked"), tmp.path().join("data"));
    let n = common::repeated_set(&store, 3);
    common::link_set(&store, &linked, "s001");
    let out = enroll(&[s(&linked), "--data-dir", s(&data), "-q"]);
    assert_eq!(out["state"], "completed");
    let c = &out["counts"];
    assert_eq!((c["processed"].as_u64(), c["enrolled"].as_u64()), (Some(n as u64), Some(n as u64)), "{out:#}");
}

#[test]
fn cli_enroll_reports_every_outcome_and_reruns_enrol_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, data) = (tmp.path().join("photos"), tmp.path().join("data"));
    let expected = outcome_set(&root);
    let report_file = tmp.path().join("report.jsonl");
    let out = enroll(&[s(&root), "--data-dir", s(&data), "--report", s(&report_file)]);
    assert_eq!(out["state"], "completed");
    let c = &out["counts"];
    assert_eq!((c["processed"].as_u64(), c["enrolled"].as_u64()), (Some(11), Some(4)), "{out:#}");
    assert_eq!((c["rejected"].as_u64(), c["failed"].as_u64(), c["skipped"].as_u64()), (Some(4), Some(3), Some(0)));
    let problems: HashMap<String, (String, String)> = out["not_enrolled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let field = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            (field("item"), (field("outcome"), field("reason")))
        })
        .collect();
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (item, outcome) in &expected {
        let (got, reason) = &problems[*item];
        assert_eq!(got, outcome, "{item}: {reason}");
        assert!(!reason.is_empty(), "{item} has no reason");
    }
    assert!(problems["junk/broken_truncated_jpeg.jpg"].1.contains("corrupt_image"));
    assert!(problems["junk/t1.jpg"].1.starts_with("6 faces"));
    // The full report: one line per item, enrolled ones with their face ids.
    let lines: Vec<Value> =
        std::fs::read_to_string(&report_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 11);
    let enrolled: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "enrolled").collect();
    assert_eq!(enrolled.len(), 4);
    assert!(enrolled.iter().all(|l| l["face_id"].as_u64().is_some()));
    let obama = visage::enroll::source::subject_id("Barack Obama");
    assert!(obama.starts_with("Barack_Obama-"));
    assert!(enrolled.iter().any(|l| l["subject"] == obama.as_str()));

    // The same job again: nothing left to do. Another job over the same folder: all duplicates.
    let again = enroll(&[s(&root), "--data-dir", s(&data), "-q"]);
    assert_eq!(again["items_this_run"], 0);
    assert_eq!(again["counts"]["enrolled"], 4);
    let other = enroll(&[s(&root), "--data-dir", s(&data), "--job", "second", "-q"]);
    assert_eq!((other["counts"]["enrolled"].as_u64(), other["counts"]["skipped"].as_u64()), (Some(0), Some(4)));
    let store = Store::open(&data.join("gallery.sqlite3")).unwrap();
    assert_eq!(store.face_count().unwrap(), 4);
    assert_eq!(store.subject(&obama).unwrap().name, "Barack Obama");
}

/// Waits until the job has recorded at least `n` items; returns how many it had.
fn wait_for_items(db: &Path, job: &str, n: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let done = Store::open(db).ok().and_then(|s| s.job_counts(job).ok()).map_or(0, |c| c.values().sum());
        if done >= n || Instant::now() > deadline {
            return done;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cli_job_killed_mid_way_resumes_and_enrols_each_item_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, data) = (tmp.path().join("photos"), tmp.path().join("data"));
    let total = common::repeated_set(&root, 30);
    let args = [s(&root), "--data-dir", s(&data), "--job", "big", "--workers", "1", "-q"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_visage"))
        .arg("enroll")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = data.join("gallery.sqlite3");
    let at_kill = wait_for_items(&db, "big", 10, Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();
    let after_kill: u64 = Store::open(&db).unwrap().job_counts("big").unwrap().values().sum();
    assert!(at_kill >= 10 && (after_kill as usize) < total, "killed after {after_kill} of {total} items");

    let out = enroll(&args);
    assert_eq!(out["state"], "completed");
    assert_eq!(out["items_this_run"].as_u64().unwrap() + after_kill, total as u64, "{out:#}");
    // Exactly once: every item recorded once, each as `enrolled` (a face stored without its
    // record would come back as a duplicate), and one face per item.
    assert_eq!(out["counts"]["by_outcome"], json!({ "enrolled": total }));
    let store = Store::open(&db).unwrap();
    assert_eq!(store.face_count().unwrap(), total as u64);
    assert_eq!(store.subjects(0, 100).unwrap().1, 30);
}

#[test]
fn server_jobs_resume_after_a_crash_cancel_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, data) = (tmp.path().join("photos"), tmp.path().join("data"));
    let total = common::repeated_set(&photos.join("many"), 30);
    let roots = s(&photos).to_string();
    let mut server = common::server::Server::start(&data, &[("VISAGE_ENROLL__ALLOWED_ROOTS", &roots)]);

    // Refusals first: nothing is created by them.
    let r = server.json("POST", "/v1/jobs/enroll", &json!({ "source": { "folder": "/etc" } }));
    assert_eq!((r.status, r.json["code"].as_str()), (403, Some("path_not_allowed")));
    let r = server.raw("POST", "/v1/jobs/enroll", "text/plain", b"hello", &[]);
    assert_eq!((r.status, r.json["code"].as_str()), (415, Some("unsupported_media_type")));
    let many = s(&photos.join("many")).to_string();
    let r = server.json("POST", "/v1/jobs/enroll", &json!({ "source": { "folder": many }, "gate": { "bogus": 1 } }));
    assert_eq!((r.status, r.json["code"].as_str()), (400, Some("invalid_parameter")));
    let r =
        server.json("POST", "/v1/jobs/enroll", &json!({ "source": { "folder": many }, "gate": { "min_score": 1e39 } }));
    assert_eq!((r.status, r.json["code"].as_str()), (400, Some("invalid_parameter")), "a non-finite gate is refused");
    let r = server.raw("POST", "/v1/jobs/enroll?id=empty", "application/zip", b"", &[]);
    assert_eq!((r.status, r.json["code"].as_str()), (400, Some("empty_body")));
    assert_eq!(server.get("/v1/jobs/nope").status, 404);
    assert_eq!(server.get("/v1/jobs/nope/report").status, 404);

    // A job, crashed mid-way (SIGKILL), resumes by itself at the next start.
    let job = json!({ "id": "many", "source": { "folder": many } });
    let r = server.json("POST", "/v1/jobs/enroll", &job);
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["state"], "queued");
    let again = server.json("POST", "/v1/jobs/enroll", &job);
    assert_eq!((again.status, again.json["id"].as_str()), (200, Some("many")), "same id, same job");
    let other = json!({ "id": "many", "source": { "folder": many }, "gate": { "multi_face": "largest" } });
    assert_eq!(server.json("POST", "/v1/jobs/enroll", &other).json["code"], "job_exists");
    let done = wait_for_items(&data.join("gallery.sqlite3"), "many", 10, Duration::from_secs(120));
    server.stop(false);
    assert!((done as usize) < total, "the job finished before the crash ({done} items)");
    server.restart(true);
    let status = server.wait_job("many", Duration::from_secs(180));
    assert_eq!(status["state"], "completed", "{status:#}");
    assert_eq!(status["total"].as_u64(), Some(total as u64));
    assert_eq!(status["counts"]["by_outcome"], json!({ "enrolled": total }), "each item exactly once");
    let subjects = server.get("/v1/subjects?limit=1000");
    assert_eq!(subjects.json["total"], 30);
    let report = server.get("/v1/jobs/many/report?limit=10&offset=5");
    assert_eq!(report.json["items"].as_array().unwrap().len(), 10);
    assert_eq!(server.get("/v1/jobs/many/report?problems=true").json["items"], json!([]));

    // An uploaded archive of problem photos: its report names each with its reason.
    let zip = {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut out);
        for (rel, name) in
            [("p/coffee.png", "coffee.png"), ("p/trunc.jpg", "broken_truncated_jpeg.jpg"), ("p/o.jpg", "obama2.jpg")]
        {
            z.start_file(rel, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut z, &common::bytes(name)).unwrap();
        }
        z.finish().unwrap();
        out.into_inner()
    };
    let r = server.raw("POST", "/v1/jobs/enroll?id=upload&multi_face=largest", "application/zip", &zip, &[]);
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["gate"]["multi_face"], "largest");
    let status = server.wait_job("upload", Duration::from_secs(60));
    assert_eq!(status["counts"]["processed"], 3, "{status:#}");
    let items = server.get("/v1/jobs/upload/report?problems=true").json["items"].clone();
    let outcomes: HashMap<&str, &str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["item"].as_str().unwrap(), i["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, HashMap::from([("p/coffee.png", "no_face"), ("p/trunc.jpg", "unreadable")]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while data.join("uploads/upload.zip").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!data.join("uploads/upload.zip").exists(), "a finished job's upload is deleted");

    // Cancelling a running job: it stops early and says so; its photos so far stay enrolled.
    let more = tmp.path().join("photos/more");
    let n = common::repeated_set(&more, 40);
    let r = server.json("POST", "/v1/jobs/enroll", &json!({ "id": "more", "source": { "folder": s(&more) } }));
    assert_eq!(r.status, 202);
    wait_for_items(&data.join("gallery.sqlite3"), "more", 1, Duration::from_secs(60));
    let r = server.delete("/v1/jobs/more");
    assert_eq!(r.status, 200);
    let status = server.wait_job("more", Duration::from_secs(60));
    assert_eq!(status["state"], "cancelled", "{status:#}");
    assert!(status["counts"]["processed"].as_u64().unwrap() < n as u64);

    // One process per gallery: the CLI refuses a directory the server holds.
    let out =
        Command::new(env!("CARGO_BIN_EXE_visage")).args(["enroll", s(&more), "--data-dir", s(&data)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gallery_locked"));
}

//! `visage import` / `visage export` on generated embeddings, run as a user runs them: counts,
//! idempotent re-runs, bad rows with their numbers, another model refused, an import killed
//! mid-way that resumes and enrols each row exactly once, export → import round trips, an
//! embeddings file as a server job, and `visage eval --distractors-file` in the same formats.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use visage::gallery::store::Store;
use visage::gallery::Gallery;
use visage::index::{Backend, IndexParams};

fn visage(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_visage")).args(args).output().expect("run visage");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `visage import` (quiet), expecting success.
fn import(args: &[&str]) -> Value {
    let mut all = vec!["import", "-q"];
    all.extend(args);
    let (code, json, err) = visage(&all);
    assert_eq!(code, 0, "visage {all:?} failed: {err}");
    json
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// splitmix64: deterministic numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `subjects` × `per_subject` vectors of `dim` values, each a subject's centre plus noise.
fn clustered(subjects: usize, per_subject: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(subjects * per_subject);
    for _ in 0..subjects {
        let centre: Vec<f32> = (0..dim).map(|_| rng.next()).collect();
        for _ in 0..per_subject {
            out.push(centre.iter().map(|c| c + 0.3 * rng.next()).collect());
        }
    }
    out
}

/// A subjects CSV with `per_subject` rows per subject; even rows get an external id.
fn write_subjects(path: &Path, rows: usize, per_subject: usize) {
    let mut f = BufWriter::new(File::create(path).unwrap());
    writeln!(f, "subject,external_id,name").unwrap();
    for i in 0..rows {
        let k = i / per_subject;
        let ext = if i % 2 == 0 { format!("e{i}") } else { String::new() };
        let subject = if k == 0 { "José Díaz".to_string() } else { format!("s{k:05}") };
        writeln!(f, "{subject},{ext},Person {k}").unwrap();
    }
}

fn face_count(data: &Path) -> u64 {
    Store::open(&data.join("gallery.sqlite3")).unwrap().face_count().unwrap()
}

#[test]
fn npy_import_counts_and_re_imports_add_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (npy, csv, data) = (tmp.path().join("e.npy"), tmp.path().join("labels.csv"), tmp.path().join("data"));
    let n = 20_000u64;
    common::write_npy(&npy, &clustered(2000, 10, 128, 1));
    write_subjects(&csv, n as usize, 10);
    let args = [s(&npy), "--subjects", s(&csv), "--data-dir", s(&data), "--model", "test-model@1"];
    let out = import(&args);
    eprintln!("20k rows: {} faces/s ({} s)", out["rate"], out["seconds"]);
    assert_eq!(out["state"], "completed", "{out:#}");
    assert_eq!(
        (out["imported"].as_u64(), out["duplicate"].as_u64(), out["invalid"].as_u64()),
        (Some(n), Some(0), Some(0))
    );
    assert_eq!((out["model"].as_str(), out["dim"].as_u64()), (Some("test-model@1"), Some(128)));
    assert_eq!((out["faces_in_gallery"].as_u64(), out["bad_rows"].as_array().map(Vec::len)), (Some(n), Some(0)));
    assert_eq!(face_count(&data), n);

    // Subjects created on first use, their ids cleaned like folder names; faces listed as any.
    let store = Store::open(&data.join("gallery.sqlite3")).unwrap();
    let (subjects, total) = store.subjects(0, 1).unwrap();
    assert_eq!(total, 2000);
    assert!(subjects[0].id.starts_with("Jos__D_az-"), "{:?}", subjects[0]);
    assert_eq!((subjects[0].name.as_str(), subjects[0].faces), ("Person 0", 10));
    let faces = store.faces_of(&subjects[0].id).unwrap();
    assert_eq!(faces.len(), 10);
    assert_eq!((faces[0].external_id.as_deref(), faces[1].external_id.as_deref()), (Some("e0"), None));
    assert_eq!((faces[0].score, faces[0].quality, faces[0].image_sha256.len()), (0.0, None, 64));
    let norm: f32 = store.embeddings(&[faces[0].id]).unwrap()[0].2.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-5, "stored L2-normalised ({norm})");
    drop(store);

    // The same file again: the same job, nothing left to do.
    let again = import(&args);
    assert_eq!((again["imported"].as_u64(), again["rows_this_run"].as_u64()), (Some(0), Some(0)), "{again:#}");
    // As a new job: every row is found in the gallery (by external id, else by its vector).
    let mut other = args.to_vec();
    other.extend(["--job", "again"]);
    let again = import(&other);
    assert_eq!((again["imported"].as_u64(), again["duplicate"].as_u64()), (Some(0), Some(n)), "{again:#}");
    assert_eq!(face_count(&data), n);
}

#[test]
fn bad_rows_are_reported_with_their_numbers_and_do_not_stop_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let jsonl = tmp.path().join("e.jsonl");
    let good = |subject: &str, seed: u64| json!({ "subject": subject, "embedding": clustered(1, 1, 8, seed)[0] });
    let lines = [
        good("alice", 1).to_string(),                                   // 1
        String::new(),                                                  // 2: blank, no row
        r#"{"subject":"bob","embedding":[1e39,0,0,0,0,0,0,0]}"#.into(), // 3
        r#"{"subject":"bob","embedding":[1,2,3]}"#.into(),              // 4
        r#"{"subject":"bob","embedding":[0,0,0,0,0,0,0,0]}"#.into(),    // 5
        r#"{"subject":"bob","embedding":[1,2"#.into(),                  // 6
        json!({ "embedding": clustered(1, 1, 8, 2)[0] }).to_string(),   // 7
        json!({ "subject": "bob", "model": "other@2", "embedding": clustered(1, 1, 8, 3)[0] }).to_string(), // 8
        json!({ "subject": "bob", "external_id": "b1", "embedding": clustered(1, 1, 8, 4)[0] }).to_string(), // 9
        good("Zoë Ü", 5).to_string(),                                   // 10
    ];
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    let out = import(&[s(&jsonl), "--data-dir", s(&data), "--model", "test@1"]);
    assert_eq!((out["imported"].as_u64(), out["invalid"].as_u64(), out["total"].as_u64()), (Some(3), Some(6), Some(9)));
    let bad: Vec<(u64, String)> = out["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["line"].as_u64().unwrap(), b["reason"].as_str().unwrap().to_string()))
        .collect();
    let numbers: Vec<u64> = bad.iter().map(|b| b.0).collect();
    assert_eq!(numbers, [3, 4, 5, 6, 7, 8], "{out:#}");
    for (i, expected) in
        ["not finite", "3 values, expected 8", "zero vector", "not a JSON row", "no subject", "incompatible_model"]
            .iter()
            .enumerate()
    {
        assert!(bad[i].1.contains(expected), "line {}: {} lacks {expected}", bad[i].0, bad[i].1);
    }

    // A .npy: NaN and zero rows, reported by row index (from 0).
    let npy = tmp.path().join("e.npy");
    let mut rows = clustered(1, 5, 8, 9);
    rows[1][3] = f32::NAN;
    rows[3] = vec![0.0; 8];
    common::write_npy(&npy, &rows);
    let csv = tmp.path().join("e.subjects.csv"); // found beside e.npy without --subjects
    std::fs::write(&csv, "subject\ncarol\ncarol\ncarol\ncarol\ncarol\n").unwrap();
    let out = import(&[s(&npy), "--data-dir", s(&data), "--model", "test@1"]);
    assert_eq!((out["imported"].as_u64(), out["invalid"].as_u64()), (Some(3), Some(2)), "{out:#}");
    assert_eq!(out["bad_rows"][0]["row"], 1);
    assert!(out["bad_rows"][0]["reason"].as_str().unwrap().contains("NaN"));
    assert_eq!(out["bad_rows"][1]["row"], 3);

    // Whole-file problems are refused before anything is written.
    std::fs::write(&csv, "subject\ncarol\n").unwrap();
    let (code, _, err) = visage(&["import", s(&npy), "--data-dir", s(&data), "--model", "test@1"]);
    assert!(code == 2 && err.contains("[invalid_source]") && err.contains("1 rows"), "{err}");
    std::fs::remove_file(&csv).unwrap();
    let (code, _, err) = visage(&["import", s(&npy), "--data-dir", s(&data), "--model", "test@1"]);
    assert!(code == 2 && err.contains("[invalid_source]") && err.contains("subjects"), "{err}");
    assert_eq!(face_count(&data), 6);
}

#[test]
fn another_model_is_refused_and_the_gallery_stays_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let jsonl = tmp.path().join("e.jsonl");
    let rows: Vec<String> = clustered(3, 2, 128, 7)
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "subject": format!("p{}", i / 2), "embedding": v }).to_string())
        .collect();
    std::fs::write(&jsonl, rows.join("\n")).unwrap();
    // No --model: the configured embedder's id, read from its file (no model is run).
    let out = import(&[s(&jsonl), "--data-dir", s(&data)]);
    let model = out["model"].as_str().unwrap().to_string();
    assert!(model.starts_with("sface_2021dec@"), "{out:#}");
    assert_eq!((out["imported"].as_u64(), out["dim"].as_u64()), (Some(6), Some(128)));

    let (code, _, err) = visage(&["import", s(&jsonl), "--data-dir", s(&data), "--model", "other@1"]);
    assert!(code == 2 && err.contains("[incompatible_model]"), "{err}");
    let tagged = tmp.path().join("tagged.jsonl");
    std::fs::write(&tagged, json!({ "subject": "x", "model": "other@1", "embedding": vec![1.0; 128] }).to_string())
        .unwrap();
    let (code, _, err) = visage(&["import", s(&tagged), "--data-dir", s(&data)]);
    assert!(code == 2 && err.contains("[incompatible_model]") && err.contains("other@1"), "{err}");
    let narrow = tmp.path().join("narrow.npy");
    common::write_npy(&narrow, &clustered(1, 2, 64, 8));
    std::fs::write(tmp.path().join("narrow.subjects.csv"), "subject\na\na\n").unwrap();
    let fresh = tmp.path().join("fresh");
    let (code, _, err) = visage(&["import", s(&narrow), "--data-dir", s(&fresh)]);
    assert!(code == 2 && err.contains("[incompatible_model]") && err.contains("64-d"), "{err}");
    assert_eq!(face_count(&data), 6);

    // The served gallery is bound: another embedder is refused, the same one finds the faces.
    let params = IndexParams::default();
    let err = Gallery::open(&data, "other@1", 128, Backend::Exact, &params).err().unwrap();
    assert_eq!(err.code(), "model_mismatch");
    assert_eq!(Gallery::open(&data, &model, 128, Backend::Exact, &params).unwrap().len(), 6);
}

#[test]
fn a_killed_import_resumes_and_enrols_each_row_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (npy, data) = (tmp.path().join("big.npy"), tmp.path().join("data"));
    let n = 40_000u64;
    common::write_npy(&npy, &clustered(4_000, 10, 16, 3));
    write_subjects(&tmp.path().join("big.subjects.csv"), n as usize, 10);
    let args = [s(&npy), "--data-dir", s(&data), "--model", "test@1", "--job", "big", "-q"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_visage"))
        .arg("import")
        .args(args)
        .env("VISAGE_INDEX__KIND", "exact")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = data.join("gallery.sqlite3");
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded =
        || -> u64 { Store::open(&db).ok().and_then(|s| s.job_counts("big").ok()).map_or(0, |c| c.values().sum()) };
    // While the import runs, read-only: opening the store (pragmas, schema) could hold a lock
    // the import's own opening of it waits on.
    let started = || {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        rusqlite::Connection::open_with_flags(&db, flags)
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM job_items WHERE job_id = 'big'", [], |r| r.get::<_, i64>(0))
            })
            .is_ok_and(|n| n > 0)
    };
    while !started() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();
    let at_kill = recorded();
    assert!(at_kill > 0 && at_kill < n, "killed after {at_kill} of {n} rows");
    assert_eq!(face_count(&data), at_kill, "faces and their rows commit together");

    let mut resume = vec!["import"];
    resume.extend(args);
    let out =
        Command::new(env!("CARGO_BIN_EXE_visage")).args(&resume).env("VISAGE_INDEX__KIND", "exact").output().unwrap();
    let (code, err) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out["state"], "completed");
    assert_eq!(out["rows_this_run"].as_u64().unwrap() + at_kill, n, "{out:#}");
    assert_eq!((out["job_counts"]["imported"].as_u64(), out["job_counts"]["duplicate"].as_u64()), (Some(n), Some(0)));
    assert_eq!(face_count(&data), n);
}

#[test]
fn export_then_import_gives_the_same_faces() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let rows: Vec<String> = clustered(50, 10, 32, 11)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut row =
                json!({ "subject": format!("p{:02}", i / 10), "name": format!("Person {}", i / 10), "embedding": v });
            if i % 3 == 0 {
                row["external_id"] = json!(format!("x{i}"));
            }
            row.to_string()
        })
        .collect();
    std::fs::write(dir("in.jsonl"), rows.join("\n")).unwrap();
    import(&[s(&dir("in.jsonl")), "--data-dir", s(&dir("a")), "--model", "m@1"]);
    let export = |data: &str, out: &str| {
        let (code, json, err) = visage(&["export", "-q", "--data-dir", s(&dir(data)), "--out", s(&dir(out))]);
        assert_eq!(code, 0, "{err}");
        json
    };
    let out = export("a", "a.jsonl");
    assert_eq!((out["faces"].as_u64(), out["dim"].as_u64(), out["model"].as_str()), (Some(500), Some(32), Some("m@1")));
    export("a", "a.npy");
    let header = std::fs::read_to_string(dir("a.subjects.csv")).unwrap();
    assert!(header.starts_with("subject,external_id,name\np00,x0,Person 0\np00,,Person 0\n"), "{header}");
    // Into fresh galleries (the .npy with its CSV beside it, the JSON Lines with its model field).
    import(&[s(&dir("a.npy")), "--data-dir", s(&dir("b")), "--model", "m@1"]);
    import(&[s(&dir("a.jsonl")), "--data-dir", s(&dir("c")), "--model", "m@1"]);
    export("b", "b.jsonl");
    export("c", "c.jsonl");
    let original = std::fs::read_to_string(dir("a.jsonl")).unwrap();
    assert_eq!(original.lines().count(), 500);
    assert_eq!(std::fs::read_to_string(dir("b.jsonl")).unwrap(), original, "npy round trip");
    assert_eq!(std::fs::read_to_string(dir("c.jsonl")).unwrap(), original, "jsonl round trip");
    // The export imported into its own gallery adds nothing.
    let again = import(&[s(&dir("a.jsonl")), "--data-dir", s(&dir("a")), "--model", "m@1"]);
    assert_eq!((again["imported"].as_u64(), again["duplicate"].as_u64()), (Some(0), Some(500)), "{again:#}");

    // On a full disk (the temporary file a link to /dev/full, whose writes fail with ENOSPC)
    // the export fails as `storage_full`, and nothing half-written takes the output's name.
    if Path::new("/dev/full").exists() {
        for (out, part) in [("full.jsonl", ".full.jsonl.part"), ("full.npy", ".full.npy.part")] {
            std::os::unix::fs::symlink("/dev/full", dir(part)).unwrap();
            let (code, _, err) = visage(&["export", "-q", "--data-dir", s(&dir("a")), "--out", s(&dir(out))]);
            assert_eq!(code, 1, "{out}: {err}");
            assert!(err.contains("[storage_full]") && err.contains(out), "{out}: {err}");
            assert!(!dir(out).exists(), "{out}");
        }
    }
}

#[test]
fn the_server_runs_an_embeddings_file_as_a_job() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, data) = (tmp.path().join("files"), tmp.path().join("data"));
    std::fs::create_dir_all(&files).unwrap();
    let npy = files.join("e.npy");
    common::write_npy(&npy, &clustered(20, 5, 128, 5));
    write_subjects(&files.join("e.subjects.csv"), 100, 5);
    let roots = s(&files).to_string();
    let server = common::server::Server::start(&data, &[("VISAGE_ENROLL__ALLOWED_ROOTS", &roots)]);
    let outside = tmp.path().join("outside.jsonl");
    std::fs::write(&outside, "").unwrap();
    let r = server.json("POST", "/v1/jobs/enroll", &json!({ "source": { "embeddings": { "file": s(&outside) } } }));
    assert_eq!((r.status, r.json["code"].as_str()), (403, Some("path_not_allowed")), "{}", r.json);
    let r = server.json(
        "POST",
        "/v1/jobs/enroll",
        &json!({ "id": "emb", "source": { "embeddings": { "file": s(&npy) } } }),
    );
    assert_eq!(r.status, 202, "{}", r.json);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let r = server.get("/v1/jobs/emb");
        if !matches!(r.json["state"].as_str(), Some("queued" | "running")) || Instant::now() > deadline {
            break r.json;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["state"], "completed", "{status:#}");
    assert_eq!((status["total"].as_u64(), status["counts"]["enrolled"].as_u64()), (Some(100), Some(100)));
    let faces = server.get("/v1/subjects/s00001/faces");
    assert_eq!(faces.status, 200, "{}", faces.json);
    let listed = faces.json.as_array().or(faces.json["faces"].as_array()).unwrap().len();
    assert_eq!(listed, 5, "{}", faces.json);
    assert_eq!(server.get("/v1/subjects?limit=1").json["total"], 20);
}

#[test]
fn eval_takes_distractors_in_the_import_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("set");
    for (subject, photos) in [
        ("Barack_Obama", &["obama.jpg", "obama2.jpg", "obama3.jpg"][..]),
        ("Grace_Hopper", &["hopper.jpg", "hopper_gray.jpg"]),
    ] {
        for p in photos {
            common::copy(p, &root, &format!("{subject}/{p}"));
        }
    }
    common::copy("biden.jpg", &root, "Joe_Biden/biden.jpg");
    let vectors = clustered(40, 1, 128, 13);
    let npy = tmp.path().join("d.npy");
    common::write_npy(&npy, &vectors);
    let jsonl = tmp.path().join("d.jsonl");
    let lines: Vec<String> = vectors.iter().map(|v| json!({ "embedding": v }).to_string()).collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    for file in [&npy, &jsonl] {
        let out = tmp.path().join("report");
        let (code, summary, err) = visage(&[
            "eval",
            s(&root),
            "--out",
            s(&out),
            "--distractors-file",
            s(file),
            "--open-set-fraction",
            "0",
            "-q",
        ]);
        assert_eq!(code, 0, "{}: {err}", file.display());
        assert_eq!(summary["distractors"]["distractors"], 40, "{summary:#}");
        assert_eq!(summary["distractors"]["source"], "given");
    }
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"embedding\": [1, 2]}\n").unwrap();
    let (code, _, err) = visage(&["eval", s(&root), "--distractors-file", s(&bad), "-q"]);
    assert!(code == 2 && err.contains("line 1") && err.contains("expected 128"), "{err}");
}

#[test]
fn bench_import_imports_the_synthetic_gallery_and_times_two_starts_to_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_visage"))
        .args(["bench", "import", "--rows", "20000", "--index", "scan"])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run visage bench import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench import failed:\n{stderr}");
    let summary: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON summary ({e}); stderr:\n{stderr}"));
    assert_eq!((summary["rows"].as_u64(), summary["imported"].as_u64()), (Some(20000), Some(20000)), "{summary:#}");
    assert!(summary["import_rows_per_s"].as_f64().unwrap() > 0.0, "{summary:#}");
    assert!(summary["index_bytes"].as_u64().unwrap() > 20000 * 16, "the saved index holds the rows: {summary:#}");
    for start in ["first_start", "restart"] {
        let s = &summary[start];
        assert_eq!(s["gallery_faces"], 20000, "{start} served the whole gallery: {summary:#}");
        assert_eq!(s["index_behind"], false, "{summary:#}");
        assert!(s["ready_s"].as_f64().unwrap() > 0.0, "{summary:#}");
        assert_eq!(s["clean_stop"], true, "{summary:#}");
    }
    assert_eq!(summary["first_ready_s"], summary["first_start"]["ready_s"]);
    // The scratch directory is gone (no --keep).
    assert_eq!(summary["kept"], false);
    assert!(!Path::new(summary["scratch"].as_str().unwrap()).exists(), "{summary:#}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("visage"))
        .collect();
    assert!(left.is_empty(), "left in the temp dir: {left:?}");
}

#[test]
fn bench_import_refuses_vectors_the_server_cannot_serve() {
    let (code, _, err) = visage(&["bench", "import", "--rows", "10", "--dim", "7"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid_parameter") && err.contains("--dim 7"), "{err}");
}

//! The security pass, on a real `visage serve` over loopback with real photos: read-only and
//! admin keys (hashed keys, `/metrics` and `/docs` behind a key, keys never in the log), request
//! limits, slow uploads, hostile archives and server sources that try to leave their roots,
//! archive bombs, and a delete that erases (the embedding leaves the index, the crop the disk).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::bytes;
use common::server::{Part, Reply, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Status and `code` of an answer.
fn code(r: &Reply) -> (u16, &str) {
    (r.status, r.json["code"].as_str().unwrap_or_default())
}

#[test]
fn read_keys_recognise_admin_keys_write_and_no_key_reaches_the_log() {
    let dir = tempdir();
    let log = dir.path().join("server.log");
    // One admin key configured as its SHA-256 only, one in plain; one read-only key.
    let hashed = format!("sha256:{}", hex::encode(Sha256::digest(b"hashed-admin-7f3a")));
    let admin_keys = format!("plain-admin-91c2,{hashed}");
    let env = [
        ("VISAGE_SERVER__API_KEYS", admin_keys.as_str()),
        ("VISAGE_SERVER__READ_KEYS", "reader-5d8e"),
        ("VISAGE_SERVER__PROTECT_METRICS", "true"),
        ("VISAGE_SERVER__PROTECT_DOCS", "true"),
        ("VISAGE_LOG", "info,visage=trace,actix_web=trace,actix_http=trace,actix_server=trace"),
    ];
    let mut server = Server::start_logged(&dir.path().join("data"), &env, Some(&log));
    let srv = &server;
    let admin: &[(&str, &str)] = &[("x-api-key", "hashed-admin-7f3a")];
    let bearer_admin: &[(&str, &str)] = &[("authorization", "Bearer plain-admin-91c2")];
    let reader: &[(&str, &str)] = &[("x-api-key", "reader-5d8e")];
    let get = |path: &str, headers: &[(&str, &str)]| srv.raw("GET", path, "application/json", b"", headers);
    let post = |path: &str, body: Value, headers: &[(&str, &str)]| {
        srv.raw("POST", path, "application/json", body.to_string().as_bytes(), headers)
    };
    let text = |path: &str, headers: &[(&str, &str)]| {
        let mut req = ureq::get(format!("{}{path}", srv.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.config().http_status_as_error(false).build().call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    };

    // No key, a wrong key, or the digest itself sent as a key: 401.
    assert_eq!(srv.get("/healthz").status, 200, "probes stay open");
    assert_eq!(code(&srv.get("/v1/subjects")), (401, "unauthorized"));
    for wrong in ["wrong-key-0000", hashed.as_str(), "reader-5d8", "hashed-admin-7f3"] {
        assert_eq!(code(&get("/v1/subjects", &[("x-api-key", wrong)])), (401, "unauthorized"), "{wrong:?}");
    }
    // /metrics and /docs behind a key (any role) when configured.
    for path in ["/metrics", "/openapi.json", "/docs/"] {
        assert_eq!(text(path, &[]).0, 401, "{path} without a key");
        assert_eq!(text(path, reader).0, 200, "{path} with a read key");
    }
    assert!(text("/metrics", admin).1.contains("visage_http_requests_total"));

    // Admin keys (hashed or plain, either header) enrol.
    assert_eq!(post("/v1/subjects", json!({ "id": "obama", "name": "Barack Obama" }), admin).status, 201);
    let enrolled = srv.multipart_with("/v1/subjects/obama/faces", &[("image", Part::File(&bytes("obama.jpg")))], admin);
    assert_eq!(enrolled.status, 201, "{}", enrolled.json);
    let face = enrolled.json["id"].as_u64().unwrap();
    let r =
        srv.multipart_with("/v1/subjects/obama/faces", &[("image", Part::File(&bytes("obama3.jpg")))], bearer_admin);
    assert_eq!(r.status, 201, "{}", r.json);

    // A read key recognises and reads...
    let r = srv.multipart_with("/v1/identify", &[("image", Part::File(&bytes("obama2.jpg")))], reader);
    assert_eq!((r.status, &r.json["faces"][0]["match"]["subject_id"]), (200, &json!("obama")), "{}", r.json);
    let r = srv.multipart_with("/v1/search", &[("image", Part::File(&bytes("obama2.jpg")))], reader);
    assert_eq!((r.status, &r.json["results"][0]["subject_id"]), (200, &json!("obama")), "{}", r.json);
    assert_eq!(get("/v1/subjects", reader).json["total"], 1);
    assert_eq!(get("/v1/subjects/obama/faces", reader).status, 200);
    assert_ne!(post("/v1/calibrate", json!({}), reader).status, 403, "calibrating without applying is a read");
    // ...and every write, job or applied calibration is 403, the data untouched.
    let photo = bytes("biden.jpg");
    let refused = [
        srv.multipart_with("/v1/subjects/obama/faces", &[("image", Part::File(&photo))], reader),
        post("/v1/subjects", json!({ "id": "biden" }), reader),
        srv.raw("PATCH", "/v1/subjects/obama", "application/json", br#"{"name":"x"}"#, reader),
        srv.raw("DELETE", &format!("/v1/faces/{face}"), "application/json", b"", reader),
        srv.raw("DELETE", "/v1/subjects/obama", "application/json", b"", reader),
        post("/v1/subjects/obama/merge", json!({ "into": "obama" }), reader),
        post("/v1/jobs/enroll", json!({ "source": { "folder": "/tmp" } }), reader),
        get("/v1/jobs/any", reader),
        get("/v1/folders", reader),
        post("/v1/calibrate", json!({ "apply": true }), reader),
    ];
    for r in &refused {
        assert_eq!(code(r), (403, "forbidden"), "{}", r.json);
        assert!(r.json["message"].as_str().unwrap().contains("read-only"));
    }
    assert_eq!(code(&post("/v1/subjects", json!({ "id": "x" }), &[("x-api-key", "nope")])), (401, "unauthorized"));
    let obama = get("/v1/subjects/obama", reader);
    assert_eq!((obama.json["name"].as_str(), obama.json["faces"].as_u64()), (Some("Barack Obama"), Some(2)));
    assert_eq!(srv.raw("DELETE", &format!("/v1/faces/{face}"), "application/json", b"", bearer_admin).status, 200);

    // The CompreFace door: admin keys (hashed too) open it; read keys are for /v1 only.
    let cf = |key: &str| get("/api/v1/recognition/subjects", &[("x-api-key", key)]).status;
    assert_eq!((cf("hashed-admin-7f3a"), cf("plain-admin-91c2"), cf("reader-5d8e")), (200, 200, 401));

    // The log has the requests, and none of the keys, right or wrong.
    server.stop(true);
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("/v1/identify") && written.contains("/v1/faces/"), "the log records requests");
    for key in ["hashed-admin-7f3a", "plain-admin-91c2", "reader-5d8e", "wrong-key-0000", &hashed[7..]] {
        assert!(!written.contains(key), "the log holds the key {key:?}");
    }
}

#[test]
fn bodies_over_the_limits_are_refused_and_the_service_goes_on() {
    let dir = tempdir();
    let env = [
        ("VISAGE_SERVER__MAX_BODY_BYTES", "400000"),
        ("VISAGE_SERVER__MAX_FORM_FIELDS", "4"),
        ("VISAGE_SERVER__MAX_FIELD_BYTES", "1024"),
    ];
    let srv = Server::start(dir.path(), &env);
    let (small, big) = (bytes("obama.jpg"), bytes("big_5000x4000.jpg"));
    assert!(small.len() < 400_000 && big.len() > 400_000);
    let r = srv.raw("POST", "/v1/detect", "image/jpeg", &big, &[]);
    assert_eq!(code(&r), (413, "body_too_large"), "{}", r.json);
    let r = srv.multipart("/v1/detect", &[("image", Part::File(&big))]);
    assert_eq!(code(&r), (413, "body_too_large"), "{}", r.json);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &small);
    let r = srv.json("POST", "/v1/detect", &json!({ "image": b64 }));
    assert_eq!(r.status, 200, "base64 of {} bytes fits under 400 kB: {}", small.len(), r.json);
    let five: Vec<(&str, Part)> =
        ["a", "b", "c", "d"].into_iter().map(|n| (n, Part::Text("1"))).chain([("image", Part::File(&small))]).collect();
    assert_eq!(code(&srv.multipart("/v1/detect", &five)), (413, "too_many_fields"));
    let keys = json!({ "image": "", "a": 1, "b": 2, "c": 3, "d": 4 });
    assert_eq!(code(&srv.json("POST", "/v1/detect", &keys)), (413, "too_many_fields"));
    let long = "7".repeat(2000);
    let r = srv.multipart("/v1/identify", &[("k", Part::Text(&long)), ("image", Part::File(&small))]);
    assert_eq!(code(&r), (413, "field_too_large"), "{}", r.json);
    // Intact: the same photo within the limits is answered.
    let r = srv.multipart("/v1/detect", &[("image", Part::File(&small)), ("attributes", Part::Text(""))]);
    assert_eq!((r.status, r.json["faces"].as_array().map(Vec::len)), (200, Some(1)), "{}", r.json);
}

/// Sends `head` and `body` and waits for the answer (the server is expected to give up first):
/// the status line, the JSON body if any, and how long it took.
fn stalled(addr: &str, head: &str, body: &[u8]) -> (String, Option<Value>, Duration) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(body).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok());
    (status, json, elapsed)
}

#[test]
fn slow_uploads_time_out_with_408_and_leave_nothing_behind() {
    let dir = tempdir();
    let env = [("VISAGE_SERVER__BODY_TIMEOUT_S", "1"), ("VISAGE_SERVER__CLIENT_REQUEST_TIMEOUT_MS", "1000")];
    let srv = Server::start(&dir.path().join("data"), &env);
    let addr = srv.base.trim_start_matches("http://").to_string();
    let photo = bytes("obama.jpg");
    let head = |path: &str, content_type: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    // A raw image, a multipart form and an archive upload, each stopping half-way.
    let boundary = "slowboundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&photo[..photo.len() / 2]);
    let cases = [
        head("/v1/detect", "image/jpeg", photo.len()),
        head("/v1/identify", &format!("multipart/form-data; boundary={boundary}"), form.len() + photo.len()),
        head("/v1/jobs/enroll?id=slow", "application/zip", 10 << 20),
    ];
    let bodies = [&photo[..photo.len() / 2], &form[..], &photo[..]];
    for (head, body) in cases.iter().zip(bodies) {
        let (status, json, elapsed) = stalled(&addr, head, body);
        assert!(status.starts_with("HTTP/1.1 408"), "{head}: {status} {json:?}");
        assert_eq!(json.as_ref().and_then(|j| j["code"].as_str()), Some("request_timeout"), "{head}");
        assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(15), "{elapsed:?}");
    }
    // The stalled upload left no file and no job.
    let uploads = dir.path().join("data/uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(srv.get("/v1/jobs/slow").status, 404);
    // A request head that never ends is dropped too (actix's client_request_timeout).
    let (status, _, elapsed) = stalled(&addr, "POST /v1/detect HTTP/1.1\r\nHost: x\r\n", b"");
    assert!(status.is_empty() || status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    // Still serving.
    assert_eq!(srv.multipart("/v1/detect", &[("image", Part::File(&photo))]).status, 200);
}

/// A tar header with a name (and link name) written as raw bytes, as a hostile tool would:
/// `tar::Builder` itself refuses `..` and absolute names.
fn raw_tar_header(name: &str, kind: tar::EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

fn hostile_tar() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let (good, other) = (bytes("obama.jpg"), bytes("obama2.jpg"));
    let regular = tar::EntryType::Regular;
    for name in ["alice/obama.jpg", "../escape/obama2.jpg", "/abs/obama2.jpg", "alice/../../up/obama2.jpg"] {
        let data = if name == "alice/obama.jpg" { &good } else { &other };
        tar.append(&raw_tar_header(name, regular, data.len() as u64, ""), &data[..]).unwrap();
    }
    for (name, kind, target) in [
        ("link/passwd.jpg", tar::EntryType::Symlink, "/etc/passwd"),
        ("alice/up.jpg", tar::EntryType::Symlink, "../../../../etc/passwd"),
        ("hard/hostname.jpg", tar::EntryType::Link, "/etc/hostname"),
        ("hard/alice.jpg", tar::EntryType::Link, "alice/obama.jpg"),
    ] {
        tar.append(&raw_tar_header(name, kind, 0, target), std::io::empty()).unwrap();
    }
    tar.into_inner().unwrap()
}

fn hostile_zip() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default();
    // (The zip writer itself strips a leading `/`, so absolute names are tried in the tar only.)
    for (name, photo) in [("bob/biden.jpg", "biden.jpg"), ("../z/obama2.jpg", "obama2.jpg")] {
        z.start_file(name, options).unwrap();
        z.write_all(&bytes(photo)).unwrap();
    }
    z.add_symlink("s/passwd.jpg", "/etc/passwd", options).unwrap();
    z.finish().unwrap();
    out.into_inner()
}

/// Items of a job's report, by name: (outcome, reason).
fn report(srv: &Server, job: &str) -> Vec<(String, String, String)> {
    let items = srv.get(&format!("/v1/jobs/{job}/report")).json["items"].clone();
    let mut out: Vec<_> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let field = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            (field("item"), field("outcome"), field("reason"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn hostile_archives_and_sources_never_leave_their_root() {
    let dir = tempdir();
    let (roots, outside) = (dir.path().join("roots"), dir.path().join("outside"));
    common::copy("obama3.jpg", &outside, "secret/obama3.jpg");
    common::copy("obama.jpg", &roots, "set/carol/obama.jpg");
    std::os::unix::fs::symlink(outside.join("secret/obama3.jpg"), roots.join("set/carol/leak.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, roots.join("door")).unwrap();
    std::fs::write(roots.join("m.csv"), "subject,path\ndave,../outside/secret/obama3.jpg\ndave,/etc/hostname\n")
        .unwrap();
    let data = dir.path().join("data");
    let srv = Server::start(&data, &[("VISAGE_ENROLL__ALLOWED_ROOTS", s(&roots))]);

    // Uploaded archives: members whose names leave the archive, and links, are reported, never read.
    let r = srv.raw("POST", "/v1/jobs/enroll?id=tar", "application/x-tar", &hostile_tar(), &[]);
    assert_eq!(r.status, 202, "{}", r.json);
    let r = srv.raw("POST", "/v1/jobs/enroll?id=zip", "application/zip", &hostile_zip(), &[]);
    assert_eq!(r.status, 202, "{}", r.json);
    for (job, total) in [("tar", 8), ("zip", 3)] {
        let status = srv.wait_job(job, Duration::from_secs(120));
        assert_eq!(status["state"], "completed", "{status:#}");
        assert_eq!(
            (status["counts"]["processed"].as_u64(), status["counts"]["enrolled"].as_u64()),
            (Some(total), Some(1))
        );
        for (item, outcome, reason) in report(&srv, job) {
            if item == "alice/obama.jpg" || item == "bob/biden.jpg" {
                assert_eq!(outcome, "enrolled");
            } else {
                assert!(reason.contains("leaves the archive") || reason.contains("link"), "{item}: {outcome} {reason}");
            }
        }
    }

    // Server sources: outside the roots, through `..` or through a link, refused before anything runs.
    let outside_paths = [
        json!({ "folder": "/etc" }),
        json!({ "folder": format!("{}/../outside", s(&roots)) }),
        json!({ "folder": s(&roots.join("door")) }),
        json!({ "archive": s(&outside.join("secret/obama3.jpg")) }),
        json!({ "manifest": "/etc/passwd" }),
    ];
    for source in outside_paths {
        let r = srv.json("POST", "/v1/jobs/enroll", &json!({ "source": source }));
        assert_eq!(code(&r), (403, "path_not_allowed"), "{source}: {}", r.json);
    }
    // Inside the roots, a photo linked from outside and manifest rows pointing out are refused.
    let r = srv.json("POST", "/v1/jobs/enroll", &json!({ "id": "set", "source": { "folder": s(&roots.join("set")) } }));
    assert_eq!(r.status, 202, "{}", r.json);
    let r =
        srv.json("POST", "/v1/jobs/enroll", &json!({ "id": "m", "source": { "manifest": s(&roots.join("m.csv")) } }));
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(srv.wait_job("set", Duration::from_secs(60))["counts"]["enrolled"], 1);
    let leak = report(&srv, "set").into_iter().find(|(item, ..)| item == "carol/leak.jpg").unwrap();
    assert!(leak.2.contains("outside enroll.allowed_roots"), "{leak:?}");
    let manifest = srv.wait_job("m", Duration::from_secs(60));
    assert_eq!((manifest["counts"]["processed"].as_u64(), manifest["counts"]["enrolled"].as_u64()), (Some(2), Some(0)));
    for (item, _, reason) in report(&srv, "m") {
        assert!(reason.contains("allowed_roots"), "{item}: {reason}");
    }

    // Only the legitimate photos became subjects; nothing was written beside the roots.
    let subjects = srv.get("/v1/subjects").json["subjects"].clone();
    let mut ids: Vec<&str> = subjects.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["alice", "bob", "carol"]);
    for escaped in ["escape", "up", "z", "abs"] {
        assert!(!dir.path().join(escaped).exists() && !data.join(escaped).exists(), "{escaped}");
    }
}

/// A tar.gz holding one member of `size` zero bytes (about 1000:1 under gzip).
fn tar_gz_bomb(size: u64) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_path("bomb/zeros.jpg").unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, std::io::repeat(0).take(size)).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// A zip of `(name, bytes)` members, deflated.
fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        z.start_file(name.as_str(), options).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
    out.into_inner()
}

#[test]
fn archive_bombs_stop_at_the_total_cap_and_crowded_zips_are_refused() {
    let dir = tempdir();
    let env = [("VISAGE_ENROLL__MAX_ARCHIVE_BYTES", "4194304"), ("VISAGE_ENROLL__MAX_ARCHIVE_ENTRIES", "10")];
    let srv = Server::start(dir.path(), &env);
    // 64 MiB of zeros in a ~64 kB tar.gz; 16 MiB (under limits.max_image_bytes) in a zip.
    let tar_bomb = tar_gz_bomb(64 << 20);
    assert!(tar_bomb.len() < 1 << 20);
    let zip_bomb =
        zip_of(&[("bomb/zeros.jpg".into(), vec![0; 16 << 20]), ("alice/obama.jpg".into(), bytes("obama.jpg"))]);
    let crowded: Vec<(String, Vec<u8>)> = (0..11).map(|i| (format!("p{i}/x.jpg"), vec![1])).collect();
    let fits = zip_of(&[("alice/obama.jpg".into(), bytes("obama.jpg"))]);
    for (id, content_type, body) in [
        ("tarbomb", "application/gzip", tar_bomb),
        ("zipbomb", "application/zip", zip_bomb),
        ("crowded", "application/zip", zip_of(&crowded)),
        ("fits", "application/zip", fits),
    ] {
        let r = srv.raw("POST", &format!("/v1/jobs/enroll?id={id}"), content_type, &body, &[]);
        assert_eq!(r.status, 202, "{id}: {}", r.json);
    }
    for (id, key) in [
        ("tarbomb", "enroll.max_archive_bytes"),
        ("zipbomb", "enroll.max_archive_bytes"),
        ("crowded", "enroll.max_archive_entries"),
    ] {
        let status = srv.wait_job(id, Duration::from_secs(120));
        assert_eq!(status["state"], "failed", "{id}: {status:#}");
        assert!(status["error"].as_str().unwrap_or_default().contains(key), "{id}: {status:#}");
        assert_eq!(status["counts"]["enrolled"], 0, "{id}");
    }
    let fits = srv.wait_job("fits", Duration::from_secs(60));
    assert_eq!((fits["state"].as_str(), fits["counts"]["enrolled"].as_u64()), (Some("completed"), Some(1)), "{fits:#}");
}

/// Files under `dir` holding any of `needles` (every byte of every file is searched). Pieces
/// rather than whole values: SQLite splits a large value over pages.
fn files_holding(dir: &Path, needles: &[&[u8]]) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| std::fs::read(e.path()).is_ok_and(|b| needles.iter().any(|n| b.windows(n.len()).any(|w| w == *n))))
        .map(|e| e.path().display().to_string())
        .collect()
}

fn until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    done()
}

#[test]
fn delete_erases_the_embedding_from_the_index_and_the_crop_from_the_disk() {
    let dir = tempdir();
    let env = [("VISAGE_GALLERY__KEEP_CROPS", "true"), ("VISAGE_SERVER__PERSIST_INTERVAL_S", "1")];
    let srv = Server::start(dir.path(), &env);
    let enrol = |id: &str, photo: &str| {
        assert_eq!(srv.json("POST", "/v1/subjects", &json!({ "id": id, "name": id })).status, 201);
        let r = srv.multipart(&format!("/v1/subjects/{id}/faces"), &[("image", Part::File(&bytes(photo)))]);
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["id"].as_u64().unwrap()
    };
    let face = enrol("obama", "obama.jpg");
    enrol("biden", "biden.jpg");
    let crop =
        ureq::get(format!("{}/v1/faces/{face}/crop", srv.base)).call().unwrap().body_mut().read_to_vec().unwrap();
    // The face's own embedding, as the API computes it from the same photo.
    let embedded = srv.multipart("/v1/embed", &[("image", Part::File(&bytes("obama.jpg")))]);
    let vector: Vec<f32> = serde_json::from_value(embedded.json["faces"][0]["embedding"]["vector"].clone())
        .unwrap_or_else(|e| panic!("{e}: {}", embedded.json));
    let search = || srv.json("POST", "/v1/search", &json!({ "embedding": vector, "k": 5 }));
    let before = search();
    assert_eq!(before.json["results"][0]["face_id"].as_u64(), Some(face), "{}", before.json);
    assert!(before.json["results"][0]["score"].as_f64().unwrap() > 0.999);

    // Where they are before: the crop in the database, the embedding there and in the saved
    // index. Probes: every 8th 32-byte piece of the crop past its first 64 bytes (the PNG
    // signature and header, the same in every crop), every 32-byte piece of the embedding.
    let crop_pieces: Vec<&[u8]> = crop.chunks_exact(32).skip(2).step_by(8).collect();
    let raw: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    let vector_pieces: Vec<&[u8]> = raw.chunks_exact(32).collect();
    assert!(crop_pieces.len() > 20 && vector_pieces.len() >= 16);
    let db = dir.path().join("gallery.sqlite3");
    let db_files = |pieces: &[&[u8]]| {
        files_holding(dir.path(), pieces).into_iter().filter(|f| f.contains("gallery.sqlite3")).count()
    };
    assert!(db_files(&crop_pieces) > 0, "the probe finds the stored crop");
    assert!(db_files(&vector_pieces) > 0 && db.is_file(), "the probe finds the stored embedding");
    assert!(
        until(Duration::from_secs(20), || !files_holding(&dir.path().join("index"), &vector_pieces).is_empty()),
        "the probe finds the embedding in the saved index: {:?}",
        files_holding(dir.path(), &vector_pieces)
    );

    assert_eq!(srv.delete(&format!("/v1/faces/{face}")).status, 200);
    // The embedding has left the index: its own vector no longer finds it, nor does the photo.
    let after = search();
    let ids: Vec<u64> =
        after.json["results"].as_array().unwrap().iter().filter_map(|r| r["face_id"].as_u64()).collect();
    assert!(!ids.contains(&face) && !ids.is_empty(), "{}", after.json);
    let r = srv.multipart("/v1/identify", &[("image", Part::File(&bytes("obama.jpg")))]);
    assert!(r.json["faces"][0]["match"].is_null(), "{}", r.json);
    assert_eq!(srv.get(&format!("/v1/faces/{face}/crop")).status, 404);
    // ...and from every file: the crop at once, the embedding once the index is saved again.
    assert_eq!(files_holding(dir.path(), &crop_pieces), Vec::<String>::new(), "the crop's bytes are gone from disk");
    assert!(
        until(Duration::from_secs(20), || files_holding(dir.path(), &vector_pieces).is_empty()),
        "the embedding is still in {:?}",
        files_holding(dir.path(), &vector_pieces)
    );
}

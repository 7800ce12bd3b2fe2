//! The CompreFace-compatible API (`/api/v1/`): CompreFace's own Python SDK driving a real
//! server unchanged, and the same scenarios over raw HTTP with the shapes checked field by field.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::bytes;
use common::server::{Part, Server};
use serde_json::{json, Value};

fn b64(photo: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes(photo))
}

fn file(photo: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![("file", bytes(photo))]
}

/// POSTs files as multipart to `path`.
fn post(s: &Server, path: &str, files: &[(&str, Vec<u8>)]) -> (u16, Value) {
    let parts: Vec<(&str, Part)> = files.iter().map(|(n, b)| (*n, Part::File(b))).collect();
    let r = s.multipart(path, &parts);
    (r.status, r.json)
}

fn similarity(v: &Value) -> f64 {
    let s = v.as_f64().unwrap_or_else(|| panic!("similarity is a number: {v}"));
    assert!((0.0..=1.0).contains(&s), "similarity in [0, 1]: {s}");
    s
}

/// A CompreFace error: the status, `code` and a message.
fn refused(status: u16, json: &Value, want_status: u16, want_code: u64) {
    assert_eq!(status, want_status, "{json}");
    assert_eq!(json["code"], want_code, "{json}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
    assert_eq!(json.as_object().unwrap().len(), 2, "only message and code: {json}");
}

#[test]
fn collection_recognition_detection_and_verification_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);

    // Subjects: add (explicit, and by a first example), list; a taken name is refused.
    let r = s.json("POST", "/api/v1/recognition/subjects", &json!({ "subject": "Barack Obama" }));
    assert_eq!((r.status, &r.json), (201, &json!({ "subject": "Barack Obama" })));
    let r = s.json("POST", "/api/v1/recognition/subjects", &json!({ "subject": "Barack Obama" }));
    refused(r.status, &r.json, 400, 43);
    let (status, obama) = post(&s, "/api/v1/recognition/faces?subject=Barack%20Obama", &file("obama.jpg"));
    assert_eq!(status, 201, "{obama}");
    assert_eq!(obama["subject"], "Barack Obama");
    let obama_id = obama["image_id"].as_str().expect("image_id is a string").to_string();
    let r = s.json("POST", "/api/v1/recognition/faces?subject=Barack%20Obama", &json!({ "file": b64("obama2.jpg") }));
    assert_eq!(r.status, 201, "base64 JSON works like multipart: {}", r.json);
    let obama2_id = r.json["image_id"].as_str().unwrap().to_string();
    assert_eq!(post(&s, "/api/v1/recognition/faces?subject=Joe%20Biden", &file("biden.jpg")).0, 201);
    let r = s.get("/api/v1/recognition/subjects");
    assert_eq!(r.json, json!({ "subjects": ["Barack Obama", "Joe Biden"] }));

    // Recognize: box, landmarks, embedding, subjects (each once, best first), versions.
    let (status, r) = post(
        &s,
        "/api/v1/recognition/recognize?limit=0&prediction_count=5&det_prob_threshold=0.5&face_plugins=landmarks,calculator,age,mask&status=true",
        &file("obama3.jpg"),
    );
    assert_eq!(status, 200, "{r}");
    let face = &r["result"][0];
    assert_eq!(r["result"].as_array().unwrap().len(), 1);
    let b = face["box"].as_object().unwrap();
    assert_eq!(b.len(), 5, "{face}");
    for k in ["x_min", "y_min", "x_max", "y_max"] {
        assert!(b[k].is_i64(), "{k} is whole pixels: {face}");
    }
    assert!(b["x_min"].as_i64() < b["x_max"].as_i64() && b["y_min"].as_i64() < b["y_max"].as_i64());
    assert!(b["probability"].as_f64().unwrap() > 0.5);
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    assert!(face["landmarks"][0][0].is_i64());
    assert!(face["embedding"].as_array().unwrap().len() >= 128);
    // `age` is computed now (CompreFace's shape); `mask`, which Visage lacks, is ignored.
    let age = face["age"].as_object().expect("age plugin");
    assert!(age["low"].as_u64() <= age["high"].as_u64() && age["probability"].as_f64().unwrap() >= 0.8, "{face}");
    assert!(face.get("gender").is_none() && face.get("mask").is_none(), "only the plugins asked for: {face}");
    let subjects = face["subjects"].as_array().unwrap();
    assert_eq!(subjects[0]["subject"], "Barack Obama", "{face}");
    assert_eq!(subjects[0].as_object().unwrap().len(), 2);
    assert!(similarity(&subjects[0]["similarity"]) > 0.775, "above the calibrated threshold");
    // The stranger (Biden, cosine ~0.1 with Obama) is below the 1:N threshold: not listed.
    assert_eq!(subjects.len(), 1, "each subject once, only those at or above the threshold: {face}");
    assert!(r["plugins_versions"]["detector"].is_string() && r["plugins_versions"]["calculator"].is_string());
    let age_model = r["plugins_versions"]["age"].as_str().unwrap_or_default();
    assert!(age_model.starts_with("age-v1@"), "the age network's weights id: {r}");
    assert!(r["plugins_versions"].get("gender").is_none(), "only the plugins asked for: {r}");

    // An unknown face: empty `subjects`; `threshold=0` lists the nearest anyway.
    let (_, r) = post(&s, "/api/v1/recognition/recognize", &file("astronaut.png"));
    assert_eq!(r["result"][0]["subjects"], json!([]), "{r}");
    assert!(r.get("plugins_versions").is_none(), "versions only with status=true");
    let (_, r) = post(&s, "/api/v1/recognition/recognize?threshold=0&prediction_count=2", &file("astronaut.png"));
    let listed = r["result"][0]["subjects"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{r}");
    assert!(similarity(&listed[0]["similarity"]) >= similarity(&listed[1]["similarity"]));
    let (status, r) = post(&s, "/api/v1/recognition/recognize?threshold=2", &file("astronaut.png"));
    refused(status, &r, 400, 36);

    // Detection: limit, landmarks; no face is code 28.
    let (status, r) = post(&s, "/api/v1/detection/detect?limit=2&face_plugins=landmarks", &file("t1.jpg"));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"].as_array().unwrap().len(), 2);
    assert!(r["result"][0].get("subjects").is_none() && r["result"][0].get("embedding").is_none());
    let (status, r) = post(&s, "/api/v1/detection/detect", &file("brick.png"));
    refused(status, &r, 400, 28);
    assert_eq!(r["message"], "No face is found in the given image");

    // Verification: two images, and against a saved face.
    let (status, r) = post(
        &s,
        "/api/v1/verification/verify",
        &[("source_image", bytes("obama.jpg")), ("target_image", bytes("t1.jpg"))],
    );
    assert_eq!(status, 200, "{r}");
    let v = &r["result"][0];
    assert!(v["source_image_face"]["box"]["x_max"].is_i64());
    let matches = v["face_matches"].as_array().unwrap();
    assert!(matches.len() > 1, "every face of the target: {r}");
    for m in matches {
        assert!(m["box"].is_object());
        similarity(&m["similarity"]);
    }
    let r = s.json(
        "POST",
        "/api/v1/verification/verify",
        &json!({ "source_image": b64("obama.jpg"), "target_image": b64("obama2.jpg") }),
    );
    assert!(similarity(&r.json["result"][0]["face_matches"][0]["similarity"]) > 0.74, "{}", r.json);
    let (status, r) = post(&s, &format!("/api/v1/recognition/faces/{obama_id}/verify"), &file("obama3.jpg"));
    assert_eq!(status, 200, "{r}");
    assert!(similarity(&r["result"][0]["similarity"]) > 0.74);
    let (status, r) = post(&s, "/api/v1/recognition/faces/999999/verify", &file("obama3.jpg"));
    refused(status, &r, 404, 11);

    // Embeddings: recognize, verify against a saved face, verify source against targets.
    let (_, r) = post(&s, "/api/v1/detection/detect?face_plugins=calculator", &file("obama3.jpg"));
    let e = r["result"][0]["embedding"].clone();
    let r =
        s.json("POST", "/api/v1/recognition/embeddings/recognize?prediction_count=2", &json!({ "embeddings": [e] }));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["result"][0]["embedding"], e);
    assert_eq!(r.json["result"][0]["similarities"][0]["subject"], "Barack Obama");
    let r = s.json(
        "POST",
        &format!("/api/v1/recognition/embeddings/faces/{obama_id}/verify"),
        &json!({ "embeddings": [e] }),
    );
    assert!(similarity(&r.json["result"][0]["similarity"]) > 0.74, "{}", r.json);
    let r = s.json("POST", "/api/v1/verification/embeddings/verify", &json!({ "source": e, "targets": [e] }));
    assert!((similarity(&r.json["result"][0]["similarity"]) - 1.0).abs() < 1e-4, "{}", r.json);
    let r = s.json("POST", "/api/v1/verification/embeddings/verify", &json!({ "source": [1.0, 2.0], "targets": [e] }));
    refused(r.status, &r.json, 400, 36);

    // Faces: paged list, by subject; crops are not kept by default.
    let r = s.get("/api/v1/recognition/faces?page=1&size=2");
    assert_eq!(r.json["page_number"], 1);
    assert_eq!(r.json["page_size"], 2);
    assert_eq!(r.json["total_elements"], 3);
    assert_eq!(r.json["total_pages"], 2);
    assert_eq!(r.json["faces"], json!([{ "image_id": r.json["faces"][0]["image_id"], "subject": "Joe Biden" }]));
    let r = s.get("/api/v1/recognition/faces?subject=Barack%20Obama");
    assert_eq!(r.json["total_elements"], 2, "{}", r.json);
    let r = s.get(&format!("/api/v1/recognition/faces/{obama_id}/img"));
    refused(r.status, &r.json, 404, 11);

    // Rename, merge, delete by ids / by subject / one subject / all.
    let r = s.json("PUT", "/api/v1/recognition/subjects/Joe%20Biden", &json!({ "subject": "Joseph Biden" }));
    assert_eq!((r.status, &r.json), (200, &json!({ "updated": true })));
    let r = s.json("PUT", "/api/v1/recognition/subjects/Nobody", &json!({ "subject": "Somebody" }));
    refused(r.status, &r.json, 404, 42);
    assert_eq!(post(&s, "/api/v1/recognition/faces?subject=Alias", &file("obama3.jpg")).0, 201);
    let r = s.json("PUT", "/api/v1/recognition/subjects/Alias", &json!({ "subject": "Barack Obama" }));
    assert_eq!(r.json, json!({ "updated": true }));
    assert_eq!(s.get("/api/v1/recognition/faces?subject=Barack%20Obama").json["total_elements"], 3);
    assert_eq!(s.get("/api/v1/recognition/subjects").json, json!({ "subjects": ["Barack Obama", "Joseph Biden"] }));
    let r = s.json("POST", "/api/v1/recognition/faces/delete", &json!([obama2_id, "424242", "not-an-id"]));
    assert_eq!(r.json, json!({ "deleted": [{ "image_id": obama2_id, "subject": "Barack Obama" }] }));
    let r = s.delete(&format!("/api/v1/recognition/faces/{obama_id}"));
    assert_eq!(r.json, json!({ "image_id": obama_id, "subject": "Barack Obama" }));
    let r = s.delete(&format!("/api/v1/recognition/faces/{obama_id}"));
    refused(r.status, &r.json, 404, 11);
    assert_eq!(s.delete("/api/v1/recognition/faces?subject=Joseph%20Biden").json, json!({ "deleted": 1 }));
    assert_eq!(s.delete("/api/v1/recognition/subjects/Joseph%20Biden").json, json!({ "subject": "Joseph Biden" }));
    let r = s.delete("/api/v1/recognition/subjects/Joseph%20Biden");
    refused(r.status, &r.json, 404, 42);
    assert_eq!(s.delete("/api/v1/recognition/subjects").json, json!({ "deleted": 1 }));
    assert_eq!(s.get("/api/v1/recognition/faces").json["total_elements"], 0);
    // The native API sees the same gallery.
    assert_eq!(s.get("/v1/subjects").json["total"], 0);
}

#[test]
fn keys_per_service_and_bad_images_are_refused_in_compreface_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        Server::start(dir.path(), &[("VISAGE_SERVER__API_KEYS", "master"), ("VISAGE_COMPAT__DETECTION_KEYS", "det")]);
    let with = |key: &'static str| vec![("x-api-key", key)];
    let photo = bytes("obama.jpg");
    let detect = |key: Option<&'static str>| {
        let h = key.map(with).unwrap_or_default();
        s.multipart_with("/api/v1/detection/detect", &[("file", Part::File(&photo))], &h)
    };
    let r = detect(None);
    refused(r.status, &r.json, 401, 20);
    let r = detect(Some("wrong"));
    refused(r.status, &r.json, 401, 10);
    assert_eq!(detect(Some("det")).status, 200, "the detection key opens detection");
    assert_eq!(detect(Some("master")).status, 200, "server.api_keys open every service");
    let r = s.raw("GET", "/api/v1/recognition/subjects", "application/json", b"", &with("det"));
    refused(r.status, &r.json, 401, 10);
    assert_eq!(s.raw("GET", "/api/v1/recognition/subjects", "application/json", b"", &with("master")).status, 200);
    assert_eq!(s.get("/v1/subjects").status, 401, "/v1 keeps its own check");

    // Bad images: a clear 4xx in CompreFace's shape, never a 5xx.
    let recognize =
        |body: &[u8]| s.multipart_with("/api/v1/recognition/recognize", &[("file", Part::File(body))], &with("master"));
    for (name, status, code) in [
        ("empty.jpg", 400, 26),
        ("not_an_image.jpg", 415, 21),
        ("truncated_obama.jpg", 400, 26),
        ("broken_zero_width.gif", 400, 26),
    ] {
        let r = recognize(&bytes(name));
        assert!(r.status >= 400 && r.status < 500, "{name}: {}", r.json);
        refused(r.status, &r.json, status, code);
    }
    let r = recognize(&bytes("brick.png"));
    refused(r.status, &r.json, 400, 28);
    let r = s.multipart_with("/api/v1/recognition/recognize", &[("image", Part::Text("obama.jpg"))], &with("master"));
    refused(r.status, &r.json, 400, 34);
    let r = s.raw("POST", "/api/v1/recognition/recognize", "application/json", b"{\"file\": \"@@@\"}", &with("master"));
    refused(r.status, &r.json, 400, 36);
}

#[test]
fn the_compreface_door_can_be_closed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("VISAGE_COMPAT__COMPREFACE", "false")]);
    assert_eq!(s.get("/api/v1/recognition/subjects").status, 404);
    assert_eq!(s.get("/v1/subjects").status, 200);
}

/// The tool venv set-up creates (`scripts/requirements.txt` holds `compreface-sdk`).
fn venv_python() -> PathBuf {
    let cache = std::env::var_os("VISAGE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/visage"));
    cache.join("venv/bin/python")
}

#[test]
fn compreface_python_sdk_works_unchanged() {
    let python = venv_python();
    if !python.is_file() {
        // CI (scripts/test.sh) creates the venv and sets VISAGE_SDK_REQUIRED: never skipped there.
        assert!(
            std::env::var_os("VISAGE_SDK_REQUIRED").is_none(),
            "{} missing: run ./scripts/fetch_testdata.sh",
            python.display()
        );
        eprintln!("SKIPPED: no tool venv at {} (./scripts/fetch_testdata.sh creates it)", python.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[("VISAGE_SERVER__API_KEYS", "sdk-key"), ("VISAGE_COMPAT__DETECTION_KEYS", "det-key")],
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compreface/sdk_python.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([&s.base, "sdk-key", "det-key"])
        .arg(common::testdata())
        .output()
        .expect("run the SDK script");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "CompreFace's SDK failed against Visage (is compreface-sdk installed? ./scripts/fetch_testdata.sh):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{stdout}");
}

//! Collections through a real server on real photos: created, listed, renamed and deleted;
//! each answers only with its own faces; deleting one leaves another byte for byte as it was;
//! today's routes are the `default` collection; and the CLI reaches a collection by name.

mod common;

use std::process::Command;

use common::bytes;
use common::server::{Part, Server};
use serde_json::{json, Value};

fn enrol(s: &Server, base: &str, id: &str, name: &str, photo: &str) {
    let r = s.json("POST", &format!("{base}/subjects"), &json!({ "id": id, "name": name }));
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s.multipart(&format!("{base}/subjects/{id}/faces"), &[("image", Part::File(&bytes(photo)))]);
    assert_eq!(r.status, 201, "{}", r.json);
}

/// The subjects of the first face's candidates, and its match, identified in `base`'s collection.
fn identify(s: &Server, base: &str, photo: &str) -> (Option<String>, Vec<String>) {
    let r = s.multipart(&format!("{base}/identify"), &[("image", Part::File(&bytes(photo)))]);
    assert_eq!(r.status, 200, "{}", r.json);
    let face = &r.json["faces"][0];
    let candidates = face["candidates"].as_array().unwrap();
    (
        face["match"]["subject_id"].as_str().map(String::from),
        candidates.iter().map(|c| c["subject_id"].as_str().unwrap().to_string()).collect(),
    )
}

/// Every embedding of a collection, exported by the CLI beside the running server.
fn export(s: &Server, collection: &str, out: &std::path::Path) -> Vec<u8> {
    let status = Command::new(env!("CARGO_BIN_EXE_visage"))
        .args(["export", "--out"])
        .arg(out)
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(["--collection", collection, "-q"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let mut bytes = std::fs::read(out).unwrap();
    bytes.extend(std::fs::read(out.with_extension("subjects.csv")).unwrap());
    bytes
}

#[test]
fn collections_are_isolated_galleries_and_deleting_one_leaves_the_others_intact() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);

    // Created, listed with their counts; ids are unique; `default` is always there.
    let r = s.json("POST", "/v1/collections", &json!({ "id": "alpha", "name": "Alpha", "index": "exact" }));
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        (r.json["id"].as_str(), r.json["index"].as_str(), r.json["faces"].as_u64()),
        (Some("alpha"), Some("exact"), Some(0))
    );
    assert_eq!(s.json("POST", "/v1/collections", &json!({ "id": "beta" })).status, 201);
    let r = s.json("POST", "/v1/collections", &json!({ "id": "alpha" }));
    assert_eq!((r.status, r.json["code"].as_str()), (409, Some("collection_exists")));
    let r = s.json("POST", "/v1/collections", &json!({ "id": "bad id/x" }));
    assert_eq!((r.status, r.json["code"].as_str()), (422, Some("invalid_id")));
    let r = s.json("POST", "/v1/collections", &json!({ "id": "gamma", "model": "no-such-model" }));
    assert_eq!((r.status, r.json["code"].as_str()), (422, Some("unknown_model")));
    let r = s.json("POST", "/v1/collections", &json!({ "id": "gamma", "index": "nonsense" }));
    assert_eq!((r.status, r.json["code"].as_str()), (400, Some("invalid_json")), "{}", r.json);
    assert!(r.json["message"].as_str().unwrap().contains("scan"), "names the backends: {}", r.json);
    let ids: Vec<String> = s.get("/v1/collections").json["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["default", "alpha", "beta"]);

    // The same subject id in three collections: three different people.
    enrol(&s, "/v1", "p", "Barack Obama", "obama.jpg");
    enrol(&s, "/v1/collections/alpha", "p", "Joe Biden", "biden.jpg");
    enrol(&s, "/v1/collections/beta", "q", "Barack Obama", "obama2.jpg");
    assert_eq!(s.get("/v1/collections/alpha/subjects/p").json["name"], "Joe Biden");
    assert_eq!(s.get("/v1/subjects/p").json["name"], "Barack Obama");
    assert_eq!(s.get("/v1/collections/alpha").json["faces"], 1);

    // Identify and search answer from the collection asked, and never with another's faces.
    assert_eq!(identify(&s, "/v1", "obama3.jpg").0.as_deref(), Some("p"));
    assert_eq!(identify(&s, "/v1/collections/beta", "obama3.jpg").0.as_deref(), Some("q"));
    let (matched, candidates) = identify(&s, "/v1/collections/alpha", "obama3.jpg");
    assert_eq!(matched, None, "alpha holds no Obama: a stranger there");
    assert_eq!(candidates, ["p"], "alpha's only subject, its Biden");
    let r = s.multipart("/v1/collections/alpha/search", &[("image", Part::File(&bytes("obama3.jpg")))]);
    assert_eq!(r.status, 200, "{}", r.json);
    let hits = r.json["results"].as_array().unwrap();
    assert!(hits.iter().all(|h| h["subject_id"] == "p"), "{}", r.json);
    // Verify against a subject uses that collection's subject.
    let verify = |base: &str, subject: &str| {
        let parts = [("image", Part::File(&bytes("obama3.jpg"))), ("subject_id", Part::Text(subject))];
        s.multipart(&format!("{base}/verify"), &parts)
    };
    assert_eq!(verify("/v1", "p").json["same"], true);
    assert_eq!(verify("/v1/collections/alpha", "p").json["same"], false);
    let r = verify("/v1/collections/alpha", "q");
    assert_eq!((r.status, r.json["code"].as_str()), (404, Some("not_found")), "beta's subject is not alpha's");

    // A collection that does not exist is 404 on every route.
    for path in ["/v1/collections/nope", "/v1/collections/nope/subjects", "/v1/collections/nope/subjects/p"] {
        let r = s.get(path);
        assert_eq!((r.status, r.json["code"].as_str()), (404, Some("not_found")), "{path}: {}", r.json);
    }

    // Renamed (the id stays); `default` keeps its name and cannot be deleted.
    let r = s.json("PATCH", "/v1/collections/alpha", &json!({ "name": "Team A" }));
    assert_eq!((r.status, r.json["name"].as_str(), r.json["id"].as_str()), (200, Some("Team A"), Some("alpha")));
    assert_eq!(s.delete("/v1/collections/default").status, 422);

    // Deleting alpha erases it, and leaves beta and default byte for byte as they were.
    let before = (export(&s, "beta", &dir.path().join("b1.npy")), export(&s, "default", &dir.path().join("d1.npy")));
    let r = s.delete("/v1/collections/alpha");
    assert_eq!((r.status, r.json["deleted_faces"].as_u64()), (200, Some(1)), "{}", r.json);
    assert_eq!(s.get("/v1/collections/alpha").status, 404);
    assert_eq!(s.get("/v1/collections/alpha/subjects/p").status, 404);
    assert!(!dir.path().join("collections").join("alpha").exists(), "its folder is gone");
    let after = (export(&s, "beta", &dir.path().join("b2.npy")), export(&s, "default", &dir.path().join("d2.npy")));
    assert!(before == after, "the other collections are unchanged");
    assert_eq!(identify(&s, "/v1/collections/beta", "obama3.jpg").0.as_deref(), Some("q"));

    // A deleted id can be created again, empty.
    let r = s.json("POST", "/v1/collections", &json!({ "id": "alpha" }));
    assert_eq!((r.status, r.json["faces"].as_u64()), (201, Some(0)), "{}", r.json);
}

#[test]
fn collections_survive_a_restart_and_the_cli_reaches_one_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), &[]);
    assert_eq!(s.json("POST", "/v1/collections", &json!({ "id": "alpha" })).status, 201);
    enrol(&s, "/v1/collections/alpha", "b", "Joe Biden", "biden.jpg");
    s.restart(true);
    let list: Value = s.get("/v1/collections").json;
    let alpha = list["collections"].as_array().unwrap().iter().find(|c| c["id"] == "alpha").cloned().unwrap();
    assert_eq!((alpha["faces"].as_u64(), alpha["subjects"].as_u64()), (Some(1), Some(1)), "{list}");
    assert_eq!(s.get("/v1/subjects").json["total"], 0, "default stays empty");
    s.stop(true);

    // `visage check` on the collection by name; an unknown collection is not found.
    let run = |collection: &str| {
        Command::new(env!("CARGO_BIN_EXE_visage"))
            .args(["check", "--data-dir"])
            .arg(dir.path())
            .args(["--collection", collection])
            .output()
            .unwrap()
    };
    let out = run("alpha");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["store_faces"].as_u64(), Some(1), "{report}");
    let out = run("nope");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_scoped_key_sees_only_its_collections_with_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keys.toml");
    // One key in plain, one as its SHA-256 only.
    let reader_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"beta-reader-31f0"));
    std::fs::write(
        &config,
        format!(
            "[server]\napi_keys = [\"root-key-8c1d\"]\n[server.scoped_keys]\n\
             \"alpha-writer-77ab\" = {{ role = \"write\", collections = [\"alpha\"] }}\n\
             \"sha256:{reader_digest}\" = {{ role = \"read\", collections = [\"beta\"] }}\n"
        ),
    )
    .unwrap();
    let s = Server::start(&dir.path().join("data"), &[("VISAGE_CONFIG", config.to_str().unwrap())]);
    let call = |method: &str, path: &str, key: &str, body: Value| {
        s.raw(method, path, "application/json", body.to_string().as_bytes(), &[("x-api-key", key)])
    };
    let code = |r: &common::server::Reply| (r.status, r.json["code"].as_str().unwrap_or_default().to_string());
    let (root, writer, reader) = ("root-key-8c1d", "alpha-writer-77ab", "beta-reader-31f0");
    for id in ["alpha", "beta"] {
        assert_eq!(call("POST", "/v1/collections", root, json!({ "id": id })).status, 201);
    }

    // The writer works in alpha, and sees nothing else: not beta, not default, not its jobs.
    assert_eq!(
        call("POST", "/v1/collections/alpha/subjects", writer, json!({ "id": "b", "name": "Joe Biden" })).status,
        201
    );
    let enrol = s.multipart_with(
        "/v1/collections/alpha/subjects/b/faces",
        &[("image", Part::File(&bytes("biden.jpg")))],
        &[("x-api-key", writer)],
    );
    assert_eq!(enrol.status, 201, "{}", enrol.json);
    let listed = call("GET", "/v1/collections", writer, Value::Null);
    let ids: Vec<&str> =
        listed.json["collections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alpha"]);
    let not_found = (404, "not_found".to_string());
    for (method, path) in [
        ("GET", "/v1/collections/beta"),
        ("GET", "/v1/collections/beta/subjects"),
        ("POST", "/v1/collections/beta/subjects"),
        ("DELETE", "/v1/collections/beta"),
        ("PATCH", "/v1/collections/beta"),
        ("GET", "/v1/subjects"),
        ("GET", "/v1/collections/nope/subjects"),
    ] {
        let r = call(method, path, writer, json!({ "id": "x", "name": "x" }));
        assert_eq!(code(&r), not_found, "{method} {path}: {}", r.json);
        assert!(!r.json["message"].as_str().unwrap().contains("forbidden"), "{}", r.json);
    }
    let forbidden = (403, "forbidden".to_string());
    assert_eq!(code(&call("POST", "/v1/collections", writer, json!({ "id": "mine" }))), forbidden);
    assert_eq!(code(&call("DELETE", "/v1/collections/alpha", writer, Value::Null)), forbidden);
    assert_eq!(code(&call("GET", "/v1/collections/alpha/jobs/any", writer, Value::Null)), forbidden, "jobs need admin");

    // The reader reads beta, writes nothing, and sees no alpha.
    assert_eq!(
        call("POST", "/v1/collections/beta/subjects", root, json!({ "id": "o", "name": "Barack Obama" })).status,
        201
    );
    let r = s.multipart_with(
        "/v1/collections/beta/subjects/o/faces",
        &[("image", Part::File(&bytes("obama.jpg")))],
        &[("x-api-key", root)],
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s.multipart_with(
        "/v1/collections/beta/identify",
        &[("image", Part::File(&bytes("obama2.jpg")))],
        &[("x-api-key", reader)],
    );
    assert_eq!((r.status, r.json["faces"][0]["match"]["subject_id"].as_str()), (200, Some("o")), "{}", r.json);
    assert_eq!(code(&call("POST", "/v1/collections/beta/subjects", reader, json!({ "name": "x" }))), forbidden);
    assert_eq!(code(&call("GET", "/v1/collections/alpha/subjects/b", reader, Value::Null)), not_found);
    // Nor does the digest itself open anything.
    assert_eq!(call("GET", "/v1/collections/beta", &format!("sha256:{reader_digest}"), Value::Null).status, 401);
    // The root key sees every collection.
    assert_eq!(call("GET", "/v1/collections", root, Value::Null).json["collections"].as_array().unwrap().len(), 3);
}

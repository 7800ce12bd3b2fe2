//! The evaluation harness and threshold calibration on real photos, as a user runs them:
//! `visage eval` on a labelled folder, `visage calibrate`, `POST /v1/eval`, `/v1/calibrate`.
//! (The metrics' arithmetic is checked against hand-computed values in `src/eval`'s tests.)

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn visage(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_visage")).args(args).output().expect("run visage");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn eval_on_a_labelled_folder_reports_every_figure_and_an_html_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, out) = (tmp.path().join("set"), tmp.path().join("report"));
    let counts = common::labelled_set(&root);
    let photos: usize = counts.values().sum();
    let genuine: usize = counts.values().map(|n| n * (n - 1) / 2).sum();
    let impostor = photos * (photos - 1) / 2 - genuine;
    let probes: usize = counts.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    let (code, summary, err) = visage(&["eval", s(&root), "--out", s(&out), "--distractors", "1000", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["photos"], photos + 1);
    assert_eq!((summary["embedded"].as_u64(), summary["failed_to_embed"].as_u64()), (Some(photos as u64), Some(1)));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let d = &report["dataset"];
    assert_eq!((d["subjects"].as_u64(), d["samples"].as_u64()), (Some(counts.len() as u64), Some(photos as u64)));
    assert_eq!(
        (d["genuine_pairs"].as_u64(), d["impostor_pairs"].as_u64()),
        (Some(genuine as u64), Some(impostor as u64))
    );
    assert_eq!(report["identification"]["probes"], probes);
    assert_eq!(report["failures"][0]["outcome"], "no_face");
    // Real recognition on real photos: these are the model's figures, not fixtures; a broken
    // detector, alignment or embedder drops them far below.
    let top1 = summary["top1"].as_f64().unwrap();
    let auc = summary["auc"].as_f64().unwrap();
    assert!(top1 >= 0.9 && auc >= 0.97, "top-1 {top1}, AUC {auc}");
    let cmc: Vec<f64> =
        report["identification"]["cmc"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(cmc.windows(2).all(|w| w[0] <= w[1]) && cmc[0] == top1, "CMC {cmc:?}");
    let v = &report["verification"];
    assert!(v["genuine"]["mean"].as_f64().unwrap() > v["impostor"]["mean"].as_f64().unwrap() + 0.4);
    assert!(v["tar_at_far"][0]["tar"].as_f64().unwrap() >= 0.9, "TAR at FAR 0.1");
    assert!(v["tar_at_far"][3]["reason"].as_str().unwrap().contains("cannot measure"), "FAR 1e-4 needs more pairs");
    assert!(report["classification"]["macro_f1"].as_f64().unwrap() >= 0.85);
    assert!(report["open_set"]["held_out_subjects"].as_array().is_some_and(|h| !h.is_empty()));
    // MegaFace-style: rank-1 can only fall as distractors join the gallery.
    let points = report["distractors"]["curve"].as_array().unwrap();
    let rank1: Vec<f64> = points.iter().map(|p| p["top1"].as_f64().unwrap()).collect();
    assert_eq!(points.last().unwrap()["distractors"], 1000);
    assert!(rank1.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{rank1:?}");
    let html = std::fs::read_to_string(out.join("eval.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("T1_Person_1") && !html.contains("src=\"http"));

    // The LFW protocol: only the listed pairs are verified.
    let pairs = tmp.path().join("pairs.txt");
    std::fs::write(
        &pairs,
        "1\t2\nBarack_Obama\t1\t3\nJoe_Biden\t1\t2\nBarack_Obama\t2\tJoe_Biden\t1\nGrace_Hopper\t1\tT1_Person_2\t2\n",
    )
    .unwrap();
    let (code, summary, err) = visage(&["eval", s(&root), "--out", s(&out), "--pairs", s(&pairs), "-q"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(
        (report["dataset"]["genuine_pairs"].as_u64(), report["dataset"]["impostor_pairs"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(summary["auc"], 1.0);
    assert_eq!(summary["unresolved_pairs"], 0);
}

fn visage_with(env: &[(&str, &str)], args: &[&str]) -> (i32, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_visage"));
    command.args(args).envs(env.iter().copied());
    let out = command.output().expect("run visage");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), stderr)
}

/// MegaFace-style with the user's own distractors: embeddings near the real photos' faces, in a
/// `.npy` and in a `.jsonl`, go through the index the gallery is configured with (scan by
/// default, exact with `VISAGE_INDEX__KIND=exact`), and both answer as brute force does.
#[test]
fn eval_with_a_distractors_file_draws_the_curve_through_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, out) = (tmp.path().join("set"), tmp.path().join("report"));
    common::labelled_set(&root);
    // Near the faces of the set's subjects (cosine about 0.5–0.95), so that some beat the gallery.
    let faces: Vec<Vec<f32>> = ["obama.jpg", "obama3.jpg", "hopper.jpg", "biden.jpg", "astronaut.png"]
        .iter()
        .map(|p| common::one_face(p).embedding.vector)
        .collect();
    let mut rng = visage::synth::Rng::new(5);
    let distractors: Vec<Vec<f32>> = (0..3000)
        .map(|j| {
            let sigma = 0.02 + 0.1 * (j % 11) as f32 / 10.0;
            let v: Vec<f32> = faces[j % faces.len()].iter().map(|x| x + sigma * rng.normal() as f32).collect();
            visage::index::normalize(&v).unwrap()
        })
        .collect();
    let (npy, jsonl) = (tmp.path().join("d.npy"), tmp.path().join("d.jsonl"));
    common::write_npy(&npy, &distractors);
    let lines: Vec<String> =
        distractors.iter().map(|v| json!({ "subject": "distractor", "embedding": v }).to_string()).collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();

    let mut curves = vec![];
    for (file, kind) in [(&npy, "scan"), (&npy, "exact"), (&jsonl, "scan")] {
        let args = ["eval", s(&root), "--out", s(&out), "--distractors-file", s(file), "-q"];
        let (code, summary, err) = visage_with(&[("VISAGE_INDEX__KIND", kind)], &args);
        assert_eq!(code, 0, "{err}");
        let d = &summary["distractors"];
        assert_eq!(
            (d["source"].as_str(), d["engine"].as_str(), d["distractors"].as_u64()),
            (Some("given"), Some(kind), Some(3000))
        );
        let check = &d["exact_check"];
        assert_eq!((check["probes"].as_u64(), check["distractors"].as_u64()), (summary["probes"].as_u64(), Some(3000)));
        assert_eq!(check["agreement"], 1.0, "{d:#}");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
        assert_eq!(&report["distractors"], d);
        assert!(std::fs::read_to_string(out.join("eval.html")).unwrap().contains(&format!("through the {kind} index")));
        curves.push(d["curve"].clone());
    }
    let top1: Vec<f64> = curves[0].as_array().unwrap().iter().map(|p| p["top1"].as_f64().unwrap()).collect();
    assert!(top1.len() == 5 && top1[4] < top1[0], "the distractors must bite: {top1:?}");
    assert!(curves.iter().all(|c| *c == curves[0]), "{curves:?}");

    // A bad row is refused with its line, as by import.
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{}\n{{\"embedding\": [1.0, 2.0]}}\n", lines[0], lines[1])).unwrap();
    let (code, _, err) = visage(&["eval", s(&root), "--out", s(&out), "--distractors-file", s(&bad), "-q"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid_source") && err.contains("line 3"), "{err}");
}

/// A labelled folder made of symbolic links (each photo a link, one subject folder a link to a
/// folder elsewhere) evaluates exactly as the folder it links to.
#[cfg(unix)]
#[test]
fn eval_follows_a_labelled_folder_of_symbolic_links() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, root, out) = (tmp.path().join("store"), tmp.path().join("linked"), tmp.path().join("report"));
    let counts = common::labelled_set(&store);
    common::link_set(&store, &root, "Grace_Hopper");
    assert!(std::fs::symlink_metadata(root.join("Grace_Hopper")).unwrap().file_type().is_symlink());
    let photos: usize = counts.values().sum();
    let (code, summary, err) = visage(&["eval", s(&root), "--out", s(&out), "-q"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (summary["photos"].as_u64(), summary["embedded"].as_u64()),
        (Some(photos as u64 + 1), Some(photos as u64))
    );
    assert_eq!(summary["subjects"], counts.len());
    assert!(summary["top1"].as_f64().unwrap() >= 0.9, "{summary:#}");
}

#[test]
fn calibration_on_the_gallery_sets_the_thresholds_the_service_decides_with() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, data) = (tmp.path().join("set"), tmp.path().join("data"));
    common::labelled_set(&root);
    let (code, out, err) = visage(&["enroll", s(&root), "--data-dir", s(&data), "--multi-face", "largest", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(out["counts"]["enrolled"].as_u64().unwrap() >= 25, "{out:#}");

    // Too small a gallery for FAR 1e-6: said so, nothing applied.
    let (code, _, err) = visage(&["calibrate", "--data-dir", s(&data), "--far", "1e-6", "--apply"]);
    assert_eq!(code, 2);
    assert!(err.contains("insufficient_data"), "{err}");
    let (code, cal, err) = visage(&["calibrate", "--data-dir", s(&data), "--far", "0.01", "--fpir", "0.1", "--apply"]);
    assert_eq!(code, 0, "{err}");
    let t = &cal["thresholds"];
    let (compare, identify) = (t["compare"].as_f64().unwrap() as f32, t["identify"].as_f64().unwrap() as f32);
    // Derived from the impostor distribution: above most strangers, below same-person photos.
    let c = &cal["calibration"];
    assert!(c["impostor_pairs"].as_u64().unwrap() >= 100);
    assert!((0.1..0.7).contains(&compare) && (0.1..0.8).contains(&identify), "{cal:#}");
    assert_eq!(cal["applied"], true);

    // The service starts with the calibrated thresholds and decides with them.
    let server = common::server::Server::start(&data, &[]);
    let in_force = server.get("/v1/calibrate").json;
    let f = |v: &Value| v.as_f64().map(|x| x as f32);
    assert_eq!((in_force["source"].as_str(), f(&in_force["compare"])), (Some("calibrated"), Some(compare)));
    // The FPIR the identify threshold gives at the gallery's size, measured as calibrated: every
    // face searched against everybody else, so at most the 10 % target.
    let faces = out["counts"]["enrolled"].as_u64().unwrap();
    assert_eq!(in_force["gallery_faces"].as_u64(), Some(faces));
    let e = &in_force["fpir_estimate"];
    assert_eq!((e["probes"].as_u64(), e["method"].as_str()), (Some(faces), Some("leave_one_subject_out")));
    assert_eq!(f(&e["threshold"]), Some(identify));
    assert!(e["fpir"].as_f64().unwrap() <= 0.1, "{e}");
    let r = server.multipart(
        "/v1/verify",
        &[
            ("image_a", common::server::Part::File(&common::bytes("obama.jpg"))),
            ("image_b", common::server::Part::File(&common::bytes("obama3.jpg"))),
        ],
    );
    assert_eq!((r.status, f(&r.json["threshold"])), (200, Some(compare)));
    assert_eq!(r.json["same"], true);
    // `visage compare` on the same pair decides with the same threshold in force, and so the same.
    let (a, b) = (common::photo("obama.jpg"), common::photo("obama3.jpg"));
    let (code, cmp, err) = visage(&["compare", s(&a), s(&b), "--data-dir", s(&data)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((f(&cmp["threshold"]), cmp["threshold_source"].as_str()), (Some(compare), Some("calibrated")), "{cmp}");
    assert_eq!(cmp["best"]["same"], r.json["same"], "{cmp}");
    // CompreFace's verification answers a similarity only, (1 + cosine) / 2, which its clients
    // hold to a threshold of their own: the same comparison, and at the threshold in force
    // (mapped the same way) the same decision.
    let v1_similarity = f(&r.json["similarity"]).unwrap();
    let cf = server.multipart(
        "/api/v1/verification/verify",
        &[
            ("source_image", common::server::Part::File(&common::bytes("obama.jpg"))),
            ("target_image", common::server::Part::File(&common::bytes("obama3.jpg"))),
        ],
    );
    assert_eq!(cf.status, 200, "{}", cf.json);
    let cf_similarity = f(&cf.json["result"][0]["face_matches"][0]["similarity"]).unwrap();
    assert!((cf_similarity - (1.0 + v1_similarity) / 2.0).abs() < 1e-4, "{cf_similarity} vs {v1_similarity}");
    assert_eq!(json!(cf_similarity >= (1.0 + compare) / 2.0), r.json["same"]);
    let (_, cmp, _) = visage(&["compare", s(&a), s(&b), "--data-dir", s(&data), "--threshold", "0.99"]);
    assert_eq!((f(&cmp["threshold"]), &cmp["best"]["same"]), (Some(0.99), &json!(false)), "--threshold overrides");
    // Recalibration over HTTP for another target, applied live.
    let r = server.json("POST", "/v1/calibrate", &json!({ "target_far": 0.1, "target_fpir": 0.2, "apply": true }));
    assert_eq!(r.status, 200, "{}", r.json);
    let looser = f(&r.json["in_force"]["compare"]).unwrap();
    assert!(looser <= compare, "a higher FAR target gives a lower threshold: {looser} vs {compare}");
    assert_eq!(f(&server.get("/v1/calibrate").json["compare"]), Some(looser));
    let r = server.json("POST", "/v1/calibrate", &json!({ "target_far": 1e-7, "apply": true }));
    assert_eq!((r.status, r.json["code"].as_str()), (422, Some("insufficient_data")));
    let r = server.json("POST", "/v1/calibrate", &json!({ "target_far": 2.0 }));
    assert_eq!(r.status, 422);

    // The evaluation protocol over the enrolled gallery.
    let r = server.json("POST", "/v1/eval", &json!({ "gallery_per_subject": 1, "open_set_fraction": 0.25 }));
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["identification"]["top1"].as_f64().unwrap() >= 0.9, "{}", r.json["identification"]);
    assert!(r.json["verification"]["auc"].as_f64().unwrap() >= 0.97);
    let (status, content_type, html) = server.post_text("/v1/eval?format=html", &json!({}));
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.contains("<svg") && html.contains("Barack_Obama"));
    let r = server.json("POST", "/v1/eval", &json!({ "gallery_per_subject": 0 }));
    assert_eq!((r.status, r.json["code"].as_str()), (422, Some("invalid_evaluation")));
}

#[test]
fn the_identify_threshold_follows_the_gallery_size_when_targets_are_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, data) = (tmp.path().join("set"), tmp.path().join("data"));
    common::labelled_set(&root);
    let (code, out, err) = visage(&["enroll", s(&root), "--data-dir", s(&data), "--multi-face", "largest", "-q"]);
    assert_eq!(code, 0, "{err}");
    let faces = out["counts"]["enrolled"].as_u64().unwrap();
    let env = [
        ("VISAGE_COMPARE__TARGET_FAR", "0.01"),
        ("VISAGE_IDENTIFY__TARGET_FPIR", "0.1"),
        ("VISAGE_SERVER__PERSIST_INTERVAL_S", "1"),
    ];
    let server = common::server::Server::start(&data, &env);
    let before = server.get("/v1/calibrate").json;
    assert_eq!((before["source"].as_str(), before["gallery_faces"].as_u64()), (Some("calibrated"), Some(faces)));
    let identify = before["identify"].as_f64().unwrap();
    // A third more faces, each the very photo of somebody else enrolled under a new subject: at
    // this size strangers that close must be rejected, so the threshold has to rise.
    let added = faces.div_ceil(3);
    let photo = common::bytes("obama.jpg");
    for i in 0..added {
        let id = format!("twin-{i}");
        let r = server.json("POST", "/v1/subjects", &json!({ "id": id, "name": id }));
        assert_eq!(r.status, 201, "{}", r.json);
        let r = server.multipart(&format!("/v1/subjects/{id}/faces"), &[("image", common::server::Part::File(&photo))]);
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let after = loop {
        let t = server.get("/v1/calibrate").json;
        if t["gallery_faces"].as_u64() != Some(faces) || std::time::Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    // Calibrated again once the gallery grew by a quarter: whichever size the periodic check
    // saw first past that step (the adds may still have been under way).
    let size = after["gallery_faces"].as_u64().unwrap_or(0);
    assert!(size as f64 > faces as f64 * 1.25 && size <= faces + added, "{after:#}");
    let raised = after["identify"].as_f64().unwrap();
    assert!(raised > identify, "identify threshold {identify} -> {raised}");
    assert!(after["fpir_estimate"]["fpir"].as_f64().unwrap() <= 0.1, "{after:#}");
}

//! The `visage` command line, run as a user runs it.

mod common;

use std::process::Command;

use serde_json::Value;

fn visage(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_visage")).args(args).output().expect("run visage");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn arg(name: &str) -> String {
    common::photo(name).to_string_lossy().into_owned()
}

#[test]
fn detect_prints_faces_and_draws_them() {
    let out = std::env::temp_dir().join(format!("visage-draw-{}.png", std::process::id()));
    let (code, json, err) = visage(&["detect", &arg("t1.jpg"), "--draw", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let faces = json["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 6);
    for f in faces {
        assert!(f["score"].as_f64().unwrap() >= 0.6);
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    }
    let drawn = image::open(&out).unwrap().to_rgb8();
    let original = image::open(common::photo("t1.jpg")).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), original.dimensions());
    // The box outline of the first face is drawn in green on its top edge.
    let b = &faces[0]["bbox"];
    let (x, y) = (
        ((b["x1"].as_f64().unwrap() + b["x2"].as_f64().unwrap()) / 2.0) as u32,
        b["y1"].as_f64().unwrap().round() as u32,
    );
    assert_eq!(drawn.get_pixel(x, y).0, [0, 255, 0]);
    std::fs::remove_file(out).ok();
}

#[test]
fn embed_prints_one_unit_vector_per_face() {
    let (code, json, err) = visage(&["embed", &arg("faces.jpg")]);
    assert_eq!(code, 0, "{err}");
    let faces = json["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    for f in faces {
        let v: Vec<f64> = f["embedding"]["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(v.len(), 128);
        assert!((v.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn compare_decides_same_and_different() {
    let (code, same, err) = visage(&["compare", &arg("obama.jpg"), &arg("obama2.jpg")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(same["best"]["same"], Value::Bool(true), "{same}");
    let (_, different, _) = visage(&["compare", &arg("obama.jpg"), &arg("biden.jpg")]);
    assert_eq!(different["best"]["same"], Value::Bool(false), "{different}");
    assert!(different["threshold"].as_f64().unwrap() > 0.3);
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let (code, _, err) = visage(&["detect", &arg("not_an_image.jpg")]);
    assert_eq!(code, 2);
    assert!(err.contains("[unsupported_format]") && !err.contains("panicked"), "{err}");
    let (code, _, err) = visage(&["embed", "/nonexistent/photo.jpg"]);
    assert_ne!(code, 0);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_models_or_runtime_name_the_setup_command() {
    for (var, value) in
        [("VISAGE_EMBEDDER__MODEL", "models/absent.onnx"), ("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_visage"))
            .args(["detect", &arg("obama.jpg")])
            .env(var, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(err.contains("[setup_required]") && err.contains("./scripts/setup.sh"), "{err}");
    }
}

//! `visage bench soak` for one minute against a real server: a mixed workload above
//! saturation with only expected answers, flat memory and descriptors, bounded latency.

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn one_minute_soak_above_saturation_passes() {
    let photos = tempfile::tempdir().unwrap();
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "faces.jpg"] {
        std::fs::copy(common::photo(name), photos.path().join(name)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_visage"))
        .args(["bench", "soak", "--minutes", "1", "--clients", "8"])
        .arg(photos.path())
        .output()
        .expect("run visage bench soak");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}"));
    assert!(out.status.success(), "soak failed: {report:#}\n{stderr}");
    assert_eq!(report["passed"], true, "{report:#}");
    // Every kind of request ran, and /proc was sampled all along (every 10 s).
    for route in [
        "POST /v1/identify",
        "POST /v1/search",
        "POST /v1/subjects/{id}/faces",
        "DELETE /v1/faces/{id}",
        "POST /v1/jobs/enroll",
    ] {
        assert!(report["routes"][route]["requests"].as_u64().unwrap_or(0) > 0, "{route}: {report:#}");
    }
    assert!(report["samples"].as_array().map_or(0, Vec::len) >= 6, "{report:#}");
    assert!(report["slowest_ms"].as_f64().unwrap() <= report["latency_bound_ms"].as_f64().unwrap());
}

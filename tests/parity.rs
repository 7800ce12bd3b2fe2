//! Parity with a second implementation of the same models: OpenCV's `FaceDetectorYN` and
//! `FaceRecognizerSF` (run by scripts/oracle.py on the shipped int8 files) on the same PNGs.
//! Agreement here proves the YuNet decoder, the alignment and the embedder's input right.

mod common;

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct OracleImage {
    faces: Vec<OracleFace>,
    #[serde(default)]
    scrfd: Option<Vec<ScrfdFace>>,
}

#[derive(Deserialize)]
struct ScrfdFace {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
}

fn oracle() -> BTreeMap<String, OracleImage> {
    let dir = common::testdata();
    let text = std::fs::read_to_string(dir.join("oracle.json")).expect("oracle.json: run ./scripts/test.sh");
    let mut oracle: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    oracle.remove("opencv_version");
    oracle.into_iter().map(|(k, v)| (k, serde_json::from_value(v).unwrap())).collect()
}

/// Largest absolute difference between corresponding coordinates.
fn max_diff<'a>(a: impl IntoIterator<Item = &'a f32>, b: impl IntoIterator<Item = &'a f32>) -> f32 {
    a.into_iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[derive(Deserialize)]
struct OracleFace {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    embedding: Vec<f32>,
}

#[test]
fn matches_opencv_yunet_and_sface() {
    let oracle = oracle();
    assert!(oracle.len() >= 6, "oracle covers the parity photos");
    let p = common::pipeline();
    let (mut faces_checked, mut worst_px, mut worst_cos) = (0, 0f32, 1f32);
    for (name, expected) in oracle {
        let image = p.decode(&common::bytes(&format!("parity/{name}"))).unwrap();
        let ours = p.faces(&image).unwrap();
        assert_eq!(ours.len(), expected.faces.len(), "{name}: face count");
        for e in &expected.faces {
            let [x, y, w, h] = e.bbox;
            // Pair faces by box centre (orders differ: OpenCV sorts by score, Visage by size).
            let centre = |b: &visage::pipeline::detect::BBox| {
                ((b.x1 + b.x2) / 2.0 - (x + w / 2.0)).hypot((b.y1 + b.y2) / 2.0 - (y + h / 2.0))
            };
            let f = ours.iter().min_by(|a, b| centre(&a.detection.bbox).total_cmp(&centre(&b.detection.bbox))).unwrap();
            let b = f.detection.bbox;
            let box_err = [b.x1 - x, b.y1 - y, b.width() - w, b.height() - h].iter().fold(0f32, |m, v| m.max(v.abs()));
            let lm_err = f
                .detection
                .landmarks
                .iter()
                .zip(&e.landmarks)
                .fold(0f32, |m, (p, q)| m.max((p[0] - q[0]).abs()).max((p[1] - q[1]).abs()));
            let cos = visage::index::dot(&f.embedding.vector, &e.embedding);
            assert!(box_err <= 1.0, "{name}: box off by {box_err} px ({b:?} vs {:?})", e.bbox);
            assert!(lm_err <= 1.0, "{name}: landmark off by {lm_err} px");
            assert!(cos >= 0.999, "{name}: embedding cosine {cos} to OpenCV's");
            worst_px = worst_px.max(box_err).max(lm_err);
            worst_cos = worst_cos.min(cos);
            faces_checked += 1;
        }
    }
    assert!(faces_checked >= 10, "{faces_checked} faces compared");
    eprintln!("parity: {faces_checked} faces, worst coordinate error {worst_px:.3} px, worst cosine {worst_cos:.5}");
}

#[test]
fn scrfd_matches_the_scrfd_package() {
    let mut settings = common::settings();
    settings.detector.model = "models/scrfd_2.5g_kps.onnx".into();
    let detector = visage::pipeline::detect::OnnxDetector::load(&settings.detector, &settings.runtime).unwrap();
    let p = common::pipeline();
    let mut checked = 0;
    for (name, expected) in oracle() {
        let Some(faces) = expected.scrfd else { continue };
        let image = p.decode(&common::bytes(&format!("parity/{name}"))).unwrap();
        let mut ours = visage::pipeline::detect::Detector::detect(&detector, &image).unwrap();
        let mut theirs = faces;
        assert_eq!(ours.len(), theirs.len(), "{name}: face count");
        ours.sort_by(|a, b| a.bbox.x1.total_cmp(&b.bbox.x1));
        theirs.sort_by(|a, b| a.bbox[0].total_cmp(&b.bbox[0]));
        for (o, t) in ours.iter().zip(&theirs) {
            let b = [o.bbox.x1, o.bbox.y1, o.bbox.x2, o.bbox.y2];
            assert!(max_diff(&b, &t.bbox) <= 1.0, "{name}: box {b:?} vs {:?}", t.bbox);
            assert!(max_diff(o.landmarks.as_flattened(), t.landmarks.as_flattened()) <= 1.0, "{name}: landmarks");
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} SCRFD faces compared");
}

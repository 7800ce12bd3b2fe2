//! Model configuration: SCRFD (InsightFace det format) agreeing with YuNet, family recognition
//! from the graph, and the embedder's input normalisation found from the graph. (The SCRFD
//! decoder's exact parity with the `scrfd` package is in tests/parity.rs.)

mod common;

use std::path::PathBuf;

use visage::config::{DetectorFamilySetting, NormalizationSetting};
use visage::pipeline::detect::{Detector, DetectorFamily, OnnxDetector};
use visage::pipeline::Face;
use visage::Pipeline;

fn with(edit: impl FnOnce(&mut visage::Settings)) -> Pipeline {
    let mut settings = common::settings();
    edit(&mut settings);
    Pipeline::load(&settings).expect("pipeline loads")
}

fn faces_of(p: &Pipeline, name: &str) -> Vec<Face> {
    p.faces(&p.decode(&common::bytes(name)).unwrap()).unwrap()
}

#[test]
fn scrfd_finds_the_same_faces_as_yunet() {
    let scrfd = with(|s| s.detector.model = PathBuf::from("models/scrfd_2.5g_kps.onnx"));
    let yunet = common::pipeline();
    let mut cosines = Vec::new();
    for (name, expected) in [("t1.jpg", 6), ("faces.jpg", 3), ("astronaut.png", 1), ("obama.jpg", 1)] {
        let (a, b) = (faces_of(&scrfd, name), faces_of(yunet, name));
        assert_eq!(a.len(), expected, "{name}: SCRFD face count");
        assert_eq!(b.len(), expected, "{name}: YuNet face count");
        for fa in &a {
            let iou = |f: &&Face| fa.detection.bbox.iou(&f.detection.bbox);
            let fb = b.iter().max_by(|x, y| iou(x).total_cmp(&iou(y))).unwrap();
            assert!(iou(&fb) > 0.5, "{name}: SCRFD box {:?} overlaps no YuNet box", fa.detection.bbox);
            cosines.push(fa.embedding.cosine(&fb.embedding).unwrap());
        }
    }
    // The two models place landmarks differently (mouth corners most), and SFace is sensitive to
    // alignment on tilted faces, so single faces may differ; most must embed alike.
    cosines.sort_by(f32::total_cmp);
    let median = cosines[cosines.len() / 2];
    assert!(median > 0.9, "median cosine between the two detectors' alignments: {median} ({cosines:?})");
}

#[test]
fn detector_family_is_recognised_from_the_graph_and_can_be_forced() {
    let settings = common::settings();
    let yunet = OnnxDetector::load(&settings.detector, &settings.runtime).unwrap();
    assert_eq!(yunet.family(), DetectorFamily::YuNet);
    let scrfd =
        OnnxDetector::load_path("models/scrfd_2.5g_kps.onnx".as_ref(), &settings.detector, &settings.runtime).unwrap();
    assert_eq!(scrfd.family(), DetectorFamily::Scrfd);
    assert!(scrfd.model_id().starts_with("scrfd_2.5g_kps@"));
    // Forcing the wrong family is caught when the outputs do not fit, not answered with garbage.
    let mut wrong = settings.detector.clone();
    wrong.family = DetectorFamilySetting::Scrfd;
    let forced = OnnxDetector::load(&wrong, &settings.runtime).unwrap();
    let image = common::pipeline().decode(&common::bytes("astronaut.png")).unwrap();
    let err = forced.detect(&image).unwrap_err();
    assert_eq!(err.code(), "incompatible_model", "{err}");
}

#[test]
fn embedder_normalisation_is_read_from_the_graph() {
    // SFace normalises inside its graph (Sub/Mul first), so "auto" must mean raw pixels.
    let raw = with(|s| s.embedder.normalization = NormalizationSetting::Raw);
    let symmetric = with(|s| s.embedder.normalization = NormalizationSetting::Symmetric);
    let auto = common::one_face("obama.jpg");
    let as_raw = faces_of(&raw, "obama.jpg").remove(0);
    let as_symmetric = faces_of(&symmetric, "obama.jpg").remove(0);
    assert!(auto.embedding.cosine(&as_raw.embedding).unwrap() > 0.99999);
    assert!(auto.embedding.cosine(&as_symmetric.embedding).unwrap() < 0.9, "wrong scaling changes the embedding");
}

#[test]
fn a_model_that_is_not_a_face_model_is_refused_clearly() {
    let settings = common::settings();
    let mut s = settings.clone();
    s.embedder.model = PathBuf::from("models/yunet_2023mar.onnx");
    let err = Pipeline::load(&s).err().expect("a detector is not an embedder");
    assert_eq!(err.code(), "incompatible_model", "{err}");
    let mut s = settings;
    s.detector.model = PathBuf::from("models/sface_2021dec.onnx");
    let err = Pipeline::load(&s).err().expect("an embedder is not a detector");
    assert_eq!(err.code(), "incompatible_model", "{err}");
}

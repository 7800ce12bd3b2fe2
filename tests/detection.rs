//! Detection on real photos: face counts, large images, every EXIF orientation.

mod common;

use common::{bytes, faces, pipeline};

fn count(name: &str) -> usize {
    let p = pipeline();
    let image = p.decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    p.detect(&image).unwrap().len()
}

#[test]
fn counts_faces_in_real_photos() {
    for (name, expected) in [("astronaut.png", 1), ("t1.jpg", 6), ("faces.jpg", 3), ("obama.jpg", 1), ("biden.jpg", 1)]
    {
        assert_eq!(count(name), expected, "{name}");
    }
}

#[test]
fn finds_no_face_where_there_is_none() {
    let dir = common::testdata();
    let mut names =
        vec!["coffee.png", "rocket.jpg", "baboon.jpg", "chelsea.png"].into_iter().map(String::from).collect::<Vec<_>>();
    let masks: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("mask_"))
        .collect();
    assert!(!masks.is_empty(), "insightface mask photos are part of the test data");
    names.extend(masks);
    for name in names {
        assert_eq!(count(&name), 0, "{name}");
    }
}

#[test]
fn faces_are_ordered_largest_first_and_deterministically() {
    let a = faces("t1.jpg");
    let areas: Vec<f32> = a.iter().map(|f| f.detection.bbox.area()).collect();
    assert!(areas.windows(2).all(|w| w[0] >= w[1]), "{areas:?}");
    let b = faces("t1.jpg");
    assert_eq!(a.iter().map(|f| &f.detection).collect::<Vec<_>>(), b.iter().map(|f| &f.detection).collect::<Vec<_>>());
}

#[test]
fn finds_the_face_in_a_5000x4000_photo_and_aligns_from_full_resolution() {
    let big = common::one_face("big_5000x4000.jpg");
    let original = common::one_face("obama.jpg");
    let b = big.detection.bbox;
    assert!(b.width() > 800.0, "the face spans the upscaled photo: {b:?}");
    let cos = common::cosine(&big, &original);
    assert!(cos >= 0.8, "upscaled photo embeds like the original: {cos}");
}

#[test]
fn every_exif_orientation_gives_the_same_face() {
    let reference = common::one_face("hopper.jpg");
    for n in 2..=8 {
        let name = format!("hopper_orientation_{n}.jpg");
        let face = common::one_face(&name);
        for (p, q) in face.detection.landmarks.iter().zip(reference.detection.landmarks.iter()) {
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
            assert!(d < 3.0, "{name}: landmark {p:?} vs upright {q:?} ({d:.1} px)");
        }
    }
}

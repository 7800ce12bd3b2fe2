//! Recognition on real photos: same person above the default threshold, different people
//! below, and robust embeddings under common photo degradations.

mod common;

use common::{cosine, one_face, settings};

#[test]
fn obama_photos_match_each_other_and_not_biden() {
    let threshold = settings().compare.threshold;
    let obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"].map(one_face);
    for i in 0..3 {
        for j in i + 1..3 {
            let c = cosine(&obama[i], &obama[j]);
            assert!(c >= threshold, "obama {i} vs {j}: {c} < {threshold}");
        }
    }
    let biden = one_face("biden.jpg");
    for (i, o) in obama.iter().enumerate() {
        let c = cosine(o, &biden);
        assert!(c < threshold, "obama {i} vs biden: {c} >= {threshold}");
    }
}

#[test]
fn degraded_copies_stay_close_to_the_original() {
    let original = one_face("obama.jpg");
    for name in ["obama_flip.jpg", "obama_bright.jpg", "obama_blur.jpg", "obama_q20.jpg", "obama_half.jpg"] {
        let c = cosine(&original, &one_face(name));
        assert!(c >= 0.8, "{name}: cosine {c} to the original");
    }
}

#[test]
fn embeddings_are_unit_length_and_tagged_with_the_model() {
    let face = one_face("astronaut.png");
    let norm: f32 = face.embedding.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert_eq!(face.embedding.vector.len(), 128);
    assert!(face.embedding.model.starts_with("sface_2021dec@"), "{}", face.embedding.model);
}

#[test]
fn all_faces_of_a_group_photo_embed_in_one_batch_like_one_by_one() {
    let p = common::pipeline();
    let image = p.decode(&common::bytes("t1.jpg")).unwrap();
    let detections = p.detect(&image).unwrap();
    let batched = p.embed(&image, detections.clone()).unwrap();
    for (d, b) in detections.into_iter().zip(&batched) {
        let single = p.embed(&image, vec![d]).unwrap().remove(0);
        assert!(cosine(&single, b) > 0.9999);
    }
    // Different people in the group: no pair is as close as the same person.
    let threshold = settings().compare.threshold;
    for i in 0..batched.len() {
        for j in i + 1..batched.len() {
            assert!(cosine(&batched[i], &batched[j]) < threshold, "faces {i} and {j} of t1.jpg");
        }
    }
}

/// A photo that already is an aligned crop (as LFW-aligned ships them) is embedded without
/// detection: the crop the pipeline made, given back as the whole image, and the same crop
/// upscaled to 224×224, embed as the face it came from.
#[test]
fn an_aligned_crop_embeds_as_the_face_it_came_from() {
    let face = one_face("obama.jpg");
    let p = common::pipeline();
    let up = image::imageops::resize(&face.crop, 224, 224, image::imageops::FilterType::CatmullRom);
    for crop in [face.crop.clone(), up] {
        let aligned = p.embed(&crop, vec![visage::pipeline::whole_image_face(&crop)]).unwrap().remove(0);
        let c = cosine(&face, &aligned);
        assert!(c >= 0.95, "{}px crop: cosine {c} to the detected face", crop.width());
    }
}

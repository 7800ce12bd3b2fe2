//! The engine's use cases called directly, without HTTP, on real photos and the real models:
//! verify, identify (open set), enrolment and subjects, merge, review of unknown faces and
//! calibration, each on its own data directory. Errors are checked by their stable code.

mod common;

use std::path::Path;

use image::{imageops, RgbImage};
use serde_json::json;
use visage::error::Code;
use visage::service::{EnrolOptions, Identified, IdentifyOptions, Mode, ReviewTarget, VerifyQuery};
use visage::{Engine, Result, Settings};

/// An engine over `dir` with the default settings.
fn open(dir: &Path) -> Engine {
    open_with(dir, |_| {})
}

/// An engine over `dir` with the default settings changed by `change`.
fn open_with(dir: &Path, change: impl FnOnce(&mut Settings)) -> Engine {
    let mut settings = common::settings();
    settings.server.data_dir = dir.to_path_buf();
    change(&mut settings);
    Engine::open(settings, Mode::Batch { workers: 1 }).expect("the engine opens")
}

/// The code of a call that must fail.
fn code<T>(r: Result<T>) -> Code {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

/// A photo encoded as PNG.
fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Creates a subject `id` named `name`.
async fn subject(e: &Engine, id: &str, name: &str) {
    e.create_subject(Some(id.into()), name.into(), json!(null)).await.unwrap();
}

/// Enrols the only face of `photo` for `subject`; the new face's id.
async fn enrol(e: &Engine, subject: &str, photo: &str) -> u64 {
    let (face, new) = e.enrol_face(subject.into(), common::bytes(photo), EnrolOptions::default()).await.unwrap();
    assert!(new, "{photo} is new for {subject}");
    face.id
}

async fn identify(e: &Engine, photo: &str, k: Option<usize>) -> Identified {
    let opts = IdentifyOptions { k, ..Default::default() };
    e.identify(common::bytes(photo), opts).await.unwrap()
}

/// The subject the only face of `photo` is identified as (None: unknown).
async fn who(e: &Engine, photo: &str) -> Option<String> {
    let answer = identify(e, photo, None).await;
    assert_eq!(answer.faces.len(), 1, "{photo}: one face");
    answer.faces[0].matched.as_ref().map(|c| c.subject_id.clone())
}

/// Review items named as the subject called `name`.
fn named(name: &str) -> ReviewTarget {
    ReviewTarget { subject_id: None, name: Some(name.into()) }
}

fn images(a: &str, b: &str) -> VerifyQuery {
    VerifyQuery::Images { a: common::bytes(a), b: common::bytes(b) }
}

#[tokio::test]
async fn verify_decides_at_the_threshold_in_force_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let threshold = e.thresholds().compare;
    assert_eq!((e.thresholds().source.as_str(), threshold), ("config", 0.48));

    let same = e.verify(images("obama.jpg", "obama2.jpg"), None, false).await.unwrap();
    assert!(same.same && same.similarity >= threshold, "two photos of Obama: {}", same.similarity);
    assert_eq!((same.threshold, same.model.as_str()), (threshold, e.gallery().unwrap().model()));
    let other = e.verify(images("obama.jpg", "biden.jpg"), None, false).await.unwrap();
    assert!(!other.same && other.similarity < threshold, "Obama and Biden: {}", other.similarity);
    assert_eq!(other.threshold, threshold);

    // A caller's threshold replaces the one in force: above the pair's score, not the same.
    let strict = e.verify(images("obama.jpg", "obama2.jpg"), Some(same.similarity + 0.01), false).await.unwrap();
    assert!(!strict.same);
    assert_eq!(strict.similarity, same.similarity, "the score does not depend on the threshold");
    for bad in [1.01, -1.01, f32::NAN] {
        assert_eq!(code(e.verify(images("obama.jpg", "obama2.jpg"), Some(bad), false).await), Code::InvalidParameter);
    }
    // Either image without a face.
    assert_eq!(code(e.verify(images("coffee.png", "obama.jpg"), None, false).await), Code::NoFace);
    assert_eq!(code(e.verify(images("obama.jpg", "coffee.png"), None, false).await), Code::NoFace);
    assert_eq!(code(e.verify(images("not_an_image.jpg", "obama.jpg"), None, false).await), Code::UnsupportedFormat);

    // Against a subject's enrolled faces: the best one counts.
    subject(&e, "obama", "Barack Obama").await;
    let subject_query =
        |photo: &str, id: &str| VerifyQuery::Subject { image: common::bytes(photo), subject_id: id.into() };
    assert_eq!(code(e.verify(subject_query("obama2.jpg", "obama"), None, false).await), Code::SubjectHasNoFaces);
    let face = enrol(&e, "obama", "obama.jpg").await;
    let v = e.verify(subject_query("obama2.jpg", "obama"), None, false).await.unwrap();
    assert!(v.same);
    assert!((v.similarity - same.similarity).abs() < 1e-4, "{} vs {}", v.similarity, same.similarity);
    assert!(matches!(v.reference, visage::service::Reference::Enrolled { face_id, .. } if face_id == face));
    assert!(!e.verify(subject_query("biden.jpg", "obama"), None, false).await.unwrap().same);
    assert_eq!(code(e.verify(subject_query("obama2.jpg", "nobody"), None, false).await), Code::SubjectNotFound);
}

#[tokio::test]
async fn identify_answers_the_enrolled_person_and_unknown_for_a_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    subject(&e, "a", "Barack Obama").await;
    subject(&e, "b", "Joe Biden").await;
    enrol(&e, "a", "obama.jpg").await;
    enrol(&e, "b", "biden.jpg").await;

    // Another photo of A is A, at the 1:N threshold in force.
    let answer = identify(&e, "obama2.jpg", None).await;
    assert_eq!((answer.threshold, answer.k), (e.thresholds().identify, e.settings().identify.k));
    let face = &answer.faces[0];
    let matched = face.matched.as_ref().expect("Obama's second photo is identified");
    assert_eq!((matched.subject_id.as_str(), matched.subject_name.as_str()), ("a", "Barack Obama"));
    assert!(matched.score >= answer.threshold);
    // Every subject is a candidate (k = 5 > 2), best first, the match among them.
    let ids: Vec<&str> = face.candidates.iter().map(|c| c.subject_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(face.candidates[0].score > face.candidates[1].score);
    assert_eq!(face.candidates[0].face_id, matched.face_id);

    // A person never enrolled is unknown, although the nearest stranger is a candidate.
    let stranger = identify(&e, "astronaut.png", None).await;
    let face = &stranger.faces[0];
    assert!(face.matched.is_none(), "the astronaut is nobody here: {:?}", face.matched);
    assert_eq!(face.candidates.len(), 2);
    assert!(face.candidates[0].score < stranger.threshold, "{:?}", face.candidates);
    assert!(face.candidates.windows(2).all(|w| w[0].score >= w[1].score));
    // ...and stays unknown at any k.
    assert!(identify(&e, "astronaut.png", Some(1)).await.faces[0].matched.is_none());

    // k bounds the candidates; the best one is the same.
    let one = identify(&e, "obama2.jpg", Some(1)).await;
    assert_eq!((one.k, one.faces[0].candidates.len()), (1, 1));
    assert_eq!(one.faces[0].candidates[0].subject_id, "a");
    // A photo of several people: every face answered, none given the same subject twice.
    let group = identify(&e, "t1.jpg", None).await;
    assert_eq!(group.faces.len(), 6);
    assert!(group.faces.iter().all(|f| f.matched.is_none()), "none of t1's people is enrolled");

    // A caller's threshold replaces the one in force: 1.0 makes everyone unknown.
    let opts = IdentifyOptions { threshold: Some(1.0), ..Default::default() };
    let strict = e.identify(common::bytes("obama2.jpg"), opts).await.unwrap();
    assert!(strict.faces[0].matched.is_none());
    assert_eq!(strict.faces[0].candidates[0].subject_id, "a", "candidates whatever the threshold");

    // Bad options and photos: stable codes.
    let max_k = e.settings().identify.max_k;
    for k in [0, max_k + 1] {
        let opts = IdentifyOptions { k: Some(k), ..Default::default() };
        assert_eq!(code(e.identify(common::bytes("obama2.jpg"), opts).await), Code::InvalidParameter, "k = {k}");
    }
    let opts = IdentifyOptions { threshold: Some(2.0), ..Default::default() };
    assert_eq!(code(e.identify(common::bytes("obama2.jpg"), opts).await), Code::InvalidParameter);
    assert_eq!(code(e.identify(Vec::new(), IdentifyOptions::default()).await), Code::EmptyImage);
    // No face is no error for identify: nobody to name.
    assert!(identify(&e, "coffee.png", None).await.faces.is_empty());
}

#[tokio::test]
async fn enrolment_is_idempotent_and_subjects_are_paged_renamed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    subject(&e, "obama", "Barack Obama").await;

    // The same photo twice for one subject: one face.
    let (first, new) = e.enrol_face("obama".into(), common::bytes("obama.jpg"), EnrolOptions::default()).await.unwrap();
    assert!(new);
    let (again, new) = e.enrol_face("obama".into(), common::bytes("obama.jpg"), EnrolOptions::default()).await.unwrap();
    assert!(!new, "the second enrolment of one photo is not new");
    assert_eq!(again.id, first.id);
    assert_eq!(e.faces("obama".into()).await.unwrap().len(), 1);
    assert_eq!(e.gallery().unwrap().len(), 1);

    // A photo of six people: which one must be said; a face index past them is refused.
    let t1 = || common::bytes("t1.jpg");
    assert_eq!(code(e.enrol_face("obama".into(), t1(), EnrolOptions::default()).await), Code::MultipleFaces);
    let sixth = EnrolOptions { face: Some(6), ..Default::default() };
    assert_eq!(code(e.enrol_face("obama".into(), t1(), sixth).await), Code::InvalidParameter);
    assert_eq!(
        code(e.enrol_face("obama".into(), common::bytes("coffee.png"), EnrolOptions::default()).await),
        Code::NoFace
    );
    assert_eq!(
        code(e.enrol_face("nobody".into(), common::bytes("obama2.jpg"), EnrolOptions::default()).await),
        Code::SubjectNotFound
    );
    assert_eq!(e.gallery().unwrap().len(), 1, "refused enrolments add nothing");
    subject(&e, "t1-largest", "The largest face of t1").await;
    let largest = EnrolOptions { face: Some(0), ..Default::default() };
    let (face, new) = e.enrol_face("t1-largest".into(), t1(), largest).await.unwrap();
    assert!(new && face.subject_id == "t1-largest");
    // A duplicate subject id is a conflict.
    let dup = e.create_subject(Some("obama".into()), "Other".into(), json!({})).await;
    assert_eq!(code(dup), Code::SubjectExists);

    // Paging, oldest first, with the total; a name filter.
    for i in 0..3 {
        subject(&e, &format!("extra-{i}"), &format!("Extra {i}")).await;
    }
    let (page, total) = e.subjects(0, 2, None).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(page.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["obama", "t1-largest"]);
    assert_eq!((page[0].faces, page[1].faces), (1, 1));
    let (page, _) = e.subjects(2, 2, None).await.unwrap();
    assert_eq!(page.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["extra-0", "extra-1"]);
    let (page, total) = e.subjects(4, 10, None).await.unwrap();
    assert_eq!((page.len(), total), (1, 5));
    assert!(e.subjects(5, 10, None).await.unwrap().0.is_empty());
    let (page, total) = e.subjects(0, 10, Some("extra".into())).await.unwrap();
    assert_eq!((page.len(), total), (3, 3), "the filter ignores ASCII case");
    for limit in [0, 1001] {
        assert_eq!(code(e.subjects(0, limit, None).await), Code::InvalidParameter);
    }

    // Rename and new metadata, separately or together.
    let renamed = e.update_subject("obama".into(), Some("Barack H. Obama".into()), None).await.unwrap();
    assert_eq!((renamed.name.as_str(), &renamed.metadata), ("Barack H. Obama", &json!({})));
    let tagged = e.update_subject("obama".into(), None, Some(json!({ "office": 44 }))).await.unwrap();
    assert_eq!((tagged.name.as_str(), &tagged.metadata), ("Barack H. Obama", &json!({ "office": 44 })));
    let read = e.subject("obama".into()).await.unwrap();
    assert_eq!((read.name, read.metadata, read.faces), (tagged.name, tagged.metadata, 1));
    assert_eq!(
        identify(&e, "obama2.jpg", None).await.faces[0].matched.as_ref().unwrap().subject_name,
        "Barack H. Obama"
    );
    assert_eq!(code(e.update_subject("nobody".into(), Some("X".into()), None).await), Code::SubjectNotFound);

    // Delete: the subject and its faces are gone, and its person is unknown again.
    assert_eq!(e.delete_subject("obama".into()).await.unwrap(), 1);
    assert_eq!(code(e.subject("obama".into()).await), Code::SubjectNotFound);
    assert_eq!(code(e.faces("obama".into()).await), Code::SubjectNotFound);
    assert_eq!(code(e.delete_subject("obama".into()).await), Code::SubjectNotFound);
    assert_eq!(who(&e, "obama2.jpg").await, None);
    assert_eq!(e.subjects(0, 10, None).await.unwrap().1, 4);
    assert_eq!(e.gallery().unwrap().len(), 1);
}

#[tokio::test]
async fn merging_moves_the_faces_and_removes_the_merged_subject() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    subject(&e, "a", "Barack Obama").await;
    subject(&e, "b", "Joe Biden").await;
    let a_face = enrol(&e, "a", "obama.jpg").await;
    let b_face = enrol(&e, "b", "biden.jpg").await;
    assert_eq!(who(&e, "biden.jpg").await.as_deref(), Some("b"));

    assert_eq!(code(e.merge_subject("a".into(), "a".into()).await), Code::InvalidParameter);
    assert_eq!(code(e.merge_subject("nobody".into(), "a".into()).await), Code::SubjectNotFound);
    assert_eq!(code(e.merge_subject("b".into(), "nobody".into()).await), Code::SubjectNotFound);
    assert_eq!(e.subject("b".into()).await.unwrap().faces, 1, "a refused merge changes nothing");

    let merged = e.merge_subject("b".into(), "a".into()).await.unwrap();
    assert_eq!((merged.id.as_str(), merged.name.as_str(), merged.faces), ("a", "Barack Obama", 2));
    let faces: Vec<u64> = e.faces("a".into()).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(faces, [a_face, b_face], "B's face is A's, with its id");
    assert_eq!(code(e.subject("b".into()).await), Code::SubjectNotFound);
    assert_eq!(e.subjects(0, 10, None).await.unwrap().1, 1);
    // B's photo now answers A, from B's former face.
    let answer = identify(&e, "biden.jpg", None).await;
    let matched = answer.faces[0].matched.as_ref().unwrap();
    assert_eq!((matched.subject_id.as_str(), matched.face_id), ("a", b_face));
    assert_eq!(answer.faces[0].candidates.len(), 1, "one subject left");
    assert_eq!(code(e.merge_subject("b".into(), "a".into()).await), Code::SubjectNotFound, "B is gone");
}

#[tokio::test]
async fn an_unknown_face_kept_for_review_becomes_a_subject_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_with(dir.path(), |s| s.review.enabled = true);
    subject(&e, "obama", "Barack Obama").await;
    enrol(&e, "obama", "obama.jpg").await;

    // A known face is not kept; an unknown one is, once per photo.
    assert_eq!(who(&e, "obama2.jpg").await.as_deref(), Some("obama"));
    assert_eq!(e.review_groups(0, 10).await.unwrap().total_items, 0);
    for _ in 0..2 {
        assert_eq!(who(&e, "astronaut.png").await, None);
    }
    let page = e.review_groups(0, 10).await.unwrap();
    assert!(page.enabled);
    assert_eq!((page.total_groups, page.total_items, page.threshold), (1, 1, e.thresholds().compare));
    let item = &page.groups[0].items[0];
    assert_eq!(item.source, "identify");
    assert!(e.review_crop(item.id).await.unwrap().starts_with(b"\x89PNG"));
    let items = vec![item.id];

    // Whom: a subject id or a name, exactly one.
    let both = ReviewTarget { subject_id: Some("obama".into()), name: Some("Eileen Collins".into()) };
    assert_eq!(code(e.name_review(items.clone(), both).await), Code::InvalidParameter);
    assert_eq!(code(e.name_review(items.clone(), ReviewTarget::default()).await), Code::InvalidParameter);
    assert_eq!(code(e.name_review(vec![], named("Eileen Collins")).await), Code::InvalidParameter);
    assert_eq!(code(e.name_review(vec![item.id + 1000], named("Eileen Collins")).await), Code::NotFound);
    assert_eq!(e.subjects(0, 10, None).await.unwrap().1, 1, "no subject created by a refused naming");
    assert_eq!(code(e.review_groups(0, 0).await), Code::InvalidParameter);

    let enrolled = e.name_review(items, named("Eileen Collins")).await.unwrap();
    let subject = enrolled.subject;
    assert_eq!((subject.name.as_str(), subject.faces, enrolled.faces.len()), ("Eileen Collins", 1, 1));
    assert_eq!(enrolled.faces[0].subject_id, subject.id);
    assert_eq!(e.review_groups(0, 10).await.unwrap().total_items, 0, "named faces leave review");
    // The next photo of her is recognised, and nothing more is kept.
    let flipped = png(&imageops::flip_horizontal(&common::rgb("astronaut.png")));
    let answer = e.identify(flipped, IdentifyOptions::default()).await.unwrap();
    assert_eq!(answer.faces[0].matched.as_ref().map(|c| c.subject_id.as_str()), Some(subject.id.as_str()));
    assert_eq!(e.review_groups(0, 10).await.unwrap().total_items, 0);
}

/// Several photos of four people (real ones and variants of them) and the six people of t1.jpg
/// (one face each), enrolled: 20 faces, 19 genuine pairs and 171 impostor pairs.
async fn enrol_people(e: &Engine) {
    let variants = |photo: &str| {
        let image = common::rgb(photo);
        [png(&image), png(&imageops::flip_horizontal(&image)), png(&imageops::colorops::brighten(&image, -40))]
    };
    let mut photos: Vec<(&str, Vec<u8>)> = vec![];
    for photo in ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama_q20.jpg"] {
        photos.push(("obama", common::bytes(photo)));
    }
    photos.push(("obama", png(&imageops::flip_horizontal(&common::rgb("obama2.jpg")))));
    for photo in ["hopper.jpg", "hopper_gray.jpg", "hopper_orientation_6.jpg"] {
        photos.push(("hopper", common::bytes(photo)));
    }
    photos.extend(variants("biden.jpg").map(|b| ("biden", b)));
    photos.extend(variants("astronaut.png").map(|b| ("collins", b)));
    for id in ["obama", "hopper", "biden", "collins"] {
        subject(e, id, id).await;
    }
    for (id, bytes) in photos {
        let (_, new) = e.enrol_face(id.into(), bytes, EnrolOptions::default()).await.unwrap();
        assert!(new, "{id}");
    }
    for i in 0..6 {
        let id = format!("t1-{i}");
        subject(e, &id, &id).await;
        let opts = EnrolOptions { face: Some(i), ..Default::default() };
        e.enrol_face(id, common::bytes("t1.jpg"), opts).await.unwrap();
    }
}

#[tokio::test]
async fn calibration_puts_thresholds_in_force_that_verify_and_identify_decide_with() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let configured = e.thresholds();
    assert_eq!((configured.source.as_str(), configured.compare, configured.identify), ("config", 0.48, 0.55));
    // One subject: no impostor pair to measure.
    subject(&e, "only", "Only").await;
    enrol(&e, "only", "obama.jpg").await;
    assert_eq!(code(e.calibrate(Some(0.01), Some(0.1), true).await), Code::InsufficientData);
    e.delete_subject("only".into()).await.unwrap();

    enrol_people(&e).await;
    assert_eq!(e.gallery().unwrap().len(), 20);
    for (far, fpir) in [(2.0, 0.1), (0.01, 0.0), (f64::NAN, 0.1)] {
        assert_eq!(code(e.calibrate(Some(far), Some(fpir), true).await), Code::InvalidParameter, "{far} {fpir}");
    }
    // A rate the gallery is too small to measure: said so, nothing applied.
    assert_eq!(code(e.calibrate(Some(1e-6), Some(0.1), true).await), Code::InsufficientData);
    assert_eq!(e.thresholds(), configured);

    // Measured without applying: the configured thresholds stay in force.
    let trial = e.calibrate(Some(0.01), Some(0.1), false).await.unwrap();
    let measured = trial.thresholds.expect("enough pairs for FAR 1 % and FPIR 10 %");
    assert_eq!((trial.applied, &trial.in_force), (false, &configured));
    assert_eq!((trial.calibration.genuine_pairs, trial.calibration.impostor_pairs), (19, 171));
    assert!(measured.compare < configured.compare, "strangers here score lower than SFace's: {measured:?}");

    // Applied: verify and identify decide with the calibrated thresholds.
    let applied = e.calibrate(Some(0.01), Some(0.1), true).await.unwrap();
    let in_force = e.thresholds();
    assert_eq!((applied.applied, &applied.in_force, in_force.source.as_str()), (true, &in_force, "calibrated"));
    assert_eq!((in_force.compare, in_force.identify), (measured.compare, measured.identify));
    assert_eq!(
        (in_force.genuine_pairs, in_force.impostor_pairs, in_force.gallery_faces),
        (Some(19), Some(171), Some(20))
    );
    let v = e.verify(images("obama.jpg", "obama3.jpg"), None, false).await.unwrap();
    assert_eq!((v.threshold, v.same), (in_force.compare, true));
    let answer = identify(&e, "obama3.jpg", None).await;
    assert_eq!(answer.threshold, in_force.identify);
    // A looser target accepts more strangers: this pair (Obama and Biden) is one of them.
    let pair = e.verify(images("obama2.jpg", "biden.jpg"), None, false).await.unwrap();
    assert!(!pair.same, "{} below {}", pair.similarity, pair.threshold);
    let looser = e.calibrate(Some(0.1), Some(0.2), true).await.unwrap().in_force;
    assert!(looser.compare < in_force.compare);
    let pair = e.verify(images("obama2.jpg", "biden.jpg"), None, false).await.unwrap();
    assert_eq!((pair.threshold, pair.same), (looser.compare, true), "{}", pair.similarity);

    // The calibration outlives the engine: the next one over this gallery starts with it.
    e.shutdown().await.unwrap();
    drop(e);
    let reopened = open(dir.path());
    assert_eq!(reopened.thresholds(), looser);
}

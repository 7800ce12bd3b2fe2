//! End-to-end checks of `evaluate`, the report and the HTML page.

use super::*;
use crate::synth::{gallery, Identities};

fn clustered(subjects: usize, per: usize, dim: usize) -> Vec<Sample> {
    let ids = Identities::new(subjects, dim, 21);
    let g = gallery(&ids, per, 22);
    (0..g.len())
        .map(|i| Sample { label: format!("p{:03}", i / per), item: format!("{i}.jpg"), vector: g.row(i).to_vec() })
        .collect()
}

#[test]
fn fixture_report() {
    let opts = EvalOptions { open_set_fraction: 0.25, max_rank: 4, ..Default::default() };
    let r = evaluate(&fixture::samples(), None, &opts).unwrap();
    let d = &r.dataset;
    assert_eq!(
        (d.subjects, d.samples, d.subjects_with_one_sample, d.genuine_pairs, d.impostor_pairs),
        (4, 8, 1, 5, 23)
    );
    assert!((r.verification.auc.unwrap() - 109.5 / 115.0).abs() < 1e-12);
    // No threshold option: the EER threshold (.25) is the decision threshold.
    assert_eq!(r.threshold, Some(DecisionThreshold { value: 0.25, source: "eer" }));
    assert_eq!(r.identification.cmc, vec![0.5, 0.75, 1.0, 1.0]);
    assert_eq!(r.classification.at_threshold.as_ref().unwrap().f1, 0.5);
    assert_eq!(r.open_set.held_out_subjects.len(), 1);
    // Two non-mated probes at most cannot measure FPIR .01: the calibration falls back to LOSO.
    assert_eq!(r.calibration.identify.method, "leave_one_subject_out");
    assert_eq!(r.calibration.compare[0].threshold, Some(0.5));
    assert_eq!(r.map2d.points.len(), 8);
    assert!(r.distractors.is_none());
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"auc\""));
    // Deterministic.
    assert_eq!(evaluate(&fixture::samples(), None, &opts).unwrap(), r);
}

#[test]
fn degenerate_inputs_never_panic() {
    let opts = EvalOptions::default();
    assert_eq!(evaluate(&[], None, &opts), Err(EvalError::Empty));
    let one = &fixture::samples()[..3]; // subject A only
    let r = evaluate(one, None, &opts).unwrap();
    assert!(r.verification.auc.is_none() && r.verification.reason.is_some());
    assert_eq!(r.identification.top1, Some(1.0)); // nobody to compete with
    assert!(r.open_set.reason.is_some() && r.calibration.identify.threshold.is_none());
    let single = &fixture::samples()[..1];
    let r = evaluate(single, None, &opts).unwrap();
    assert!(r.identification.reason.is_some() && r.classification.accuracy.is_none());
    let _ = html::render(&r, "one");
    let mut bad = fixture::samples();
    bad[2].vector[0] = f32::NAN;
    assert!(matches!(evaluate(&bad, None, &opts), Err(EvalError::BadVector { index: 2, .. })));
    bad[2].vector.pop();
    assert!(matches!(evaluate(&bad, None, &opts), Err(EvalError::Dimension { index: 2, .. })));
    let zero = EvalOptions { gallery_per_subject: 0, ..Default::default() };
    assert!(matches!(evaluate(&fixture::samples(), None, &zero), Err(EvalError::Option(_))));
    let wrong = [vec![1.0f32; 3]];
    assert!(matches!(evaluate(&fixture::samples(), Some(&wrong), &opts), Err(EvalError::Dimension { .. })));
}

#[test]
fn explicit_pairs() {
    let s = fixture::samples();
    // a1–a2 (.75), b1–b2 (.75), a3–b1 (.25), c2–d1 (.5).
    let r = evaluate_with_pairs(&s, &[(0, 1), (3, 4), (2, 3), (6, 7)], None, &EvalOptions::default()).unwrap();
    assert_eq!((r.dataset.genuine_pairs, r.dataset.impostor_pairs, r.dataset.explicit_pairs), (2, 2, true));
    assert_eq!(r.verification.auc, Some(1.0));
    let e = evaluate_with_pairs(&s, &[(0, 8)], None, &EvalOptions::default()).unwrap_err();
    assert_eq!(e, EvalError::PairIndex { pair: 0, sample: 8, len: 8 });
}

#[test]
fn options_deserialize_with_defaults() {
    let o: EvalOptions = serde_json::from_str(r#"{"gallery_per_subject": 2, "threshold": 0.4}"#).unwrap();
    assert_eq!((o.gallery_per_subject, o.threshold, o.max_rank), (2, Some(0.4), 20));
    assert_eq!(o.far_targets, vec![1e-1, 1e-2, 1e-3, 1e-4]);
}

#[test]
fn clustered_set_with_distractors_and_sampling() {
    let s = clustered(60, 4, 32);
    let opts = EvalOptions { distractors: 2000, max_impostor_pairs: 5000, seed: 3, ..Default::default() };
    let r = evaluate(&s, None, &opts).unwrap();
    assert!(r.dataset.impostor_sampled && r.dataset.impostor_pairs == 5000);
    assert_eq!(r.dataset.impostor_pairs_total, (240 * 240 - 60 * 16) / 2);
    assert!(r.verification.auc.unwrap() > 0.99 && r.identification.top1.unwrap() > 0.9);
    let d = r.distractors.as_ref().unwrap();
    let sizes: Vec<usize> = d.curve.iter().map(|p| p.distractors).collect();
    assert_eq!(sizes, vec![0, 10, 100, 1000, 2000]);
    assert!(d.curve.windows(2).all(|w| w[0].top1 >= w[1].top1));
    assert!((d.probe_distractor.mean - d.impostor.mean).abs() < 0.03, "{d:?}");
    assert!(d.ks_statistic.unwrap() < 0.2);
    assert_eq!(r.open_set.held_out_subjects.len(), 12);
    assert!(r.open_set.det.windows(2).all(|w| w[0].fpir <= w[1].fpir && w[0].fnir >= w[1].fnir));
    // Given distractors: the first `opts.distractors` of them.
    let given = synthesize_distractors(&s, 500, 9);
    let o2 = EvalOptions { distractors: 300, ..Default::default() };
    let r2 = evaluate(&s, Some(&given), &o2).unwrap();
    let d2 = r2.distractors.unwrap();
    assert_eq!((d2.source.as_str(), d2.distractors), ("given", 300));
}

/// Synthesized distractors match the real impostor moments, with few subjects too.
#[test]
fn synthesized_distractors_match_the_impostor_moments() {
    // Shaped like a small real SFace set: 17 samples of 5 people, impostor mean ≈ 0.1 (a shared direction).
    let mut shifted = clustered(5, 4, 128);
    shifted.truncate(17);
    for x in &mut shifted {
        x.vector[0] += 0.35;
        let n = x.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        x.vector.iter_mut().for_each(|v| *v /= n);
    }
    let sets = [
        ("fixture", fixture::samples()),
        ("5×4", clustered(5, 4, 128)),
        ("17 of 5", shifted),
        ("200×3", clustered(200, 3, 128)),
    ];
    for (name, s) in sets {
        let r = evaluate(&s, None, &EvalOptions { distractors: 5000, seed: 1, ..Default::default() }).unwrap();
        let d = r.distractors.unwrap();
        let fit = d.fit.unwrap();
        eprintln!(
            "{name}: target {:?} achieved {:?} KS {:?} {fit:?} {:?}",
            d.impostor, d.probe_distractor, d.ks_statistic, d.curve
        );
        assert_eq!((fit.target, d.impostor), (r.verification.impostor, r.verification.impostor));
        assert!((d.probe_distractor.mean - d.impostor.mean).abs() < 0.02, "{name}: {d:?}");
        assert!((d.probe_distractor.std / d.impostor.std - 1.0).abs() < 0.25, "{name}: {d:?}");
        assert!(d.curve.windows(2).all(|w| w[0].top1 >= w[1].top1), "{name}: {:?}", d.curve);
        assert!(fit.cosine_to_mean.abs() <= 1.0 && (0.0..=1.0).contains(&fit.shape_weight));
    }
    // Given distractors carry no fit.
    let s = fixture::samples();
    let given = synthesize_distractors(&s, 50, 2);
    assert!(evaluate(&s, Some(&given), &EvalOptions::default()).unwrap().distractors.unwrap().fit.is_none());
}

#[test]
fn html_is_self_contained_and_escaped() {
    let mut s = fixture::samples();
    for x in s.iter_mut().filter(|x| x.label == "B") {
        x.label = "<script>alert(1)</script>".into();
    }
    let r = evaluate(&s, None, &EvalOptions { distractors: 20, ..Default::default() }).unwrap();
    let page = html::render(&r, "Eval <b>&</b>");
    assert!(!page.contains("<script"), "unescaped label");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("Eval &lt;b&gt;&amp;&lt;/b&gt;"));
    assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("url("));
    assert!(page.matches("<svg").count() >= 6);
}

/// Scale check, 2000 probes against 1M synthesized distractors through the scan index and
/// through the exact one (brute force's cost):
/// `cargo test --release --features testing --lib eval::tests::million_distractors -- --ignored --nocapture`.
#[test]
#[ignore]
fn million_distractors() {
    let s = clustered(1000, 3, 128);
    let t = std::time::Instant::now();
    assert_eq!(synthesize_distractors(&s, 1_000_000, 1).len(), 1_000_000);
    eprintln!("generated 1e6 in {:?}", t.elapsed());
    let opts = EvalOptions { distractors: 1_000_000, ..Default::default() };
    let mut curves = vec![];
    for kind in [crate::index::Backend::Scan, crate::index::Backend::Exact] {
        let t = std::time::Instant::now();
        let r = evaluate_on(&s, None, None, &Engine { kind, ..Engine::default() }, &opts).unwrap();
        let d = r.distractors.unwrap();
        eprintln!(
            "{kind:?}: {} probes × 1e6 distractors in {:?}: {:?} {:?}",
            d.probes,
            t.elapsed(),
            d.curve,
            d.exact_check
        );
        assert_eq!(d.curve.last().unwrap().distractors, 1_000_000);
        assert_eq!(d.exact_check.unwrap().agreement, 1.0);
        curves.push(d.curve);
    }
    assert_eq!(curves[0], curves[1]);
}

/// Writes a sample report to the temp dir: `cargo test --lib eval::tests::write_sample -- --ignored`.
#[test]
#[ignore]
fn write_sample_report() {
    let mut s = clustered(12, 5, 32);
    s.truncate(57);
    let r = evaluate(&s, None, &EvalOptions { distractors: 5000, ..Default::default() }).unwrap();
    let dir = std::env::temp_dir();
    std::fs::write(dir.join("eval_sample.html"), html::render(&r, "Sample <report>")).unwrap();
    std::fs::write(dir.join("eval_sample.json"), serde_json::to_string_pretty(&r).unwrap()).unwrap();
}

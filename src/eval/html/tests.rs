//! The page shows reasons for missing figures and colours subjects consistently.

use super::super::{evaluate, fixture, EvalOptions};
use super::render;

#[test]
fn missing_figures_show_their_reason() {
    let one = &fixture::samples()[..3]; // one subject: no impostor pair, no open set
    let r = evaluate(one, None, &EvalOptions::default()).unwrap();
    let page = render(&r, "one");
    let reason = r.verification.reason.as_ref().unwrap();
    // In the headline table (AUC, EER, best accuracy) and under the ROC and the histograms.
    assert!(page.matches(&super::esc(reason)).count() >= 5, "{reason}");
    for t in &r.verification.tar_at_far {
        assert!(page.contains(&super::esc(t.reason.as_ref().unwrap_or(reason))));
    }
    assert!(page.contains(&super::esc(r.open_set.reason.as_ref().unwrap())));
    assert!(page.contains("no data to plot"));
}

#[test]
fn tar_at_far_reason_and_subject_swatches() {
    let r = evaluate(&fixture::samples(), None, &EvalOptions::default()).unwrap();
    let page = render(&r, "fixture");
    let t = r.verification.tar_at_far.iter().find(|t| t.tar.is_none()).unwrap();
    assert!(page.contains(&super::esc(t.reason.as_ref().unwrap())));
    assert!(page.contains("<span class=sw style=\"background:#1f77b4\"></span>"));
    assert!(page.contains(">1e-4<") && page.contains("% of variance)"));
}

/// Writes a report on the smallest data to the temp dir, to look at the reasons:
/// `cargo test --lib eval::html::tests::write_degenerate_report -- --ignored --exact`.
#[test]
#[ignore]
fn write_degenerate_report() {
    let r = evaluate(&fixture::samples()[..3], None, &EvalOptions::default()).unwrap();
    std::fs::write(std::env::temp_dir().join("eval_degenerate.html"), render(&r, "One subject")).unwrap();
}

/// Writes a report shaped like a small real run (17 photos of 5 people, one with a single photo)
/// to the temp dir: `cargo test --lib eval::html::tests::write_small_report -- --ignored --exact`.
#[test]
#[ignore]
fn write_small_report() {
    use crate::synth::{gallery, Identities};
    let g = gallery(&Identities::new(5, 128, 5), 7, 6);
    let people =
        [("Barack_Obama", 7), ("Eileen_Collins", 2), ("Grace_Hopper", 4), ("Joe_Biden", 3), ("Lionel_Messi", 1)];
    let samples: Vec<_> = people
        .iter()
        .enumerate()
        .flat_map(|(p, (name, n))| (0..*n).map(move |k| (p, name, k)))
        .map(|(p, name, k)| super::super::Sample {
            label: name.to_string(),
            item: format!("{k}.jpg"),
            vector: g.row(p * 7 + k).to_vec(),
        })
        .collect();
    let r = evaluate(&samples, None, &EvalOptions::default()).unwrap();
    std::fs::write(std::env::temp_dir().join("eval_small.html"), render(&r, "Small run <5 people>")).unwrap();
}

//! 1-NN classification of the closed-set probes, and the accept/reject decision at a threshold.
//!
//! The predicted label is the rank-1 subject with pessimistic ties: if another subject scores `≥`
//! the true subject, the prediction is that other subject (the lexicographically smallest of the
//! tied best). Per subject: precision = correct / predicted, recall = correct / support,
//! F1 = 2PR / (P + R); a zero denominator gives 0 (scikit-learn's `zero_division=0`). Macro
//! averages are plain means over the subjects with support > 0 or predicted at least once; a
//! subject neither present nor predicted is excluded.

use serde::Serialize;

use super::identification::ProbeScore;
use super::scoring::Subjects;

/// Per-subject classification figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectScores {
    /// The subject.
    pub label: String,
    /// Probes of this subject.
    pub support: usize,
    /// Probes predicted as this subject.
    pub predicted: usize,
    /// Probes of this subject predicted as it.
    pub correct: usize,
    /// `correct / predicted` (0 when never predicted).
    pub precision: f64,
    /// `correct / support` (0 without support).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Open-set decision at a threshold over the closed-set probes: a probe is accepted ⇔ its best
/// score ≥ `threshold`; a true positive is accepted with the correct subject.
/// precision = TP / accepted, recall = TP / probes (0 on a zero denominator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The threshold.
    pub threshold: f32,
    /// `"option"` (given) or `"eer"` (the verification EER threshold).
    pub source: String,
    /// Probes whose best score ≥ threshold.
    pub accepted: usize,
    /// Accepted with the correct subject.
    pub true_positives: usize,
    /// `true_positives / accepted`.
    pub precision: f64,
    /// `true_positives / probes`.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// 1-NN classification figures; `per_subject` lists the subjects included in the macro averages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Closed-set probes.
    pub probes: usize,
    /// Fraction of probes predicted correctly.
    pub accuracy: Option<f64>,
    /// Mean precision over `per_subject`.
    pub macro_precision: Option<f64>,
    /// Mean recall over `per_subject`.
    pub macro_recall: Option<f64>,
    /// Mean F1 over `per_subject`.
    pub macro_f1: Option<f64>,
    /// Subjects with support or predicted at least once, by label.
    pub per_subject: Vec<SubjectScores>,
    /// Subjects without probes and never predicted (left out of the macro averages).
    pub excluded_subjects: usize,
    /// The accept/reject decision at the report's threshold.
    pub at_threshold: Option<Decision>,
    /// Why the figures are missing, if they are.
    pub reason: Option<String>,
}

pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub(crate) fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Classification figures for closed-set probe outcomes; `threshold` is `(value, source)`.
pub(crate) fn classify(probes: &[ProbeScore], subjects: &Subjects, threshold: Option<(f32, &str)>) -> Classification {
    let s = subjects.len();
    let (mut support, mut predicted, mut correct) = (vec![0; s], vec![0; s], vec![0; s]);
    for p in probes {
        support[p.subject] += 1;
        if let Some(q) = p.predicted() {
            predicted[q] += 1;
            correct[q] += usize::from(q == p.subject);
        }
    }
    let per_subject: Vec<SubjectScores> = (0..s)
        .filter(|&k| support[k] > 0 || predicted[k] > 0)
        .map(|k| {
            let (precision, recall) = (ratio(correct[k], predicted[k]), ratio(correct[k], support[k]));
            SubjectScores {
                label: subjects.names[k].clone(),
                support: support[k],
                predicted: predicted[k],
                correct: correct[k],
                precision,
                recall,
                f1: f1(precision, recall),
            }
        })
        .collect();
    let n = probes.len();
    let mean = |f: fn(&SubjectScores) -> f64| {
        (!per_subject.is_empty()).then(|| per_subject.iter().map(f).sum::<f64>() / per_subject.len() as f64)
    };
    let at_threshold = threshold.filter(|_| n > 0).map(|(t, source)| {
        let accepted: Vec<&ProbeScore> = probes.iter().filter(|p| p.best().is_some_and(|b| b >= t)).collect();
        let tp = accepted.iter().filter(|p| p.predicted() == Some(p.subject)).count();
        let (precision, recall) = (ratio(tp, accepted.len()), ratio(tp, n));
        Decision {
            threshold: t,
            source: source.to_string(),
            accepted: accepted.len(),
            true_positives: tp,
            precision,
            recall,
            f1: f1(precision, recall),
        }
    });
    Classification {
        probes: n,
        accuracy: (n > 0).then(|| ratio(correct.iter().sum(), n)),
        macro_precision: mean(|x| x.precision),
        macro_recall: mean(|x| x.recall),
        macro_f1: mean(|x| x.f1),
        excluded_subjects: s - per_subject.len(),
        per_subject,
        at_threshold,
        reason: (n == 0).then(|| "no probes".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture;
    use crate::eval::identification::{score_probes, split};

    #[test]
    fn fixture_precision_recall_by_hand() {
        let samples = fixture::samples();
        let subjects = Subjects::new(&samples);
        let sp = split(&subjects, 1);
        let ps = score_probes(&samples, &subjects, &sp.gallery, &sp.probes, &[true; 4]);
        // (true, predicted): (A, A), (A, B), (B, B), (C, D).
        let c = classify(&ps, &subjects, Some((0.5, "option")));
        let row = |l: &str| c.per_subject.iter().find(|r| r.label == l).unwrap().clone();
        // A: support 2, predicted 1, correct 1 → P 1, R .5, F1 2·.5/1.5 = 2/3.
        let a = row("A");
        assert_eq!((a.precision, a.recall), (1.0, 0.5));
        assert!((a.f1 - 2.0 / 3.0).abs() < 1e-12);
        // B: support 1, predicted 2 → P .5, R 1. C: never predicted → P 0, R 0, F1 0.
        assert_eq!((row("B").precision, row("B").recall), (0.5, 1.0));
        assert_eq!((row("C").precision, row("C").recall, row("C").f1), (0.0, 0.0, 0.0));
        // D: no support but predicted once → included, P 0/1 = 0, R 0 (zero division).
        assert_eq!((row("D").support, row("D").predicted, row("D").precision), (0, 1, 0.0));
        // Macro over A B C D: P (1 + .5)/4, R (.5 + 1)/4, F1 (2/3 + 2/3)/4 = 1/3.
        assert_eq!((c.macro_precision, c.macro_recall), (Some(0.375), Some(0.375)));
        assert!((c.macro_f1.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((c.accuracy, c.excluded_subjects), (Some(0.5), 0));
        // Threshold .5: best scores a2 .75 ✓, a3 .25 (rejected), b2 .75 ✓, c2 .5 (accepted, D ✗).
        // TP 2 of 3 accepted: P 2/3, R 2/4, F1 = (2/3)/(7/6) = 4/7.
        let d = c.at_threshold.unwrap();
        assert_eq!((d.accepted, d.true_positives, d.recall), (3, 2, 0.5));
        assert!((d.precision - 2.0 / 3.0).abs() < 1e-12 && (d.f1 - 4.0 / 7.0).abs() < 1e-12);
        // Threshold .25 accepts all four: P = R = F1 = .5.
        let d = classify(&ps, &subjects, Some((0.25, "eer"))).at_threshold.unwrap();
        assert_eq!((d.precision, d.recall, d.f1), (0.5, 0.5, 0.5));
    }
}

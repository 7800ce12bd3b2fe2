//! Evaluation of the attribute models on labelled photos: gender as a two-label classifier
//! (accuracy, balanced accuracy, per-label precision / recall / F1 as in classification.rs, the
//! confusion matrix, ROC and its AUC from verification.rs with P(male) as the score) and age as
//! a regression (mean absolute error, share within ±5 and ±10 years).

use serde::Serialize;

use super::classification::{f1, ratio, SubjectScores};
use super::verification::{verify, RocPoint};

/// The gender labels, in the order of the confusion matrix's rows and columns.
pub const LABELS: [&str; 2] = ["female", "male"];

/// Gender figures. `male` (the model's second output) is the score that ROC ranks by; the
/// decision is the more likely label (P(male) > 0.5, ties female, as the model's answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenderFigures {
    /// Photos with a gender label and a face.
    pub samples: usize,
    /// `confusion[truth][predicted]`, rows and columns in [`LABELS`] order.
    pub confusion: [[usize; 2]; 2],
    /// Share of photos given their label.
    pub accuracy: Option<f64>,
    /// Mean of the two labels' recalls (accuracy that a skewed label mix cannot inflate).
    pub balanced_accuracy: Option<f64>,
    /// Precision, recall and F1 of each label (support = photos of it).
    pub per_label: Vec<SubjectScores>,
    /// Mean F1 of the two labels.
    pub macro_f1: Option<f64>,
    /// Area under the ROC of P(male) for male versus female photos (Mann–Whitney, exact).
    pub auc: Option<f64>,
    /// ROC points: `far` = share of female photos with P(male) ≥ threshold, `tar` = of male.
    pub roc: Vec<RocPoint>,
    /// Why figures are missing, if they are.
    pub reason: Option<String>,
}

/// Gender figures of photos whose truth is `is_male` and whose model score is `p_male`.
pub fn gender_figures(is_male: &[bool], p_male: &[f32]) -> GenderFigures {
    let mut confusion = [[0usize; 2]; 2];
    for (&truth, &p) in is_male.iter().zip(p_male) {
        confusion[usize::from(truth)][usize::from(p > 0.5)] += 1;
    }
    let n = is_male.len().min(p_male.len());
    let per_label: Vec<SubjectScores> = (0..2)
        .map(|k| {
            let support = confusion[k][0] + confusion[k][1];
            let predicted = confusion[0][k] + confusion[1][k];
            let correct = confusion[k][k];
            let (precision, recall) = (ratio(correct, predicted), ratio(correct, support));
            SubjectScores {
                label: LABELS[k].into(),
                support,
                predicted,
                correct,
                precision,
                recall,
                f1: f1(precision, recall),
            }
        })
        .collect();
    let both = per_label.iter().all(|l| l.support > 0);
    let male: Vec<f32> = is_male.iter().zip(p_male).filter(|(m, _)| **m).map(|(_, p)| *p).collect();
    let female: Vec<f32> = is_male.iter().zip(p_male).filter(|(m, _)| !**m).map(|(_, p)| *p).collect();
    let v = verify(&male, &female, &[]);
    GenderFigures {
        samples: n,
        confusion,
        accuracy: (n > 0).then(|| ratio(confusion[0][0] + confusion[1][1], n)),
        balanced_accuracy: both.then(|| (per_label[0].recall + per_label[1].recall) / 2.0),
        macro_f1: both.then(|| (per_label[0].f1 + per_label[1].f1) / 2.0),
        per_label,
        auc: if both { v.auc } else { None },
        roc: if both { v.roc } else { Vec::new() },
        reason: (!both).then(|| "balanced accuracy, macro F1 and AUC need photos of both labels".to_string()),
    }
}

/// Age figures: absolute errors of the expected age against the labelled age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgeFigures {
    /// Photos with an age label and a face.
    pub samples: usize,
    /// Mean absolute error, years.
    pub mae: Option<f64>,
    /// Share of photos whose expected age is within 5 years of the label.
    pub within_5: Option<f64>,
    /// Within 10 years.
    pub within_10: Option<f64>,
}

/// Age figures of `(labelled age, expected age)` pairs.
pub fn age_figures(pairs: &[(f32, f32)]) -> AgeFigures {
    let n = pairs.len();
    let errors: Vec<f64> = pairs.iter().map(|(t, p)| f64::from((t - p).abs())).collect();
    let within = |d: f64| (n > 0).then(|| ratio(errors.iter().filter(|e| **e <= d).count(), n));
    AgeFigures {
        samples: n,
        mae: (n > 0).then(|| errors.iter().sum::<f64>() / n as f64),
        within_5: within(5.0),
        within_10: within(10.0),
    }
}

/// One labelled photo's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeSample {
    /// The photo.
    pub path: String,
    /// Its gender label.
    pub gender: Option<String>,
    /// Its age label, years.
    pub age: Option<f32>,
    /// The model's answer for the photo's largest face; `None` when no face was found.
    pub predicted_gender: Option<String>,
    /// The model's P(male).
    pub p_male: Option<f32>,
    /// The expected age, years.
    pub predicted_age: Option<f32>,
    /// Why the photo could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The attribute evaluation of a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeReport {
    /// Photos listed.
    pub photos: usize,
    /// Photos without a face (or unreadable), left out of the figures.
    pub failed: usize,
    /// Gender figures.
    pub gender: GenderFigures,
    /// Age figures, when some photos have an age label.
    pub age: Option<AgeFigures>,
    /// Every photo's outcome.
    pub samples: Vec<AttributeSample>,
}

/// The report of evaluated samples (those with an error count as failed).
pub fn report(samples: Vec<AttributeSample>) -> AttributeReport {
    let ok: Vec<&AttributeSample> = samples.iter().filter(|s| s.p_male.is_some()).collect();
    let gendered: Vec<(bool, f32)> =
        ok.iter().filter_map(|s| Some((s.gender.as_deref()? == "male", s.p_male?))).collect();
    let (is_male, p_male): (Vec<bool>, Vec<f32>) = gendered.into_iter().unzip();
    let aged: Vec<(f32, f32)> = ok.iter().filter_map(|s| Some((s.age?, s.predicted_age?))).collect();
    AttributeReport {
        photos: samples.len(),
        failed: samples.len() - ok.len(),
        gender: gender_figures(&is_male, &p_male),
        age: (!aged.is_empty()).then(|| age_figures(&aged)),
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gender_figures_by_hand() {
        // Female photos score P(male) .1 .2 .7 (the last one wrong); male .4 (wrong) .8 .9 .95.
        let truth = [false, false, false, true, true, true, true];
        let p = [0.1, 0.2, 0.7, 0.4, 0.8, 0.9, 0.95];
        let g = gender_figures(&truth, &p);
        assert_eq!(g.confusion, [[2, 1], [1, 3]]);
        assert_eq!(g.accuracy, Some(5.0 / 7.0));
        // Recall female 2/3, male 3/4 → balanced (2/3 + 3/4) / 2 = 17/24.
        assert!((g.balanced_accuracy.unwrap() - 17.0 / 24.0).abs() < 1e-12);
        let (f, m) = (&g.per_label[0], &g.per_label[1]);
        // Female: predicted 3 (2 right) → P 2/3, R 2/3, F1 2/3. Male: predicted 4 (3 right) → P 3/4, R 3/4.
        assert_eq!((f.support, f.predicted, f.correct), (3, 3, 2));
        assert!((f.precision - 2.0 / 3.0).abs() < 1e-12 && (f.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.precision - 0.75).abs() < 1e-12 && (m.recall - 0.75).abs() < 1e-12);
        assert!((g.macro_f1.unwrap() - (2.0 / 3.0 + 0.75) / 2.0).abs() < 1e-12);
        // AUC: of the 12 (male, female) pairs, the male scores higher in all but (.4 vs .7) → 11/12.
        assert!((g.auc.unwrap() - 11.0 / 12.0).abs() < 1e-12);
        assert_eq!(g.roc.first().map(|r| (r.far, r.tar)), Some((0.0, 0.0)));
        assert_eq!(g.roc.last().map(|r| (r.far, r.tar)), Some((1.0, 1.0)));
        // One label only: no balanced accuracy or AUC, and a reason.
        let one = gender_figures(&[true, true], &[0.9, 0.3]);
        assert_eq!((one.accuracy, one.balanced_accuracy, one.auc), (Some(0.5), None, None));
        assert!(one.reason.is_some());
    }

    #[test]
    fn age_figures_by_hand() {
        let a = age_figures(&[(30.0, 33.0), (40.0, 52.0), (20.0, 14.0), (60.0, 60.5)]);
        // Errors 3, 12, 6, .5: MAE 21.5 / 4; within 5: 2 of 4; within 10: 3 of 4.
        assert_eq!((a.mae, a.within_5, a.within_10), (Some(5.375), Some(0.5), Some(0.75)));
        assert_eq!(age_figures(&[]).mae, None);
    }
}

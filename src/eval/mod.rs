//! Evaluation of face embeddings, pure (embeddings in, report out): verification (ROC, AUC, EER,
//! TAR@FAR), closed-set identification (CMC), 1-NN classification (P/R/F1), open-set
//! identification (FPIR/FNIR, DET), MegaFace-style distractors, a 2-D map and threshold
//! calibration, plus an LFW pairs parser and a self-contained HTML report.
//!
//! Scores are dot products of the (L2-normalised) embeddings, i.e. cosines, and everywhere a pair or
//! probe is accepted ⇔ `score ≥ threshold`. Each module documents its own conventions:
//! [`verification`] (FAR/TAR, AUC, EER, TAR@FAR thresholds), [`identification`] (gallery split,
//! rank), [`classification`] (P/R/F1, macro), [`open_set`] (FPIR/FNIR), [`distractors`],
//! [`calibration`].

#![warn(missing_docs)]

pub mod attributes;
pub mod calibration;
pub mod classification;
mod distractor_model;
pub mod distractors;
mod error;
#[cfg(test)]
mod fixture;
pub mod html;
pub mod identification;
pub mod map2d;
pub mod open_set;
pub mod pairs;
mod pca;
mod scoring;
pub mod stats;
mod svg;
#[cfg(test)]
mod tests;
pub mod verification;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use calibration::{calibrate, Calibration};
pub use distractors::{synthesize_distractors, Engine, GivenDistractors};
pub use error::EvalError;
pub use verification::{threshold_at_far, verify};

/// One embedding: `label` is the subject, `item` the image (for reports), `vector` L2-normalised.
/// The order of a subject's samples matters: its first ones form the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The subject.
    pub label: String,
    /// The image (name or path), for reports.
    pub item: String,
    /// The embedding, L2-normalised.
    pub vector: Vec<f32>,
}

/// Evaluation options; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalOptions {
    /// Gallery samples per subject (first in input order), ≥ 1. Default 1.
    pub gallery_per_subject: usize,
    /// Length of the CMC curve. Default 20.
    pub max_rank: usize,
    /// FAR targets for TAR@FAR and compare thresholds. Default 1e-1 … 1e-4.
    pub far_targets: Vec<f64>,
    /// Fraction of subjects held out of the gallery as unknowns, in [0, 1). Default 0.2.
    pub open_set_fraction: f64,
    /// Target FPIR for the identify threshold, in (0, 1]. Default 0.01.
    pub target_fpir: f64,
    /// Seed of every random choice (held-out subjects, sampled pairs, distractors). Default 0.
    pub seed: u64,
    /// Most impostor pairs scored; above, a uniform sample of this many. Default 5 000 000.
    pub max_impostor_pairs: usize,
    /// Distractors to synthesize when none are given (0: no distractor section). Default 0.
    pub distractors: usize,
    /// Decision threshold for the report and P/R/F1 at a threshold; `None`: the EER threshold.
    pub threshold: Option<f32>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            gallery_per_subject: 1,
            max_rank: 20,
            far_targets: vec![1e-1, 1e-2, 1e-3, 1e-4],
            open_set_fraction: 0.2,
            target_fpir: 0.01,
            seed: 0,
            max_impostor_pairs: 5_000_000,
            distractors: 0,
            threshold: None,
        }
    }
}

impl EvalOptions {
    fn check(&self) -> Result<(), EvalError> {
        let bad = |m: &str| Err(EvalError::Option(m.to_string()));
        if self.gallery_per_subject == 0 {
            return bad("gallery_per_subject must be at least 1");
        }
        if !(0.0..1.0).contains(&self.open_set_fraction) {
            return bad("open_set_fraction must be in [0, 1)");
        }
        if !(self.target_fpir > 0.0 && self.target_fpir <= 1.0) {
            return bad("target_fpir must be in (0, 1]");
        }
        if self.far_targets.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
            return bad("far_targets must be in (0, 1]");
        }
        if self.threshold.is_some_and(|t| !t.is_finite()) {
            return bad("threshold must be finite");
        }
        Ok(())
    }
}

/// Size of the data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSummary {
    /// Distinct labels.
    pub subjects: usize,
    /// Samples.
    pub samples: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Subjects with exactly one sample.
    pub subjects_with_one_sample: usize,
    /// Genuine pairs scored.
    pub genuine_pairs: usize,
    /// Impostor pairs scored (a sample when `impostor_sampled`).
    pub impostor_pairs: usize,
    /// Impostor pairs there are (of the explicit pairs, when given).
    pub impostor_pairs_total: u64,
    /// Whether the impostor pairs are a uniform sample.
    pub impostor_sampled: bool,
    /// Verification used an explicit pairs list.
    pub explicit_pairs: bool,
}

/// The decision threshold marked in the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DecisionThreshold {
    /// The threshold (accept ⇔ score ≥ value).
    pub value: f32,
    /// `"option"` or `"eer"`.
    pub source: &'static str,
}

/// Every figure of an evaluation (serialise it to JSON for machines, see [`html::render`] for people).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The options used.
    pub options: EvalOptions,
    /// Size of the data.
    pub dataset: DatasetSummary,
    /// The decision threshold marked in the report.
    pub threshold: Option<DecisionThreshold>,
    /// 1:1 verification.
    pub verification: verification::Verification,
    /// Closed-set identification.
    pub identification: identification::Identification,
    /// 1-NN classification.
    pub classification: classification::Classification,
    /// Open-set identification.
    pub open_set: open_set::OpenSet,
    /// MegaFace-style distractors, when asked for.
    pub distractors: Option<distractors::Distractors>,
    /// 2-D PCA map.
    pub map2d: map2d::Map2d,
    /// Thresholds for the service.
    pub calibration: Calibration,
}

/// Evaluates `samples`; verification over all genuine pairs and all (or sampled) impostor pairs.
/// `distractors` (if given; the first `opts.distractors` of them when that is smaller and > 0)
/// replace synthesized ones; their curve goes through the default index engine (scan). Errors
/// only on unusable input: no samples, mixed dimensions, non-finite vectors, invalid options;
/// small data gives `null` figures with reasons.
pub fn evaluate(
    samples: &[Sample],
    distractors: Option<&[Vec<f32>]>,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let mut given = distractors;
    evaluate_on(samples, None, given.as_mut().map(|d| d as &mut dyn GivenDistractors), &Engine::default(), opts)
}

/// [`evaluate`], with verification over explicit index pairs into `samples` (genuine ⇔ same
/// label), e.g. an LFW protocol via [`pairs::parse`] and [`pairs::resolve`].
pub fn evaluate_with_pairs(
    samples: &[Sample],
    pairs: &[(usize, usize)],
    distractors: Option<&[Vec<f32>]>,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let mut given = distractors;
    evaluate_on(samples, Some(pairs), given.as_mut().map(|d| d as &mut dyn GivenDistractors), &Engine::default(), opts)
}

/// The general form of [`evaluate`]: verification over explicit `pairs` when given, distractors
/// read from `distractors` as the curve needs them (the first `opts.distractors` when > 0;
/// synthesized when `None`), and the distractor curve searched through a new index of `engine`.
pub fn evaluate_on(
    samples: &[Sample],
    pairs: Option<&[(usize, usize)]>,
    distractors: Option<&mut dyn GivenDistractors>,
    engine: &Engine,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    run(samples, pairs, distractors, engine, opts)
}

fn run(
    samples: &[Sample],
    pairs: Option<&[(usize, usize)]>,
    given: Option<&mut dyn GivenDistractors>,
    engine: &Engine,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    opts.check()?;
    let dim = scoring::validate(samples)?;
    let subjects = scoring::Subjects::new(samples);
    let mut scores = match pairs {
        Some(p) => scoring::index_pairs(samples, &subjects, p)?,
        None => scoring::all_pairs(samples, &subjects, opts.max_impostor_pairs, opts.seed),
    };
    for v in [&mut scores.genuine, &mut scores.impostor] {
        v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    }
    let (gen, imp) = (&scores.genuine, &scores.impostor);
    let verification = verification::verify_sorted(gen, imp, &opts.far_targets);
    let threshold = match (opts.threshold, verification.eer) {
        (Some(value), _) => Some(DecisionThreshold { value, source: "option" }),
        (None, Some(e)) => Some(DecisionThreshold { value: e.threshold, source: "eer" }),
        _ => None,
    };
    let split = identification::split(&subjects, opts.gallery_per_subject);
    let probes =
        identification::score_probes(samples, &subjects, &split.gallery, &split.probes, &vec![true; subjects.len()]);
    let identification = identification::summarize(&split, &subjects, &probes, opts.gallery_per_subject, opts.max_rank);
    let classification = classification::classify(&probes, &subjects, threshold.map(|t| (t.value, t.source)));
    let held = open_set::held_out(&subjects, opts.open_set_fraction, opts.seed);
    let (open_set, nm) = open_set::open_set(samples, &subjects, &split, held, opts.target_fpir);

    let limit = match (&given, opts.distractors) {
        (Some(_), 0) => usize::MAX,
        (_, n) => n,
    };
    let source = match given {
        Some(d) => Some(distractors::Source::Given(d)),
        None if limit > 0 => {
            let rows: Vec<&[f32]> = probes.iter().map(|p| samples[p.sample].vector.as_slice()).collect();
            distractors::Generator::fit(samples, &rows, verification.impostor, opts.seed)
                .map(distractors::Source::Synthesized)
        }
        None => None,
    };
    let distractors = source
        .map(|s| {
            let (gallery, of) = (&split.gallery, &subjects.of);
            distractors::evaluate(samples, of, gallery, &probes, s, limit, imp, verification.impostor, engine)
        })
        .transpose()?;

    let mut calibration = calibration::build(&subjects, gen, imp, &opts.far_targets);
    calibration.impostor_sampled = scores.sampled;
    calibration.identify = if open_set.threshold.is_some() {
        calibration::identify(&nm, opts.target_fpir, "open_set", &mut vec![])
    } else {
        let loso = stats::finite_desc(&scoring::loso_max(samples, &subjects, opts.max_impostor_pairs));
        calibration::identify(&loso, opts.target_fpir, "leave_one_subject_out", &mut calibration.warnings)
    };
    Ok(EvalReport {
        options: opts.clone(),
        dataset: DatasetSummary {
            subjects: subjects.len(),
            samples: samples.len(),
            dim,
            subjects_with_one_sample: subjects.members.iter().filter(|m| m.len() == 1).count(),
            genuine_pairs: gen.len(),
            impostor_pairs: imp.len(),
            impostor_pairs_total: scores.impostor_total,
            impostor_sampled: scores.sampled,
            explicit_pairs: pairs.is_some(),
        },
        threshold,
        verification,
        identification,
        classification,
        open_set,
        distractors,
        map2d: map2d::project(samples, opts.seed),
        calibration,
    })
}

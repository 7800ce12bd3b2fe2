//! `visage eval` (a labelled folder through the pipeline, then every metric) and `visage
//! calibrate` (thresholds from the gallery's own pairs).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::enroll::progress_bar;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::eval::{self, EvalOptions};
use crate::service::{AttributeSet, Engine, Gate, Mode, MultiFace, Source};

/// `visage eval` options.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: Option<EvalWhat>,
    /// Labelled folder (ROOT/<subject>/*.jpg), archive or manifest.
    pub source: Option<PathBuf>,
    /// Where eval.json and eval.html are written.
    #[arg(long, default_value = "eval-report")]
    pub out: PathBuf,
    /// Gallery photos per subject (the first ones by name); the rest are probes.
    #[arg(long, default_value_t = 1)]
    pub gallery_per_subject: usize,
    /// Verify only these pairs (LFW pairs.txt format) instead of all pairs.
    #[arg(long, value_name = "PAIRS.txt")]
    pub pairs: Option<PathBuf>,
    /// MegaFace-style distractors added to the gallery (synthesized unless --distractors-file).
    #[arg(long, default_value_t = 0)]
    pub distractors: usize,
    /// Distractor embeddings in an import format: .npy (float32 [N, D]) or .jsonl (one
    /// {"embedding": [...]} per line; a "model" field must be the embedder's).
    #[arg(long)]
    pub distractors_file: Option<PathBuf>,
    /// Share of subjects held out of the gallery as unknowns (open set).
    #[arg(long, default_value_t = 0.2)]
    pub open_set_fraction: f64,
    /// FPIR target of the calibrated identify threshold.
    #[arg(long, default_value_t = 0.01)]
    pub target_fpir: f64,
    /// Decision threshold marked in the report (default: the EER threshold).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Apply the enrolment quality gate ([enroll]); by default every photo's largest face counts.
    #[arg(long)]
    pub gate: bool,
    /// Worker threads (overrides enroll.workers).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Every photo already is an aligned face crop (LFW-aligned, 112×112): no detection.
    #[arg(long)]
    pub aligned: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

/// What else `visage eval` evaluates.
#[derive(Debug, clap::Subcommand)]
pub enum EvalWhat {
    /// The attribute models: gender (accuracy, balanced accuracy, precision, recall, F1, ROC AUC,
    /// confusion matrix) and age (MAE, share within ±5 / ±10 years) on each photo's largest face.
    Attributes(AttributeEvalArgs),
}

/// `visage eval attributes` options.
#[derive(Debug, clap::Args)]
pub struct AttributeEvalArgs {
    /// A folder with `female/` and `male/` sub-folders of photos, or a CSV `path,gender[,age]`
    /// (paths relative to the CSV; a header line is skipped).
    pub source: PathBuf,
    /// Where attributes.json and attributes.html are written.
    #[arg(long, default_value = "eval-attributes")]
    pub out: PathBuf,
}

/// `visage calibrate` options.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub gallery: super::GalleryArgs,
    /// False-accept rate the 1:1 threshold is set for.
    #[arg(long, default_value_t = 1e-3)]
    pub far: f64,
    /// False-positive identification rate the 1:N threshold is set for.
    #[arg(long, default_value_t = 0.01)]
    pub fpir: f64,
    /// Store the thresholds with the gallery: the service decides with them from then on.
    #[arg(long)]
    pub apply: bool,
}

/// Runs `visage eval`.
pub(super) fn run(settings: Settings, args: &EvalArgs) -> Result<()> {
    if let Some(EvalWhat::Attributes(a)) = &args.what {
        return run_attributes(&settings, a);
    }
    let source_path = args.source.clone().ok_or_else(|| {
        VisageError::unprocessable(Code::InvalidSource, "name a labelled folder, archive or manifest to evaluate")
    })?;
    let source = Source::infer(&source_path)?;
    let gate = if args.gate {
        settings.enroll.gate
    } else {
        Gate { min_eye_distance: 0.0, min_score: 0.0, min_sharpness: 0.0, multi_face: MultiFace::Largest }
    };
    let workers = args.workers.unwrap_or(settings.enroll.workers);
    let engine = Engine::open(settings, Mode::Models { workers })?;
    let bar = progress_bar(args.quiet, "photos");
    bar.set_length(engine.count_source(&source)?.unwrap_or(0));
    let (mut samples, mut failures) = (Vec::new(), Vec::new());
    engine.embed_labelled(&source, gate, args.aligned, &mut |photo| {
        bar.inc(1);
        match photo {
            Ok(sample) => samples.push(sample),
            Err(failed) => failures.push(failed),
        }
    })?;
    bar.finish_and_clear();
    // Workers finish in any order; the protocol ("first n photos per subject") needs name order.
    samples.sort_by(|a, b| (&a.label, &a.item).cmp(&(&b.label, &b.item)));
    let options = EvalOptions {
        gallery_per_subject: args.gallery_per_subject,
        open_set_fraction: args.open_set_fraction,
        target_fpir: args.target_fpir,
        distractors: args.distractors,
        threshold: args.threshold,
        ..EvalOptions::default()
    };
    let pipeline = engine.pipeline()?;
    let embedder = &pipeline.embedder;
    let mut file = args
        .distractors_file
        .as_deref()
        .map(|p| super::import::VectorFile::open(p, embedder.dim(), embedder.model_id()))
        .transpose()?;
    // The distractor curve goes through the index engine the gallery is configured with.
    let index = eval::Engine::for_index(&engine.settings().index);
    let invalid = |e: eval::EvalError| VisageError::unprocessable(Code::InvalidEvaluation, e.to_string());
    let (found, unresolved) = match &args.pairs {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| VisageError::unprocessable(Code::InvalidPairs, format!("{}: {e}", path.display())))?;
            let pairs = eval::pairs::parse(&text).map_err(invalid)?;
            let (found, missing) = eval::pairs::resolve(&pairs, &samples);
            (Some(found), missing.len())
        }
        None => (None, 0),
    };
    let given = file.as_mut().map(|f| f as &mut dyn eval::GivenDistractors);
    let report = match eval::evaluate_on(&samples, found.as_deref(), given, &index, &options) {
        Ok(r) => r,
        // A file that fails mid-way is reported as its reader said (bad row, other model).
        Err(e) => return Err(file.and_then(|f| f.error).unwrap_or_else(|| invalid(e))),
    };
    std::fs::create_dir_all(&args.out).map_err(|e| write_error(&args.out, e))?;
    let mut full = serde_json::to_value(&report).map_err(|e| VisageError::Store(e.to_string()))?;
    full["failures"] = serde_json::to_value(&failures).unwrap_or_default();
    full["models"] = json!({ "detector": pipeline.detector.model_id(), "embedder": pipeline.embedder.model_id() });
    let json_path = args.out.join("eval.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&full).unwrap_or_default())
        .map_err(|e| write_error(&json_path, e))?;
    let title = format!("Visage evaluation: {}", source_path.display());
    let html_path = args.out.join("eval.html");
    std::fs::write(&html_path, eval::html::render(&report, &title)).map_err(|e| write_error(&html_path, e))?;
    let v = &report.verification;
    let summary = json!({
        "photos": samples.len() + failures.len(), "embedded": samples.len(), "failed_to_embed": failures.len(),
        "subjects": report.dataset.subjects, "probes": report.identification.probes,
        "top1": report.identification.top1, "top5": report.identification.top5, "top10": report.identification.top10,
        "auc": v.auc, "eer": v.eer, "tar_at_far": v.tar_at_far, "best_accuracy": v.best_accuracy,
        "accuracy_1nn": report.classification.accuracy, "macro_precision": report.classification.macro_precision,
        "macro_recall": report.classification.macro_recall, "macro_f1": report.classification.macro_f1,
        "open_set": { "threshold": report.open_set.threshold, "fpir": report.open_set.fpir, "fnir": report.open_set.fnir },
        "distractors": report.distractors.as_ref().map(|d| serde_json::to_value(d).unwrap_or_default()),
        "unresolved_pairs": unresolved, "json": json_path, "html": html_path,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    Ok(())
}

fn write_error(path: &Path, e: std::io::Error) -> VisageError {
    VisageError::io(path.display(), e)
}

/// Runs `visage calibrate`: the gallery alone, no model loaded.
pub(super) fn calibrate(settings: Settings, args: &CalibrateArgs) -> Result<()> {
    let settings = args.gallery.settings(settings)?;
    let data_dir = settings.server.data_dir.clone();
    let engine = Engine::open(settings, Mode::Offline { bind: None })?;
    let c = super::block_on(engine.calibrate(Some(args.far), Some(args.fpir), args.apply))?;
    let out =
        json!({ "data_dir": data_dir, "calibration": c.calibration, "thresholds": c.thresholds, "applied": c.applied });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

/// One labelled photo: path, gender, age.
type Labelled = (PathBuf, Option<String>, Option<f32>);

/// The labelled photos of `visage eval attributes`.
fn attribute_labels(source: &Path) -> Result<Vec<Labelled>> {
    let invalid = |m: String| VisageError::unprocessable(Code::InvalidSource, m);
    let mut out = Vec::new();
    if source.is_dir() {
        for label in crate::eval::attributes::LABELS {
            let dir = source.join(label);
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            out.extend(files.into_iter().map(|p| (p, Some(label.to_string()), None)));
        }
        if out.is_empty() {
            return Err(invalid(format!("{}: no photos in female/ or male/", source.display())));
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(source).map_err(|e| invalid(format!("{}: {e}", source.display())))?;
    let base = source.parent().unwrap_or(Path::new("."));
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && cols.first().is_some_and(|c| c.eq_ignore_ascii_case("path"))) {
            continue;
        }
        let gender = cols.get(1).filter(|g| !g.is_empty()).map(|g| g.to_ascii_lowercase());
        if let Some(g) = &gender {
            if !crate::eval::attributes::LABELS.contains(&g.as_str()) {
                return Err(invalid(format!("{}:{}: gender {g:?} is not female or male", source.display(), i + 1)));
            }
        }
        let age = match cols.get(2).filter(|a| !a.is_empty()) {
            Some(a) => {
                Some(a.parse::<f32>().map_err(|_| invalid(format!("{}:{}: age {a:?}", source.display(), i + 1)))?)
            }
            None => None,
        };
        out.push((base.join(cols[0]), gender, age));
    }
    Ok(out)
}

/// Runs `visage eval attributes`.
fn run_attributes(settings: &Settings, args: &AttributeEvalArgs) -> Result<()> {
    use crate::eval::attributes::{report, AttributeSample};
    let labels = attribute_labels(&args.source)?;
    let engine = Engine::open(settings.clone(), Mode::Models { workers: 1 })?;
    let wanted = AttributeSet { gender: true, age: true };
    let samples: Vec<AttributeSample> = labels
        .into_iter()
        .map(|(path, gender, age)| {
            let outcome = std::fs::read(&path)
                .map_err(|e| VisageError::unprocessable(Code::InvalidSource, e.to_string()))
                .and_then(|bytes| super::block_on(engine.detect(bytes, false, wanted)))
                .and_then(|detected| {
                    let face = detected.faces.into_iter().next();
                    let face = face.ok_or_else(|| VisageError::unprocessable(Code::NoFace, "no face found"))?;
                    Ok(face.attributes.unwrap_or_default())
                });
            let mut s = AttributeSample {
                path: path.display().to_string(),
                gender,
                age,
                predicted_gender: None,
                p_male: None,
                predicted_age: None,
                error: None,
            };
            match outcome {
                Ok(a) => {
                    s.predicted_gender = a.gender.as_ref().map(|g| g.label.clone());
                    s.p_male = a.gender.as_ref().map(|g| g.p_male());
                    s.predicted_age = a.age.as_ref().map(|a| a.years);
                }
                Err(e) => s.error = Some(e.to_string()),
            }
            s
        })
        .collect();
    let report = report(samples);
    std::fs::create_dir_all(&args.out).map_err(|e| write_error(&args.out, e))?;
    let json_path = args.out.join("attributes.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|e| write_error(&json_path, e))?;
    let html_path = args.out.join("attributes.html");
    let title = format!("Visage attribute evaluation: {}", args.source.display());
    std::fs::write(&html_path, eval::html::render_attributes(&report, &title))
        .map_err(|e| write_error(&html_path, e))?;
    let g = &report.gender;
    let summary = json!({
        "photos": report.photos, "failed": report.failed,
        "gender": { "samples": g.samples, "accuracy": g.accuracy, "balanced_accuracy": g.balanced_accuracy,
                    "per_label": g.per_label, "macro_f1": g.macro_f1, "auc": g.auc,
                    "confusion": { "rows": "truth female, male", "columns": "predicted female, male", "matrix": g.confusion } },
        "age": report.age, "json": json_path, "html": html_path,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    Ok(())
}

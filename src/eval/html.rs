//! The evaluation report as one self-contained HTML page: inline CSS and SVG only, no scripts,
//! fonts or external resources. Every user-provided text (labels, title) is escaped. A figure
//! that could not be measured shows "–" with the reason next to it, never a blank.

use std::fmt::Write;

use super::svg::esc;
use super::EvalReport;

mod charts;
#[cfg(test)]
mod tests;

/// The attribute evaluation (`visage eval attributes`) as one page: gender figures, the
/// confusion matrix, the ROC of P(male) (the same chart code as the recognition report), age
/// figures and every photo's outcome.
pub fn render_attributes(report: &super::attributes::AttributeReport, title: &str) -> String {
    use super::svg::{Axis, Chart, Mark, Series};
    let g = &report.gender;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=en><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head>\
         <body><h1>{t}</h1><p class=muted>Gender is a two-label model of apparent gender (female / male), \
         not of anyone's gender identity. Largest face of each photo.</p>",
        t = esc(title)
    );
    s.push_str("<h2>Gender</h2>");
    s.push_str(&table(
        &["photos", "failed", "scored", "accuracy", "balanced accuracy", "macro F1", "ROC AUC"],
        "rrrrrrr",
        &[vec![
            report.photos.to_string(),
            report.failed.to_string(),
            g.samples.to_string(),
            pct(g.accuracy),
            pct(g.balanced_accuracy),
            opt(g.macro_f1),
            opt(g.auc),
        ]],
        &[],
    ));
    note(&mut s, &g.reason);
    let rows: Vec<Vec<String>> = g
        .per_label
        .iter()
        .map(|l| {
            vec![
                l.label.clone(),
                l.support.to_string(),
                l.predicted.to_string(),
                l.correct.to_string(),
                opt(Some(l.precision)),
                opt(Some(l.recall)),
                opt(Some(l.f1)),
            ]
        })
        .collect();
    s.push_str(&table(
        &["label", "photos", "predicted", "correct", "precision", "recall", "F1"],
        "lrrrrrr",
        &rows,
        &[],
    ));
    s.push_str("<h3>Confusion matrix (rows: truth, columns: predicted)</h3>");
    let labels = super::attributes::LABELS;
    let rows: Vec<Vec<String>> = (0..2)
        .map(|t| vec![labels[t].to_string(), g.confusion[t][0].to_string(), g.confusion[t][1].to_string()])
        .collect();
    s.push_str(&table(&["truth \\ predicted", labels[0], labels[1]], "lrr", &rows, &[]));
    let roc = Chart {
        title: format!("ROC of P(male), AUC {}", opt(g.auc)),
        x_label: "female photos given male (FPR)".into(),
        y_label: "male photos given male (TPR)".into(),
        x: Axis::Lin(0.0, 1.0),
        y: Axis::Lin(0.0, 1.0),
        series: vec![
            Series {
                name: "ROC".into(),
                color: super::svg::color(0),
                points: g.roc.iter().map(|p| (p.far, p.tar)).collect(),
                mark: Mark::LineDots,
            },
            Series {
                name: "chance".into(),
                color: "#bbb".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                mark: Mark::Line,
            },
        ],
        vlines: vec![],
        legend: true,
    };
    let _ = write!(s, "<div class=charts><figure>{}</figure></div>", roc.svg());
    s.push_str("<h2>Age</h2>");
    match &report.age {
        Some(a) => s.push_str(&table(
            &["photos", "MAE (years)", "within ±5 years", "within ±10 years"],
            "rrrr",
            &[vec![a.samples.to_string(), opt(a.mae), pct(a.within_5), pct(a.within_10)]],
            &[],
        )),
        None => s.push_str("<p class=muted>No photo has an age label.</p>"),
    }
    s.push_str("<h2>Photos</h2>");
    let rows: Vec<Vec<String>> = report
        .samples
        .iter()
        .map(|p| {
            vec![
                p.path.clone(),
                p.gender.clone().unwrap_or_default(),
                p.predicted_gender.clone().unwrap_or_default(),
                p.p_male.map_or(String::new(), |v| format!("{v:.3}")),
                p.age.map_or(String::new(), |v| format!("{v:.0}")),
                p.predicted_age.map_or(String::new(), |v| format!("{v:.1}")),
                p.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    s.push_str(&table(
        &["photo", "gender", "predicted", "P(male)", "age", "expected age", "error"],
        "lllrrrn",
        &rows,
        &[],
    ));
    s.push_str("</body></html>");
    s
}

/// Most rows of the per-subject table.
const MAX_SUBJECT_ROWS: usize = 2000;

const CSS: &str = "body{font-family:system-ui,sans-serif;font-size:14px;color:#222;max-width:1240px;\
margin:1.5em auto;padding:0 20px}h1{font-size:1.6em;margin:0 0 .4em}h2{font-size:1.25em;margin:1.4em 0 .4em;\
border-bottom:1px solid #ddd;padding-bottom:.2em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #d4d4d4;padding:3px 9px;vertical-align:top}th{background:#f2f2f2;text-align:left}\
td.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.l{text-align:left}\
.note{color:#a04c00}td.note{max-width:560px}p.note{margin:.3em 0}.muted{color:#666;font-size:.92em}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}\
figure{margin:0;border:1px solid #e4e4e4;padding:6px}figure svg{width:100%;height:auto;display:block}\
figcaption{font-size:.9em;margin-top:4px}.sw{display:inline-block;width:11px;height:11px;margin-right:6px}";

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.2}%", 100.0 * v))
}

fn thr(v: Option<f32>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// A table; `align` has one letter per column: `l` text, `r` number, `n` note (reason) text.
/// Cells are escaped; `swatches[i]`, when there, is a colour shown before row `i`'s first cell.
fn table(head: &[&str], align: &str, rows: &[Vec<String>], swatches: &[String]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for (i, r) in rows.iter().enumerate() {
        s.push_str("<tr>");
        for (k, (c, a)) in r.iter().zip(align.chars().chain(std::iter::repeat('l'))).enumerate() {
            let class = match a {
                'r' => "r",
                'n' => "l note",
                _ => "l",
            };
            let _ = write!(s, "<td class=\"{class}\">");
            if let Some(col) = swatches.get(i).filter(|_| k == 0) {
                let _ = write!(s, "<span class=sw style=\"background:{}\"></span>", esc(col));
            }
            let _ = write!(s, "{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

fn note(s: &mut String, reason: &Option<String>) {
    if let Some(r) = reason {
        let _ = write!(s, "<p class=note>{}</p>", esc(r));
    }
}

/// The reason shown beside a missing figure: its own, else its section's, else a generic one.
fn why(missing: bool, own: &Option<String>, section: &Option<String>) -> String {
    match (missing, own, section) {
        (false, ..) => String::new(),
        (true, Some(r), _) | (true, None, Some(r)) => r.clone(),
        _ => "not measurable on this data".into(),
    }
}

/// Renders `report` as a standalone HTML page titled `title`.
pub fn render(report: &EvalReport, title: &str) -> String {
    let (id, d) = (&report.identification, &report.dataset);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=en><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head>\
         <body><h1>{t}</h1>",
        t = esc(title)
    );
    s.push_str("<h2>Data set</h2>");
    s.push_str(&table(
        &[
            "subjects",
            "samples",
            "dim",
            "one-sample subjects",
            "genuine pairs",
            "impostor pairs",
            "sampled",
            "explicit pairs",
        ],
        "rrrrrrll",
        &[vec![
            d.subjects.to_string(),
            d.samples.to_string(),
            d.dim.to_string(),
            d.subjects_with_one_sample.to_string(),
            d.genuine_pairs.to_string(),
            format!("{} of {}", d.impostor_pairs, d.impostor_pairs_total),
            yes(d.impostor_sampled),
            yes(d.explicit_pairs),
        ]],
        &[],
    ));
    s.push_str("<h2>Headline figures</h2>");
    s.push_str(&headline(report));
    let _ = write!(s, "<p class=muted>Identification: {}.</p>", esc(&id.note));

    s.push_str("<h2>Charts</h2>");
    s.push_str(&charts::all(report));

    if let Some(ds) = &report.distractors {
        let _ = write!(s, "<h2>Distractors ({}, {})</h2>", ds.distractors, esc(&ds.source));
        let rows: Vec<Vec<String>> =
            ds.curve.iter().map(|p| vec![p.distractors.to_string(), pct(Some(p.top1))]).collect();
        s.push_str(&table(&["distractors", "rank-1"], "rr", &rows, &[]));
        let _ = write!(s, "<p>Searched through the {} index", esc(&ds.engine));
        if let Some(c) = &ds.exact_check {
            let _ = write!(
                s,
                "; at {} distractors its rank-1 decision equals brute force's for {} of {} probes checked",
                c.distractors,
                pct(Some(c.agreement)),
                c.probes
            );
        }
        s.push_str(".</p>");
        let _ = write!(
            s,
            "<p>impostor scores (target): mean {:.4}, sd {:.4}; probe–distractor (achieved): mean {:.4}, sd {:.4}; KS statistic {}</p>",
            ds.impostor.mean,
            ds.impostor.std,
            ds.probe_distractor.mean,
            ds.probe_distractor.std,
            opt(ds.ks_statistic)
        );
        if let Some(f) = &ds.fit {
            let _ = write!(
                s,
                "<p class=muted>Synthesized to match the impostor scores: cosine to the mean direction {:.4}, \
                 shape weight {:.4} ({} components); calibration batch mean {:.4}, sd {:.4}.</p>",
                f.cosine_to_mean, f.shape_weight, f.components, f.calibration.mean, f.calibration.std
            );
        }
        note(&mut s, &ds.reason);
    }
    let c = &report.calibration;
    s.push_str("<h2>Calibration (thresholds for the service)</h2>");
    let mut rows: Vec<Vec<String>> = c
        .compare
        .iter()
        .map(|x| {
            let reason = x.threshold.is_none().then(|| format!("{} impostor pairs are too few", x.impostor_pairs));
            vec![
                format!("compare @ FAR {}", x.far),
                thr(x.threshold),
                pct(x.tar),
                x.impostor_pairs.to_string(),
                reason.unwrap_or_default(),
            ]
        })
        .collect();
    rows.push(vec![
        format!("identify @ FPIR {} ({})", c.identify.target_fpir, c.identify.method.replace('_', " ")),
        thr(c.identify.threshold),
        "n/a".into(),
        c.identify.non_mated.to_string(),
        if c.identify.threshold.is_none() { "too few non-mated scores".into() } else { String::new() },
    ]);
    s.push_str(&table(&["threshold", "value", "TAR", "scores behind it", "note"], "lrrrn", &rows, &[]));
    for w in &c.warnings {
        note(&mut s, &Some(w.clone()));
    }
    s.push_str(&per_subject(report));
    s.push_str("</body></html>\n");
    s
}

/// The headline table: figure, value, threshold, and the reason for any missing value.
fn headline(report: &EvalReport) -> String {
    let (v, id, cl, os) = (&report.verification, &report.identification, &report.classification, &report.open_set);
    let row = |f: &str, val: String, t: String, reason: String| vec![f.to_string(), val, t, reason];
    let mut rows = vec![];
    for (k, r) in [(1, id.top1), (5, id.top5), (10, id.top10)] {
        rows.push(row(
            &format!("top-{k} identification rate"),
            pct(r),
            String::new(),
            why(r.is_none(), &None, &id.reason),
        ));
    }
    rows.push(row("AUC (verification)", opt(v.auc), String::new(), why(v.auc.is_none(), &None, &v.reason)));
    let eer = v.eer.as_ref();
    rows.push(row("EER", pct(eer.map(|e| e.eer)), thr(eer.map(|e| e.threshold)), why(eer.is_none(), &None, &v.reason)));
    for t in &v.tar_at_far {
        rows.push(row(
            &format!("TAR @ FAR {}", t.far_target),
            pct(t.tar),
            thr(t.threshold),
            why(t.tar.is_none(), &t.reason, &v.reason),
        ));
    }
    let b = v.best_accuracy.as_ref();
    rows.push(row(
        "best verification accuracy",
        pct(b.map(|b| b.accuracy)),
        thr(b.map(|b| b.threshold)),
        why(b.is_none(), &None, &v.reason),
    ));
    rows.push(row("1-NN accuracy", pct(cl.accuracy), String::new(), why(cl.accuracy.is_none(), &None, &cl.reason)));
    for (name, x) in [("precision", cl.macro_precision), ("recall", cl.macro_recall), ("F1", cl.macro_f1)] {
        rows.push(row(&format!("1-NN macro {name}"), opt(x), String::new(), why(x.is_none(), &None, &cl.reason)));
    }
    match &cl.at_threshold {
        Some(a) => rows.push(row(
            &format!("P / R / F1 accepting ≥ threshold ({})", a.source),
            format!("{:.4} / {:.4} / {:.4}", a.precision, a.recall, a.f1),
            format!("{:.4}", a.threshold),
            String::new(),
        )),
        None => {
            let r = format!("no decision threshold: none given and no EER ({})", why(true, &None, &v.reason));
            rows.push(row("P / R / F1 at a threshold", "–".into(), "–".into(), why(true, &cl.reason, &Some(r))))
        }
    }
    rows.push(row(
        &format!("open-set FNIR @ FPIR {}", os.target_fpir),
        pct(os.fnir),
        thr(os.threshold),
        why(os.threshold.is_none(), &os.reason, &None),
    ));
    table(&["figure", "value", "threshold", "note"], "lrrn", &rows, &[])
}

/// Per-subject P/R/F1, worst F1 first, each subject with its colour in the PCA map.
fn per_subject(report: &EvalReport) -> String {
    let cl = &report.classification;
    let colors = charts::subject_colors(report);
    let mut sorted: Vec<_> = cl.per_subject.iter().collect();
    sorted.sort_by(|a, b| a.f1.total_cmp(&b.f1).then_with(|| a.label.cmp(&b.label)));
    let mut s = String::from("<h2>Per subject (1-NN), worst F1 first</h2>");
    if sorted.is_empty() {
        note(&mut s, &Some(why(true, &cl.reason, &report.identification.reason)));
        return s;
    }
    let shown = &sorted[..sorted.len().min(MAX_SUBJECT_ROWS)];
    let swatches: Vec<String> =
        shown.iter().map(|r| colors.get(r.label.as_str()).cloned().unwrap_or_else(|| "transparent".into())).collect();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                r.support.to_string(),
                r.predicted.to_string(),
                format!("{:.3}", r.precision),
                format!("{:.3}", r.recall),
                format!("{:.3}", r.f1),
            ]
        })
        .collect();
    s.push_str(&table(&["subject", "probes", "predicted", "precision", "recall", "F1"], "lrrrrr", &rows, &swatches));
    if cl.per_subject.len() > MAX_SUBJECT_ROWS {
        let _ = write!(s, "<p class=note>first {MAX_SUBJECT_ROWS} of {} subjects shown</p>", cl.per_subject.len());
    }
    if cl.excluded_subjects > 0 {
        let _ = write!(
            s,
            "<p class=muted>{} subject(s) without a probe (all their samples are in the gallery) are not listed.</p>",
            cl.excluded_subjects
        );
    }
    s
}

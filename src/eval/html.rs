//! The evaluation report as one self-contained HTML page: inline CSS and SVG only, no scripts,
//! fonts or external resources. Every user-provided text (labels, title) is escaped.

use std::fmt::Write;

use super::svg::{color, esc, Axis, Chart, Mark, Series};
use super::EvalReport;

/// Most rows of the per-subject table.
const MAX_SUBJECT_ROWS: usize = 2000;

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.2}%", 100.0 * v))
}

fn thr(v: Option<f32>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

fn chart(title: &str, x_label: &str, y_label: &str, x: Axis, y: Axis) -> Chart {
    Chart {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        x,
        y,
        series: vec![],
        vlines: vec![],
        legend: false,
    }
}

fn line(name: &str, i: usize, points: Vec<(f64, f64)>) -> Series {
    Series { name: name.into(), color: color(i), points, mark: Mark::Line }
}

fn note(s: &mut String, reason: &Option<String>) {
    if let Some(r) = reason {
        let _ = write!(s, "<p class=note>{}</p>", esc(r));
    }
}

/// Renders `report` as a standalone HTML page titled `title`.
pub fn render(report: &EvalReport, title: &str) -> String {
    let (v, id, cl, os, d) =
        (&report.verification, &report.identification, &report.classification, &report.open_set, &report.dataset);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f4f4f4}}\
         .charts{{display:flex;flex-wrap:wrap;gap:1em}}.note{{color:#a50}}</style></head><body><h1>{t}</h1>",
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
        &[vec![
            d.subjects.to_string(),
            d.samples.to_string(),
            d.dim.to_string(),
            d.subjects_with_one_sample.to_string(),
            d.genuine_pairs.to_string(),
            format!("{} of {}", d.impostor_pairs, d.impostor_pairs_total),
            d.impostor_sampled.to_string(),
            d.explicit_pairs.to_string(),
        ]],
    ));
    s.push_str("<h2>Headline figures</h2>");
    let mut rows = vec![
        vec!["top-1 / top-5 / top-10".into(), format!("{} / {} / {}", pct(id.top1), pct(id.top5), pct(id.top10))],
        vec!["AUC".into(), opt(v.auc)],
        vec![
            "EER (threshold)".into(),
            v.eer.map_or("–".into(), |e| format!("{} ({:.4})", pct(Some(e.eer)), e.threshold)),
        ],
        vec![
            "best accuracy (threshold)".into(),
            v.best_accuracy.map_or("–".into(), |b| format!("{} ({:.4})", pct(Some(b.accuracy)), b.threshold)),
        ],
        vec![
            "1-NN accuracy, macro P / R / F1".into(),
            format!(
                "{}, {} / {} / {}",
                pct(cl.accuracy),
                opt(cl.macro_precision),
                opt(cl.macro_recall),
                opt(cl.macro_f1)
            ),
        ],
        vec![
            format!("open-set threshold @ FPIR {}", os.target_fpir),
            format!("{} (FNIR {})", thr(os.threshold), pct(os.fnir)),
        ],
    ];
    for t in &v.tar_at_far {
        rows.push(vec![
            format!("TAR @ FAR {}", t.far_target),
            format!("{} (threshold {})", pct(t.tar), thr(t.threshold)),
        ]);
    }
    if let Some(a) = &cl.at_threshold {
        rows.push(vec![
            format!("P / R / F1 accepting at {:.4} ({})", a.threshold, a.source),
            format!("{:.4} / {:.4} / {:.4}", a.precision, a.recall, a.f1),
        ]);
    }
    s.push_str(&table(&["figure", "value"], &rows));
    for r in [&v.reason, &id.reason, &os.reason] {
        note(&mut s, r);
    }
    note(&mut s, &Some(id.note.clone()));

    s.push_str("<div class=charts>");
    let min_far = (1.0 / v.impostor_pairs.max(1) as f64).clamp(1e-7, 0.1);
    let mut roc = chart("ROC", "FAR (log)", "TAR", Axis::Log(min_far, 1.0), Axis::Lin(0.0, 1.0));
    roc.series.push(line("ROC", 0, v.roc.iter().map(|p| (p.far.max(min_far), p.tar)).collect()));
    s.push_str(&roc.svg());
    let mut cmc =
        chart("CMC", "rank", "identification rate", Axis::Lin(1.0, id.cmc.len().max(2) as f64), Axis::Lin(0.0, 1.0));
    cmc.series.push(line("CMC", 1, id.cmc.iter().enumerate().map(|(k, c)| ((k + 1) as f64, *c)).collect()));
    cmc.series[0].mark = if id.cmc.len() > 1 { Mark::Line } else { Mark::Dots };
    s.push_str(&cmc.svg());
    let min_fpir = (1.0 / os.non_mated_probes.max(1) as f64).clamp(1e-7, 0.1);
    let mut det = chart("DET (open set)", "FPIR (log)", "FNIR (log)", Axis::Log(min_fpir, 1.0), Axis::Log(1e-3, 1.0));
    det.series.push(line("DET", 2, os.det.iter().map(|p| (p.fpir.max(min_fpir), p.fnir.max(1e-3))).collect()));
    s.push_str(&det.svg());
    let hist = |h: &super::stats::Histogram| -> Vec<(f64, f64)> {
        let total = h.counts.iter().sum::<u64>().max(1) as f64;
        let w = (h.hi - h.lo) / h.counts.len().max(1) as f64;
        h.counts.iter().enumerate().map(|(k, c)| (h.lo + (k as f64 + 0.5) * w, *c as f64 / total)).collect()
    };
    let (g, i) = (hist(&v.genuine_histogram), hist(&v.impostor_histogram));
    let top = g.iter().chain(&i).map(|p| p.1).fold(0.01, f64::max);
    let mut h = chart("Score distributions", "cosine", "fraction of pairs", Axis::Lin(-1.0, 1.0), Axis::Lin(0.0, top));
    h.series = vec![line("genuine", 3, g), line("impostor", 0, i)];
    h.legend = true;
    if let Some(t) = report.threshold {
        h.vlines.push((t.value as f64, format!("threshold {:.3} ({})", t.value, t.source)));
    }
    s.push_str(&h.svg());
    s.push_str(&map(report));
    if let Some(ds) = &report.distractors {
        let max = ds.curve.iter().map(|p| p.distractors).max().unwrap_or(1).max(10) as f64;
        let mut c =
            chart("Rank-1 with distractors", "distractors (log)", "rank-1", Axis::Log(1.0, max), Axis::Lin(0.0, 1.0));
        c.series.push(line("rank-1", 4, ds.curve.iter().map(|p| ((p.distractors as f64).max(1.0), p.top1)).collect()));
        s.push_str(&c.svg());
    }
    s.push_str("</div>");

    if let Some(ds) = &report.distractors {
        let _ = write!(s, "<h2>Distractors ({}, {})</h2>", ds.distractors, esc(&ds.source));
        let rows: Vec<Vec<String>> =
            ds.curve.iter().map(|p| vec![p.distractors.to_string(), pct(Some(p.top1))]).collect();
        s.push_str(&table(&["distractors", "rank-1"], &rows));
        let _ = write!(
            s,
            "<p>impostor scores: mean {:.4}, sd {:.4}; probe–distractor: mean {:.4}, sd {:.4}; KS statistic {}</p>",
            ds.impostor.mean,
            ds.impostor.std,
            ds.probe_distractor.mean,
            ds.probe_distractor.std,
            opt(ds.ks_statistic)
        );
        note(&mut s, &ds.reason);
    }
    let c = &report.calibration;
    s.push_str("<h2>Calibration</h2>");
    let mut rows: Vec<Vec<String>> = c
        .compare
        .iter()
        .map(|x| vec![format!("compare @ FAR {}", x.far), thr(x.threshold), pct(x.tar), x.impostor_pairs.to_string()])
        .collect();
    rows.push(vec![
        format!("identify @ FPIR {} ({})", c.identify.target_fpir, c.identify.method),
        thr(c.identify.threshold),
        "".into(),
        c.identify.non_mated.to_string(),
    ]);
    s.push_str(&table(&["threshold", "value", "TAR", "scores behind it"], &rows));
    for w in &c.warnings {
        note(&mut s, &Some(w.clone()));
    }
    s.push_str("<h2>Per subject (1-NN)</h2>");
    let rows: Vec<Vec<String>> = cl
        .per_subject
        .iter()
        .take(MAX_SUBJECT_ROWS)
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
    s.push_str(&table(&["subject", "support", "predicted", "precision", "recall", "F1"], &rows));
    if cl.per_subject.len() > MAX_SUBJECT_ROWS {
        let _ = write!(s, "<p class=note>first {MAX_SUBJECT_ROWS} of {} subjects shown</p>", cl.per_subject.len());
    }
    s.push_str("</body></html>\n");
    s
}

/// The 2-D PCA scatter, one series per subject (legend when ≤ 20 subjects).
fn map(report: &EvalReport) -> String {
    let m = &report.map2d;
    let mut labels: Vec<&str> = m.points.iter().map(|p| p.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let span = |f: fn(&super::map2d::MapPoint) -> f32| {
        let (lo, hi) =
            m.points.iter().map(f).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if lo < hi {
            Axis::Lin(lo as f64, hi as f64)
        } else {
            Axis::Lin(lo as f64 - 1.0, lo as f64 + 1.0)
        }
    };
    let (x, y) =
        if m.points.is_empty() { (Axis::Lin(-1.0, 1.0), Axis::Lin(-1.0, 1.0)) } else { (span(|p| p.x), span(|p| p.y)) };
    let mut c = chart("2-D PCA map", "PC 1", "PC 2", x, y);
    c.legend = labels.len() <= 20;
    c.series = labels
        .iter()
        .enumerate()
        .map(|(i, l)| Series {
            name: l.to_string(),
            color: color(i),
            points: m.points.iter().filter(|p| p.label == *l).map(|p| (p.x as f64, p.y as f64)).collect(),
            mark: Mark::Dots,
        })
        .collect();
    c.svg()
}

//! The report's charts (ROC, CMC, DET, score distributions, PCA map, distractors), each in a
//! `<figure>` whose caption gives the reason when the figure is missing or unreliable.

use std::collections::HashMap;
use std::fmt::Write;

use super::super::svg::{color, esc, Axis, Chart, Mark, Series};
use super::super::EvalReport;

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

fn series(name: &str, color: &str, mark: Mark, points: Vec<(f64, f64)>) -> Series {
    Series { name: name.into(), color: color.into(), points, mark }
}

/// `c` in a figure; `warn` captions in the warning colour, `info` muted.
fn figure(c: &Chart, warn: &[&Option<String>], info: &[String]) -> String {
    let mut s = format!("<figure>{}", c.svg());
    for w in warn.iter().filter_map(|w| w.as_ref()) {
        let _ = write!(s, "<figcaption class=note>{}</figcaption>", esc(w));
    }
    for i in info {
        let _ = write!(s, "<figcaption class=muted>{}</figcaption>", esc(i));
    }
    s.push_str("</figure>");
    s
}

/// The decade at or below `min(floor, 1 / n)`, at least `1e-8`: the low end of a log rate axis.
fn rate_floor(floor: f64, n: usize) -> f64 {
    let v = floor.min(1.0 / n.max(1) as f64).max(1e-8);
    10f64.powf(v.log10().floor())
}

/// Colour of every subject (the map's and the per-subject table's), by sorted label.
pub(super) fn subject_colors(report: &EvalReport) -> HashMap<String, String> {
    let mut labels: Vec<&str> = report.map2d.points.iter().map(|p| p.label.as_str()).collect();
    labels.extend(report.classification.per_subject.iter().map(|r| r.label.as_str()));
    labels.sort_unstable();
    labels.dedup();
    labels.into_iter().enumerate().map(|(i, l)| (l.to_string(), color(i))).collect()
}

/// Every chart, in a grid.
pub(super) fn all(report: &EvalReport) -> String {
    let (v, id, os) = (&report.verification, &report.identification, &report.open_set);
    let mut s = String::from("<div class=charts>");
    let min_target = v.tar_at_far.iter().map(|t| t.far_target).fold(1e-4, f64::min);
    let lo = rate_floor(min_target, v.impostor_pairs);
    let mut roc = chart(
        "ROC (verification)",
        "FAR, log scale (FAR = 0 drawn at the left edge)",
        "TAR",
        Axis::Log(lo, 1.0),
        Axis::Lin(0.0, 1.0),
    );
    roc.legend = true;
    roc.series.push(series("ROC", &color(0), Mark::Line, v.roc.iter().map(|p| (p.far.max(lo), p.tar)).collect()));
    let ops: Vec<(f64, f64)> = v.tar_at_far.iter().filter_map(|t| Some((t.far?.max(lo), t.tar?))).collect();
    if !ops.is_empty() {
        roc.series.push(series("TAR @ FAR targets", &color(3), Mark::Dots, ops));
    }
    if v.impostor_pairs > 0 {
        roc.vlines.push((1.0 / v.impostor_pairs as f64, format!("1 / {} impostor pairs", v.impostor_pairs)));
    }
    let info = vec!["Left of the dashed line the FAR cannot be measured: fewer impostor pairs than 1 / FAR.".into()];
    s.push_str(&figure(&roc, &[&v.reason], &info));

    let n = id.cmc.len();
    let mut cmc = chart(
        "CMC (closed-set identification)",
        "rank",
        "identification rate",
        Axis::Int(1.0, n.max(2) as f64),
        Axis::Lin(0.0, 1.0),
    );
    let mark = if n <= 30 { Mark::LineDots } else { Mark::Line };
    cmc.series.push(series(
        "CMC",
        &color(0),
        mark,
        id.cmc.iter().enumerate().map(|(k, c)| ((k + 1) as f64, *c)).collect(),
    ));
    let info = vec![format!("{} probes against a gallery of {} subjects.", id.probes, id.enrolled_subjects)];
    s.push_str(&figure(&cmc, &[&id.reason], &info));

    let lo_x = rate_floor(1e-3, os.non_mated_probes);
    let lo_y = rate_floor(1e-3, os.mated_probes);
    let mut det = chart(
        "DET (open-set identification)",
        "FPIR, log scale (0 at the left edge)",
        "FNIR, log scale (0 at the bottom)",
        Axis::Log(lo_x, 1.0),
        Axis::Log(lo_y, 1.0),
    );
    det.series.push(series(
        "DET",
        &color(0),
        Mark::Line,
        os.det.iter().map(|p| (p.fpir.max(lo_x), p.fnir.max(lo_y))).collect(),
    ));
    det.legend = true;
    det.vlines.push((os.target_fpir, format!("target FPIR {}", os.target_fpir)));
    let info = vec![format!(
        "{} mated and {} non-mated probes ({} held-out subject(s)).",
        os.mated_probes,
        os.non_mated_probes,
        os.held_out_subjects.len()
    )];
    s.push_str(&figure(&det, &[&os.reason], &info));
    s.push_str(&histograms(report));
    s.push_str(&map(report));
    if let Some(ds) = &report.distractors {
        let max = ds.curve.iter().map(|p| p.distractors).max().unwrap_or(1).max(10) as f64;
        let max = 10f64.powf(max.log10().ceil());
        let mut c = chart(
            "Rank-1 with distractors",
            "distractors in the gallery, log scale (0 at the left edge)",
            "rank-1 identification rate",
            Axis::Log(1.0, max),
            Axis::Lin(0.0, 1.0),
        );
        c.series.push(series(
            "rank-1",
            &color(0),
            Mark::LineDots,
            ds.curve.iter().map(|p| ((p.distractors as f64).max(1.0), p.top1)).collect(),
        ));
        s.push_str(&figure(&c, &[&ds.reason], &[format!("{} probes; {} distractors.", ds.probes, ds.source)]));
    }
    s.push_str("</div>");
    s
}

/// Genuine and impostor score histograms (fractions, as steps) with the decision threshold.
fn histograms(report: &EvalReport) -> String {
    let v = &report.verification;
    let steps = |h: &super::super::stats::Histogram| -> Vec<(f64, f64)> {
        let total = h.counts.iter().sum::<u64>().max(1) as f64;
        let w = (h.hi - h.lo) / h.counts.len().max(1) as f64;
        // Only the bins from the first to the last non-empty one, closed down to 0 at both ends.
        let (Some(a), Some(b)) = (h.counts.iter().position(|c| *c > 0), h.counts.iter().rposition(|c| *c > 0)) else {
            return vec![];
        };
        let x = |k: usize| h.lo + k as f64 * w;
        let mut p = vec![(x(a), 0.0)];
        for (k, c) in h.counts.iter().enumerate().take(b + 1).skip(a) {
            let f = *c as f64 / total;
            p.extend([(x(k), f), (x(k + 1), f)]);
        }
        p.push((x(b + 1), 0.0));
        p
    };
    let (g, i) = (steps(&v.genuine_histogram), steps(&v.impostor_histogram));
    let used = g.iter().chain(&i).map(|p| p.0);
    let (lo, hi) = used.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let mut x = Axis::nice(lo - 0.05, hi + 0.05);
    if let Axis::Lin(a, b) = x {
        x = if lo <= hi { Axis::Lin(a.max(-1.0), b.min(1.0)) } else { Axis::Lin(-1.0, 1.0) };
    }
    let top = g.iter().chain(&i).map(|p| p.1).fold(0.0, f64::max);
    let y = if top > 0.0 { Axis::nice(0.0, top) } else { Axis::Lin(0.0, 1.0) };
    let mut h = chart("Score distributions (verification pairs)", "cosine score", "fraction of pairs", x, y);
    h.series = vec![
        series(&format!("genuine ({})", v.genuine.count), "#1f77b4", Mark::Area, g),
        series(&format!("impostor ({})", v.impostor.count), "#ff7f0e", Mark::Area, i),
    ];
    h.legend = true;
    if let Some(t) = report.threshold {
        h.vlines.push((t.value as f64, format!("threshold {:.3} ({})", t.value, t.source.to_uppercase())));
    }
    let info = vec![format!(
        "genuine mean {:.3} (sd {:.3}); impostor mean {:.3} (sd {:.3}). Accept ⇔ score ≥ threshold.",
        v.genuine.mean, v.genuine.std, v.impostor.mean, v.impostor.std
    )];
    figure(&h, &[&v.reason], &info)
}

/// The 2-D PCA scatter, one colour per subject (legend when ≤ 20 subjects).
fn map(report: &EvalReport) -> String {
    let m = &report.map2d;
    let colors = subject_colors(report);
    let mut labels: Vec<&str> = m.points.iter().map(|p| p.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let span = |f: fn(&super::super::map2d::MapPoint) -> f32| {
        let (lo, hi) =
            m.points.iter().map(f).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        Axis::nice(lo as f64, hi as f64)
    };
    let var =
        |k: usize| m.explained_variance.get(k).map_or(String::new(), |v| format!(" ({:.1}% of variance)", 100.0 * v));
    let mut c = chart(
        "2-D PCA map of the embeddings",
        &format!("PC 1{}", var(0)),
        &format!("PC 2{}", var(1)),
        span(|p| p.x),
        span(|p| p.y),
    );
    c.legend = labels.len() <= 20;
    c.series = labels
        .iter()
        .map(|l| {
            let col = colors.get(*l).cloned().unwrap_or_else(|| color(0));
            series(
                l,
                &col,
                Mark::Dots,
                m.points.iter().filter(|p| p.label == *l).map(|p| (p.x as f64, p.y as f64)).collect(),
            )
        })
        .collect();
    let mut info =
        vec![format!("{} samples of {} subjects; hover a point for its subject.", m.points.len(), labels.len())];
    if m.subsampled {
        info.push(format!("A sample of {} of the {} samples is shown.", m.points.len(), m.total_samples));
    }
    if labels.len() > 20 {
        info.push("No legend above 20 subjects; colours repeat in hue.".into());
    }
    let empty = m.points.is_empty().then(|| "no samples to project".to_string());
    figure(&c, &[&empty], &info)
}

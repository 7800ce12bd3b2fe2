//! Minimal inline-SVG charts (lines, dots, filled areas, vertical markers, legend) for the HTML
//! report. Data is drawn inside a small inset of the frame so that curves on an axis limit stay
//! visible; a chart with nothing to draw says so instead of showing empty axes.

use std::fmt::Write;

mod axis;
#[cfg(test)]
mod tests;

pub(crate) use axis::Axis;

/// Escapes text for HTML/SVG content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Qualitative palette (Tableau 10 and its light variants) for the first colours.
const PALETTE: [&str; 20] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];

/// The `i`-th distinguishable colour: a fixed palette, then golden-angle hues.
pub(crate) fn color(i: usize) -> String {
    match PALETTE.get(i) {
        Some(c) => c.to_string(),
        None => format!("hsl({:.0},65%,{}%)", (i as f64 * 137.508) % 360.0, 35 + (i % 3) * 10),
    }
}

/// `s` cut to at most `n` characters (with an ellipsis), for legends.
pub(crate) fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).chain(['…']).collect()
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    Line,
    Dots,
    /// A line with a dot on every point.
    LineDots,
    /// A line filled down to the bottom of the plot, translucent (histograms).
    Area,
}

/// One data series.
pub(crate) struct Series {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

/// A chart: axes, series, dashed vertical markers `(x, label)` and an optional legend (a row under
/// the title for ≤ 4 series, which then also names the markers; else a column right of the plot;
/// none above 20 series). Markers not named in a legend row are labelled inside the plot.
pub(crate) struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub vlines: Vec<(f64, String)>,
    pub legend: bool,
}

const W: f64 = 600.0;
const H: f64 = 380.0;
const L: f64 = 62.0;
const B: f64 = 46.0;
/// Inset of the data inside the frame.
const PAD: f64 = 6.0;

impl Chart {
    fn column_legend(&self) -> bool {
        self.legend && (5..=20).contains(&self.series.len())
    }

    fn row_legend(&self) -> bool {
        self.legend && (1..=4).contains(&self.series.len())
    }

    /// Plot frame: left, top, right, bottom.
    fn frame(&self) -> (f64, f64, f64, f64) {
        let top = if self.row_legend() { 48.0 } else { 30.0 };
        let right = if self.column_legend() { W - 150.0 } else { W - 18.0 };
        (L, top, right, H - B)
    }

    fn px(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let (l, t, r, b) = self.frame();
        Some((l + PAD + self.x.frac(x)? * (r - l - 2.0 * PAD), b - PAD - self.y.frac(y)? * (b - t - 2.0 * PAD)))
    }

    /// The chart as an `<svg>` element (scales to its container's width).
    pub fn svg(&self) -> String {
        let (l, t, r, b) = self.frame();
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12" fill="#222"><rect x="{l}" y="{t}" width="{}" height="{}" fill="#fff" stroke="#888"/><text x="{}" y="19" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"##,
            r - l,
            b - t,
            (l + r) / 2.0,
            esc(&self.title)
        );
        let (xs, x_minor) = self.x.ticks();
        let (ys, y_minor) = self.y.ticks();
        for x in x_minor.iter().filter_map(|v| self.x.frac(*v).map(|f| l + PAD + f * (r - l - 2.0 * PAD))) {
            let _ = write!(s, r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{b}" stroke="#f3f3f3"/>"##);
        }
        for y in y_minor.iter().filter_map(|v| self.y.frac(*v).map(|f| b - PAD - f * (b - t - 2.0 * PAD))) {
            let _ = write!(s, r##"<line x1="{l}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#f3f3f3"/>"##);
        }
        for v in xs {
            if let Some(f) = self.x.frac(v) {
                let x = l + PAD + f * (r - l - 2.0 * PAD);
                let _ = write!(
                    s,
                    r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{b}" stroke="#e4e4e4"/><line x1="{x:.1}" y1="{b}" x2="{x:.1}" y2="{}" stroke="#888"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                    b + 4.0,
                    b + 17.0,
                    self.x.label(v)
                );
            }
        }
        for v in ys {
            if let Some(f) = self.y.frac(v) {
                let y = b - PAD - f * (b - t - 2.0 * PAD);
                let _ = write!(
                    s,
                    r##"<line x1="{l}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#e4e4e4"/><line x1="{}" y1="{y:.1}" x2="{l}" y2="{y:.1}" stroke="#888"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                    l - 4.0,
                    l - 6.0,
                    y + 4.0,
                    self.y.label(v)
                );
            }
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(15,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
            (l + r) / 2.0,
            H - 8.0,
            esc(&self.x_label),
            (t + b) / 2.0,
            esc(&self.y_label)
        );
        let mut drawn = 0;
        for sr in &self.series {
            let pts: Vec<(f64, f64)> = sr.points.iter().filter_map(|&(x, y)| self.px(x, y)).collect();
            drawn += pts.len();
            self.series_svg(&mut s, sr, &pts);
        }
        if drawn == 0 {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="middle" font-size="15" fill="#a50">no data to plot</text>"##,
                (l + r) / 2.0,
                (t + b) / 2.0
            );
        }
        self.vlines_svg(&mut s);
        self.legend_svg(&mut s);
        s.push_str("</svg>");
        s
    }

    fn series_svg(&self, s: &mut String, sr: &Series, pts: &[(f64, f64)]) {
        let (name, c) = (esc(&sr.name), &sr.color);
        let path = || pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
        match sr.mark {
            Mark::Area if pts.len() > 1 => {
                let base = self.frame().3 - PAD;
                let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
                let _ = write!(
                    s,
                    r##"<polygon fill="{c}" fill-opacity="0.22" stroke="none" points="{x0:.1},{base:.1} {} {x1:.1},{base:.1}"/><polyline fill="none" stroke="{c}" stroke-width="1.6" points="{}"><title>{name}</title></polyline>"##,
                    path(),
                    path()
                );
            }
            Mark::Line | Mark::LineDots if pts.len() > 1 => {
                let _ = write!(
                    s,
                    r##"<polyline fill="none" stroke="{c}" stroke-width="2" stroke-linejoin="round" points="{}"><title>{name}</title></polyline>"##,
                    path()
                );
            }
            _ => {}
        }
        if matches!(sr.mark, Mark::Dots | Mark::LineDots) || pts.len() == 1 {
            for (x, y) in pts {
                let _ = write!(
                    s,
                    r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{c}" fill-opacity="0.85" stroke="#fff" stroke-width="0.8"><title>{name}</title></circle>"##
                );
            }
        }
    }

    /// Dashed vertical markers, labelled (unless the legend row names them) on whichever side of
    /// the line has room.
    fn vlines_svg(&self, s: &mut String) {
        let (l, t, r, b) = self.frame();
        for (k, (x, label)) in self.vlines.iter().enumerate() {
            let Some(f) = self.x.frac(*x) else { continue };
            let px = l + PAD + f * (r - l - 2.0 * PAD);
            let line = format!(
                r##"<line x1="{px:.1}" y1="{t}" x2="{px:.1}" y2="{b}" stroke="#000" stroke-width="1.2" stroke-dasharray="5 3"><title>{}</title></line>"##,
                esc(label)
            );
            s.push_str(&line);
            if self.row_legend() {
                continue;
            }
            let width = 6.5 * label.chars().count() as f64 + 6.0;
            let left = px + width + 4.0 > r;
            let (tx, anchor, bx) =
                if left { (px - 4.0, "end", px - 4.0 - width) } else { (px + 4.0, "start", px + 1.0) };
            let y = t + 16.0 + 16.0 * k as f64;
            let _ = write!(
                s,
                r##"<rect x="{bx:.1}" y="{}" width="{width:.1}" height="15" fill="#fff" fill-opacity="0.85"/><text x="{tx:.1}" y="{y}" text-anchor="{anchor}">{}</text>"##,
                y - 11.0,
                esc(label)
            );
        }
    }

    fn legend_svg(&self, s: &mut String) {
        if !self.legend || self.series.is_empty() || self.series.len() > 20 {
            return;
        }
        let (l, t, r, _) = self.frame();
        let mut x = l;
        for (i, sr) in self.series.iter().enumerate() {
            let name = shorten(&sr.name, 18);
            let (bx, by) = if self.column_legend() { (r + 10.0, t + 4.0 + 16.0 * i as f64) } else { (x, t - 16.0) };
            let _ = write!(
                s,
                r##"<rect x="{bx}" y="{by}" width="11" height="11" fill="{}"/><text x="{}" y="{}">{}<title>{}</title></text>"##,
                sr.color,
                bx + 15.0,
                by + 10.0,
                esc(&name),
                esc(&sr.name)
            );
            x += 30.0 + 7.0 * name.chars().count() as f64;
        }
        if self.row_legend() {
            for (_, label) in &self.vlines {
                let _ = write!(
                    s,
                    r##"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="#000" stroke-width="1.2" stroke-dasharray="4 2"/><text x="{}" y="{}">{}</text>"##,
                    t - 16.0,
                    x,
                    t - 5.0,
                    x + 6.0,
                    t - 6.0,
                    esc(label)
                );
                x += 30.0 + 6.5 * label.chars().count() as f64;
            }
        }
    }
}

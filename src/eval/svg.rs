//! Minimal inline-SVG charts (lines, dots, vertical markers, legend) for the HTML report.

use std::fmt::Write;

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

/// The `i`-th of `n` distinguishable colours.
pub(crate) fn color(i: usize) -> String {
    format!("hsl({:.0},70%,{}%)", (i as f64 * 137.508) % 360.0, 38 + (i % 3) * 8)
}

/// An axis range, linear or logarithmic (base 10; `lo > 0`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Axis {
    Lin(f64, f64),
    Log(f64, f64),
}

impl Axis {
    /// Position in [0, 1] (clamped); `None` for values a log axis cannot show.
    fn frac(self, v: f64) -> Option<f64> {
        let f = match self {
            Axis::Lin(a, b) => (v - a) / (b - a),
            Axis::Log(a, b) if v > 0.0 => (v.ln() - a.ln()) / (b.ln() - a.ln()),
            Axis::Log(..) => return None,
        };
        f.is_finite().then(|| f.clamp(0.0, 1.0))
    }

    fn ticks(self) -> Vec<f64> {
        match self {
            Axis::Lin(a, b) => (0..=4).map(|k| a + (b - a) * k as f64 / 4.0).collect(),
            Axis::Log(a, b) => {
                let (lo, hi) = (a.log10().floor() as i32, b.log10().ceil() as i32);
                (lo..=hi).map(|e| 10f64.powi(e)).filter(|t| *t >= a * 0.999 && *t <= b * 1.001).collect()
            }
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    Line,
    Dots,
}

/// One data series.
pub(crate) struct Series {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

/// A chart: axes, series, vertical markers `(x, label)` and an optional legend.
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

const W: f64 = 560.0;
const H: f64 = 360.0;
const L: f64 = 60.0;
const R: f64 = 20.0;
const T: f64 = 30.0;
const B: f64 = 45.0;

fn tick_label(v: f64, log: bool) -> String {
    if log {
        format!("1e{}", v.log10().round())
    } else if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl Chart {
    fn px(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((L + self.x.frac(x)? * (W - L - R), H - B - self.y.frac(y)? * (H - T - B)))
    }

    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let mut s = String::new();
        let (pw, ph) = (W - L - R, H - T - B);
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11"><rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/><text x="{}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"##,
            W / 2.0,
            esc(&self.title)
        );
        let log_x = matches!(self.x, Axis::Log(..));
        for t in self.x.ticks() {
            if let Some(f) = self.x.frac(t) {
                let px = L + f * pw;
                let _ = write!(
                    s,
                    r##"<line x1="{px:.1}" y1="{T}" x2="{px:.1}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
                    H - B,
                    H - B + 14.0,
                    tick_label(t, log_x)
                );
            }
        }
        let log_y = matches!(self.y, Axis::Log(..));
        for t in self.y.ticks() {
            if let Some(f) = self.y.frac(t) {
                let py = H - B - f * ph;
                let _ = write!(
                    s,
                    r##"<line x1="{L}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                    W - R,
                    L - 4.0,
                    py + 4.0,
                    tick_label(t, log_y)
                );
            }
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(14,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
            L + pw / 2.0,
            H - 8.0,
            esc(&self.x_label),
            T + ph / 2.0,
            esc(&self.y_label)
        );
        for sr in &self.series {
            let pts: Vec<(f64, f64)> = sr.points.iter().filter_map(|&(x, y)| self.px(x, y)).collect();
            let name = esc(&sr.name);
            match sr.mark {
                Mark::Line if pts.len() > 1 => {
                    let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    let _ = write!(
                        s,
                        r##"<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"><title>{name}</title></polyline>"##,
                        sr.color,
                        path.join(" ")
                    );
                }
                _ => {
                    for (x, y) in pts {
                        let _ = write!(
                            s,
                            r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.2" fill="{}" fill-opacity="0.75"><title>{name}</title></circle>"##,
                            sr.color
                        );
                    }
                }
            }
        }
        for (x, label) in &self.vlines {
            if let Some(f) = self.x.frac(*x) {
                let px = L + f * pw;
                let _ = write!(
                    s,
                    r##"<line x1="{px:.1}" y1="{T}" x2="{px:.1}" y2="{}" stroke="#000" stroke-dasharray="4 3"/><text x="{:.1}" y="{}">{}</text>"##,
                    H - B,
                    px + 3.0,
                    T + 12.0,
                    esc(label)
                );
            }
        }
        if self.legend && self.series.len() <= 20 {
            for (i, sr) in self.series.iter().enumerate() {
                let y = T + 14.0 + i as f64 * 13.0;
                let _ = write!(
                    s,
                    r##"<rect x="{}" y="{}" width="9" height="9" fill="{}"/><text x="{}" y="{y}">{}</text>"##,
                    W - R - 150.0,
                    y - 8.0,
                    sr.color,
                    W - R - 137.0,
                    esc(&sr.name)
                );
            }
        }
        s.push_str("</svg>");
        s
    }
}

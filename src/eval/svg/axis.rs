//! Chart axes: linear, integer and logarithmic ranges, their ticks and tick labels.

/// An axis range: linear, linear with integer ticks, or logarithmic (base 10; `lo > 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Axis {
    Lin(f64, f64),
    Int(f64, f64),
    Log(f64, f64),
}

/// A 1-2-5 step giving about `n` intervals over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p)
}

impl Axis {
    /// A linear axis covering `[lo, hi]`, widened to whole tick steps (a point range gets ±1).
    pub fn nice(lo: f64, hi: f64) -> Axis {
        if !(lo.is_finite() && hi.is_finite()) || lo > hi {
            return Axis::Lin(0.0, 1.0);
        }
        let (lo, hi) = if hi - lo < 1e-12 { (lo - 1.0, hi + 1.0) } else { (lo, hi) };
        let step = nice_step(hi - lo, 6.0);
        Axis::Lin((lo / step).floor() * step, (hi / step).ceil() * step)
    }

    /// Position in [0, 1] (clamped); `None` for values a log axis cannot show.
    pub(super) fn frac(self, v: f64) -> Option<f64> {
        let f = match self {
            Axis::Lin(a, b) | Axis::Int(a, b) => (v - a) / (b - a),
            Axis::Log(a, b) if v > 0.0 => (v.ln() - a.ln()) / (b.ln() - a.ln()),
            Axis::Log(..) => return None,
        };
        f.is_finite().then(|| f.clamp(0.0, 1.0))
    }

    /// Labelled ticks, and unlabelled minor ticks (2…9 × 10^k on a log axis of ≤ 4 decades).
    pub(super) fn ticks(self) -> (Vec<f64>, Vec<f64>) {
        let within = |a: f64, b: f64, t: f64| t >= a - 1e-9 * (b - a).abs() && t <= b + 1e-9 * (b - a).abs();
        match self {
            Axis::Lin(a, b) | Axis::Int(a, b) => {
                let mut step = nice_step(b - a, 7.0);
                if matches!(self, Axis::Int(..)) {
                    step = step.round().max(1.0);
                }
                let k0 = (a / step).ceil() as i64;
                let major = (k0..).map(|k| k as f64 * step).take_while(|t| within(a, b, *t)).take(50).collect();
                (major, vec![])
            }
            Axis::Log(a, b) => {
                let (lo, hi) = (a.log10().floor() as i32, b.log10().ceil() as i32);
                let major = (lo..=hi).map(|e| 10f64.powi(e)).filter(|t| within(a, b, *t)).collect();
                let decades = if hi - lo <= 4 { lo..hi } else { 0..0 };
                let minor = decades.flat_map(|e| (2..10).map(move |m| m as f64 * 10f64.powi(e)));
                (major, minor.filter(|t| within(a, b, *t)).collect())
            }
        }
    }

    pub(super) fn label(self, v: f64) -> String {
        match self {
            Axis::Log(..) => match v.log10().round() as i32 {
                e @ -2..=3 => format!("{}", 10f64.powi(e)),
                e => format!("1e{e}"),
            },
            _ => {
                let s = format!("{:.4}", if v.abs() < 1e-12 { 0.0 } else { v });
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
    }
}

//! Principal components by power iteration with deflation on the sample covariance.

use rayon::prelude::*;

use crate::synth::Rng;

/// Rows used to fit (an evenly spaced subset above this).
const FIT_ROWS: usize = 50_000;
const ITERATIONS: usize = 300;

/// Mean, leading principal directions (unit, orthogonal) and their variances.
#[derive(Debug, Clone)]
pub(crate) struct Pca {
    pub mean: Vec<f64>,
    pub components: Vec<Vec<f64>>,
    pub variances: Vec<f64>,
    /// Trace of the covariance (total variance).
    pub total_variance: f64,
}

pub(crate) fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Pca {
    /// Fits up to `k` components to equal-length rows; `None` without rows or dimensions. Fewer
    /// components come back when the data has less non-negligible variance.
    pub fn fit(rows: &[&[f32]], k: usize, seed: u64) -> Option<Pca> {
        let d = rows.first()?.len();
        if d == 0 {
            return None;
        }
        let step = rows.len().div_ceil(FIT_ROWS);
        let rows: Vec<&[f32]> = rows.iter().step_by(step).copied().collect();
        let n = rows.len() as f64;
        let mut mean = vec![0.0f64; d];
        for r in &rows {
            for (m, x) in mean.iter_mut().zip(r.iter()) {
                *m += *x as f64 / n;
            }
        }
        let mut cov = rows
            .par_iter()
            .fold(
                || vec![0.0f64; d * d],
                |mut c, r| {
                    let x: Vec<f64> = r.iter().zip(&mean).map(|(v, m)| *v as f64 - m).collect();
                    for i in 0..d {
                        let row = &mut c[i * d..(i + 1) * d];
                        for j in i..d {
                            row[j] += x[i] * x[j];
                        }
                    }
                    c
                },
            )
            .reduce(|| vec![0.0f64; d * d], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
        for i in 0..d {
            for j in i..d {
                cov[i * d + j] /= n;
                cov[j * d + i] = cov[i * d + j];
            }
        }
        let total_variance: f64 = (0..d).map(|i| cov[i * d + i]).sum();
        let mut pca = Pca { mean, components: vec![], variances: vec![], total_variance };
        let mut rng = Rng::new(seed);
        let times = |v: &[f64]| -> Vec<f64> { (0..d).map(|i| dot64(&cov[i * d..(i + 1) * d], v)).collect() };
        for _ in 0..k.min(d) {
            let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
            let mut lambda = 0.0;
            for it in 0..ITERATIONS {
                let mut w = times(&v);
                for c in &pca.components {
                    let p = dot64(c, &w);
                    w.iter_mut().zip(c).for_each(|(x, y)| *x -= p * y);
                }
                let norm = dot64(&w, &w).sqrt();
                if norm.is_nan() || norm <= 1e-12 * total_variance {
                    lambda = 0.0;
                    break;
                }
                w.iter_mut().for_each(|x| *x /= norm);
                let moved = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                v = w;
                lambda = norm;
                if it > 10 && moved < 1e-10 {
                    break;
                }
            }
            if lambda <= 1e-12 * total_variance || !lambda.is_finite() {
                break;
            }
            pca.components.push(v);
            pca.variances.push(lambda);
        }
        Some(pca)
    }

    /// Coordinates of `x` along the components.
    pub fn project(&self, x: &[f32]) -> Vec<f64> {
        let c: Vec<f64> = x.iter().zip(&self.mean).map(|(v, m)| *v as f64 - m).collect();
        self.components.iter().map(|p| dot64(p, &c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_axes_of_an_anisotropic_cloud() {
        let mut rng = Rng::new(3);
        let data: Vec<Vec<f32>> = (0..4000)
            .map(|_| vec![3.0 * rng.normal() as f32, rng.normal() as f32, 0.1 * rng.normal() as f32])
            .collect();
        let rows: Vec<&[f32]> = data.iter().map(|r| r.as_slice()).collect();
        let p = Pca::fit(&rows, 5, 1).unwrap();
        assert_eq!(p.components.len(), 3);
        assert!((p.variances[0] - 9.0).abs() < 0.6 && (p.variances[1] - 1.0).abs() < 0.1, "{:?}", p.variances);
        assert!(p.components[0][0].abs() > 0.99 && p.components[1][1].abs() > 0.99);
        assert!((p.total_variance - p.variances.iter().sum::<f64>()).abs() < 1e-6);
        assert!(Pca::fit(&[], 2, 0).is_none());
        // Constant rows: no variance, no component.
        assert!(Pca::fit(&[&[1.0, 0.0][..], &[1.0, 0.0][..]], 2, 0).unwrap().components.is_empty());
    }
}

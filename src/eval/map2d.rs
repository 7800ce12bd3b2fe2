//! A 2-D PCA projection of the samples, for the report's scatter plot.

use serde::Serialize;

use super::pca::Pca;
use super::Sample;

/// Most points in the map (an evenly spaced subset of the samples above this).
pub const MAP_POINTS: usize = 5000;

/// One sample on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    /// First principal coordinate.
    pub x: f32,
    /// Second principal coordinate.
    pub y: f32,
    /// The sample's subject.
    pub label: String,
}

/// The map: the samples projected on the first two principal components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Map2d {
    /// The projected samples.
    pub points: Vec<MapPoint>,
    /// Samples in the data.
    pub total_samples: usize,
    /// Whether `points` is an evenly spaced subset.
    pub subsampled: bool,
    /// Fraction of the total variance along each axis.
    pub explained_variance: Vec<f64>,
}

/// Projects (at most [`MAP_POINTS`] evenly spaced) samples, which must share one dimension.
pub(crate) fn project(samples: &[Sample], seed: u64) -> Map2d {
    let n = samples.len();
    let rows: Vec<&[f32]> = samples.iter().map(|s| s.vector.as_slice()).collect();
    let Some(pca) = Pca::fit(&rows, 2, seed) else {
        return Map2d { points: vec![], total_samples: n, subsampled: false, explained_variance: vec![] };
    };
    let m = n.min(MAP_POINTS);
    let points = (0..m)
        .map(|k| {
            let s = &samples[k * n / m];
            let c = pca.project(&s.vector);
            let at = |i: usize| c.get(i).copied().unwrap_or(0.0) as f32;
            MapPoint { x: at(0), y: at(1), label: s.label.clone() }
        })
        .collect();
    let total = pca.total_variance;
    Map2d {
        points,
        total_samples: n,
        subsampled: m < n,
        explained_variance: pca.variances.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect(),
    }
}

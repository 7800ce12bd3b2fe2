//! Input validation, subjects, and pair scoring (genuine/impostor, explicit pairs,
//! leave-one-subject-out maxima). Scores are dot products (cosine for unit vectors).

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::stats::hash64;
use super::{EvalError, Sample};
use crate::index::dot;
use crate::synth::Rng;

/// Impostor pairs drawn per sampling task.
const SAMPLE_CHUNK: usize = 1 << 16;

/// Checks that there are samples, all of one non-zero dimension, all finite. Returns the dimension.
pub(crate) fn validate(samples: &[Sample]) -> Result<usize, EvalError> {
    let dim = samples.first().ok_or(EvalError::Empty)?.vector.len();
    check_vectors(samples.iter().map(|s| s.vector.as_slice()), dim, "sample")?;
    Ok(dim)
}

/// Checks that every vector has `dim > 0` finite components.
pub(crate) fn check_vectors<'a>(
    vectors: impl Iterator<Item = &'a [f32]>,
    dim: usize,
    what: &'static str,
) -> Result<(), EvalError> {
    for (index, v) in vectors.enumerate() {
        if v.len() != dim {
            return Err(EvalError::Dimension { what, index, expected: dim, got: v.len() });
        }
        if dim == 0 || v.iter().any(|x| !x.is_finite()) {
            return Err(EvalError::BadVector { what, index });
        }
    }
    Ok(())
}

/// Subjects in lexicographic label order, and which samples belong to each (in input order).
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    pub names: Vec<String>,
    /// Subject index of every sample.
    pub of: Vec<usize>,
    pub members: Vec<Vec<usize>>,
}

impl Subjects {
    pub fn new(samples: &[Sample]) -> Self {
        let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in samples.iter().enumerate() {
            by.entry(&s.label).or_default().push(i);
        }
        let mut of = vec![0; samples.len()];
        for (k, members) in by.values().enumerate() {
            for &i in members {
                of[i] = k;
            }
        }
        Self { names: by.keys().map(|s| s.to_string()).collect(), of, members: by.into_values().collect() }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Number of impostor pairs `(N² − Σ nₛ²) / 2`.
    pub fn impostor_pairs(&self) -> u64 {
        let n = self.of.len() as u128;
        let same: u128 = self.members.iter().map(|m| (m.len() as u128).pow(2)).sum();
        ((n * n - same) / 2) as u64
    }
}

/// Genuine and impostor scores of a set of pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct PairScores {
    pub genuine: Vec<f32>,
    pub impostor: Vec<f32>,
    /// All impostor pairs there are (more than `impostor.len()` when sampled).
    pub impostor_total: u64,
    pub sampled: bool,
}

/// All genuine pairs (same label, `i < j`), and all impostor pairs or — above `max_impostor` —
/// `max_impostor` impostor pairs drawn uniformly (with replacement) with a generator seeded by `seed`.
pub(crate) fn all_pairs(samples: &[Sample], subjects: &Subjects, max_impostor: usize, seed: u64) -> PairScores {
    let score = |i: usize, j: usize| dot(&samples[i].vector, &samples[j].vector);
    let genuine: Vec<f32> = subjects
        .members
        .par_iter()
        .flat_map_iter(|m| (0..m.len()).flat_map(move |a| (a + 1..m.len()).map(move |b| (m[a], m[b]))))
        .map(|(i, j)| score(i, j))
        .collect();
    let total = subjects.impostor_pairs();
    let n = samples.len();
    let of = &subjects.of;
    if total <= max_impostor as u64 {
        let impostor = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| (i + 1..n).filter(move |&j| of[i] != of[j]).map(move |j| score(i, j)))
            .collect();
        return PairScores { genuine, impostor, impostor_total: total, sampled: false };
    }
    let chunks = max_impostor.div_ceil(SAMPLE_CHUNK);
    let impostor = (0..chunks)
        .into_par_iter()
        .flat_map_iter(|c| {
            let want = SAMPLE_CHUNK.min(max_impostor - c * SAMPLE_CHUNK);
            let mut rng = Rng::new(hash64(seed, &(c as u64).to_le_bytes()));
            let mut out = Vec::with_capacity(want);
            // Rejection sampling; the attempt cap only matters for absurdly skewed label counts.
            for _ in 0..want.saturating_mul(64) {
                if out.len() == want {
                    break;
                }
                let (i, j) = (rng.below(n), rng.below(n));
                if of[i] != of[j] {
                    out.push(score(i, j));
                }
            }
            out
        })
        .collect();
    PairScores { genuine, impostor, impostor_total: total, sampled: true }
}

/// Scores of explicit index pairs; a pair is genuine when both samples have the same label.
pub(crate) fn index_pairs(
    samples: &[Sample],
    subjects: &Subjects,
    pairs: &[(usize, usize)],
) -> Result<PairScores, EvalError> {
    let len = samples.len();
    for (pair, &(i, j)) in pairs.iter().enumerate() {
        if let Some(sample) = [i, j].into_iter().find(|&s| s >= len) {
            return Err(EvalError::PairIndex { pair, sample, len });
        }
    }
    let (mut genuine, mut impostor) = (vec![], vec![]);
    for &(i, j) in pairs {
        let s = dot(&samples[i].vector, &samples[j].vector);
        if subjects.of[i] == subjects.of[j] {
            genuine.push(s)
        } else {
            impostor.push(s)
        }
    }
    let impostor_total = impostor.len() as u64;
    Ok(PairScores { genuine, impostor, impostor_total, sampled: false })
}

/// Leave-one-subject-out non-mated scores: for each query sample, its best score against every
/// sample of the other subjects (what it would score against the gallery were its subject not
/// enrolled). All samples are queries when `N² ≤ budget`, else `budget / N` of them, evenly spaced.
/// Empty with fewer than two subjects.
pub(crate) fn loso_max(samples: &[Sample], subjects: &Subjects, budget: usize) -> Vec<f32> {
    let n = samples.len();
    if subjects.len() < 2 {
        return vec![];
    }
    let q = if n.saturating_mul(n) <= budget { n } else { (budget / n).clamp(1, n) };
    (0..q)
        .into_par_iter()
        .map(|k| {
            let i = k * n / q;
            (0..n)
                .filter(|&j| subjects.of[j] != subjects.of[i])
                .map(|j| dot(&samples[i].vector, &samples[j].vector))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect()
}

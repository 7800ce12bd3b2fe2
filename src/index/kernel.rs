//! Numeric kernels shared by the indexes: the dot product, input checks, bounded top-k.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::{Filter, Hit, IndexError, Result};

/// Independent accumulators in [`dot`]: 16 lanes = four 4-wide SSE or two 8-wide AVX registers,
/// enough to hide the add latency.
const LANES: usize = 16;

/// Dot product of two equally long slices (the shorter length is used otherwise). Written so
/// that the compiler vectorises it: fixed-width chunks into `LANES` f32 accumulators, then a
/// fixed-order reduction, so a given pair always gives the same bits (the exact and the HNSW
/// index share it, and their scores are comparable to the last bit).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        let (lo, hi) = acc.split_at_mut(width);
        for (l, h) in lo.iter_mut().zip(&hi[..width]) {
            *l += *h;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc[0] + tail
}

/// `v / |v|`, or `None` for a zero or non-finite vector.
pub fn normalize(v: &[f32]) -> Option<Vec<f32>> {
    let norm = dot(v, v).sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// Largest accepted deviation of a stored vector's squared norm from 1. Normalising in f32
/// leaves errors near 1e-7; anything beyond this was not normalised.
const UNIT_TOLERANCE: f32 = 1e-3;

/// Checks a vector to be stored: right dimension, finite, unit length.
pub(crate) fn check_stored(dim: usize, id: u64, v: &[f32]) -> Result<()> {
    if v.len() != dim {
        return Err(IndexError::DimensionMismatch { expected: dim, got: v.len() });
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::InvalidVector { id: Some(id), reason: "contains NaN or infinity".into() });
    }
    let sq = dot(v, v);
    if (sq - 1.0).abs() > UNIT_TOLERANCE {
        return Err(IndexError::InvalidVector {
            id: Some(id),
            reason: format!("not unit length (norm {:.4}); normalise embeddings before indexing", sq.sqrt()),
        });
    }
    Ok(())
}

/// Checks a query and returns it unit length (borrowed when it already is).
pub(crate) fn prepare_query(dim: usize, q: &[f32]) -> Result<Cow<'_, [f32]>> {
    if q.len() != dim {
        return Err(IndexError::DimensionMismatch { expected: dim, got: q.len() });
    }
    if q.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::InvalidVector { id: None, reason: "query contains NaN or infinity".into() });
    }
    let sq = dot(q, q);
    if (sq - 1.0).abs() <= 1e-6 {
        return Ok(Cow::Borrowed(q));
    }
    normalize(q)
        .map(Cow::Owned)
        .ok_or_else(|| IndexError::InvalidVector { id: None, reason: "query is a zero vector".into() })
}

/// Checks a batch for [`super::VectorIndex::add`] and drops all but the last occurrence of each
/// id (keeping batch order otherwise).
pub(crate) fn prepare_batch<'a>(dim: usize, items: &[(u64, &'a [f32])]) -> Result<Vec<(u64, &'a [f32])>> {
    for (id, v) in items {
        check_stored(dim, *id, v)?;
    }
    let mut last: HashMap<u64, usize> = HashMap::with_capacity(items.len());
    for (i, (id, _)) in items.iter().enumerate() {
        last.insert(*id, i);
    }
    Ok(items.iter().enumerate().filter(|(i, (id, _))| last.get(id) == Some(i)).map(|(_, item)| *item).collect())
}

/// A filter made cheap to evaluate: id lists are sorted once and binary-searched.
pub(crate) enum Allow<'a> {
    All,
    Ids(Cow<'a, [u64]>),
    Predicate(&'a (dyn Fn(u64) -> bool + Sync)),
}

impl<'a> Allow<'a> {
    pub(crate) fn new(filter: Option<Filter<'a>>) -> Self {
        match filter {
            None => Self::All,
            Some(Filter::Ids(ids)) if ids.is_sorted() => Self::Ids(Cow::Borrowed(ids)),
            Some(Filter::Ids(ids)) => {
                let mut v = ids.to_vec();
                v.sort_unstable();
                v.dedup();
                Self::Ids(Cow::Owned(v))
            }
            Some(Filter::Predicate(p)) => Self::Predicate(p),
        }
    }

    #[inline]
    pub(crate) fn allows(&self, id: u64) -> bool {
        match self {
            Self::All => true,
            Self::Ids(ids) => ids.binary_search(&id).is_ok(),
            Self::Predicate(p) => p(id),
        }
    }

    pub(crate) fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }
}

/// A candidate ordered so that the better one compares `Less`: higher score, then lower id.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    id: u64,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The best `k` of a stream of (id, score): a max-heap whose top is the worst kept candidate.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    #[inline]
    pub(crate) fn push(&mut self, id: u64, score: f32) {
        let c = Candidate { score, id };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if c < *worst {
                *worst = c;
            }
        }
    }

    /// Score below which a candidate cannot enter (`-inf` until full).
    #[inline]
    pub(crate) fn floor(&self) -> f32 {
        match self.heap.peek() {
            Some(w) if self.heap.len() >= self.k => w.score,
            _ => f32::NEG_INFINITY,
        }
    }

    pub(crate) fn merge(mut self, other: TopK) -> TopK {
        for c in other.heap {
            self.push(c.id, c.score);
        }
        self
    }

    /// Best first: descending score, ties by ascending id.
    pub(crate) fn into_hits(self) -> Vec<Hit> {
        self.heap.into_sorted_vec().into_iter().map(|c| Hit { id: c.id, score: c.score }).collect()
    }
}

/// Top-k of one block of rows of a row-major matrix.
#[inline]
pub(crate) fn scan_rows(
    query: &[f32],
    ids: &[u64],
    rows: &[f32],
    k: usize,
    accept: impl Fn(usize, u64) -> bool,
) -> TopK {
    let dim = query.len();
    let mut top = TopK::new(k);
    if dim == 0 {
        return top;
    }
    let mut floor = f32::NEG_INFINITY;
    for (i, (row, &id)) in rows.chunks_exact(dim).zip(ids).enumerate() {
        let s = dot(query, row);
        if s >= floor && accept(i, id) {
            top.push(id, s);
            floor = top.floor();
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_all_tail_lengths() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn topk_keeps_best_with_ties_by_id() {
        let mut t = TopK::new(3);
        for (id, s) in [(5, 0.5), (1, 0.9), (4, 0.5), (3, 0.5), (2, 0.1), (0, 0.5)] {
            t.push(id, s);
        }
        let hits = t.into_hits();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1, 0, 3]);
        assert!(TopK::new(0).into_hits().is_empty());
    }

    #[test]
    fn queries_are_checked_and_normalised() {
        assert!(matches!(prepare_query(3, &[1.0, 0.0]), Err(IndexError::DimensionMismatch { expected: 3, got: 2 })));
        assert!(prepare_query(2, &[f32::NAN, 0.0]).is_err());
        assert!(prepare_query(2, &[0.0, 0.0]).is_err());
        let q = prepare_query(2, &[3.0, 4.0]).unwrap();
        assert!((q[0] - 0.6).abs() < 1e-6 && (q[1] - 0.8).abs() < 1e-6);
        assert!(check_stored(2, 7, &[3.0, 4.0]).is_err());
        assert!(check_stored(2, 7, &[0.6, 0.8]).is_ok());
    }

    #[test]
    fn batch_keeps_last_occurrence() {
        let (a, b, c) = ([1.0f32, 0.0], [0.0f32, 1.0], [0.6f32, 0.8]);
        let items: Vec<(u64, &[f32])> = vec![(1, &a), (2, &b), (1, &c)];
        let kept = prepare_batch(2, &items).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].0, 2);
        assert_eq!(kept[1], (1, &c[..]));
    }
}

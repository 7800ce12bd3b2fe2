//! MegaFace-style distractors: rank-1 identification of the closed-set probes against the gallery
//! plus the first D distractors, for D = 10, 100, 1000, … and the full set, answered by the
//! product's vector index engine ([`Engine`], the `[index]` configuration).
//!
//! One index holds the gallery samples (ids: their sample indices); the distractors join it in
//! prefix order (ids from `samples.len()` on), and every time D reaches a level all probes are
//! searched in one [`search_batch`](crate::index::VectorIndex::search_batch) for the top `g + 1` (`g`: the most gallery
//! samples of one subject). A probe is a hit at D ⇔ the first hit is a gallery sample of its
//! subject and the first hit of anybody else (another subject or a distractor) scores strictly
//! lower, i.e. its true subject is rank 1 and scores strictly above every one of the first D
//! distractors (a tie is not a hit). Probes are not in the gallery, so nothing is excluded.
//!
//! Distractors are streamed in chunks (synthesized, or read by the caller through
//! [`GivenDistractors`], e.g. from a file), so memory holds the index and one chunk. The same
//! pass scores up to [`CHECK_PROBES`] evenly spaced probes against every distractor by brute
//! force: that gives the probe–distractor score statistics and the check that the index's
//! decisions at the largest D are brute force's ([`ExactCheck`]).
//!
//! Synthesized distractors (when none are given) come from a generator tuned so that
//! probe–distractor scores have the mean and standard deviation of the real impostor scores; the
//! report gives the target, what was achieved, the KS statistic and the fitted parameters
//! ([`DistractorFit`]). How it works is documented on `distractor_model.rs`.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::Serialize;

pub use super::distractor_model::DistractorFit;
pub(crate) use super::distractor_model::Generator;
use super::distractor_model::BLOCK;
use super::identification::ProbeScore;
use super::stats::{ks_statistic, Acc, Moments};
use super::{scoring, EvalError, Sample};
use crate::index::{dot, normalize, scratch_index, Backend, Hit, IndexParams, SearchParams};

/// Distractors read and added per pass (a multiple of `BLOCK`).
const CHUNK: usize = 16 * BLOCK;
/// Distractors each checked probe scores in one pass (a cache-sized tile).
const TILE: usize = 512;
/// Probe–distractor scores kept for the Kolmogorov–Smirnov statistic.
const KS_SCORES: usize = 200_000;
/// Samples whose impostor pairs set the target of [`synthesize_distractors`] (evenly spaced).
const TARGET_SAMPLES: usize = 2000;
/// Probes (evenly spaced) also scored by brute force against every distractor.
pub const CHECK_PROBES: usize = 200;

/// `n` synthetic distractors for `samples`, tuned (see [`DistractorFit`] and the generator in the
/// module doc) so that sample–distractor scores have the mean and standard deviation of the
/// samples' own impostor scores (pairs of different labels; up to 2 000 evenly spaced samples).
/// Deterministic in `seed`, and the first `k` of `n` are the `k` asked alone. Empty when there are
/// no samples or their dimensions differ.
pub fn synthesize_distractors(samples: &[Sample], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let dim = samples.first().map_or(0, |s| s.vector.len());
    if samples.iter().any(|s| s.vector.len() != dim) {
        return vec![];
    }
    let some: Vec<&Sample> = samples.iter().step_by(samples.len().div_ceil(TARGET_SAMPLES).max(1)).collect();
    let target = (0..some.len())
        .into_par_iter()
        .map(|i| {
            let mut a = Acc::default();
            for t in &some[i + 1..] {
                if t.label != some[i].label {
                    a.push(dot(&some[i].vector, &t.vector));
                }
            }
            a
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Acc::default(), Acc::merge)
        .moments();
    Generator::fit(samples, &[], target, seed).map_or_else(Vec::new, |g| g.range(0, n))
}

/// Distractor embeddings given by the caller, read in order a chunk at a time, so that a file of a
/// million need not be held in memory beside the index.
pub trait GivenDistractors {
    /// Appends up to `max` vectors to `out` and returns how many (0: there are no more). An
    /// error ends the evaluation ([`EvalError::Distractors`]).
    fn read(&mut self, max: usize, out: &mut Vec<Vec<f32>>) -> Result<usize, String>;
}

impl GivenDistractors for &[Vec<f32>] {
    fn read(&mut self, max: usize, out: &mut Vec<Vec<f32>>) -> Result<usize, String> {
        let (now, rest) = self.split_at(max.min(self.len()));
        out.extend_from_slice(now);
        *self = rest;
        Ok(now.len())
    }
}

/// The vector index engine the curve's searches go through: a new in-memory index of this kind
/// and these parameters (what the gallery is built with: the `[index]` configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Engine {
    /// The implementation (default: the scan index; a remote backend evaluates on it too).
    pub kind: Backend,
    /// Its parameters.
    pub params: IndexParams,
}

impl Engine {
    /// The engine a gallery configured with `index` evaluates through (see [`scratch_index`]).
    pub fn for_index(index: &crate::index::IndexSettings) -> Self {
        Self { kind: index.kind, params: index.params }
    }
}

/// Where the distractors come from.
pub(crate) enum Source<'a> {
    Given(&'a mut dyn GivenDistractors),
    Synthesized(Generator),
}

/// Rank-1 accuracy with `distractors` distractors added to the gallery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DistractorPoint {
    /// D, the distractors added to the gallery.
    pub distractors: usize,
    /// Rank-1 identification rate with D distractors.
    pub top1: f64,
}

/// The index's decisions checked against brute force.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExactCheck {
    /// Probes checked: 200 evenly spaced ones (all of them when there are no more).
    pub probes: usize,
    /// D at which they were checked: all the distractors (the curve's last point).
    pub distractors: usize,
    /// Fraction of the checked probes whose rank-1 decision (hit or not) through the index
    /// equals brute force's.
    pub agreement: f64,
}

/// Distractor figures: the rank-1 curve (starting at D = 0) and how the distractors' scores
/// compare with real impostor scores (moments, and the Kolmogorov–Smirnov statistic between the
/// real impostor scores and up to 200 000 probe–distractor scores).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distractors {
    /// `"given"` or `"synthesized"`.
    pub source: String,
    /// The index engine that answered the curve's searches (`"scan"`, `"exact"`, `"hnsw"`).
    pub engine: String,
    /// Distractors used.
    pub distractors: usize,
    /// Closed-set probes scored.
    pub probes: usize,
    /// Rank-1 rate at D = 0, 10, 100, … and all.
    pub curve: Vec<DistractorPoint>,
    /// The curve's last point checked against brute force (`None` without distractors).
    pub exact_check: Option<ExactCheck>,
    /// Target: real impostor scores (verification).
    pub impostor: Moments,
    /// Achieved: the checked probes' scores against every distractor.
    pub probe_distractor: Moments,
    /// KS statistic between real impostor and probe–distractor scores.
    pub ks_statistic: Option<f64>,
    /// How synthesized distractors were tuned to the target (`None` for given ones).
    pub fit: Option<DistractorFit>,
    /// Why the figures are missing, if they are.
    pub reason: Option<String>,
}

/// A checked probe's brute-force pass over the distractors.
#[derive(Default)]
struct Check {
    running: f32,
    acc: Acc,
    kept: Vec<f32>,
}

/// The gallery samples and the distractors so far in one index of the engine, and the probes.
struct Curve<'a> {
    index: crate::index::ScratchIndex,
    samples: &'a [Sample],
    of: &'a [usize],
    probes: &'a [ProbeScore],
    k: usize,
    /// Distractors added.
    added: usize,
    points: Vec<DistractorPoint>,
    /// The decision of every probe at the last point.
    last: Vec<bool>,
}

impl Curve<'_> {
    fn id(&self, distractor: usize) -> u64 {
        (self.samples.len() + distractor) as u64
    }

    /// Adds distractors (unit vectors), searching all probes at every level reached.
    fn add(&mut self, mut chunk: &[Vec<f32>]) -> Result<(), EvalError> {
        while !chunk.is_empty() {
            let level = next_level(self.added);
            let (now, rest) = chunk.split_at((level - self.added).min(chunk.len()));
            let items: Vec<(u64, &[f32])> =
                now.iter().enumerate().map(|(i, v)| (self.id(self.added + i), v.as_slice())).collect();
            self.index.add(&items).map_err(index_error)?;
            self.added += now.len();
            chunk = rest;
            if self.added == level {
                self.point()?;
            }
        }
        Ok(())
    }

    /// Searches every probe at the current D and appends the curve's point.
    fn point(&mut self) -> Result<(), EvalError> {
        let queries: Vec<&[f32]> = self.probes.iter().map(|p| self.samples[p.sample].vector.as_slice()).collect();
        let hits = self.index.search_batch(&queries, self.k, &SearchParams::new()).map_err(index_error)?;
        let base = self.samples.len() as u64;
        let own = |h: &Hit, subject: usize| h.id < base && self.of[h.id as usize] == subject;
        self.last = hits
            .iter()
            .zip(self.probes)
            .map(|(h, p)| match h.first() {
                Some(top) if own(top, p.subject) => {
                    h.iter().find(|o| !own(o, p.subject)).is_none_or(|o| o.score < top.score)
                }
                _ => false,
            })
            .collect();
        let n = self.probes.len();
        let top1 = if n == 0 { 0.0 } else { self.last.iter().filter(|&&h| h).count() as f64 / n as f64 };
        self.points.push(DistractorPoint { distractors: self.added, top1 });
        Ok(())
    }
}

/// The first level (10, 100, …) above `added`.
fn next_level(added: usize) -> usize {
    std::iter::successors(Some(10usize), |d| d.checked_mul(10)).find(|&d| d > added).unwrap_or(usize::MAX)
}

fn index_error(e: crate::index::IndexError) -> EvalError {
    EvalError::Distractors(format!("index: {e}"))
}

/// A vector as the index stores it: unit length (kept as is when it already is).
fn unit<'v>(v: &'v [f32], what: &'static str, index: usize) -> Result<Cow<'v, [f32]>, EvalError> {
    if (dot(v, v) - 1.0).abs() <= 1e-4 {
        return Ok(Cow::Borrowed(v));
    }
    normalize(v).map(Cow::Owned).ok_or(EvalError::BadVector { what, index })
}

/// The curve of the closed-set `probes` (against the `gallery` samples, `of`: sample → subject)
/// with up to `limit` distractors from `source`, through a new index of `engine`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate(
    samples: &[Sample],
    of: &[usize],
    gallery: &[usize],
    probes: &[ProbeScore],
    mut source: Source,
    limit: usize,
    impostor: &[f32],
    impostor_moments: Moments,
    engine: &Engine,
) -> Result<Distractors, EvalError> {
    let dim = samples.first().map_or(0, |s| s.vector.len());
    let index = scratch_index(engine.kind, dim, &engine.params).map_err(index_error)?;
    {
        let stored: Vec<Cow<[f32]>> =
            gallery.iter().map(|&g| unit(&samples[g].vector, "sample", g)).collect::<Result<_, _>>()?;
        let items: Vec<(u64, &[f32])> = gallery.iter().zip(&stored).map(|(&g, v)| (g as u64, v.as_ref())).collect();
        index.add(&items).map_err(index_error)?;
    }
    let mut per_subject = vec![0usize; of.iter().max().map_or(0, |m| m + 1)];
    gallery.iter().for_each(|&g| per_subject[of[g]] += 1);
    let k = 1 + per_subject.iter().max().copied().unwrap_or(0);
    let mut curve = Curve { index, samples, of, probes, k, added: 0, points: vec![], last: vec![] };
    curve.point()?;

    let m = probes.len().min(CHECK_PROBES);
    let checked: Vec<usize> = (0..m).map(|i| i * probes.len() / m).collect();
    let keep = (KS_SCORES / checked.len().max(1)).max(1);
    let mut checks: Vec<Check> =
        checked.iter().map(|_| Check { running: f32::NEG_INFINITY, ..Check::default() }).collect();
    let mut chunk: Vec<Vec<f32>> = Vec::new();
    while curve.added < limit {
        let (start, want) = (curve.added, CHUNK.min(limit - curve.added));
        chunk.clear();
        match &mut source {
            Source::Given(g) => {
                g.read(want, &mut chunk).map_err(EvalError::Distractors)?;
                chunk.truncate(want);
            }
            Source::Synthesized(g) => chunk = g.range(start, want),
        }
        if chunk.is_empty() {
            break;
        }
        scoring::check_vectors(chunk.iter().map(|v| v.as_slice()), dim, "distractor").map_err(|e| match e {
            EvalError::Dimension { what, index, expected, got } => {
                EvalError::Dimension { what, index: start + index, expected, got }
            }
            EvalError::BadVector { what, index } => EvalError::BadVector { what, index: start + index },
            e => e,
        })?;
        for (i, v) in chunk.iter_mut().enumerate() {
            if let Cow::Owned(u) = unit(v, "distractor", start + i)? {
                *v = u;
            }
        }
        // Brute force for the checked probes, a cache-sized tile at a time.
        for (t, tile) in chunk.chunks(TILE).enumerate() {
            let first = start + t * TILE;
            checks.par_iter_mut().zip(checked.par_iter()).for_each(|(c, &p)| {
                let q = &samples[probes[p].sample].vector;
                for (j, v) in tile.iter().enumerate() {
                    let s = dot(q, v);
                    c.acc.push(s);
                    c.running = c.running.max(s);
                    if first + j < keep {
                        c.kept.push(s);
                    }
                }
            });
        }
        curve.add(&chunk)?;
    }
    let count = curve.added;
    if count > 0 && curve.points.last().is_some_and(|p| p.distractors != count) {
        curve.point()?;
    }
    let exact_check = (count > 0 && !checked.is_empty()).then(|| {
        let agree = checked
            .iter()
            .zip(&checks)
            .filter(|&(&i, c)| {
                let p = &probes[i];
                curve.last[i] == (p.rank == 1 && p.true_score.is_some_and(|t| t > c.running))
            })
            .count();
        ExactCheck { probes: checked.len(), distractors: count, agreement: agree as f64 / checked.len() as f64 }
    });
    let kept: Vec<f32> = checks.iter().flat_map(|c| c.kept.iter().copied()).collect();
    let n = probes.len();
    Ok(Distractors {
        engine: curve.index.stats().kind.to_string(),
        source: match source {
            Source::Given(_) => "given".into(),
            Source::Synthesized(_) => "synthesized".into(),
        },
        fit: match source {
            Source::Given(_) => None,
            Source::Synthesized(g) => Some(g.fit),
        },
        distractors: count,
        probes: n,
        curve: curve.points,
        exact_check,
        impostor: impostor_moments,
        probe_distractor: checks.iter().fold(Acc::default(), |a, c| a.merge(c.acc)).moments(),
        ks_statistic: ks_statistic(impostor, &kept),
        reason: match (n, count) {
            (0, _) => Some("no probes".into()),
            (_, 0) => Some("no distractors".into()),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::stats::moments;
    use crate::synth::{gallery, Identities};

    fn clustered(subjects: usize, per: usize, dim: usize) -> Vec<Sample> {
        let g = gallery(&Identities::new(subjects, dim, 11), per, 12);
        (0..g.len())
            .map(|i| Sample { label: format!("s{}", i / per), item: format!("{i}"), vector: g.row(i).to_vec() })
            .collect()
    }

    /// Impostor and sample–distractor moments, and the KS statistic between the two.
    fn compare(s: &[Sample], d: &[Vec<f32>]) -> (Moments, Moments, Option<f64>) {
        let mut imp = vec![];
        for (i, a) in s.iter().enumerate() {
            imp.extend(s[i + 1..].iter().filter(|b| b.label != a.label).map(|b| dot(&a.vector, &b.vector)));
        }
        let pd: Vec<f32> = s.iter().flat_map(|a| d.iter().map(|v| dot(&a.vector, v))).collect();
        (moments(&imp), moments(&pd), ks_statistic(&imp, &pd))
    }

    #[test]
    fn synthetic_distractors_match_impostor_moments() {
        // Few subjects (the case a plain Gaussian fit gets badly wrong) and many.
        for (subjects, per, dim) in [(5, 4, 128), (200, 3, 128), (200, 4, 64)] {
            let s = clustered(subjects, per, dim);
            let d = synthesize_distractors(&s, 5000, 5);
            assert_eq!(d.len(), 5000);
            assert!(d.iter().all(|v| v.len() == dim && (dot(v, v) - 1.0).abs() < 1e-4));
            let (imp, pd, ks) = compare(&s, &d);
            eprintln!("{subjects}×{per} {dim}-d: impostor {imp:?}, sample–distractor {pd:?}, KS {ks:?}");
            assert!((imp.mean - pd.mean).abs() < 0.02, "{imp:?} {pd:?}");
            assert!((pd.std / imp.std - 1.0).abs() < 0.25, "{imp:?} {pd:?}");
            if subjects >= 200 {
                assert!(ks.unwrap() < 0.15, "{ks:?}");
            }
        }
    }

    #[test]
    fn synthesis_is_deterministic_and_prefix_stable() {
        let s = clustered(5, 4, 32);
        let d = synthesize_distractors(&s, 3000, 7);
        assert_eq!(synthesize_distractors(&s, 3000, 7), d);
        assert_eq!(synthesize_distractors(&s, 1500, 7)[..], d[..1500]);
        assert_ne!(synthesize_distractors(&s, 10, 8), d[..10]);
        assert!(synthesize_distractors(&[], 10, 1).is_empty());
        // One subject: no impostor scores, so the target is that of random unit vectors.
        let one: Vec<Sample> = s[..4].to_vec();
        let (_, pd, _) = compare(&one, &synthesize_distractors(&one, 2000, 1));
        assert!(pd.mean.abs() < 0.03 && (pd.std * 32f64.sqrt() - 1.0).abs() < 0.25, "{pd:?}");
    }

    #[test]
    fn levels_are_powers_of_ten() {
        assert_eq!((next_level(0), next_level(9), next_level(10), next_level(999)), (10, 10, 100, 1000));
        assert_eq!(next_level(usize::MAX), usize::MAX);
    }

    /// Given distractors read a few at a time.
    struct Trickle<'a>(&'a [Vec<f32>]);

    impl GivenDistractors for Trickle<'_> {
        fn read(&mut self, max: usize, out: &mut Vec<Vec<f32>>) -> Result<usize, String> {
            let n = max.min(7).min(self.0.len());
            out.extend_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Brute force: probe (gallery: each subject's first `per` samples) is a hit at D ⇔ its own
    /// subject's best score is strictly above every other subject's and the first D distractors'.
    fn oracle(s: &[Sample], per: usize, d: &[Vec<f32>], sizes: &[usize]) -> Vec<f64> {
        let mut by: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        s.iter().enumerate().for_each(|(i, x)| by.entry(&x.label).or_default().push(i));
        let gallery: Vec<usize> = by.values().flat_map(|m| m.iter().take(per).copied()).collect();
        let probes: Vec<usize> = by.values().flat_map(|m| m.iter().skip(per).copied()).collect();
        sizes
            .iter()
            .map(|&n| {
                let hits = probes
                    .iter()
                    .filter(|&&p| {
                        let q = &s[p].vector;
                        let own = gallery.iter().filter(|&&g| s[g].label == s[p].label).map(|&g| dot(q, &s[g].vector));
                        let others =
                            gallery.iter().filter(|&&g| s[g].label != s[p].label).map(|&g| dot(q, &s[g].vector));
                        let best_other =
                            others.chain(d[..n].iter().map(|v| dot(q, v))).fold(f32::NEG_INFINITY, f32::max);
                        own.fold(f32::NEG_INFINITY, f32::max) > best_other
                    })
                    .count();
                hits as f64 / probes.len() as f64
            })
            .collect()
    }

    /// Distractors near the samples (cosine about 0.6–0.9 with one of them), so that they bite.
    fn near(s: &[Sample], n: usize) -> Vec<Vec<f32>> {
        let mut rng = crate::synth::Rng::new(9);
        (0..n)
            .map(|j| {
                let v = &s[j % s.len()].vector;
                let sigma = 0.1 + 0.2 * (j % 7) as f32 / 6.0;
                let w: Vec<f32> = v.iter().map(|x| x + sigma * rng.normal() as f32).collect();
                normalize(&w).unwrap()
            })
            .collect()
    }

    /// The curve through the scan index is brute force's, at every D, whether the distractors
    /// are synthesized, given at once or streamed a few at a time; so is the exact engine's.
    #[test]
    fn the_curve_through_the_index_is_brute_forces() {
        let s = clustered(150, 4, 64);
        for per in [1, 2] {
            let opts = crate::eval::EvalOptions {
                gallery_per_subject: per,
                distractors: 30_000,
                seed: 4,
                ..Default::default()
            };
            let r = crate::eval::evaluate(&s, None, &opts).unwrap();
            let d = r.distractors.unwrap();
            let sizes: Vec<usize> = d.curve.iter().map(|p| p.distractors).collect();
            assert_eq!(sizes, vec![0, 10, 100, 1000, 10_000, 30_000]);
            assert_eq!(d.engine, "scan");
            let c = d.exact_check.unwrap();
            assert_eq!((c.probes, c.distractors, c.agreement), (CHECK_PROBES, 30_000, 1.0));
            assert_eq!(d.probe_distractor.count, CHECK_PROBES * 30_000);
            // The same distractors, to compare with brute force.
            let subjects = crate::eval::scoring::Subjects::new(&s);
            let split = crate::eval::identification::split(&subjects, per);
            let enrolled = vec![true; subjects.len()];
            let probes =
                crate::eval::identification::score_probes(&s, &subjects, &split.gallery, &split.probes, &enrolled);
            let rows: Vec<&[f32]> = probes.iter().map(|p| s[p.sample].vector.as_slice()).collect();
            let all = Generator::fit(&s, &rows, r.verification.impostor, 4).unwrap().range(0, 30_000);
            let top1: Vec<f64> = d.curve.iter().map(|p| p.top1).collect();
            assert_eq!(top1, oracle(&s, per, &all, &sizes), "per {per}");

            let all = near(&s, 30_000);
            let expected = oracle(&s, per, &all, &sizes);
            assert!(expected[5] < 0.5 * expected[0], "the distractors must bite: {expected:?}");
            let engines = [Engine::default(), Engine { kind: Backend::Exact, ..Engine::default() }];
            for engine in engines {
                let mut given = Trickle(&all);
                let r2 = crate::eval::evaluate_on(&s, None, Some(&mut given), &engine, &opts).unwrap();
                let d2 = r2.distractors.unwrap();
                assert_eq!((d2.source.as_str(), d2.distractors), ("given", 30_000));
                let top1: Vec<f64> = d2.curve.iter().map(|p| p.top1).collect();
                assert_eq!(top1, expected, "per {per}, {engine:?}");
                assert_eq!(d2.exact_check.unwrap().agreement, 1.0);
            }
        }
    }

    #[test]
    fn bad_given_distractors_are_refused_with_their_position() {
        let s = clustered(20, 3, 16);
        let mut d = synthesize_distractors(&s, 40_000, 1);
        d[20_000] = vec![0.0; 16];
        let e = crate::eval::evaluate(&s, Some(&d), &Default::default()).unwrap_err();
        assert_eq!(e, EvalError::BadVector { what: "distractor", index: 20_000 });
        d[20_000] = vec![1.0; 15];
        let e = crate::eval::evaluate(&s, Some(&d), &Default::default()).unwrap_err();
        assert!(matches!(e, EvalError::Dimension { index: 20_000, got: 15, .. }), "{e:?}");
        // Not unit length: normalised, as the gallery stores vectors.
        d[20_000] = d[0].iter().map(|x| 3.0 * x).collect();
        let r = crate::eval::evaluate(&s, Some(&d), &Default::default()).unwrap().distractors.unwrap();
        assert_eq!((r.distractors, r.exact_check.unwrap().agreement), (40_000, 1.0));
    }
}

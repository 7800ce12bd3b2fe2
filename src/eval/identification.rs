//! Closed-set 1:N identification: gallery/probe split, per-subject scores, ranks and the CMC curve.
//!
//! Gallery: the first `gallery_per_subject` samples (input order) of every subject. Subjects with
//! no more samples than that are enrolled only: they compete as gallery subjects but give no probe.
//! Probes: all other samples. A probe's score for a subject is the maximum over that subject's
//! gallery samples (as the service aggregates). Rank of the true subject = 1 + the number of other
//! subjects scoring `≥` the true score (pessimistic: a tie is not a hit).

use rayon::prelude::*;
use serde::Serialize;

use super::scoring::Subjects;
use super::Sample;
use crate::index::dot;

/// Gallery and probe sample indices.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    pub gallery: Vec<usize>,
    pub probes: Vec<usize>,
    /// Subjects with no probe (all their samples are in the gallery).
    pub enrolled_only: usize,
}

/// Splits every subject's samples: the first `per_subject` into the gallery, the rest as probes.
pub(crate) fn split(subjects: &Subjects, per_subject: usize) -> Split {
    let mut s = Split { gallery: vec![], probes: vec![], enrolled_only: 0 };
    for m in &subjects.members {
        s.gallery.extend(m.iter().take(per_subject));
        if m.len() > per_subject {
            s.probes.extend(&m[per_subject..]);
        } else {
            s.enrolled_only += 1;
        }
    }
    s
}

/// One probe's outcome against a gallery.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeScore {
    pub sample: usize,
    pub subject: usize,
    /// Score of the true subject; `None` when it is not enrolled (a non-mated probe).
    pub true_score: Option<f32>,
    /// The best other enrolled subject and its score; among ties the lowest index, i.e. the
    /// lexicographically smallest label.
    pub best_other: Option<(usize, f32)>,
    /// Rank of the true subject (0 for a non-mated probe).
    pub rank: usize,
}

impl ProbeScore {
    /// Best score over all enrolled subjects.
    pub fn best(&self) -> Option<f32> {
        match (self.true_score, self.best_other) {
            (Some(t), Some((_, o))) => Some(t.max(o)),
            (t, o) => t.or(o.map(|o| o.1)),
        }
    }

    /// The 1-NN answer: the true subject only when it scores strictly above every other subject,
    /// else the best other subject (pessimistic ties, see [`ProbeScore::best_other`]).
    pub fn predicted(&self) -> Option<usize> {
        match (self.true_score, self.best_other) {
            (Some(t), Some((s, o))) if o >= t => Some(s),
            (Some(_), _) => Some(self.subject),
            (None, o) => o.map(|o| o.0),
        }
    }
}

/// Scores `probes` against the gallery samples of the subjects with `enrolled[s]`.
pub(crate) fn score_probes(
    samples: &[Sample],
    subjects: &Subjects,
    gallery: &[usize],
    probes: &[usize],
    enrolled: &[bool],
) -> Vec<ProbeScore> {
    let gallery: Vec<usize> = gallery.iter().copied().filter(|&g| enrolled[subjects.of[g]]).collect();
    probes
        .par_iter()
        .map(|&p| {
            let mut best = vec![f32::NEG_INFINITY; subjects.len()];
            for &g in &gallery {
                let s = dot(&samples[p].vector, &samples[g].vector);
                let b = &mut best[subjects.of[g]];
                *b = b.max(s);
            }
            let own = subjects.of[p];
            let true_score = Some(best[own]).filter(|s| enrolled[own] && s.is_finite());
            let (mut best_other, mut ge) = (None::<(usize, f32)>, 0);
            for (s, &b) in best.iter().enumerate().filter(|(s, b)| *s != own && b.is_finite()) {
                if best_other.is_none_or(|(_, o)| b > o) {
                    best_other = Some((s, b));
                }
                ge += usize::from(true_score.is_some_and(|t| b >= t));
            }
            ProbeScore { sample: p, subject: own, true_score, best_other, rank: true_score.map_or(0, |_| 1 + ge) }
        })
        .collect()
}

/// Closed-set identification figures. `cmc[k − 1]` is the fraction of probes whose true subject
/// has rank ≤ k; `top1`/`top5`/`top10` likewise (whatever `max_rank` is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identification {
    /// Gallery samples per subject (first in input order).
    pub gallery_per_subject: usize,
    /// Samples in the gallery.
    pub gallery_samples: usize,
    /// Subjects in the gallery (all of them).
    pub enrolled_subjects: usize,
    /// Subjects with at most `gallery_per_subject` samples: enrolled, but no probe.
    pub enrolled_only_subjects: usize,
    /// Probes (samples not in the gallery).
    pub probes: usize,
    /// `cmc[k − 1]`: fraction of probes with rank ≤ k, k = 1 … max_rank.
    pub cmc: Vec<f64>,
    /// Fraction with rank 1.
    pub top1: Option<f64>,
    /// Fraction with rank ≤ 5.
    pub top5: Option<f64>,
    /// Fraction with rank ≤ 10.
    pub top10: Option<f64>,
    /// The conventions, in words.
    pub note: String,
    /// Why the figures are missing, if they are.
    pub reason: Option<String>,
}

/// Summarises closed-set probe outcomes.
pub(crate) fn summarize(
    split: &Split,
    subjects: &Subjects,
    probes: &[ProbeScore],
    per_subject: usize,
    max_rank: usize,
) -> Identification {
    let n = probes.len();
    let within = |k: usize| (n > 0).then(|| probes.iter().filter(|p| p.rank <= k).count() as f64 / n as f64);
    Identification {
        gallery_per_subject: per_subject,
        gallery_samples: split.gallery.len(),
        enrolled_subjects: subjects.len(),
        enrolled_only_subjects: split.enrolled_only,
        probes: n,
        cmc: if n > 0 { (1..=max_rank).filter_map(within).collect() } else { vec![] },
        top1: within(1),
        top5: within(5),
        top10: within(10),
        note: format!(
            "{} subject(s) with ≤ {per_subject} sample(s) are enrolled only: they compete in the gallery but give no probe; \
             rank = 1 + number of other subjects scoring ≥ the true subject (a tie is not a hit)",
            split.enrolled_only
        ),
        reason: (n == 0).then(|| format!("no subject has more than {per_subject} sample(s), so there is no probe")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture;

    #[test]
    fn fixture_ranks_and_cmc_by_hand() {
        let samples = fixture::samples();
        let subjects = Subjects::new(&samples);
        let sp = split(&subjects, 1);
        // Gallery a1 b1 c1 d1 (D enrolled only), probes a2 a3 b2 c2.
        assert_eq!((sp.gallery.clone(), sp.probes.clone(), sp.enrolled_only), (vec![0, 3, 5, 7], vec![1, 2, 4, 6], 1));
        let ps = score_probes(&samples, &subjects, &sp.gallery, &sp.probes, &[true; 4]);
        // a2: A .75, B/C/D 0 → rank 1. a3: A .25, B .25, C 0, D .25 → rank 1 + 2 = 3, predicted B
        // (B and D tie, B is first). b2: B .75 → rank 1. c2: C .25, D .5 → rank 2, predicted D.
        let ranks: Vec<usize> = ps.iter().map(|p| p.rank).collect();
        assert_eq!(ranks, vec![1, 3, 1, 2]);
        let predicted: Vec<Option<usize>> = ps.iter().map(ProbeScore::predicted).collect();
        assert_eq!(predicted, vec![Some(0), Some(1), Some(1), Some(3)]);
        assert_eq!(ps[3].best(), Some(0.5));
        let id = summarize(&sp, &subjects, &ps, 1, 4);
        // CMC: rank ≤ 1: 2/4, ≤ 2: 3/4, ≤ 3: 4/4.
        assert_eq!(id.cmc, vec![0.5, 0.75, 1.0, 1.0]);
        assert_eq!((id.top1, id.top5, id.top10), (Some(0.5), Some(1.0), Some(1.0)));
        assert_eq!(id.enrolled_only_subjects, 1);
    }

    #[test]
    fn no_probes_is_a_reason() {
        let samples = fixture::samples();
        let subjects = Subjects::new(&samples);
        let sp = split(&subjects, 3);
        let ps = score_probes(&samples, &subjects, &sp.gallery, &sp.probes, &[true; 4]);
        let id = summarize(&sp, &subjects, &ps, 3, 20);
        assert!(id.top1.is_none() && id.reason.is_some() && id.cmc.is_empty());
    }
}

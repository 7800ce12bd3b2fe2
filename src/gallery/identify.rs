//! 1:N identification with open-set rejection: per query face, the gallery's faces are
//! aggregated per subject (best face wins); a subject is the answer only at or above the
//! threshold, else the face is unknown. Faces of one photo are assigned jointly, best score
//! first, so two faces in the same photo are never answered as the same subject.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::Gallery;
use crate::error::Result;
use crate::pipeline::embed::Embedding;

/// A subject proposed for a query face.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Candidate {
    pub subject_id: String,
    pub subject_name: String,
    /// Best cosine between the query and any face of the subject.
    pub score: f32,
    /// The subject's face that scored best.
    pub face_id: u64,
}

/// The answer for one query face.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// The subject this face is, or `None` for unknown.
    #[serde(rename = "match")]
    pub matched: Option<Candidate>,
    /// The top-k subjects by score, whatever the threshold.
    pub candidates: Vec<Candidate>,
}

/// A subject's best score for one query face: (subject id, cosine, best face id).
type Scored = (Arc<str>, f32, u64);

/// How many faces to fetch per query so that `k` distinct subjects are likely among them.
fn faces_to_fetch(k: usize) -> usize {
    (k * 8).clamp(64, 1024)
}

impl Gallery {
    /// Identifies every query face of one photo.
    pub fn identify(
        &self,
        queries: &[Embedding],
        k: usize,
        threshold: f32,
        ef: Option<usize>,
    ) -> Result<Vec<Identification>> {
        let mut per_face: Vec<Vec<Scored>> = Vec::with_capacity(queries.len());
        for q in queries {
            self.check_model(q)?;
            let mut best: HashMap<Arc<str>, (f32, u64)> = HashMap::new();
            // The decision must be exactly brute force's; the candidates below the threshold
            // are shown best-effort (with exact scores).
            let floor = threshold.is_finite().then_some(threshold);
            for (face, subject, score) in self.raw_search(&q.vector, faces_to_fetch(k), ef, floor)? {
                let e = best.entry(subject).or_insert((f32::NEG_INFINITY, face));
                if score > e.0 {
                    *e = (score, face);
                }
            }
            let mut ranked: Vec<Scored> = best.into_iter().map(|(s, (score, f))| (s, score, f)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            per_face.push(ranked);
        }
        let assigned = assign(&per_face, threshold);
        // Names for everything that will be shown.
        let mut shown: Vec<&str> = per_face.iter().flat_map(|r| r.iter().take(k).map(|(s, ..)| &**s)).collect();
        shown.extend(assigned.iter().flatten().map(|(s, ..)| &**s));
        shown.sort_unstable();
        shown.dedup();
        let names: HashMap<&str, String> = shown
            .iter()
            .copied()
            .zip(self.reader.lock().subject_names(&shown)?.into_iter().map(Option::unwrap_or_default))
            .collect();
        let candidate = |(s, score, face): &Scored| Candidate {
            subject_id: s.to_string(),
            subject_name: names.get(&**s).cloned().unwrap_or_default(),
            score: *score,
            face_id: *face,
        };
        Ok(per_face
            .iter()
            .zip(&assigned)
            .map(|(ranked, matched)| Identification {
                matched: matched.as_ref().map(candidate),
                candidates: ranked.iter().take(k).map(candidate).collect(),
            })
            .collect())
    }
}

/// Joint assignment: all (face, subject) pairs at or above the threshold, best first; a pair is
/// taken when neither its face nor its subject is taken yet.
fn assign(per_face: &[Vec<Scored>], threshold: f32) -> Vec<Option<Scored>> {
    let mut pairs: Vec<(usize, &Scored)> = per_face
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.iter().filter(|c| c.1 >= threshold).map(move |c| (i, c)))
        .collect();
    pairs.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    let mut out = vec![None; per_face.len()];
    let mut used: Vec<&str> = Vec::new();
    for (face, c) in pairs {
        if out[face].is_none() && !used.contains(&&*c.0) {
            used.push(&c.0);
            out[face] = Some(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str, score: f32) -> Scored {
        (Arc::from(s), score, 0)
    }

    #[test]
    fn two_faces_never_get_the_same_subject() {
        // Both faces look most like "a"; face 1 more so. Face 0 falls back to "b".
        let per_face = vec![vec![c("a", 0.7), c("b", 0.6)], vec![c("a", 0.9), c("b", 0.2)]];
        let got = assign(&per_face, 0.5);
        assert_eq!(got[0].as_ref().map(|x| &*x.0), Some("b"));
        assert_eq!(got[1].as_ref().map(|x| &*x.0), Some("a"));
        // With a higher threshold face 0 has no second choice: unknown.
        let got = assign(&per_face, 0.65);
        assert!(got[0].is_none());
        assert_eq!(got[1].as_ref().map(|x| &*x.0), Some("a"));
    }

    #[test]
    fn below_threshold_is_unknown() {
        assert!(assign(&[vec![c("a", 0.3)]], 0.48)[0].is_none());
    }
}

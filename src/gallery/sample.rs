//! Samples of a gallery for measurements that cannot look at every pair of a large one:
//! uniformly drawn faces, whole subjects, and each drawn face's best score against everybody
//! else (its leave-one-subject-out non-mated score), searched through the index as a stranger's
//! probe would be.

use std::collections::HashSet;
use std::sync::Arc;

use super::Gallery;
use crate::error::Result;
use crate::eval::Sample;
use crate::index::{Filter, SearchParams};
use crate::synth::Rng;

impl Gallery {
    /// Up to `count` face ids drawn uniformly without replacement (the same ones for the same
    /// gallery and `seed`).
    pub fn sample_faces(&self, count: usize, seed: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = self.face_subject.read().keys().copied().collect();
        ids.sort_unstable();
        let count = count.min(ids.len());
        let mut rng = Rng::new(seed);
        for i in 0..count {
            let j = i + rng.below(ids.len() - i);
            ids.swap(i, j);
        }
        ids.truncate(count);
        ids
    }

    /// Every face of randomly drawn subjects, subject after subject, until `max_faces` (label =
    /// subject id), for pair statistics on a gallery too large to pair exhaustively.
    pub fn sample_subjects(&self, max_faces: usize, seed: u64) -> Result<Vec<Sample>> {
        let mut subjects: Vec<Arc<str>> = {
            let map = self.face_subject.read();
            let unique: HashSet<&Arc<str>> = map.values().collect();
            unique.into_iter().cloned().collect()
        };
        subjects.sort_unstable();
        let mut rng = Rng::new(seed);
        let mut samples = Vec::new();
        for i in 0..subjects.len() {
            if samples.len() >= max_faces {
                break;
            }
            let j = i + rng.below(subjects.len() - i);
            subjects.swap(i, j);
            let subject = &subjects[i];
            for (face_id, vector) in self.reader.lock().subject_embeddings(subject)? {
                samples.push(Sample { label: subject.to_string(), item: format!("face {face_id}"), vector });
            }
        }
        Ok(samples)
    }

    /// The best score of a face against the faces of every other subject (exact, through the
    /// index); `None` when the face is gone or nobody else is enrolled.
    pub fn best_other_subject(&self, face_id: u64) -> Result<Option<f32>> {
        self.searchable()?;
        let Some((_, subject, vector)) = self.reader.lock().embeddings(&[face_id])?.into_iter().next() else {
            return Ok(None);
        };
        let map = self.face_subject.read();
        let others = |id: u64| map.get(&id).is_some_and(|s| **s != *subject);
        let hits =
            self.searched(self.index.search(&vector, 1, &SearchParams::new().filter(Filter::Predicate(&others))))?;
        Ok(hits.first().map(|h| h.score))
    }
}

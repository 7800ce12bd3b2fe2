//! One face against many: the main face of an image against every face of another, the faces of
//! an image against one enrolled face, and the same with caller-given embeddings. Scores are
//! cosines; the thresholds in force say which are the same person.

use serde::Serialize;

use super::analyze::Work;
use super::recognize::check_k;
use super::stages::Stage;
use super::Engine;
use crate::error::{Code, Result, VisageError};
use crate::gallery::Candidate;
use crate::pipeline::Face;

/// Every face pair across two images, decided at one threshold.
#[derive(Debug, Serialize)]
pub struct Pairs {
    pub faces_a: usize,
    pub faces_b: usize,
    pub embedder: String,
    pub threshold: f32,
    /// `option` (the caller's), else the source of the threshold in force: `config` or
    /// `calibrated`.
    pub threshold_source: String,
    /// Every pair, `a`'s faces outer, in the configured face order.
    pub pairs: Vec<Pair>,
}

/// One face of each image and their cosine.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub cosine: f32,
    pub same: bool,
}

impl Pairs {
    /// The most similar pair.
    pub fn best(&self) -> Option<&Pair> {
        self.pairs.iter().max_by(|x, y| x.cosine.total_cmp(&y.cosine))
    }
}

/// A face of an image and its cosine with the reference.
pub struct Matched {
    pub face: Face,
    pub similarity: f32,
}

/// The faces of an image compared with one reference face.
pub struct Compared {
    /// The main face of the source image, when the reference came from an image.
    pub source: Option<Face>,
    /// Every face of the target image, in the configured order (largest first by default).
    pub matches: Vec<Matched>,
    /// The 1:1 threshold in force (cosine).
    pub threshold: f32,
}

impl Work {
    /// Every face of `bytes` with its cosine to `reference` (none found: `no_face`).
    fn compare_with(&self, reference: &[f32], bytes: &[u8], aligned: bool, which: &str) -> Result<Vec<Matched>> {
        let faces = self.analyze(bytes, aligned)?.1;
        if faces.is_empty() {
            return Err(VisageError::unprocessable(Code::NoFace, format!("no face found in {which}")));
        }
        Ok(faces
            .into_iter()
            .map(|face| {
                let similarity = crate::index::dot(reference, &face.embedding.vector);
                Matched { face, similarity }
            })
            .collect())
    }
}

impl Engine {
    /// Every face of `a` against every face of `b`, decided at `threshold`, else at the 1:1
    /// threshold in force (what `/v1/verify` decides with).
    pub async fn compare_all(&self, a: Vec<u8>, b: Vec<u8>, threshold: Option<f32>) -> Result<Pairs> {
        let in_force = self.thresholds();
        let source = if threshold.is_some() { "option".to_string() } else { in_force.source.clone() };
        let threshold = super::recognize::check_threshold(threshold, in_force.compare)?;
        self.run(move |w| {
            let faces_a = w.analyze(&a, false)?.1;
            let faces_b = w.analyze(&b, false)?.1;
            let mut pairs = Vec::with_capacity(faces_a.len() * faces_b.len());
            for (i, fa) in faces_a.iter().enumerate() {
                for (j, fb) in faces_b.iter().enumerate() {
                    let cosine = crate::index::dot(&fa.embedding.vector, &fb.embedding.vector);
                    pairs.push(Pair { a: i, b: j, cosine, same: cosine >= threshold });
                }
            }
            let embedder = w.pipeline.embedder.model_id().to_string();
            Ok(Pairs {
                faces_a: faces_a.len(),
                faces_b: faces_b.len(),
                embedder,
                threshold,
                threshold_source: source,
                pairs,
            })
        })
        .await
    }

    /// The main face of `source` against every face of `target`.
    pub async fn compare_images(&self, source: Vec<u8>, target: Vec<u8>, aligned: bool) -> Result<Compared> {
        let threshold = self.thresholds().compare;
        self.run(move |w| {
            let probe = w.main_face(&source, aligned, "the source image")?;
            let matches = w.compare_with(&probe.embedding.vector, &target, aligned, "the target image")?;
            Ok(Compared { source: Some(probe), matches, threshold })
        })
        .await
    }

    /// Every face of `image` against the enrolled face `face_id`.
    pub async fn compare_with_face(&self, face_id: u64, image: Vec<u8>, aligned: bool) -> Result<Compared> {
        let threshold = self.thresholds().compare;
        let reference = self.blocking(move |g| g.face_embedding(face_id)).await?;
        self.run(move |w| {
            let matches = w.compare_with(&reference, &image, aligned, "the image")?;
            Ok(Compared { source: None, matches, threshold })
        })
        .await
    }

    /// Cosines of caller-given embeddings with the enrolled face `face_id`.
    pub async fn compare_embeddings_with_face(&self, face_id: u64, embeddings: Vec<Vec<f32>>) -> Result<Vec<f32>> {
        let reference = self.blocking(move |g| g.face_embedding(face_id)).await?;
        self.compare_embeddings(reference, embeddings).await
    }

    /// Cosines of `targets` with `source`, all caller-given embeddings of the gallery's model.
    pub async fn compare_embeddings(&self, source: Vec<f32>, targets: Vec<Vec<f32>>) -> Result<Vec<f32>> {
        let work = self.work()?;
        let source = work.query_embedding(&source)?;
        targets.iter().map(|t| Ok(crate::index::dot(&source.vector, &work.query_embedding(t)?.vector))).collect()
    }

    /// The top-`k` subjects (each once, best face first) for each caller-given embedding,
    /// independently.
    pub async fn rank_embeddings(&self, embeddings: Vec<Vec<f32>>, k: Option<usize>) -> Result<Vec<Vec<Candidate>>> {
        let s = &self.settings.identify;
        let k = check_k(k, s.k, s.max_k)?;
        self.run(move |w| {
            let queries = embeddings.iter().map(|v| w.query_embedding(v)).collect::<Result<Vec<_>>>()?;
            w.stages.time(Stage::Search, || {
                queries
                    .iter()
                    .map(|q| {
                        let answer = w.gallery()?.identify(std::slice::from_ref(q), k, f32::INFINITY, None)?;
                        Ok(answer.into_iter().next().map(|a| a.candidates).unwrap_or_default())
                    })
                    .collect()
            })
        })
        .await
    }
}

//! The recognition use cases: verify (1:1), identify (1:N, open set) and search (top-k), with
//! their options checked once here for every door.

use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::analyze::Work;
use super::stages::Stage;
use crate::error::{Code, Result, VisageError};
use crate::gallery::{Candidate, FaceHit};
use crate::pipeline::embed::Embedding;
use crate::pipeline::Face;

/// What a verification compares.
pub enum VerifyQuery {
    /// The main faces of two images.
    Images { a: Vec<u8>, b: Vec<u8> },
    /// The main face of an image against a subject's enrolled faces (the best one counts).
    Subject { image: Vec<u8>, subject_id: String },
}

/// What the probe was compared with.
pub enum Reference {
    /// The main face of the second image.
    Face(Face),
    /// The subject's face that matched best.
    Enrolled { subject_id: String, face_id: u64 },
}

/// A 1:1 decision.
pub struct Verification {
    /// Cosine similarity (the best over the subject's faces).
    pub similarity: f32,
    /// `similarity >= threshold`.
    pub same: bool,
    pub threshold: f32,
    pub model: String,
    /// The main face of the (first) image.
    pub probe: Face,
    pub reference: Reference,
}

/// Options of an identification; unset ones come from the settings and thresholds in force.
#[derive(Debug, Clone, Default)]
pub struct IdentifyOptions {
    /// Candidates per face.
    pub k: Option<usize>,
    /// Cosine below which a face is unknown.
    pub threshold: Option<f32>,
    /// HNSW search breadth.
    pub ef: Option<usize>,
    /// The image already is one aligned face.
    pub aligned: bool,
    /// Attributes to compute for each face (none by default: no model runs).
    pub attributes: crate::pipeline::attributes::AttributeSet,
}

/// One face of an identified image.
pub struct IdentifiedFace {
    pub face: Face,
    /// The subject this face is, or `None` (unknown).
    pub matched: Option<Candidate>,
    /// Top-k subjects whatever the threshold.
    pub candidates: Vec<Candidate>,
}

/// Every face of an image, identified.
pub struct Identified {
    pub threshold: f32,
    pub k: usize,
    pub model: String,
    pub faces: Vec<IdentifiedFace>,
}

/// What a search ranks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchBy {
    #[default]
    Face,
    Subject,
}

impl SearchBy {
    /// `face` or `subject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Face => "face",
            Self::Subject => "subject",
        }
    }
}

impl FromStr for SearchBy {
    type Err = VisageError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "face" => Ok(Self::Face),
            "subject" => Ok(Self::Subject),
            other => Err(VisageError::unprocessable(
                Code::InvalidParameter,
                format!("by must be \"face\" or \"subject\", not {other:?}"),
            )),
        }
    }
}

/// The query of a search.
pub enum SearchQuery {
    /// The main face of an image.
    Image { bytes: Vec<u8>, aligned: bool },
    /// A vector of the gallery's model (normalised here).
    Embedding(Vec<f32>),
}

/// Options of a search.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    pub k: Option<usize>,
    pub ef: Option<usize>,
    pub by: SearchBy,
}

/// Faces (`by=face`) or subjects (`by=subject`), best first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SearchResults {
    Faces(Vec<FaceHit>),
    Subjects(Vec<Candidate>),
}

/// A search's answer.
pub struct Searched {
    pub k: usize,
    pub by: SearchBy,
    /// The query face when the query was an image.
    pub face: Option<Face>,
    pub results: SearchResults,
}

/// `k` (default `default`), checked against `max`.
pub(super) fn check_k(k: Option<usize>, default: usize, max: usize) -> Result<usize> {
    let k = k.unwrap_or(default);
    if k == 0 || k > max {
        return Err(VisageError::unprocessable(Code::InvalidParameter, format!("k must be 1..={max}")));
    }
    Ok(k)
}

/// A threshold (default `default`); must be a cosine.
pub(super) fn check_threshold(t: Option<f32>, default: f32) -> Result<f32> {
    let t = t.unwrap_or(default);
    if !(-1.0..=1.0).contains(&t) {
        return Err(VisageError::unprocessable(Code::InvalidParameter, "threshold must lie in [-1, 1]"));
    }
    Ok(t)
}

impl Work {
    /// A caller's vector as an embedding of the gallery's model (normalised).
    pub fn query_embedding(&self, v: &[f32]) -> Result<Embedding> {
        let dim = self.pipeline.embedder.dim();
        let vector = crate::index::normalize(v).filter(|_| v.len() == dim).ok_or_else(|| {
            VisageError::unprocessable(
                Code::InvalidEmbedding,
                format!("embedding must be {dim} finite numbers, not all zero"),
            )
        })?;
        Ok(Embedding { model: Arc::from(self.gallery()?.model()), vector })
    }

    /// Verifies `query` at `threshold`; `aligned` says the images are aligned faces already.
    pub fn verify(&self, query: VerifyQuery, threshold: f32, aligned: bool) -> Result<Verification> {
        let (probe, reference, similarity) = match query {
            VerifyQuery::Subject { image, subject_id } => {
                let face = self.main_face(&image, aligned, "image")?;
                let (face_id, similarity) =
                    self.gallery()?.verify_subject(&face.embedding, &subject_id)?.ok_or_else(|| {
                        VisageError::unprocessable(
                            Code::SubjectHasNoFaces,
                            format!("subject {subject_id:?} has no enrolled face"),
                        )
                    })?;
                (face, Reference::Enrolled { subject_id, face_id }, similarity)
            }
            VerifyQuery::Images { a, b } => {
                let fa = self.main_face(&a, aligned, "image_a")?;
                let fb = self.main_face(&b, aligned, "image_b")?;
                let similarity = fa.embedding.cosine(&fb.embedding).unwrap_or(f32::NAN);
                (fa, Reference::Face(fb), similarity)
            }
        };
        Ok(Verification {
            similarity,
            same: similarity >= threshold,
            threshold,
            model: probe.embedding.model.to_string(),
            probe,
            reference,
        })
    }

    /// Identifies every face of an image (options already checked).
    pub fn identify(&self, image: &[u8], k: usize, threshold: f32, opts: &IdentifyOptions) -> Result<Identified> {
        let faces = self.analyze_with(image, opts.aligned, opts.attributes)?.1;
        let embeddings: Vec<Embedding> = faces.iter().map(|f| f.embedding.clone()).collect();
        let g = self.gallery()?;
        let answers = self.stages.time(Stage::Search, || g.identify(&embeddings, k, threshold, opts.ef))?;
        let faces = faces
            .into_iter()
            .zip(answers)
            .map(|(face, a)| IdentifiedFace { face, matched: a.matched, candidates: a.candidates })
            .collect();
        Ok(Identified { threshold, k, model: g.model().into(), faces })
    }

    /// Searches the gallery (options already checked).
    pub fn search(&self, query: SearchQuery, k: usize, opts: &SearchOptions) -> Result<Searched> {
        let g = self.gallery()?;
        let (query, face) = match query {
            SearchQuery::Embedding(v) => (self.query_embedding(&v)?, None),
            SearchQuery::Image { bytes, aligned } => {
                let face = self.main_face(&bytes, aligned, "image")?;
                (face.embedding.clone(), Some(face))
            }
        };
        let results = match opts.by {
            SearchBy::Subject => {
                let answer = self
                    .stages
                    .time(Stage::Search, || g.identify(std::slice::from_ref(&query), k, f32::INFINITY, opts.ef))?;
                SearchResults::Subjects(answer.into_iter().next().map(|a| a.candidates).unwrap_or_default())
            }
            SearchBy::Face => SearchResults::Faces(self.stages.time(Stage::Search, || g.search(&query, k, opts.ef))?),
        };
        Ok(Searched { k, by: opts.by, face, results })
    }
}

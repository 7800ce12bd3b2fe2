//! CompreFace's response shapes, and the similarity scale: `similarity = (1 + cos) / 2`, in
//! [0, 1] and monotone in the cosine (see the README's CompreFace section).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::{cf, CfError};
use crate::gallery::Candidate;
use crate::pipeline::attributes::Attributes;
use crate::pipeline::detect::Detection;
use crate::pipeline::Face;

/// A cosine on CompreFace's [0, 1] similarity scale, rounded to 5 decimals as CompreFace does.
pub fn to_similarity(cosine: f32) -> f32 {
    let s = ((1.0 + cosine) / 2.0).clamp(0.0, 1.0);
    (s * 1e5).round() / 1e5
}

/// The cosine a similarity stands for.
pub fn to_cosine(similarity: f32) -> f32 {
    2.0 * similarity - 1.0
}

/// A face's box in whole pixels, with the detector's score.
#[derive(Debug, Serialize)]
pub struct FaceBox {
    pub probability: f32,
    pub x_max: i32,
    pub y_max: i32,
    pub x_min: i32,
    pub y_min: i32,
}

/// CompreFace's `age` plugin shape: an age range and the model's probability of it (here the
/// central 80 % of the age distribution and the probability mass inside it).
#[derive(Debug, Serialize)]
pub struct CfAge {
    pub probability: f32,
    pub high: u32,
    pub low: u32,
}

/// CompreFace's `gender` plugin shape: `male` or `female` and its probability.
#[derive(Debug, Serialize)]
pub struct CfGender {
    pub probability: f32,
    pub value: String,
}

/// A subject proposed for a face.
#[derive(Debug, Serialize)]
pub struct SubjectSimilarity {
    pub subject: String,
    pub similarity: f32,
}

impl From<&Candidate> for SubjectSimilarity {
    fn from(c: &Candidate) -> Self {
        Self { subject: c.subject_name.clone(), similarity: to_similarity(c.score) }
    }
}

/// One face of an answer: its box, the plugins asked for, and subjects or a similarity.
#[derive(Debug, Serialize)]
pub struct FaceResult {
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<Vec<[i32; 2]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<CfAge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<CfGender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<SubjectSimilarity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

impl FaceResult {
    /// A detected face, with landmarks when asked for.
    pub fn detected(d: &Detection, landmarks: bool) -> Self {
        let b = &d.bbox;
        Self {
            bbox: FaceBox {
                probability: d.score,
                x_max: b.x2.round() as i32,
                y_max: b.y2.round() as i32,
                x_min: b.x1.round() as i32,
                y_min: b.y1.round() as i32,
            },
            landmarks: landmarks
                .then(|| d.landmarks.iter().map(|p| [p[0].round() as i32, p[1].round() as i32]).collect()),
            embedding: None,
            age: None,
            gender: None,
            subjects: None,
            similarity: None,
        }
    }

    /// A face with its embedding when asked for (`calculator`), and its age and gender when
    /// they were computed.
    pub fn of(face: &Face, landmarks: bool, embedding: bool) -> Self {
        Self {
            embedding: embedding.then(|| face.embedding.vector.clone()),
            ..Self::detected(&face.detection, landmarks).with_attributes(face.attributes.as_ref())
        }
    }

    /// With the `age` and `gender` plugins' values, when computed.
    pub fn with_attributes(mut self, attributes: Option<&Attributes>) -> Self {
        if let Some(a) = attributes {
            self.age = a.age.as_ref().map(|a| CfAge { probability: a.coverage, high: a.high, low: a.low });
            self.gender = a.gender.as_ref().map(|g| CfGender { probability: g.probability, value: g.label.clone() });
        }
        self
    }

    /// With its similarity to a reference (a cosine).
    pub fn with_similarity(mut self, cosine: f32) -> Self {
        self.similarity = Some(to_similarity(cosine));
        self
    }
}

/// `plugins_versions`: the models behind each answer (with `status=true`).
pub type PluginVersions = BTreeMap<&'static str, String>;

/// `{"result": [...], "plugins_versions"?}` of detect, recognize and verify-against-a-face.
#[derive(Debug, Serialize)]
pub struct Results<T> {
    pub result: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_versions: Option<PluginVersions>,
}

/// One answer of the verification service.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub source_image_face: FaceResult,
    pub face_matches: Vec<FaceResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_versions: Option<PluginVersions>,
}

/// `{"subject": ...}`: a subject added or deleted; the JSON body of add and rename.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubjectName {
    pub subject: String,
}

/// `{"image_id", "subject"}`: a face added or deleted.
#[derive(Debug, Serialize)]
pub struct ImageRef {
    pub image_id: String,
    pub subject: String,
}

/// A page of faces.
#[derive(Debug, Serialize)]
pub struct FacesPage {
    pub faces: Vec<ImageRef>,
    pub page_number: u64,
    pub page_size: u64,
    pub total_pages: u64,
    pub total_elements: u64,
}

/// Input of the embedding endpoints: `{"embeddings": [[...]]}` or `{"source", "targets"}`.
#[derive(Debug, Deserialize)]
pub struct Embeddings {
    #[serde(default)]
    pub embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    pub source: Vec<f32>,
    #[serde(default)]
    pub targets: Vec<Vec<f32>>,
}

/// An embedding with its subjects (`embeddings/recognize`).
#[derive(Debug, Serialize)]
pub struct EmbeddingSubjects {
    pub embedding: Vec<f32>,
    pub similarities: Vec<SubjectSimilarity>,
}

/// An embedding with its similarity (`embeddings/.../verify`).
#[derive(Debug, Serialize)]
pub struct EmbeddingSimilarity {
    pub embedding: Vec<f32>,
    pub similarity: f32,
}

/// `no_face` in CompreFace's words when a request's options left no face.
pub fn some_faces<T>(faces: Vec<T>) -> Result<Vec<T>, CfError> {
    if faces.is_empty() {
        return Err(CfError::new(StatusCode::BAD_REQUEST, cf::NO_FACES_FOUND, "No face is found in the given image"));
    }
    Ok(faces)
}

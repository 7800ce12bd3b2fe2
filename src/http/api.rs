//! Request and response bodies of the HTTP API, typed so that handlers and the OpenAPI document
//! (served at `/openapi.json`, browsable at `/docs/`) cannot drift apart.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::gallery::{Candidate, FaceRecord, Subject};
use crate::pipeline::attributes::Attributes;
use crate::pipeline::detect::Detection;
use crate::pipeline::{DetectedFace, Face};
use crate::service::{Identified, Reference, Searched, Verification};
pub use crate::service::{JobStatus, SearchResults};

/// `POST /v1/jobs/enroll` (JSON): a server-side source under `enroll.allowed_roots`. To
/// upload an archive instead, send it as the body (`application/zip`, `application/x-tar`,
/// `application/gzip`) with the same options as query parameters.
#[derive(Debug, Deserialize, ToSchema)]
pub struct JobRequest {
    /// Caller's job id: a second POST with it returns the same job (idempotent).
    pub id: Option<String>,
    pub source: crate::enroll::Source,
    /// Every photo already is an aligned face crop (no detection).
    #[serde(default)]
    pub aligned: bool,
    /// Quality-gate overrides (`min_eye_distance`, `min_score`, `min_sharpness`, `multi_face`);
    /// unset ones come from `[enroll]`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub gate: serde_json::Value,
    pub keep_crops: Option<bool>,
}

/// Query parameters of an archive upload to `POST /v1/jobs/enroll`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct JobUploadQuery {
    pub id: Option<String>,
    pub min_eye_distance: Option<f32>,
    pub min_score: Option<f32>,
    pub min_sharpness: Option<f32>,
    /// `reject` or `largest`.
    pub multi_face: Option<String>,
    pub keep_crops: Option<bool>,
    /// Every photo already is an aligned face crop (no detection).
    #[serde(default)]
    pub aligned: bool,
}

/// Paging of a job's report.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    #[serde(default)]
    pub offset: u64,
    /// At most 10000 (default 1000).
    pub limit: Option<u64>,
    /// Only the items that were not enrolled.
    #[serde(default)]
    pub problems: bool,
}

/// One page of a job's report: one line per processed photo with its outcome and reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobReport {
    pub job: String,
    pub offset: u64,
    pub limit: u64,
    pub items: Vec<crate::gallery::ItemRecord>,
}

/// `POST /v1/eval` (JSON, every field optional): the protocol over the gallery's own faces.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EvalForm {
    /// Gallery faces per subject (the first enrolled); the rest are probes. Default 1.
    gallery_per_subject: Option<u32>,
    /// Length of the CMC curve. Default 20.
    max_rank: Option<u32>,
    /// FAR targets of TAR@FAR. Default [0.1, 0.01, 0.001, 0.0001].
    far_targets: Option<Vec<f64>>,
    /// Share of subjects held out as unknowns (open set). Default 0.2.
    open_set_fraction: Option<f64>,
    /// FPIR target of the open-set threshold. Default 0.01.
    target_fpir: Option<f64>,
    /// Synthetic MegaFace-style distractors. Default 0.
    distractors: Option<u32>,
    /// Decision threshold marked in the report (default: the EER threshold).
    threshold: Option<f32>,
    seed: Option<u64>,
}

/// `?format=html` for the self-contained HTML report instead of JSON.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EvalQuery {
    pub format: Option<String>,
}

/// `POST /v1/calibrate`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CalibrateRequest {
    /// 1:1 false-accept rate (default `compare.target_far`, else 0.001).
    pub target_far: Option<f64>,
    /// 1:N false-positive identification rate (default `identify.target_fpir`, else 0.01).
    pub target_fpir: Option<f64>,
    /// Put the thresholds in force (stored with the gallery, kept across restarts).
    #[serde(default)]
    pub apply: bool,
}

/// The calibration, the thresholds it gives (null when the gallery is too small for a target)
/// and those in force after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalibrateResponse {
    #[schema(value_type = Object)]
    pub calibration: crate::eval::Calibration,
    pub thresholds: Option<crate::calibrate::Thresholds>,
    pub applied: bool,
    pub in_force: crate::calibrate::Thresholds,
}

impl From<crate::service::Calibrated> for CalibrateResponse {
    fn from(c: crate::service::Calibrated) -> Self {
        Self { calibration: c.calibration, thresholds: c.thresholds, applied: c.applied, in_force: c.in_force }
    }
}

/// The thresholds in force, and the false-positive identification rate the identify threshold
/// gives on the gallery at its current size (it grows with the gallery).
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdsReport {
    #[serde(flatten)]
    pub thresholds: crate::calibrate::Thresholds,
    pub fpir_estimate: crate::calibrate::FpirEstimate,
}

/// Every error: a stable machine-readable `code` and a message for people.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// A multipart upload of one image (JSON bodies carry it as base64 under the same name; a raw
/// `image/*` body is accepted too).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageForm {
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// The image already is an aligned face crop (LFW-aligned, 112×112): no detection.
    aligned: Option<bool>,
    /// Attributes to compute for each face, comma-separated: `age`, `gender` (also accepted as
    /// a query parameter). Absent: none, and no attribute model runs.
    #[schema(example = "age,gender")]
    attributes: Option<String>,
}

/// `POST /v1/identify` fields.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IdentifyForm {
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// Candidates per face (default `identify.k`).
    k: Option<u32>,
    /// Cosine below which a face is unknown (default `identify.threshold`).
    threshold: Option<f32>,
    /// HNSW search breadth (accuracy/speed knob).
    ef: Option<u32>,
    /// The image already is an aligned face crop (LFW-aligned, 112×112): no detection.
    aligned: Option<bool>,
    /// Attributes to compute for each face, comma-separated: `age`, `gender`.
    #[schema(example = "age,gender")]
    attributes: Option<String>,
}

/// `POST /v1/verify` fields: `image_a` + `image_b`, or `image` + `subject_id`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyForm {
    #[schema(value_type = Option<String>, format = Binary)]
    image_a: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    image_b: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    image: Option<Vec<u8>>,
    subject_id: Option<String>,
    /// Decision threshold (default `compare.threshold`).
    threshold: Option<f32>,
    /// The image already is an aligned face crop (LFW-aligned, 112×112): no detection.
    aligned: Option<bool>,
}

/// `POST /v1/search` fields: an `image` (its main face) or an `embedding`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SearchForm {
    #[schema(value_type = Option<String>, format = Binary)]
    image: Option<Vec<u8>>,
    /// A query vector of the gallery's model (normalised by the server).
    embedding: Option<Vec<f32>>,
    k: Option<u32>,
    /// `face` (default) or `subject`.
    by: Option<String>,
    ef: Option<u32>,
    /// The image already is an aligned face crop (LFW-aligned, 112×112): no detection.
    aligned: Option<bool>,
}

/// `POST /v1/subjects/{id}/faces` fields.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EnrolForm {
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// Which face when the photo has several (0 = largest).
    face: Option<u32>,
    /// Caller's id for this face: enrolling it again returns the existing face.
    external_id: Option<String>,
    /// The image already is an aligned face crop (LFW-aligned, 112×112): no detection.
    aligned: Option<bool>,
}

/// `POST /v1/subjects`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubject {
    /// Caller-chosen id (letters, digits, `.`, `_`, `-`, `:`, `@`); generated when absent.
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// `PATCH /v1/subjects/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectUpdate {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Paging of `GET /v1/subjects`.
#[derive(Deserialize, IntoParams)]
pub struct Page {
    /// Subjects to skip.
    #[serde(default)]
    pub offset: u64,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<u64>,
    /// Only the subjects whose name contains this (case-insensitive for ASCII letters).
    pub q: Option<String>,
}

/// `POST /v1/subjects/{id}/merge`: the subject's faces move to `into`, then it is deleted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The subject that receives the faces.
    pub into: String,
}

#[derive(Serialize, ToSchema)]
pub struct DetectResponse {
    pub width: u32,
    pub height: u32,
    pub detector: String,
    pub faces: Vec<DetectedFace>,
}

#[derive(Serialize, ToSchema)]
pub struct EmbedResponse {
    pub width: u32,
    pub height: u32,
    pub embedder: String,
    pub faces: Vec<Face>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Cosine similarity of the two faces (or the best over the subject's faces).
    pub similarity: f32,
    /// `similarity >= threshold`.
    pub same: bool,
    pub threshold: f32,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_a: Option<Detection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_b: Option<Detection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
    /// The subject's face that matched best.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face: Option<Detection>,
}

/// One face of an identify request.
#[derive(Serialize, ToSchema)]
pub struct IdentifiedFace {
    #[serde(flatten)]
    pub detection: Detection,
    /// Gender and age, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// True when no subject reaches the threshold.
    pub unknown: bool,
    /// The subject this face is, or null (unknown).
    #[serde(rename = "match")]
    pub matched: Option<Candidate>,
    /// Top-k subjects whatever the threshold.
    pub candidates: Vec<Candidate>,
}

#[derive(Serialize, ToSchema)]
pub struct IdentifyResponse {
    pub threshold: f32,
    pub k: usize,
    pub model: String,
    pub faces: Vec<IdentifiedFace>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResponse {
    pub k: usize,
    pub by: String,
    /// The query face when the query was an image.
    pub face: Option<Detection>,
    pub results: SearchResults,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectPage {
    pub subjects: Vec<Subject>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectDeleted {
    pub deleted: String,
    pub deleted_faces: usize,
}

#[derive(Serialize, ToSchema)]
pub struct FaceList {
    pub faces: Vec<FaceRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct FaceDeleted {
    pub deleted: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: String,
    pub detector: String,
    pub embedder: String,
    pub gallery_faces: usize,
    /// The vector index's backend: `scan`, `exact`, `hnsw`, `auto` or `qdrant`.
    pub index: String,
    /// The scan index's instruction-set path (`scalar`, `avx2`, `avx512`: `index.scan.kernel`,
    /// by default the best the processor has); absent for other backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_kernel: Option<String>,
    /// True while a remote index (Qdrant) is unreachable or catching up with the store:
    /// searches answer 503 `index_unavailable` meanwhile, enrolment still works.
    pub index_behind: bool,
    /// Whether enrolled faces' aligned crops are kept (`gallery.keep_crops`).
    pub keep_crops: bool,
}

impl From<Verification> for VerifyResponse {
    fn from(v: Verification) -> Self {
        let (face_a, face_b, subject_id, face_id, face) = match v.reference {
            Reference::Face(b) => (Some(v.probe.detection), Some(b.detection), None, None, None),
            Reference::Enrolled { subject_id, face_id } => {
                (None, None, Some(subject_id), Some(face_id), Some(v.probe.detection))
            }
        };
        Self {
            similarity: v.similarity,
            same: v.same,
            threshold: v.threshold,
            model: v.model,
            face_a,
            face_b,
            subject_id,
            face_id,
            face,
        }
    }
}

impl From<Identified> for IdentifyResponse {
    fn from(r: Identified) -> Self {
        let faces = r
            .faces
            .into_iter()
            .map(|f| IdentifiedFace {
                detection: f.face.detection,
                attributes: f.face.attributes,
                unknown: f.matched.is_none(),
                matched: f.matched,
                candidates: f.candidates,
            })
            .collect();
        Self { threshold: r.threshold, k: r.k, model: r.model, faces }
    }
}

impl From<Searched> for SearchResponse {
    fn from(r: Searched) -> Self {
        Self { k: r.k, by: r.by.as_str().into(), face: r.face.map(|f| f.detection), results: r.results }
    }
}

impl From<crate::service::Detected> for DetectResponse {
    fn from(d: crate::service::Detected) -> Self {
        Self { width: d.width, height: d.height, detector: d.detector, faces: d.faces }
    }
}

impl From<crate::service::Embedded> for EmbedResponse {
    fn from(e: crate::service::Embedded) -> Self {
        Self { width: e.width, height: e.height, embedder: e.embedder, faces: e.faces }
    }
}

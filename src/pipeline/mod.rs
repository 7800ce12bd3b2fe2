//! The face pipeline: bytes → RGB image → faces (box, score, landmarks) → aligned 112×112
//! crops → L2-normalised embeddings. No HTTP and no storage here.

pub mod align;
pub mod attributes;
pub mod decode;
pub mod detect;
pub mod draw;
pub mod embed;
pub mod quality;
pub mod runtime;

use image::RgbImage;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Result;
use attributes::{AttributeModels, AttributeSet, AttributeSettings, Attributes};
use decode::ImageLimits;
use detect::{Detection, Detector, DetectorSettings, OnnxDetector};
use embed::{Embedder, EmbedderSettings, Embedding, OnnxEmbedder};
use quality::Quality;
use runtime::RuntimeSettings;

/// A face found in an image, with its embedding.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Face {
    #[serde(flatten)]
    pub detection: Detection,
    pub quality: Quality,
    pub embedding: Embedding,
    /// Gender and age, when asked for (`attributes=age,gender`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// The aligned 112×112 crop the embedding was computed from.
    #[serde(skip)]
    #[schema(ignore)]
    pub crop: RgbImage,
}

/// A detected face with its attributes when they were asked for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DetectedFace {
    #[serde(flatten)]
    pub detection: Detection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
}

/// Detector + embedder + attribute models + image limits, built once and shared (all methods
/// take `&self`). The attribute models load on first use.
pub struct Pipeline {
    pub detector: Box<dyn Detector>,
    pub embedder: Box<dyn Embedder>,
    pub attributes: AttributeModels,
    pub limits: ImageLimits,
}

/// What the pipeline is built from (borrowed from the whole settings: `Pipeline::load(&settings)`).
pub struct PipelineSettings<'a> {
    pub runtime: &'a RuntimeSettings,
    pub detector: &'a DetectorSettings,
    pub embedder: &'a EmbedderSettings,
    pub attributes: &'a AttributeSettings,
    pub limits: ImageLimits,
}

impl Pipeline {
    /// Loads the configured models (ONNX Runtime first).
    pub fn load<'a>(settings: impl Into<PipelineSettings<'a>>) -> Result<Self> {
        let s = settings.into();
        Ok(Self {
            detector: Box::new(OnnxDetector::load(s.detector, s.runtime)?),
            embedder: Box::new(OnnxEmbedder::load(s.embedder, s.runtime)?),
            attributes: AttributeModels::new(s.attributes, s.runtime),
            limits: s.limits,
        })
    }

    /// Decodes an encoded image under the configured limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage> {
        decode::decode(bytes, &self.limits)
    }

    /// Detects faces in a decoded image.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        self.detector.detect(image)
    }

    /// Aligns and embeds the given detections of `image`, in one batched model run.
    pub fn embed(&self, image: &RgbImage, detections: Vec<Detection>) -> Result<Vec<Face>> {
        let crops: Vec<RgbImage> = detections.iter().map(|d| align::align(image, &d.landmarks)).collect();
        let embeddings = self.embedder.embed(&crops)?;
        Ok(detections
            .into_iter()
            .zip(embeddings)
            .zip(crops)
            .map(|((detection, embedding), crop)| Face {
                quality: quality::assess(&detection, &crop),
                detection,
                embedding,
                attributes: None,
                crop,
            })
            .collect())
    }

    /// The attributes in `wanted` of each face (by landmarks) of `image`; `None` for every face
    /// when nothing is wanted (and then no model runs).
    pub fn attributes(
        &self,
        image: &RgbImage,
        faces: &[Detection],
        wanted: AttributeSet,
    ) -> Result<Vec<Option<Attributes>>> {
        if wanted.is_empty() {
            return Ok(vec![None; faces.len()]);
        }
        let landmarks: Vec<_> = faces.iter().map(|d| d.landmarks).collect();
        Ok(self.attributes.predict(image, &landmarks, wanted)?.into_iter().map(Some).collect())
    }

    /// Every face of a decoded image with its embedding.
    pub fn faces(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let detections = self.detect(image)?;
        self.embed(image, detections)
    }
}

/// The detection of an image that already is an aligned face crop (LFW-aligned, MegaFace-style
/// 112×112): the whole image, score 1, the alignment template's landmarks scaled to its size,
/// so that aligning it is a plain resize to the crop size.
pub fn whole_image_face(image: &RgbImage) -> Detection {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (sx, sy) = (w / align::CROP_SIZE as f32, h / align::CROP_SIZE as f32);
    Detection {
        bbox: detect::BBox { x1: 0.0, y1: 0.0, x2: w, y2: h },
        score: 1.0,
        landmarks: align::TEMPLATE.map(|[x, y]| [x * sx, y * sy]),
    }
}

//! The face pipeline: bytes → RGB image → faces (box, score, landmarks) → aligned 112×112
//! crops → L2-normalised embeddings. No HTTP and no storage here.

pub mod align;
pub mod decode;
pub mod detect;
pub mod draw;
pub mod embed;
pub mod quality;
pub mod runtime;

use image::RgbImage;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{ImageLimits, Settings};
use crate::error::Result;
use detect::{Detection, Detector, OnnxDetector};
use embed::{Embedder, Embedding, OnnxEmbedder};
use quality::Quality;

/// A face found in an image, with its embedding.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Face {
    #[serde(flatten)]
    pub detection: Detection,
    pub quality: Quality,
    pub embedding: Embedding,
    /// The aligned 112×112 crop the embedding was computed from.
    #[serde(skip)]
    #[schema(ignore)]
    pub crop: RgbImage,
}

/// Detector + embedder + image limits, built once and shared (all methods take `&self`).
pub struct Pipeline {
    pub detector: Box<dyn Detector>,
    pub embedder: Box<dyn Embedder>,
    pub limits: ImageLimits,
}

impl Pipeline {
    /// Loads the configured models (ONNX Runtime first).
    pub fn load(settings: &Settings) -> Result<Self> {
        Ok(Self {
            detector: Box::new(OnnxDetector::load(&settings.detector, &settings.runtime)?),
            embedder: Box::new(OnnxEmbedder::load(&settings.embedder, &settings.runtime)?),
            limits: settings.limits,
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
                crop,
            })
            .collect())
    }

    /// Every face of a decoded image with its embedding.
    pub fn faces(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let detections = self.detect(image)?;
        self.embed(image, detections)
    }
}

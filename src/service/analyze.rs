//! The face analysis every use case starts from: bytes → image → faces with embeddings, each
//! stage timed; `aligned` images skip detection (they are one face already). Runs on a model
//! permit, inside [`super::Engine`].

use std::sync::Arc;

use image::RgbImage;
use serde::Serialize;
use utoipa::ToSchema;

use super::stages::{Stage, Stages};
use crate::error::{Code, Result, VisageError};
use crate::gallery::Gallery;
use crate::pipeline::attributes::AttributeSet;
use crate::pipeline::detect::Detection;
use crate::pipeline::{whole_image_face, DetectedFace, Face, Pipeline};

/// Faces of one image, without the gallery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detected {
    pub width: u32,
    pub height: u32,
    pub detector: String,
    pub faces: Vec<DetectedFace>,
}

/// Every face of one image with its embedding.
#[derive(Debug, Serialize, ToSchema)]
pub struct Embedded {
    pub width: u32,
    pub height: u32,
    pub embedder: String,
    pub faces: Vec<Face>,
}

/// What a use case runs with once admitted: the models, the gallery (when the engine opened one)
/// and the stage timer.
#[derive(Clone)]
pub struct Work {
    pub pipeline: Arc<Pipeline>,
    pub(super) gallery: Option<Arc<Gallery>>,
    pub stages: Stages,
}

impl Work {
    /// The gallery; an engine opened for the models alone has none.
    pub fn gallery(&self) -> Result<&Gallery> {
        self.gallery.as_deref().ok_or_else(|| VisageError::Internal("the engine was opened without its gallery".into()))
    }

    /// Decodes an image under the configured limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage> {
        self.stages.time(Stage::Decode, || self.pipeline.decode(bytes))
    }

    /// The faces of a decoded image: detected, or the whole image when it is `aligned` already.
    pub fn detect(&self, image: &RgbImage, aligned: bool) -> Result<Vec<Detection>> {
        if aligned {
            return Ok(vec![whole_image_face(image)]);
        }
        self.stages.time(Stage::Detect, || self.pipeline.detect(image))
    }

    /// Decodes an image and finds its faces with embeddings.
    pub fn analyze(&self, bytes: &[u8], aligned: bool) -> Result<(RgbImage, Vec<Face>)> {
        let image = self.decode(bytes)?;
        let detections = self.detect(&image, aligned)?;
        let faces = self.stages.time(Stage::Embed, || self.pipeline.embed(&image, detections))?;
        Ok((image, faces))
    }

    /// [`Work::analyze`] with the attributes in `wanted` on each face (none run when empty).
    pub fn analyze_with(&self, bytes: &[u8], aligned: bool, wanted: AttributeSet) -> Result<(RgbImage, Vec<Face>)> {
        let (image, mut faces) = self.analyze(bytes, aligned)?;
        if !wanted.is_empty() {
            let detections: Vec<Detection> = faces.iter().map(|f| f.detection.clone()).collect();
            let attributes = self.attributes(&image, &detections, wanted)?;
            for (face, a) in faces.iter_mut().zip(attributes) {
                face.attributes = a;
            }
        }
        Ok((image, faces))
    }

    /// The attributes in `wanted` of each face, timed as their own stage; no model runs (and no
    /// stage is reported) when nothing is wanted.
    pub fn attributes(
        &self,
        image: &RgbImage,
        faces: &[Detection],
        wanted: AttributeSet,
    ) -> Result<Vec<Option<crate::pipeline::attributes::Attributes>>> {
        if wanted.is_empty() {
            return Ok(vec![None; faces.len()]);
        }
        self.stages.time(Stage::Attributes, || self.pipeline.attributes(image, faces, wanted))
    }

    /// The face a one-face operation uses: the first in the configured order (largest by
    /// default); `which` names the image in the error.
    pub fn main_face(&self, bytes: &[u8], aligned: bool, which: &str) -> Result<Face> {
        let faces = self.analyze(bytes, aligned)?.1;
        faces
            .into_iter()
            .next()
            .ok_or_else(|| VisageError::unprocessable(Code::NoFace, format!("no face found in {which}")))
    }

    /// Boxes, scores and landmarks of every face, with the attributes in `wanted`.
    pub fn detected(&self, bytes: &[u8], aligned: bool, wanted: AttributeSet) -> Result<Detected> {
        let image = self.decode(bytes)?;
        let detections = self.detect(&image, aligned)?;
        let attributes = self.attributes(&image, &detections, wanted)?;
        let faces = detections
            .into_iter()
            .zip(attributes)
            .map(|(detection, attributes)| DetectedFace { detection, attributes })
            .collect();
        let detector = if aligned { "aligned" } else { self.pipeline.detector.model_id() };
        Ok(Detected { width: image.width(), height: image.height(), detector: detector.into(), faces })
    }

    /// The image with the boxes and landmarks of `faces` drawn on it, as PNG.
    pub fn drawn(&self, bytes: &[u8], faces: &[DetectedFace]) -> Result<Vec<u8>> {
        let image = self.decode(bytes)?;
        let detections: Vec<Detection> = faces.iter().map(|f| f.detection.clone()).collect();
        crate::pipeline::draw::png(&crate::pipeline::draw::draw(&image, &detections))
    }

    /// Every face with its embedding, and the attributes in `wanted`.
    pub fn embedded(&self, bytes: &[u8], aligned: bool, wanted: AttributeSet) -> Result<Embedded> {
        let (image, faces) = self.analyze_with(bytes, aligned, wanted)?;
        let embedder = self.pipeline.embedder.model_id().into();
        Ok(Embedded { width: image.width(), height: image.height(), embedder, faces })
    }
}

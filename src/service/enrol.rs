//! Enrolling one face online: the face chosen from the photo, hashed and stored with its
//! subject (bulk jobs share [`crate::gallery::NewFace::detected`] and the photo hash).

use super::analyze::Work;
use crate::error::{Code, Result, VisageError};
use crate::gallery::{photo_sha256, FaceRecord, NewFace};
use crate::pipeline::Face;

/// Options of [`super::Engine::enrol_face`].
#[derive(Debug, Clone, Default)]
pub struct EnrolOptions {
    /// Which face when the photo has several (index in the configured order, 0 = largest).
    pub face: Option<usize>,
    /// The caller's id for the face: enrolling it again returns the existing face.
    pub external_id: Option<String>,
    /// The photo already is one aligned face.
    pub aligned: bool,
}

/// The face to enrol: the one asked for, else the only one.
fn choose(mut faces: Vec<Face>, which: Option<usize>) -> Result<Face> {
    match (faces.len(), which) {
        (0, _) => Err(VisageError::unprocessable(Code::NoFace, "no face found in the image")),
        (n, Some(i)) if i >= n => {
            Err(VisageError::unprocessable(Code::InvalidParameter, format!("face {i} requested, {n} found")))
        }
        (_, Some(i)) => Ok(faces.swap_remove(i)),
        (1, None) => Ok(faces.remove(0)),
        (n, None) => Err(VisageError::unprocessable(
            Code::MultipleFaces,
            format!("{n} faces found; send a photo of one face or say which with \"face\" (0 = largest)"),
        )),
    }
}

impl Work {
    /// Enrols the chosen face of `bytes` for `subject_id`; true when it is new.
    pub fn enrol_face(
        &self,
        subject_id: &str,
        bytes: &[u8],
        opts: &EnrolOptions,
        keep_crops: bool,
    ) -> Result<(FaceRecord, bool)> {
        self.gallery()?.subject(subject_id)?; // 404 before spending a model run
        self.enrol_as(bytes, opts, keep_crops, || Ok(subject_id.to_string()))
    }

    /// Enrols the chosen face of `bytes` for the subject named `name`, created only once the
    /// photo has given a face.
    pub fn enrol_face_named(
        &self,
        name: &str,
        bytes: &[u8],
        opts: &EnrolOptions,
        keep_crops: bool,
    ) -> Result<(FaceRecord, bool)> {
        self.enrol_as(bytes, opts, keep_crops, || Ok(self.gallery()?.subject_named_or_create(name)?.0.id))
    }

    fn enrol_as(
        &self,
        bytes: &[u8],
        opts: &EnrolOptions,
        keep_crops: bool,
        subject: impl FnOnce() -> Result<String>,
    ) -> Result<(FaceRecord, bool)> {
        let face = choose(self.analyze(bytes, opts.aligned)?.1, opts.face)?;
        let hash = photo_sha256(bytes);
        let crop = if keep_crops { Some(crate::pipeline::draw::png(&face.crop)?) } else { None };
        let new = NewFace::detected(&face, &hash, opts.external_id.as_deref(), crop.as_deref());
        self.gallery()?.add_face(&subject()?, &face.embedding, new)
    }
}

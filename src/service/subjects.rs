//! The gallery as a collection of named subjects (as CompreFace's API knows it, and any door may
//! use it): subjects found or created by name, renamed or merged, faces paged across subjects and
//! deleted in bulk.

use super::{Engine, EnrolOptions};
use crate::error::{Code, Result, VisageError};
use crate::gallery::{DeletedFace, FacePage, FaceRecord, Subject};

/// The largest page of faces.
const MAX_PAGE: u64 = 1000;

impl Engine {
    /// The subject named `name` (the oldest, should several share it).
    pub async fn subject_named(&self, name: String) -> Result<Subject> {
        self.blocking(move |g| g.subject_named(&name)?.ok_or_else(|| VisageError::SubjectNotFound(name.clone()))).await
    }

    /// Every distinct subject name, oldest first.
    pub async fn subject_names(&self) -> Result<Vec<String>> {
        self.blocking(|g| g.subject_name_list()).await
    }

    /// Creates a subject known by its name (its id is generated); a conflict when the name is
    /// taken.
    pub async fn create_subject_named(&self, name: String) -> Result<Subject> {
        check_name(&name)?;
        let (subject, created) = self.blocking(move |g| g.subject_named_or_create(&name)).await?;
        if !created {
            return Err(VisageError::conflict(
                Code::SubjectExists,
                format!("subject {:?} already exists", subject.name),
            ));
        }
        Ok(subject)
    }

    /// Enrols the face of `image` for the subject named `name`, created once the photo has
    /// given a face. True when the face is new.
    pub async fn enrol_face_named(
        &self,
        name: String,
        image: Vec<u8>,
        opts: EnrolOptions,
    ) -> Result<(FaceRecord, bool)> {
        check_name(&name)?;
        let keep_crops = self.settings.gallery.keep_crops;
        self.run(move |w| w.enrol_face_named(&name, &image, &opts, keep_crops)).await
    }

    /// Renames the subject `from` to `to`; when a subject named `to` exists already, merges
    /// into it instead (its faces are moved, `from` is deleted).
    pub async fn rename_or_merge_subject(&self, from: String, to: String) -> Result<()> {
        check_name(&to)?;
        self.blocking(move |g| {
            let source = g.subject_named(&from)?.ok_or_else(|| VisageError::SubjectNotFound(from.clone()))?;
            match g.subject_named(&to)? {
                Some(target) if target.id == source.id => Ok(()),
                Some(target) => g.merge_subject(&source.id, &target.id).map(drop),
                None => g.update_subject(&source.id, Some(&to), None).map(drop),
            }
        })
        .await
    }

    /// Deletes the subject named `name` with its faces; returns how many faces were erased.
    pub async fn delete_subject_named(&self, name: String) -> Result<usize> {
        self.blocking(move |g| {
            let subject = g.subject_named(&name)?.ok_or_else(|| VisageError::SubjectNotFound(name.clone()))?;
            g.delete_subject(&subject.id)
        })
        .await
    }

    /// Deletes every subject and face; returns the number of subjects.
    pub async fn delete_all_subjects(&self) -> Result<u64> {
        self.blocking(|g| g.delete_all_subjects()).await
    }

    /// A page of faces (`size` 1..=1000, page `page` from 0), of the subject named `name` or of
    /// every subject, oldest first; an unknown name has no faces.
    pub async fn faces_named(&self, name: Option<String>, page: u64, size: u64) -> Result<FacePage> {
        if size == 0 || size > MAX_PAGE {
            return Err(VisageError::unprocessable(Code::InvalidParameter, format!("size must be 1..={MAX_PAGE}")));
        }
        let offset = page
            .checked_mul(size)
            .ok_or_else(|| VisageError::unprocessable(Code::InvalidParameter, "page is too large"))?;
        self.blocking(move |g| {
            let subject = match &name {
                Some(n) => match g.subject_named(n)? {
                    Some(s) => Some(s.id),
                    None => return Ok(FacePage { faces: Vec::new(), total: 0 }),
                },
                None => None,
            };
            g.face_page(subject.as_deref(), offset, size)
        })
        .await
    }

    /// Deletes every face of the subject named `name` (the subject stays), or every face of the
    /// gallery; returns how many. An unknown name has none.
    pub async fn delete_faces_named(&self, name: Option<String>) -> Result<usize> {
        self.blocking(move |g| match &name {
            Some(n) => match g.subject_named(n)? {
                Some(s) => g.delete_faces_of(Some(&s.id)),
                None => Ok(0),
            },
            None => g.delete_faces_of(None),
        })
        .await
    }

    /// Deletes those of `ids` that exist (the others are ignored); returns them.
    pub async fn delete_faces(&self, ids: Vec<u64>) -> Result<Vec<DeletedFace>> {
        self.blocking(move |g| g.delete_faces(&ids)).await
    }
}

/// A subject name: 1-256 characters, not only blanks.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 256 {
        return Err(VisageError::unprocessable(
            Code::InvalidParameter,
            "a subject name must be 1-256 characters, not only blanks",
        ));
    }
    Ok(())
}

//! Reviewing unknown faces: identify keeps the faces it answered "unknown" (with
//! `review.enabled`), grouped here at the verification threshold in force; a group (or one face)
//! is named as an existing or new subject (enrolled) or discarded.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::analyze::Work;
use super::recognize::Identified;
use super::Engine;
use crate::error::{Code, Result, VisageError};
use crate::gallery::{photo_sha256, FaceRecord, NewFace, ReviewGroup, Subject};

/// Most items one request may name or discard.
const MAX_ITEMS: usize = 10_000;

/// A page of groups of faces to review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    /// Whether identify keeps unknown faces now (`review.enabled`).
    pub enabled: bool,
    /// The cosine at which faces were grouped (the verification threshold in force).
    pub threshold: f32,
    pub groups: Vec<ReviewGroup>,
    /// Groups and faces in all.
    pub total_groups: u64,
    pub total_items: u64,
    pub offset: u64,
    pub limit: u64,
}

/// Whom kept faces are: an existing subject (`subject_id`) or a subject called `name` (the
/// oldest of that name, created when there is none). Exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReviewTarget {
    pub subject_id: Option<String>,
    pub name: Option<String>,
}

/// Kept faces enrolled for a subject.
#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    pub subject: Subject,
    /// The gallery faces they became (a face whose photo the subject had already is that face).
    pub faces: Vec<FaceRecord>,
}

fn check_items(items: &[u64]) -> Result<()> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(VisageError::unprocessable(Code::InvalidParameter, format!("items: 1..={MAX_ITEMS} item ids")));
    }
    Ok(())
}

impl Work {
    /// Keeps the faces of `identified` that are unknown for review (crops included).
    pub fn keep_unknowns(&self, image: &[u8], identified: &Identified, max_items: u64) -> Result<usize> {
        let hash = photo_sha256(image);
        let unknown: Vec<_> = identified.faces.iter().filter(|f| f.matched.is_none()).map(|f| &f.face).collect();
        let crops = unknown.iter().map(|f| crate::pipeline::draw::png(&f.crop)).collect::<Result<Vec<_>>>()?;
        let faces: Vec<NewFace> = unknown
            .iter()
            .zip(&crops)
            .map(|(f, crop)| NewFace::detected(f, &hash, None, Some(crop.as_slice())))
            .collect();
        self.gallery()?.keep_for_review(&faces, "identify", max_items)
    }
}

impl Engine {
    /// A page of groups of faces to review (`limit` 1..=100), largest first.
    pub async fn review_groups(&self, offset: u64, limit: u64) -> Result<ReviewPage> {
        if limit == 0 || limit > 100 {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "limit must be 1..=100"));
        }
        let threshold = self.thresholds().compare;
        let enabled = self.settings().review.enabled;
        self.blocking(move |g| {
            let groups = g.review_groups(threshold)?;
            let page = groups
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|ids| Ok(ReviewGroup { id: ids[0], items: g.review_items(ids)? }))
                .collect::<Result<Vec<_>>>()?;
            Ok(ReviewPage {
                enabled,
                threshold,
                total_groups: groups.len() as u64,
                total_items: groups.iter().map(|g| g.len() as u64).sum(),
                groups: page,
                offset,
                limit,
            })
        })
        .await
    }

    /// Enrols kept faces for `target` and erases them from review (all or none).
    pub async fn name_review(&self, items: Vec<u64>, target: ReviewTarget) -> Result<Named> {
        check_items(&items)?;
        let keep_crops = self.settings().gallery.keep_crops;
        self.blocking(move |g| {
            let subject = match (target.subject_id, target.name.map(|n| n.trim().to_string())) {
                (Some(id), None) => g.subject(&id)?,
                (None, Some(name)) if !name.is_empty() => {
                    g.review_items(&items)?; // 404 before a subject is created
                    g.subject_named_or_create(&name)?.0
                }
                _ => {
                    return Err(VisageError::unprocessable(
                        Code::InvalidParameter,
                        "say whom these faces are: subject_id (an existing subject) or name, not both",
                    ))
                }
            };
            let faces = g.enrol_review(&items, &subject.id, keep_crops)?;
            Ok(Named { subject: g.subject(&subject.id)?, faces })
        })
        .await
    }

    /// Erases kept faces and their crops (all or none); how many.
    pub async fn discard_review(&self, items: Vec<u64>) -> Result<usize> {
        check_items(&items)?;
        self.blocking(move |g| g.discard_review(&items)).await
    }

    /// The crop (PNG) of a face kept for review.
    pub async fn review_crop(&self, id: u64) -> Result<Vec<u8>> {
        self.blocking(move |g| g.review_crop(id))
            .await?
            .ok_or_else(|| VisageError::unprocessable(Code::CropNotKept, format!("review item {id} has no crop")))
    }
}

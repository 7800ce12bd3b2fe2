//! The recognition service: recognize (by image or embedding), and the face collection (add,
//! list, delete by id / by subject / by id list, image, verify against a saved face).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::{cf, CfError};
use super::model::{
    some_faces, EmbeddingSubjects, Embeddings, FaceResult, FacesPage, ImageRef, Results, SubjectSimilarity,
};
use super::params::{FaceOptions, Params};
use super::services::with_similarities;
use super::{form, image_id, json, versions};
use crate::gallery::Candidate;
use crate::service::{Engine, EnrolOptions, IdentifiedFace, IdentifyOptions};

/// What `subjects` shows for a face: nothing when it is unknown (below the threshold); else its
/// subject first, then the other subjects at or above the threshold, each once, best first, at
/// most `count`.
fn shown(
    matched: Option<&Candidate>,
    candidates: &[Candidate],
    threshold: f32,
    count: usize,
) -> Vec<SubjectSimilarity> {
    let Some(m) = matched else { return Vec::new() };
    let others = candidates.iter().filter(|c| c.subject_id != m.subject_id && c.score >= threshold);
    std::iter::once(m).chain(others).take(count).map(SubjectSimilarity::from).collect()
}

/// `prediction_count` (default 1).
fn prediction_count(p: &Params) -> Result<usize, CfError> {
    Ok(p.get("prediction_count")?.unwrap_or(1))
}

/// Who is each face of `file`? `subjects` holds each subject once, best first; empty when the
/// face is unknown at `threshold` (a similarity; default: the 1:N threshold in force).
pub async fn recognize(
    engine: web::Data<Engine>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let p = Params::of(&req)?;
    let opts = FaceOptions::of(&p)?;
    let count = prediction_count(&p)?;
    let image = form(&req, body, &["file"]).await?.image("file")?;
    let identify = IdentifyOptions {
        k: Some(count),
        threshold: p.cosine("threshold")?,
        ef: None,
        aligned: opts.aligned,
        attributes: opts.attributes,
    };
    let out = engine.identify(image, identify).await?;
    let faces: Vec<IdentifiedFace> = some_faces(opts.select(out.faces, |f| f.face.detection.score))?;
    let result: Vec<FaceResult> = faces
        .iter()
        .map(|f| FaceResult {
            subjects: Some(shown(f.matched.as_ref(), &f.candidates, out.threshold, count)),
            ..FaceResult::of(&f.face, opts.landmarks, opts.embedding)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Results { result, plugins_versions: versions(&engine, &opts, true) }))
}

/// `POST /faces?subject=`: enrols the face of `file` (one face expected) for the subject, created
/// on first use → 201 `{"image_id", "subject"}`.
pub async fn add_face(
    engine: web::Data<Engine>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let p = Params::of(&req)?;
    let subject = p.text("subject").ok_or_else(|| {
        CfError::new(StatusCode::BAD_REQUEST, cf::MISSING_REQUEST_PARAMETER, "Required parameter subject is missing")
    })?;
    let opts = FaceOptions::of(&p)?;
    let image = form(&req, body, &["file"]).await?.image("file")?;
    let enrol = EnrolOptions { aligned: opts.aligned, ..Default::default() };
    let (face, _) = engine.enrol_face_named(subject.clone(), image, enrol).await?;
    Ok(HttpResponse::Created().json(ImageRef { image_id: face.id.to_string(), subject }))
}

/// `GET /faces?page=&size=&subject=`: a page of saved faces (default page 0 of 20).
pub async fn list_faces(engine: web::Data<Engine>, req: HttpRequest) -> Result<HttpResponse, CfError> {
    let p = Params::of(&req)?;
    let (page, size) = (p.get("page")?.unwrap_or(0), p.get("size")?.unwrap_or(20));
    let out = engine.faces_named(p.text("subject"), page, size).await?;
    let faces = out.faces.into_iter().map(|(f, subject)| ImageRef { image_id: f.id.to_string(), subject }).collect();
    Ok(HttpResponse::Ok().json(FacesPage {
        faces,
        page_number: page,
        page_size: size,
        total_pages: out.total.div_ceil(size),
        total_elements: out.total,
    }))
}

/// `DELETE /faces?subject=`: every face of the subject (or of the collection) → `{"deleted": n}`.
pub async fn delete_faces_of(engine: web::Data<Engine>, req: HttpRequest) -> Result<HttpResponse, CfError> {
    let subject = Params::of(&req)?.text("subject");
    Ok(HttpResponse::Ok().json(json!({ "deleted": engine.delete_faces_named(subject).await? })))
}

/// `POST /faces/delete ["id", ...]`: the faces that exist → `{"deleted": [{"image_id", "subject"}]}`.
pub async fn delete_faces(engine: web::Data<Engine>, body: web::Payload) -> Result<HttpResponse, CfError> {
    let ids: Vec<String> = json(body).await?;
    // An id that is not a number names no face: ignored like any unknown id.
    let ids = ids.iter().filter_map(|i| i.parse().ok()).collect();
    let deleted: Vec<ImageRef> = engine
        .delete_faces(ids)
        .await?
        .into_iter()
        .map(|d| ImageRef { image_id: d.face_id.to_string(), subject: d.subject_name })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}

/// `DELETE /faces/{image_id}` → `{"image_id", "subject"}`.
pub async fn delete_face(engine: web::Data<Engine>, id: web::Path<String>) -> Result<HttpResponse, CfError> {
    let d = engine.delete_face(image_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ImageRef { image_id: d.face_id.to_string(), subject: d.subject_name }))
}

/// `GET /faces/{image_id}/img`: the face's aligned crop (PNG) when `gallery.keep_crops` is on;
/// Visage never keeps the uploaded photo.
pub async fn face_image(engine: web::Data<Engine>, id: web::Path<String>) -> Result<HttpResponse, CfError> {
    let png = engine.face_crop(image_id(&id)?).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

/// `POST /faces/{image_id}/verify`: every face of `file` (`limit` of them) with its similarity
/// to the saved face.
pub async fn verify_face(
    engine: web::Data<Engine>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let opts = FaceOptions::of(&Params::of(&req)?)?;
    let face_id = image_id(&id)?;
    let image = form(&req, body, &["file"]).await?.image("file")?;
    let out = engine.compare_with_face(face_id, image, opts.aligned).await?;
    let result = some_faces(opts.select(out.matches, |m| m.face.detection.score))?
        .iter()
        .map(|m| FaceResult::of(&m.face, opts.landmarks, opts.embedding).with_similarity(m.similarity))
        .collect();
    Ok(HttpResponse::Ok().json(Results { result, plugins_versions: versions(&engine, &opts, true) }))
}

/// `POST /embeddings/recognize {"embeddings": [[...]]}`: each embedding's subjects, each once,
/// best first, at or above `threshold` (default: the 1:N threshold in force).
pub async fn recognize_embeddings(
    engine: web::Data<Engine>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let p = Params::of(&req)?;
    let count = prediction_count(&p)?;
    let threshold = p.cosine("threshold")?.unwrap_or(engine.thresholds().identify);
    let Embeddings { embeddings, .. } = json(body).await?;
    let ranked = engine.rank_embeddings(embeddings.clone(), Some(count)).await?;
    let result: Vec<EmbeddingSubjects> = embeddings
        .into_iter()
        .zip(ranked)
        .map(|(embedding, candidates)| EmbeddingSubjects {
            embedding,
            similarities: candidates.iter().filter(|c| c.score >= threshold).map(SubjectSimilarity::from).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Results { result, plugins_versions: None }))
}

/// `POST /embeddings/faces/{image_id}/verify {"embeddings": [[...]]}`: each embedding's
/// similarity to the saved face.
pub async fn verify_embeddings_with_face(
    engine: web::Data<Engine>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, CfError> {
    let face_id = image_id(&id)?;
    let Embeddings { embeddings, .. } = json(body).await?;
    let cosines = engine.compare_embeddings_with_face(face_id, embeddings.clone()).await?;
    Ok(HttpResponse::Ok().json(Results { result: with_similarities(embeddings, cosines), plugins_versions: None }))
}

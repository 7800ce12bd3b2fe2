//! `POST /v1/verify` (1:1), `POST /v1/identify` (1:N, open set) and `POST /v1/search` (top-k).

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{analyze, k_of, main_face, threshold_of};
use crate::error::VisageError;
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::metrics::stage;
use crate::http::AppState;
use crate::pipeline::embed::{l2_normalised, Embedding};

/// Same person? Two images (`image_a`, `image_b`), or one `image` and a `subject_id`.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let threshold = threshold_of(&form, state.settings.compare.threshold)?;
    if let Some(subject_id) = form.get::<String>("subject_id")? {
        let bytes = form.image("image")?;
        let out = state
            .run(move |p, g| {
                let face = main_face(analyze(p, &bytes)?.1, "image")?;
                let (face_id, similarity) = g.verify_subject(&face.embedding, &subject_id)?.ok_or_else(|| {
                    VisageError::unprocessable(
                        "subject_has_no_faces",
                        format!("subject {subject_id:?} has no enrolled face"),
                    )
                })?;
                Ok(json!({
                    "similarity": similarity, "same": similarity >= threshold, "threshold": threshold,
                    "subject_id": subject_id, "face_id": face_id, "face": face.detection, "model": face.embedding.model,
                }))
            })
            .await?;
        return Ok(HttpResponse::Ok().json(out));
    }
    let (a, b) = (form.image("image_a")?, form.image("image_b")?);
    let out = state
        .run(move |p, _| {
            let fa = main_face(analyze(p, &a)?.1, "image_a")?;
            let fb = main_face(analyze(p, &b)?.1, "image_b")?;
            let similarity = fa.embedding.cosine(&fb.embedding).unwrap_or(f32::NAN);
            Ok(json!({
                "similarity": similarity, "same": similarity >= threshold, "threshold": threshold,
                "face_a": fa.detection, "face_b": fb.detection, "model": fa.embedding.model,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Who is each face? Top-k subjects per face, `match` null (unknown) below the threshold.
pub async fn identify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let k = k_of(&form, &state.settings)?;
    let threshold = threshold_of(&form, state.settings.identify.threshold)?;
    let ef = form.get::<usize>("ef")?;
    let bytes = form.image("image")?;
    let out = state
        .run(move |p, g| {
            let faces = analyze(p, &bytes)?.1;
            let embeddings: Vec<Embedding> = faces.iter().map(|f| f.embedding.clone()).collect();
            let answers = stage("search", || g.identify(&embeddings, k, threshold, ef))?;
            let faces: Vec<_> = faces
                .into_iter()
                .zip(answers)
                .map(|(f, a)| {
                    json!({
                        "bbox": f.detection.bbox, "score": f.detection.score, "landmarks": f.detection.landmarks,
                        "unknown": a.matched.is_none(), "match": a.matched, "candidates": a.candidates,
                    })
                })
                .collect();
            Ok(json!({ "threshold": threshold, "k": k, "model": g.model(), "faces": faces }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The k most similar gallery faces (`by: "face"`, default) or subjects (`by: "subject"`) for
/// the main face of `image`, or for a given `embedding` (an array of floats of the gallery's model).
pub async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let k = k_of(&form, &state.settings)?;
    let ef = form.get::<usize>("ef")?;
    let by_subject = match form.get::<String>("by")?.as_deref() {
        None | Some("face") => false,
        Some("subject") => true,
        Some(other) => {
            return Err(VisageError::unprocessable(
                "invalid_parameter",
                format!("by must be \"face\" or \"subject\", not {other:?}"),
            )
            .into())
        }
    };
    // The query: image bytes, or (as Err) a raw embedding.
    let query = match form.get::<Vec<f32>>("embedding")? {
        Some(v) => Err(v),
        None => Ok(form.image("image")?),
    };
    let out = state
        .run(move |p, g| {
            let (query, face) = match query {
                Err(v) => {
                    if v.len() != p.embedder.dim() || v.iter().any(|x| !x.is_finite()) {
                        return Err(VisageError::unprocessable(
                            "invalid_embedding",
                            format!("embedding must be {} finite numbers", p.embedder.dim()),
                        ));
                    }
                    (Embedding { model: Arc::from(g.model()), vector: l2_normalised(&v) }, None)
                }
                Ok(bytes) => {
                    let face = main_face(analyze(p, &bytes)?.1, "image")?;
                    (face.embedding.clone(), Some(face.detection))
                }
            };
            let results = if by_subject {
                let answer =
                    stage("search", || g.identify(std::slice::from_ref(&query), k, f32::INFINITY, ef))?.remove(0);
                serde_json::to_value(answer.candidates)
            } else {
                serde_json::to_value(stage("search", || g.search(&query, k, ef))?)
            }
            .map_err(|e| VisageError::Inference(e.to_string()))?;
            Ok(json!({ "k": k, "by": if by_subject { "subject" } else { "face" }, "face": face, "results": results }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

//! `POST /v1/verify` (1:1), `POST /v1/identify` (1:N, open set) and `POST /v1/search` (top-k).

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::{analyze, k_of, main_face, threshold_of};
use crate::error::VisageError;
use crate::http::api::{
    ErrorBody, IdentifiedFace, IdentifyForm, IdentifyResponse, SearchForm, SearchResponse, SearchResults, VerifyForm,
    VerifyResponse,
};
use crate::http::error::ApiError;
use crate::http::input::Form;
use crate::http::metrics::stage;
use crate::http::AppState;
use crate::pipeline::embed::{l2_normalised, Embedding};

/// Same person? Two images (`image_a`, `image_b`), or one `image` and a `subject_id`; the main
/// (largest) face of each image is compared.
#[utoipa::path(post, path = "/v1/verify", tag = "recognition",
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses((status = 200, body = VerifyResponse), (status = "4XX", body = ErrorBody)))]
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let threshold = threshold_of(&form, state.thresholds().compare)?;
    let answer = move |similarity: f32, model: &str| VerifyResponse {
        similarity,
        same: similarity >= threshold,
        threshold,
        model: model.to_string(),
        face_a: None,
        face_b: None,
        subject_id: None,
        face_id: None,
        face: None,
    };
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
                Ok(VerifyResponse {
                    subject_id: Some(subject_id),
                    face_id: Some(face_id),
                    face: Some(face.detection),
                    ..answer(similarity, &face.embedding.model)
                })
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
            Ok(VerifyResponse {
                face_a: Some(fa.detection),
                face_b: Some(fb.detection),
                ..answer(similarity, &fa.embedding.model)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Who is each face? Top-k subjects per face; `match` is null (unknown) below the threshold,
/// and two faces of one photo are never given the same subject.
#[utoipa::path(post, path = "/v1/identify", tag = "recognition",
    request_body(content = IdentifyForm, content_type = "multipart/form-data"),
    responses((status = 200, body = IdentifyResponse), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn identify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = Form::read(&req, body, state.body_limit()).await?;
    let k = k_of(&form, &state.settings)?;
    let threshold = threshold_of(&form, state.thresholds().identify)?;
    let ef = form.get::<usize>("ef")?;
    let bytes = form.image("image")?;
    let out = state
        .run(move |p, g| {
            let faces = analyze(p, &bytes)?.1;
            let embeddings: Vec<Embedding> = faces.iter().map(|f| f.embedding.clone()).collect();
            let answers = stage("search", || g.identify(&embeddings, k, threshold, ef))?;
            let faces = faces
                .into_iter()
                .zip(answers)
                .map(|(f, a)| IdentifiedFace {
                    detection: f.detection,
                    unknown: a.matched.is_none(),
                    matched: a.matched,
                    candidates: a.candidates,
                })
                .collect();
            Ok(IdentifyResponse { threshold, k, model: g.model().into(), faces })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The k most similar gallery faces (`by: "face"`, default) or subjects (`by: "subject"`) for
/// the main face of `image`, or for a given `embedding` of the gallery's model.
#[utoipa::path(post, path = "/v1/search", tag = "recognition",
    request_body(content = SearchForm, content_type = "multipart/form-data"),
    responses((status = 200, body = SearchResponse), (status = "4XX", body = ErrorBody)))]
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
                    if v.len() != p.embedder.dim() || v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
                        return Err(VisageError::unprocessable(
                            "invalid_embedding",
                            format!("embedding must be {} finite numbers, not all zero", p.embedder.dim()),
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
                let answer = stage("search", || g.identify(std::slice::from_ref(&query), k, f32::INFINITY, ef))?;
                SearchResults::Subjects(answer.into_iter().next().map(|a| a.candidates).unwrap_or_default())
            } else {
                SearchResults::Faces(stage("search", || g.search(&query, k, ef))?)
            };
            Ok(SearchResponse { k, by: if by_subject { "subject" } else { "face" }.into(), face, results })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

//! The detection service (`/api/v1/detection/detect`) and the verification service
//! (`/api/v1/verification/verify`, `/api/v1/verification/embeddings/verify`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::CfError;
use super::model::{some_faces, EmbeddingSimilarity, Embeddings, FaceResult, Results, Verified};
use super::params::{FaceOptions, Params};
use super::{form, json, versions};
use crate::service::Engine;

/// Every face of `file`: box and score, landmarks and embedding when asked for.
pub async fn detect(engine: web::Data<Engine>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, CfError> {
    let opts = FaceOptions::of(&Params::of(&req)?)?;
    let image = form(&req, body, &["file"]).await?.image("file")?;
    let result: Vec<FaceResult> = if opts.embedding {
        let faces = some_faces(
            opts.select(engine.embed(image, opts.aligned, opts.attributes).await?.faces, |f| f.detection.score),
        )?;
        faces.iter().map(|f| FaceResult::of(f, opts.landmarks, true)).collect()
    } else {
        let faces = engine.detect(image, opts.aligned, opts.attributes).await?.faces;
        let faces = some_faces(opts.select(faces, |d| d.detection.score))?;
        faces
            .iter()
            .map(|d| FaceResult::detected(&d.detection, opts.landmarks).with_attributes(d.attributes.as_ref()))
            .collect()
    };
    Ok(HttpResponse::Ok().json(Results { result, plugins_versions: versions(&engine, &opts, opts.embedding) }))
}

/// The main face of `source_image` against every face of `target_image` (`limit` of them).
pub async fn verify(engine: web::Data<Engine>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, CfError> {
    let opts = FaceOptions::of(&Params::of(&req)?)?;
    let mut form = form(&req, body, &["source_image", "target_image"]).await?;
    let (source, target) = (form.image("source_image")?, form.image("target_image")?);
    let out = engine.compare_images(source, target, opts.aligned).await?;
    let matches = some_faces(opts.select(out.matches, |m| m.face.detection.score))?;
    let source = out.source.as_ref().map(|f| FaceResult::of(f, opts.landmarks, opts.embedding));
    let verified = Verified {
        source_image_face: source.ok_or_else(|| CfError::argument("no source face"))?,
        face_matches: matches
            .iter()
            .map(|m| FaceResult::of(&m.face, opts.landmarks, opts.embedding).with_similarity(m.similarity))
            .collect(),
        plugins_versions: versions(&engine, &opts, true),
    };
    Ok(HttpResponse::Ok().json(Results { result: vec![verified], plugins_versions: None }))
}

/// `{"source": [...], "targets": [[...], ...]}` → each target with its similarity to the source.
pub async fn verify_embeddings(engine: web::Data<Engine>, body: web::Payload) -> Result<HttpResponse, CfError> {
    let Embeddings { source, targets, .. } = json(body).await?;
    let cosines = engine.compare_embeddings(source, targets.clone()).await?;
    Ok(HttpResponse::Ok().json(Results { result: with_similarities(targets, cosines), plugins_versions: None }))
}

/// Embeddings paired with their similarities.
pub(super) fn with_similarities(embeddings: Vec<Vec<f32>>, cosines: Vec<f32>) -> Vec<EmbeddingSimilarity> {
    embeddings
        .into_iter()
        .zip(cosines)
        .map(|(embedding, c)| EmbeddingSimilarity { embedding, similarity: super::model::to_similarity(c) })
        .collect()
}

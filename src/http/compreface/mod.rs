//! A second door: CompreFace's REST API (recognition, detection, verification services) under
//! `/api/v1/`, so that CompreFace's own SDKs and integrations drive Visage unchanged. Its own
//! request and response types and error shape; every use case is the engine's. On unless
//! `compat.compreface = false`.

mod auth;
mod error;
mod model;
mod params;
mod recognition;
mod services;
mod subjects;

use actix_web::{web, HttpRequest};

use self::error::CfError;
use self::model::PluginVersions;
use self::params::FaceOptions;
use crate::http::input::Form;
use crate::service::Engine;

/// Registers the CompreFace routes (admitted like `/v1`, keys checked per service).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let recognition = web::scope("/recognition")
        .route("/recognize", web::post().to(recognition::recognize))
        .route("/faces", web::post().to(recognition::add_face))
        .route("/faces", web::get().to(recognition::list_faces))
        .route("/faces", web::delete().to(recognition::delete_faces_of))
        .route("/faces/delete", web::post().to(recognition::delete_faces))
        .route("/faces/{image_id}", web::delete().to(recognition::delete_face))
        .route("/faces/{image_id}/img", web::get().to(recognition::face_image))
        .route("/faces/{image_id}/verify", web::post().to(recognition::verify_face))
        .route("/embeddings/recognize", web::post().to(recognition::recognize_embeddings))
        .route("/embeddings/faces/{image_id}/verify", web::post().to(recognition::verify_embeddings_with_face))
        .route("/subjects", web::post().to(subjects::add))
        .route("/subjects", web::get().to(subjects::list))
        .route("/subjects/", web::get().to(subjects::list))
        .route("/subjects", web::delete().to(subjects::delete_all))
        .route("/subjects/{subject}", web::put().to(subjects::rename))
        .route("/subjects/{subject}", web::delete().to(subjects::delete));
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(super::admit))
            .wrap(actix_web::middleware::from_fn(auth::check_key))
            .service(recognition)
            .route("/detection/detect", web::post().to(services::detect))
            .route("/verification/verify", web::post().to(services::verify))
            .route("/verification/embeddings/verify", web::post().to(services::verify_embeddings)),
    );
}

/// Reads an image request: `fields` hold images (multipart files or base64 in JSON).
async fn form(req: &HttpRequest, body: web::Payload, fields: &[&str]) -> Result<Form, CfError> {
    Ok(Form::read_with(req, body, super::form_limits(req), fields).await?)
}

/// Reads a JSON body (at most 16 MiB).
async fn json<T: serde::de::DeserializeOwned>(body: web::Payload) -> Result<T, CfError> {
    let bytes = body.to_bytes_limited(16 << 20).await.map_err(|_| CfError::argument("the JSON body exceeds 16 MiB"))?;
    let bytes = bytes.map_err(|e| crate::http::error::body_error(&e, crate::error::Code::InvalidBody))?;
    serde_json::from_slice(&bytes).map_err(|e| CfError::argument(format!("the body is not the expected JSON: {e}")))
}

/// A face (image) id of the path.
fn image_id(raw: &str) -> Result<u64, CfError> {
    raw.parse().map_err(|_| CfError::image_not_found(raw))
}

/// `plugins_versions` when `status=true`: the detector (or `aligned`), and the embedder when
/// embeddings were computed.
fn versions(engine: &Engine, opts: &FaceOptions, embedded: bool) -> Option<PluginVersions> {
    if !opts.status {
        return None;
    }
    let p = engine.pipeline().ok()?;
    let detector = if opts.aligned { "aligned" } else { p.detector.model_id() };
    let mut v = PluginVersions::from([("detector", detector.to_string())]);
    if embedded {
        v.insert("calculator", p.embedder.model_id().to_string());
    }
    if opts.landmarks {
        v.insert("landmarks", detector.to_string());
    }
    // The attribute networks ran for this answer, so they are loaded.
    for (asked, key, age) in [(opts.attributes.age, "age", true), (opts.attributes.gender, "gender", false)] {
        if let Some(id) = asked.then(|| p.attributes.model_id(age)).flatten() {
            v.insert(key, id);
        }
    }
    Some(v)
}

//! Request bodies: multipart/form-data (image files + text fields), JSON (images as base64),
//! or a raw image body (`image/*`, `application/octet-stream`). All read under a size limit.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest};
use base64::Engine;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::{body_error, ApiError};
use crate::error::Code;

/// Field names that carry images.
const IMAGE_FIELDS: [&str; 3] = ["image", "image_a", "image_b"];

/// What one body may hold.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// Bytes in all.
    pub body: usize,
    /// Multipart parts, or keys of a JSON object.
    pub fields: usize,
    /// Bytes of one text part of a multipart body.
    pub field_bytes: usize,
}

/// A parsed request: images by field name, and every other field as JSON.
#[derive(Default)]
pub struct Form {
    images: HashMap<String, Vec<u8>>,
    fields: Map<String, Value>,
}

impl Form {
    /// Reads the body according to its content type, within `limits`.
    pub async fn read(req: &HttpRequest, payload: web::Payload, limits: FormLimits) -> Result<Self, ApiError> {
        Self::read_with(req, payload, limits, &IMAGE_FIELDS).await
    }

    /// [`Form::read`] with other names for the image fields; a raw image body is the first.
    pub async fn read_with(
        req: &HttpRequest,
        mut payload: web::Payload,
        limits: FormLimits,
        image_fields: &[&str],
    ) -> Result<Self, ApiError> {
        let limit = limits.body;
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            return Self::multipart(req, payload, limits, image_fields).await;
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| body_error(&e, Code::InvalidBody))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err(ApiError::new(Code::EmptyBody, "the request has no body; send an image"));
        }
        if content_type.starts_with("application/json") {
            let fields: Map<String, Value> = serde_json::from_slice(&body)
                .map_err(|e| ApiError::new(Code::InvalidJson, format!("the body is not a JSON object: {e}")))?;
            if fields.len() > limits.fields {
                return Err(too_many_fields(limits.fields));
            }
            let mut form = Self { images: HashMap::new(), fields };
            for &name in image_fields {
                if let Some(v) = form.fields.remove(name) {
                    form.images.insert(name.to_string(), decode_base64(name, &v)?);
                }
            }
            Ok(form)
        } else if content_type.starts_with("image/") || content_type.starts_with("application/octet-stream") {
            let name = image_fields.first().copied().unwrap_or("image").to_string();
            Ok(Self { images: HashMap::from([(name, body.to_vec())]), fields: Map::new() })
        } else {
            Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "content type {content_type:?} is not accepted: use multipart/form-data, application/json (images as base64) or image/*"
                ),
            ))
        }
    }

    async fn multipart(
        req: &HttpRequest,
        payload: web::Payload,
        limits: FormLimits,
        image_fields: &[&str],
    ) -> Result<Self, ApiError> {
        let mut form = Self::default();
        let mut multipart = Multipart::new(req.headers(), payload);
        let (mut total, mut parts) = (0usize, 0usize);
        while let Some(field) = multipart.next().await {
            let mut field = field.map_err(|e| body_error(&e, Code::InvalidMultipart))?;
            parts += 1;
            if parts > limits.fields {
                return Err(too_many_fields(limits.fields));
            }
            let name = field.name().unwrap_or_default().to_string();
            let is_image = image_fields.contains(&name.as_str());
            let mut data = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| body_error(&e, Code::InvalidMultipart))?;
                total += chunk.len();
                if total > limits.body {
                    return Err(too_large(limits.body));
                }
                if !is_image && data.len() + chunk.len() > limits.field_bytes {
                    return Err(ApiError::new(
                        Code::FieldTooLarge,
                        format!("field {name:?} exceeds {} bytes (server.max_field_bytes)", limits.field_bytes),
                    ));
                }
                data.extend_from_slice(&chunk);
            }
            if is_image {
                form.images.insert(name, data);
            } else {
                let text = String::from_utf8(data)
                    .map_err(|_| ApiError::new(Code::InvalidField, format!("field {name:?} is not UTF-8 text")))?;
                // Text fields hold JSON values (numbers, objects) or plain strings.
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                form.fields.insert(name, value);
            }
        }
        Ok(form)
    }

    /// The image in field `name` (400 if absent).
    pub fn image(&mut self, name: &str) -> Result<Vec<u8>, ApiError> {
        self.images
            .remove(name)
            .ok_or_else(|| ApiError::new(Code::MissingField, format!("the request has no {name:?} image")))
    }

    /// An optional field converted to `T` (400 when it has the wrong type).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let parsed = serde_json::from_value(v.clone()).or_else(|e| match v {
                    // Multipart text like "5" or "true" already parsed; strings may still hold numbers.
                    Value::String(s) => serde_json::from_str(s).map_err(|_| e),
                    _ => Err(e),
                });
                parsed.map(Some).map_err(|e| ApiError::new(Code::InvalidField, format!("field {name:?}: {e}")))
            }
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(Code::BodyTooLarge, format!("the body exceeds {limit} bytes (server.max_body_bytes)"))
}

fn too_many_fields(limit: usize) -> ApiError {
    ApiError::new(Code::TooManyFields, format!("the body has more than {limit} fields (server.max_form_fields)"))
}

fn decode_base64(name: &str, v: &Value) -> Result<Vec<u8>, ApiError> {
    let Value::String(s) = v else {
        return Err(ApiError::new(Code::InvalidField, format!("field {name:?} must be a base64 string")));
    };
    // Accept data URLs ("data:image/jpeg;base64,...") as browsers produce them.
    let data = s.split_once(";base64,").map_or(s.as_str(), |(_, d)| d);
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::new(Code::InvalidBase64, format!("field {name:?} is not valid base64: {e}")))
}

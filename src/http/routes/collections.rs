//! `/v1/collections`: create, list, get, rename and delete collections; and the collection a
//! gallery route works on (`/v1/collections/{collection}/…`, else `default`).

use std::ops::Deref;
use std::sync::Arc;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Id;
use crate::error::{Code, VisageError};
use crate::http::api::ErrorBody;
use crate::http::auth::Visible;
use crate::http::error::ApiError;
use crate::service::collections::{CollectionInfo, Collections, NewCollection, DEFAULT};
use crate::service::Engine;

/// The engine of the collection a request names, else of `default`; a collection that does not
/// exist is 404 `not_found`.
pub struct InCollection {
    engine: Arc<Engine>,
    id: String,
}

impl InCollection {
    /// The path prefix of this collection's routes (`/v1`, or `/v1/collections/{id}`).
    pub fn base(&self) -> String {
        match self.id.as_str() {
            DEFAULT => "/v1".to_string(),
            id => format!("/v1/collections/{id}"),
        }
    }
}

impl Deref for InCollection {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl FromRequest for InCollection {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let collections = req.app_data::<web::Data<Collections>>().cloned();
        let id = req.match_info().get("collection").unwrap_or(DEFAULT).to_string();
        let visible = Visible::allows(req, &id);
        Box::pin(async move {
            if !visible {
                return Err(unseen(&id));
            }
            let collections =
                collections.ok_or_else(|| ApiError::new(Code::Internal, "the server has no collections"))?;
            let engine = match collections.opened(&id) {
                Some(engine) => engine,
                None => {
                    let (c, wanted) = (collections.clone(), id.clone());
                    web::block(move || c.get(&wanted))
                        .await
                        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))??
                }
            };
            Ok(Self { engine, id })
        })
    }
}

/// What a caller is told of a collection its key does not see: that there is none.
fn unseen(id: &str) -> ApiError {
    VisageError::NotFound(format!("collection {id:?}")).into()
}

/// The collections routes (inside `/v1`), then every gallery route under
/// `/collections/{collection}`.
pub fn configure(cfg: &mut web::ServiceConfig, gallery_routes: fn(&mut web::ServiceConfig)) {
    cfg.route("/collections", web::post().to(create))
        .route("/collections", web::get().to(list))
        .route("/collections/{id}", web::get().to(get))
        .route("/collections/{id}", web::patch().to(update))
        .route("/collections/{id}", web::delete().to(delete))
        .service(web::scope("/collections/{collection}").configure(gallery_routes));
}

/// Every collection, `default` first.
#[derive(Serialize, ToSchema)]
pub struct CollectionList {
    pub collections: Vec<CollectionInfo>,
}

/// `PATCH /v1/collections/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionUpdate {
    pub name: String,
}

/// What a delete erased.
#[derive(Serialize, ToSchema)]
pub struct CollectionDeleted {
    pub deleted: String,
    pub deleted_faces: u64,
}

/// Runs registry work (it reads folders, may open a gallery) off the async executor.
async fn blocking<T: Send + 'static>(
    collections: &web::Data<Collections>,
    f: impl FnOnce(&Collections) -> crate::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let c = collections.clone();
    Ok(web::block(move || f(&c)).await.map_err(|e| ApiError::new(Code::Internal, e.to_string()))??)
}

/// Creates a collection: its own gallery, index, thresholds, jobs and review items.
#[utoipa::path(post, path = "/v1/collections", tag = "collections", request_body = NewCollection,
    responses((status = 201, body = CollectionInfo), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    collections: web::Data<Collections>,
    body: web::Json<NewCollection>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner();
    let info = blocking(&collections, move |c| c.create(new)).await?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/v1/collections/{}", info.id))).json(info))
}

/// Every collection with its model, index and counts.
#[utoipa::path(get, path = "/v1/collections", tag = "collections", responses((status = 200, body = CollectionList)))]
pub async fn list(collections: web::Data<Collections>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let mut collections = blocking(&collections, |c| c.list()).await?;
    collections.retain(|c| Visible::allows(&req, &c.id));
    Ok(HttpResponse::Ok().json(CollectionList { collections }))
}

/// One collection.
#[utoipa::path(get, path = "/v1/collections/{id}", tag = "collections",
    responses((status = 200, body = CollectionInfo), (status = 404, body = ErrorBody)))]
pub async fn get(
    collections: web::Data<Collections>,
    id: web::Path<Id<String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().id;
    if !Visible::allows(&req, &id) {
        return Err(unseen(&id));
    }
    Ok(HttpResponse::Ok().json(blocking(&collections, move |c| c.info(&id)).await?))
}

/// Renames a collection (its id stays).
#[utoipa::path(patch, path = "/v1/collections/{id}", tag = "collections", request_body = CollectionUpdate,
    responses((status = 200, body = CollectionInfo), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    collections: web::Data<Collections>,
    id: web::Path<Id<String>>,
    body: web::Json<CollectionUpdate>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = (id.into_inner().id, body.into_inner().name);
    Ok(HttpResponse::Ok().json(blocking(&collections, move |c| c.rename(&id, name)).await?))
}

/// Deletes a collection with its faces, crops, jobs, review items and index, and nothing of any
/// other collection; `default` cannot be deleted.
#[utoipa::path(delete, path = "/v1/collections/{id}", tag = "collections",
    responses((status = 200, body = CollectionDeleted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete(collections: web::Data<Collections>, id: web::Path<Id<String>>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().id;
    let wanted = id.clone();
    blocking(&collections, move |c| c.get(&wanted).map(drop)).await?; // opened off the executor
    let deleted_faces = collections.delete(&id).await?;
    Ok(HttpResponse::Ok().json(CollectionDeleted { deleted: id, deleted_faces }))
}

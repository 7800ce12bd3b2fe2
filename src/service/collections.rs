//! Collections: isolated galleries served side by side by one process, each with its own store,
//! index, thresholds, jobs and review items, sharing the models and the admission pool.
//!
//! On disk the `default` collection is the data directory itself (what a single-gallery Visage
//! always had); every other one is `collections/<id>/` beneath it, with a `collection.json`
//! describing it. A collection is opened on its first use and stays open. Deleting one moves its
//! folder aside in one rename (from then on it is not found) and then erases it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::config::Settings;
use crate::error::{Code, Result, VisageError};
use crate::index::Backend;

/// The collection today's routes and commands use, and the one that cannot be deleted.
pub const DEFAULT: &str = "default";
/// The folder under the data directory holding every collection but `default`.
const FOLDER: &str = "collections";
/// A collection's description, in its folder.
const DESCRIPTION: &str = "collection.json";

/// What a collection is, as stored in its folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Description {
    id: String,
    name: String,
    /// The index backend; absent: the server's `index.kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<Backend>,
    /// Unix seconds.
    created_at: i64,
}

/// A collection as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionInfo {
    pub id: String,
    pub name: String,
    /// The embedder its faces are embedded with.
    pub model: String,
    /// Its index backend.
    pub index: String,
    pub faces: u64,
    pub subjects: u64,
    /// Unix seconds (0 for `default`, which predates the record).
    pub created_at: i64,
}

/// What a new collection asks for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollection {
    pub id: String,
    /// Shown in the UI (default: the id).
    pub name: Option<String>,
    /// The embedder (default, and today the only one: the loaded model's id).
    pub model: Option<String>,
    /// `scan`, `exact`, `hnsw`, `auto` or `qdrant` (default: the server's `index.kind`).
    #[schema(value_type = Option<String>)]
    pub index: Option<Backend>,
}

/// The open collections of one server or command, around the default collection's engine.
pub struct Collections {
    default: Arc<Engine>,
    root: PathBuf,
    open: RwLock<HashMap<String, Arc<Engine>>>,
    /// Creation and deletion, one at a time.
    changes: Mutex<()>,
}

/// The folder of collection `id` under the data directory `root`.
fn folder(root: &Path, id: &str) -> PathBuf {
    if id == DEFAULT {
        root.to_path_buf()
    } else {
        root.join(FOLDER).join(id)
    }
}

/// Collection ids follow the subject ids' rules: 1-128 letters, digits, `.`, `_`, `-`, `:`, `@`.
pub fn validate_id(id: &str) -> Result<&str> {
    crate::gallery::validate_id(id)
}

fn not_found(id: &str) -> VisageError {
    VisageError::NotFound(format!("collection {id:?}"))
}

fn read_description(dir: &Path) -> Result<Option<Description>> {
    let path = dir.join(DESCRIPTION);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| VisageError::Store(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VisageError::io(path.display(), e)),
    }
}

/// The settings a command uses for collection `id` (its folder, its index backend); not found
/// when there is no such collection.
pub fn settings_for(settings: &Settings, id: &str) -> Result<Settings> {
    let mut out = settings.clone();
    if id == DEFAULT {
        return Ok(out);
    }
    validate_id(id)?;
    let dir = folder(&settings.server.data_dir, id);
    let description = read_description(&dir)?.ok_or_else(|| not_found(id))?;
    out.server.data_dir = dir;
    if let Some(kind) = description.index {
        out.index.kind = kind;
    }
    Ok(out)
}

impl Collections {
    /// The collections beside `default`, whose folder is the data directory.
    pub fn new(default: Arc<Engine>) -> Self {
        let root = default.settings().server.data_dir.clone();
        Self { default, root, open: RwLock::new(HashMap::new()), changes: Mutex::new(()) }
    }

    /// The default collection's engine.
    pub fn default_engine(&self) -> &Arc<Engine> {
        &self.default
    }

    /// The engine of collection `id` when it is open already (no I/O).
    pub fn opened(&self, id: &str) -> Option<Arc<Engine>> {
        if id == DEFAULT {
            return Some(self.default.clone());
        }
        self.open.read().get(id).cloned()
    }

    /// The engine of collection `id`, opened now if it is not yet (blocking: it may load an
    /// index); not found when there is no such collection.
    pub fn get(&self, id: &str) -> Result<Arc<Engine>> {
        if let Some(engine) = self.opened(id) {
            return Ok(engine);
        }
        validate_id(id).map_err(|_| not_found(id))?;
        let _changes = self.changes.lock();
        if let Some(engine) = self.opened(id) {
            return Ok(engine);
        }
        let dir = folder(&self.root, id);
        let description = read_description(&dir)?.ok_or_else(|| not_found(id))?;
        let engine = Arc::new(self.default.open_sibling(dir, description.index)?);
        self.open.write().insert(id.to_string(), engine.clone());
        Ok(engine)
    }

    /// Every collection, `default` first, then by id.
    pub fn list(&self) -> Result<Vec<CollectionInfo>> {
        let mut ids = vec![DEFAULT.to_string()];
        let dir = self.root.join(FOLDER);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => {
                entries.collect::<std::io::Result<Vec<_>>>().map_err(|e| VisageError::io(dir.display(), e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(VisageError::io(dir.display(), e)),
        };
        let mut others: Vec<String> = entries
            .into_iter()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.') && folder(&self.root, name).join(DESCRIPTION).is_file())
            .collect();
        others.sort();
        ids.extend(others);
        ids.iter().map(|id| self.info(id)).collect()
    }

    /// One collection, with its counts.
    pub fn info(&self, id: &str) -> Result<CollectionInfo> {
        let engine = self.get(id)?;
        let description = match id {
            DEFAULT => None,
            _ => read_description(&folder(&self.root, id))?,
        };
        let gallery = engine.gallery()?;
        Ok(CollectionInfo {
            id: id.to_string(),
            name: description.as_ref().map_or_else(|| DEFAULT.to_string(), |d| d.name.clone()),
            model: gallery.model().to_string(),
            index: gallery.backend().to_string(),
            faces: gallery.len() as u64,
            subjects: gallery.subjects(0, 1)?.1,
            created_at: description.map_or(0, |d| d.created_at),
        })
    }

    /// Creates a collection (`collection_exists` when the id is taken).
    pub fn create(&self, new: NewCollection) -> Result<CollectionInfo> {
        let id = validate_id(&new.id)?.to_string();
        let model = self.default.pipeline()?.embedder.model_id().to_string();
        if let Some(asked) = new.model.as_deref().filter(|m| *m != model) {
            return Err(VisageError::unprocessable(
                Code::UnknownModel,
                format!("model {asked:?} is not loaded; this server embeds with {model}"),
            ));
        }
        if let Some(kind) = new.index {
            let mut index = self.default.settings().index.clone();
            index.kind = kind;
            index.validate()?;
        }
        {
            let _changes = self.changes.lock();
            let dir = folder(&self.root, &id);
            if id == DEFAULT || dir.exists() {
                return Err(VisageError::conflict(Code::CollectionExists, format!("collection {id:?} exists already")));
            }
            let description = Description {
                id: id.clone(),
                name: new.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| id.clone()),
                index: new.index,
                created_at: now(),
            };
            // Written in a folder of its own, then renamed into place: a collection is there
            // whole or not at all.
            let staging = self.root.join(FOLDER).join(format!(".new-{id}-{}", std::process::id()));
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&staging)?;
                std::fs::write(staging.join(DESCRIPTION), serde_json::to_vec_pretty(&description)?)?;
                std::fs::rename(&staging, &dir)
            };
            write().map_err(|e| {
                let _ = std::fs::remove_dir_all(&staging);
                VisageError::io(dir.display(), e)
            })?;
            tracing::info!(collection = %id, index = ?new.index, "collection created");
        }
        self.info(&id)
    }

    /// Renames a collection (the name shown; the id stays).
    pub fn rename(&self, id: &str, name: String) -> Result<CollectionInfo> {
        if id == DEFAULT {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "the default collection keeps its name"));
        }
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "a collection's name cannot be empty"));
        }
        {
            let _changes = self.changes.lock();
            let dir = folder(&self.root, id);
            let mut description = read_description(&dir)?.ok_or_else(|| not_found(id))?;
            description.name = name;
            let path = dir.join(DESCRIPTION);
            let staged = dir.join(format!(".{DESCRIPTION}.new"));
            let write = || -> std::io::Result<()> {
                std::fs::write(&staged, serde_json::to_vec_pretty(&description)?)?;
                std::fs::rename(&staged, &path)
            };
            write().map_err(|e| VisageError::io(path.display(), e))?;
        }
        self.info(id)
    }

    /// Deletes a collection: its faces, crops, jobs, review items and index files (and a
    /// Qdrant collection of its own), and nothing of any other. Returns its faces erased.
    pub async fn delete(&self, id: &str) -> Result<u64> {
        if id == DEFAULT {
            return Err(VisageError::unprocessable(Code::InvalidParameter, "the default collection cannot be deleted"));
        }
        let engine = self.get(id)?;
        let faces = engine.gallery()?.len() as u64;
        let trash = {
            let _changes = self.changes.lock();
            let dir = folder(&self.root, id);
            let trash = self.root.join(FOLDER).join(format!(".deleted-{id}-{}", now_nanos()));
            // Renamed first: a failed rename leaves the collection open and serving.
            std::fs::rename(&dir, &trash).map_err(|e| VisageError::io(dir.display(), e))?;
            self.open.write().remove(id);
            trash
        };
        engine.close_for_deletion().await?;
        tokio::task::spawn_blocking(move || {
            std::fs::remove_dir_all(&trash).map_err(|e| VisageError::io(trash.display(), e))
        })
        .await
        .map_err(|e| VisageError::Internal(e.to_string()))??;
        tracing::info!(collection = %id, faces, "collection deleted");
        Ok(faces)
    }

    /// Every open engine, `default` first.
    pub fn engines(&self) -> Vec<Arc<Engine>> {
        let mut out = vec![self.default.clone()];
        out.extend(self.open.read().values().cloned());
        out
    }

    /// Saves every open collection's index.
    pub async fn persist(&self) -> Result<()> {
        for engine in self.engines() {
            engine.persist().await?;
        }
        Ok(())
    }

    /// [`Engine::follow_gallery_size`] for every open collection.
    pub async fn follow_gallery_size(&self) {
        for engine in self.engines() {
            engine.follow_gallery_size().await;
        }
    }

    /// Stops every open collection's jobs and saves its index.
    pub async fn shutdown(&self) -> Result<()> {
        for engine in self.engines() {
            engine.shutdown().await?;
        }
        Ok(())
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

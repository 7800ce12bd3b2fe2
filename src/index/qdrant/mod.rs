//! [`QdrantIndex`]: the gallery's vectors in a Qdrant collection (gRPC, `qdrant-client`), for
//! galleries that outgrow one machine. Qdrant's own cluster mode shards and replicates the
//! collection; Visage stays a gateway in front of it, and its SQLite store stays the truth.
//!
//! - One collection per gallery and model ([`QdrantSettings::collection_name`]), created when
//!   missing: cosine distance, the model's dimension, optional int8 scalar quantization
//!   (rescored) and on-disk vectors, and an HNSW graph only when searches use one.
//! - Searches are exact by default ([`QdrantSearch`]): Qdrant's graph loses true neighbours on
//!   face embeddings, and an identification must answer as brute force would.
//! - The nodes of a cluster are all known ([`Nodes`]): requests go round those that answer.
//! - A point per face: the face id is the point id, and the payload holds `face` (integer) and
//!   `subject` (keyword), both indexed, so per-subject filters and deletes are cheap.
//! - The gallery's checkpoint (the store's change-log position) lives in a marker point with a
//!   fixed UUID id, written by [`VectorIndex::persist`]; searches and counts leave it out. A
//!   lost volume or a new cluster thus shows up as "behind" and is refilled from the store.
//! - Every write waits for the server (`wait=true`), so a later read sees it.
//! - A server that cannot be reached gives [`IndexError::Unavailable`] (HTTP 503
//!   `index_unavailable`); the gallery keeps enrolling into the store and catches up later.
//!
//! `len`, `checkpoint` and `stats` answer from values cached at the last load or write, never
//! from the network: they are read from async handlers (`/readyz`).

mod nodes;
mod runtime;
mod settings;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::value::Kind;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter as QFilter, GetPointsBuilder, HnswConfigDiffBuilder, PointId, PointStruct,
    PointsIdsList, QuantizationSearchParamsBuilder, QuantizationType, QueryBatchPointsBuilder, QueryPoints,
    QueryPointsBuilder, ScalarQuantizationBuilder, ScoredPoint, SearchParamsBuilder, SetPayloadPointsBuilder,
    UpdateCollectionBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::kernel::{prepare_batch, prepare_query};
use super::{Filter, Hit, IndexError, IndexStats, Result, SearchParams, VectorIndex};
use nodes::Nodes;
use runtime::Bridge;
pub use settings::{QdrantHnsw, QdrantSearch, QdrantSettings};

/// How a failed request ends: on another node, or with this error.
enum Failure {
    Node(String),
    Answer(IndexError),
}

/// Id of the point that holds the checkpoint (face ids are integers, so a UUID never clashes).
const MARKER: &str = "76697361-6765-4000-8000-636865636b70";
/// Payload keys.
const FACE: &str = "face";
const SUBJECT: &str = "subject";
const CHECKPOINT: &str = "visage_checkpoint";

/// See the module documentation.
pub struct QdrantIndex {
    bridge: Bridge,
    nodes: Nodes,
    collection: String,
    dim: usize,
    settings: QdrantSettings,
    /// The caller's checkpoint (in memory until [`VectorIndex::persist`]).
    checkpoint: AtomicU64,
    /// The checkpoint the marker point holds (`u64::MAX`: unknown, write it).
    saved: AtomicU64,
    /// Face points in the collection, as last counted.
    count: AtomicUsize,
    /// The marker point exists.
    marker: AtomicBool,
    /// The collection was found or created since this index was made.
    ready: AtomicBool,
}

impl QdrantIndex {
    /// A client for the collection of gallery `gallery` and embedder `model` (`dim`-d). Nothing
    /// is sent yet (gRPC connects lazily): [`QdrantIndex::load`] checks the collection.
    pub fn connect(settings: &QdrantSettings, gallery: &str, model: &str, dim: usize) -> Result<Self> {
        settings.validate()?;
        if dim == 0 {
            return Err(IndexError::InvalidArgument("dimension must be at least 1".into()));
        }
        let nodes = Nodes::connect(
            &settings.url,
            settings.api_key(),
            Duration::from_millis(settings.timeout_ms),
            Duration::from_secs(settings.retry_after_s),
        )?;
        Ok(Self {
            bridge: Bridge::new()?,
            nodes,
            collection: settings.collection_name(gallery, model),
            dim,
            settings: settings.clone(),
            checkpoint: AtomicU64::new(0),
            saved: AtomicU64::new(u64::MAX),
            count: AtomicUsize::new(0),
            marker: AtomicBool::new(false),
            ready: AtomicBool::new(false),
        })
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The settings in use.
    pub fn settings(&self) -> &QdrantSettings {
        &self.settings
    }

    /// Runs one request on the index's runtime, on the first node that answers (see [`Nodes`]):
    /// a node that cannot be reached is skipped and the request goes to the next. Every request
    /// may be sent twice: upserts and deletes by id are idempotent, and the rest only read.
    fn call<R, T, F>(&self, what: &str, request: R, f: impl Fn(Qdrant, R) -> F) -> Result<T>
    where
        R: Clone + Send + 'static,
        T: Send + 'static,
        F: Future<Output = std::result::Result<T, QdrantError>> + Send + 'static,
    {
        let mut failures = Vec::new();
        for node in self.nodes.order() {
            match self.bridge.run(f(node.client.clone(), request.clone()))? {
                Ok(answer) => {
                    if self.nodes.up(node) {
                        tracing::info!(node = %node.url, "the Qdrant node answers again");
                    }
                    return Ok(answer);
                }
                Err(e) => match self.error(&node.url, what, e) {
                    Failure::Node(reason) => {
                        if self.nodes.down(node) && self.nodes.len() > 1 {
                            tracing::warn!(node = %node.url, "{reason}; the other nodes take its requests");
                        }
                        failures.push(reason);
                    }
                    Failure::Answer(e) => return Err(e),
                },
            }
        }
        let reason = match failures.len() {
            1 => failures.remove(0),
            n => format!("none of the {n} Qdrant nodes answered: {}", failures.join("; ")),
        };
        Err(IndexError::Unavailable { reason, retry_after_s: self.settings.retry_after_s })
    }

    /// What an error says: the node could not be reached (try another), or it answered.
    fn error(&self, url: &str, what: &str, e: QdrantError) -> Failure {
        use tonic::Code;
        let node = |detail: &str| Failure::Node(format!("Qdrant at {url} ({what}): {detail}"));
        let answer = Failure::Answer;
        match &e {
            QdrantError::ResponseError { status } => match status.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => node(status.message()),
                // Transport failures the client could not classify.
                Code::Unknown | Code::Internal
                    if ["transport", "connect", "connection", "dns", "broken pipe"]
                        .iter()
                        .any(|w| status.message().to_ascii_lowercase().contains(w)) =>
                {
                    node(status.message())
                }
                // The collection vanished under us (a lost volume, a new cluster): like an outage,
                // the gallery keeps storing and refills the collection when it catches up.
                Code::NotFound if status.message().to_ascii_lowercase().contains("collection") => {
                    self.ready.store(false, Ordering::Release);
                    answer(IndexError::Unavailable {
                        reason: format!(
                            "the Qdrant collection {} is gone ({what}: {}); it is refilled from the store",
                            self.collection,
                            status.message()
                        ),
                        retry_after_s: self.settings.retry_after_s,
                    })
                }
                Code::Unauthenticated | Code::PermissionDenied => answer(IndexError::Backend(format!(
                    "Qdrant at {url} refused the API key ({what}: {}): set index.qdrant.api_key to the \
                     server's QDRANT__SERVICE__API_KEY",
                    status.message()
                ))),
                Code::InvalidArgument => {
                    answer(IndexError::InvalidArgument(format!("Qdrant refused {what}: {}", status.message())))
                }
                _ => answer(IndexError::Backend(format!("Qdrant {what} on {}: {e}", self.collection))),
            },
            QdrantError::ResourceExhaustedError { retry_after_seconds, status } => answer(IndexError::Unavailable {
                reason: format!("Qdrant at {url} is overloaded ({what}): {}", status.message()),
                retry_after_s: (*retry_after_seconds).max(1),
            }),
            QdrantError::Io(io) => node(&io.to_string()),
            _ => answer(IndexError::Backend(format!("Qdrant {what} on {}: {e}", self.collection))),
        }
    }

    /// Finds the collection (creating it when missing, with its payload indexes), reads the
    /// checkpoint from the marker point and counts the faces. A collection of another dimension
    /// is [`IndexError::Stale`]: rebuild with [`QdrantIndex::recreate`].
    pub fn load(&self) -> Result<()> {
        let exists = self.call("collection_exists", self.collection.clone(), |c, name| async move {
            c.collection_exists(name).await
        })?;
        if exists {
            let info = self.call("collection_info", self.collection.clone(), |c, name| async move {
                c.collection_info(name).await
            })?;
            let size = info
                .result
                .and_then(|i| i.config)
                .and_then(|c| c.params)
                .and_then(|p| p.vectors_config)
                .and_then(|v| v.config)
                .and_then(|c| match c {
                    VectorsConfigKind::Params(p) => Some(p.size),
                    VectorsConfigKind::ParamsMap(_) => None,
                });
            if size != Some(self.dim as u64) {
                return Err(IndexError::Stale {
                    path: self.collection.clone().into(),
                    reason: format!(
                        "the Qdrant collection holds {} vectors, the gallery's model {}-d ones",
                        size.map_or("named or unknown".to_string(), |s| format!("{s}-d")),
                        self.dim
                    ),
                });
            }
        } else {
            self.create(false)?;
        }
        self.ensure_payload_indexes()?;
        self.read_marker()?;
        self.refresh_count()?;
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// True when the collection exists.
    pub fn exists(&self) -> Result<bool> {
        self.call(
            "collection_exists",
            self.collection.clone(),
            |c, name| async move { c.collection_exists(name).await },
        )
    }

    /// Deletes the collection (if any) and creates it empty, with the current settings.
    pub fn recreate(&self) -> Result<()> {
        self.drop_collection()?;
        self.create(true)?;
        self.ensure_payload_indexes()?;
        self.checkpoint.store(0, Ordering::Release);
        self.saved.store(u64::MAX, Ordering::Release);
        self.count.store(0, Ordering::Release);
        self.marker.store(false, Ordering::Release);
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// After a bulk load into a [`QdrantIndex::recreate`]d collection: gives it its graph (when
    /// searches use one), which the server then builds once, in the background.
    pub fn build_graph(&self) -> Result<()> {
        let m = self.graph_m();
        if m == 0 {
            return Ok(());
        }
        let hnsw = HnswConfigDiffBuilder::default().m(m).ef_construct(self.settings.hnsw.ef_construct);
        let request = UpdateCollectionBuilder::new(self.collection.clone()).hnsw_config(hnsw);
        self.call("update_collection", request.build(), |c, r| async move { c.update_collection(r).await })?;
        tracing::info!(collection = %self.collection, m, "the Qdrant collection's graph is being built");
        Ok(())
    }

    /// Deletes the collection; true when there was one.
    pub fn drop_collection(&self) -> Result<bool> {
        self.ready.store(false, Ordering::Release);
        let exists = self.call("collection_exists", self.collection.clone(), |c, name| async move {
            c.collection_exists(name).await
        })?;
        if exists {
            self.call("delete_collection", self.collection.clone(), |c, name| async move {
                c.delete_collection(name).await
            })?;
        }
        Ok(exists)
    }

    /// Links per node of the collection's graph: none for exact search, which never reads one
    /// (building it is most of a large collection's indexing time).
    fn graph_m(&self) -> u64 {
        match self.settings.search {
            QdrantSearch::Exact => 0,
            QdrantSearch::Hnsw => self.settings.hnsw.m,
        }
    }

    /// Creates the collection; `bulk`: without its graph, which [`QdrantIndex::build_graph`]
    /// starts once the points are in (Qdrant's advice for bulk loads: one build, not one per
    /// batch).
    fn create(&self, bulk: bool) -> Result<()> {
        let s = &self.settings;
        let vectors = VectorParamsBuilder::new(self.dim as u64, Distance::Cosine).on_disk(s.on_disk);
        let m = if bulk { 0 } else { self.graph_m() };
        let hnsw = HnswConfigDiffBuilder::default().m(m).ef_construct(s.hnsw.ef_construct);
        let mut request = CreateCollectionBuilder::new(self.collection.clone())
            .vectors_config(vectors)
            .hnsw_config(hnsw)
            .shard_number(s.shard_number)
            .replication_factor(s.replication_factor)
            // An update is acknowledged once one replica of each shard has applied it; a replica
            // that missed it is marked dead by the cluster and recovered from a live one, and
            // reads only go to live replicas. So writes go on while a node is down, and nothing
            // acknowledged is lost (the store keeps it as well, and the gallery catches up).
            .write_consistency_factor(1);
        if s.quantization {
            request = request.quantization_config(
                ScalarQuantizationBuilder::default().r#type(QuantizationType::Int8.into()).always_ram(true),
            );
        }
        let created =
            self.call("create_collection", request.build(), |c, r| async move { c.create_collection(r).await });
        match created {
            Ok(_) => {
                tracing::info!(collection = %self.collection, dim = self.dim, "created the Qdrant collection");
                Ok(())
            }
            // Another gateway created it meanwhile.
            Err(IndexError::Backend(m)) if m.contains("already exists") => Ok(()),
            Err(IndexError::InvalidArgument(m)) if m.contains("already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn ensure_payload_indexes(&self) -> Result<()> {
        for (field, kind) in [(FACE, FieldType::Integer), (SUBJECT, FieldType::Keyword)] {
            let request = CreateFieldIndexCollectionBuilder::new(self.collection.clone(), field, kind).wait(true);
            self.call("create_field_index", request.build(), |c, r| async move { c.create_field_index(r).await })?;
        }
        Ok(())
    }

    fn read_marker(&self) -> Result<()> {
        let request = GetPointsBuilder::new(self.collection.clone(), vec![PointId::from(MARKER)]).with_payload(true);
        let points = self.call("get_points", request.build(), |c, r| async move { c.get_points(r).await })?.result;
        let checkpoint = points.first().and_then(|p| p.payload.get(CHECKPOINT)).and_then(|v| match v.kind {
            Some(Kind::IntegerValue(i)) if i >= 0 => Some(i as u64),
            _ => None,
        });
        self.marker.store(!points.is_empty(), Ordering::Release);
        self.checkpoint.store(checkpoint.unwrap_or(0), Ordering::Release);
        self.saved.store(checkpoint.unwrap_or(u64::MAX), Ordering::Release);
        Ok(())
    }

    /// Whether the server has finished optimising the collection (green: every segment that
    /// should be indexed is), and how many vectors its indexes (the HNSW graph) hold.
    pub fn optimized(&self) -> Result<(bool, u64)> {
        let info = self
            .call("collection_info", self.collection.clone(), |c, name| async move { c.collection_info(name).await })?;
        let info = info.result.unwrap_or_default();
        let green = info.status == qdrant_client::qdrant::CollectionStatus::Green as i32;
        Ok((green, info.indexed_vectors_count.unwrap_or(0)))
    }

    /// Counts the face points again (exactly); the count [`VectorIndex::len`] reports.
    pub fn refresh_count(&self) -> Result<usize> {
        let request = CountPointsBuilder::new(self.collection.clone()).exact(true);
        let total =
            self.call("count", request.build(), |c, r| async move { c.count(r).await })?.result.map_or(0, |r| r.count);
        let faces = (total as usize).saturating_sub(usize::from(self.marker.load(Ordering::Acquire)));
        self.count.store(faces, Ordering::Release);
        Ok(faces)
    }

    /// Those of `ids` that have no point in the collection.
    pub fn missing(&self, ids: &[u64]) -> Result<Vec<u64>> {
        let mut missing = Vec::new();
        for chunk in ids.chunks(1024) {
            let request = GetPointsBuilder::new(
                self.collection.clone(),
                chunk.iter().map(|&i| PointId::from(i)).collect::<Vec<_>>(),
            );
            let found: std::collections::HashSet<u64> = self
                .call("get_points", request.build(), |c, r| async move { c.get_points(r).await })?
                .result
                .iter()
                .filter_map(|p| p.id.as_ref().and_then(num_id))
                .collect();
            missing.extend(chunk.iter().filter(|i| !found.contains(i)));
        }
        Ok(missing)
    }

    /// The subject label stored with each of `ids` (`None`: no point, or no label).
    pub fn labels(&self, ids: &[u64]) -> Result<Vec<Option<String>>> {
        let request =
            GetPointsBuilder::new(self.collection.clone(), ids.iter().map(|&i| PointId::from(i)).collect::<Vec<_>>())
                .with_payload(true);
        let points = self.call("get_points", request.build(), |c, r| async move { c.get_points(r).await })?.result;
        let by_id: std::collections::HashMap<u64, Option<String>> = points
            .into_iter()
            .filter_map(|p| {
                let id = p.id.as_ref().and_then(num_id)?;
                let label = p.payload.get(SUBJECT).and_then(|v| match &v.kind {
                    Some(Kind::StringValue(s)) => Some(s.clone()),
                    _ => None,
                });
                Some((id, label))
            })
            .collect();
        Ok(ids.iter().map(|i| by_id.get(i).cloned().flatten()).collect())
    }

    /// Deletes every point of one subject (by its payload label).
    pub fn remove_subject(&self, subject: &str) -> Result<()> {
        let filter = QFilter::must([Condition::matches(SUBJECT, subject.to_string())]);
        let request = DeletePointsBuilder::new(self.collection.clone()).points(filter).wait(true);
        self.call("delete_points", request.build(), |c, r| async move { c.delete_points(r).await })?;
        self.refresh_count()?;
        Ok(())
    }

    /// [`VectorIndex::search`] with the choice of an exact (brute force) search on the server,
    /// the oracle of recall checks.
    pub fn search_with(&self, query: &[f32], k: usize, params: &SearchParams<'_>, exact: bool) -> Result<Vec<Hit>> {
        let q = prepare_query(self.dim, query)?.into_owned();
        if k == 0 {
            return Ok(Vec::new());
        }
        match params.filter {
            Some(Filter::Predicate(keep)) => self.search_predicate(&q, k, params, exact, keep),
            filter => {
                let request = self.query(q, k, params.ef, exact, filter);
                let points = self.call("query", request, |c, r| async move { c.query(r).await })?.result;
                Ok(hits(points, k))
            }
        }
    }

    /// A predicate cannot be sent to the server: fetch more and more candidates and keep the
    /// ones it accepts, until `k` are found or the collection is exhausted.
    fn search_predicate(
        &self,
        q: &[f32],
        k: usize,
        params: &SearchParams<'_>,
        exact: bool,
        keep: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<Vec<Hit>> {
        let mut limit = (k * 4).max(32);
        loop {
            let request = self.query(q.to_vec(), limit, params.ef.map(|e| e.max(limit)), exact, None);
            let points = self.call("query", request, |c, r| async move { c.query(r).await })?.result;
            let exhausted = points.len() < limit;
            let mut found = hits(points, usize::MAX);
            found.retain(|h| keep(h.id));
            if found.len() >= k || exhausted {
                found.truncate(k);
                return Ok(found);
            }
            limit = limit.saturating_mul(4);
        }
    }

    fn query(&self, q: Vec<f32>, k: usize, ef: Option<usize>, exact: bool, filter: Option<Filter<'_>>) -> QueryPoints {
        let s = &self.settings;
        let mut search = SearchParamsBuilder::default().exact(exact || s.search == QdrantSearch::Exact);
        let ef = ef.map(|e| e as u64).or((s.hnsw.ef > 0).then_some(s.hnsw.ef));
        if let Some(ef) = ef {
            search = search.hnsw_ef(ef.max(k as u64));
        }
        if s.quantization {
            search = search.quantization(
                QuantizationSearchParamsBuilder::default().rescore(s.rescore).oversampling(s.oversampling),
            );
        }
        let mut conditions = QFilter::must_not([Condition::has_id([PointId::from(MARKER)])]);
        if let Some(Filter::Ids(ids)) = filter {
            conditions.must.push(Condition::has_id(ids.iter().map(|&i| PointId::from(i))));
        }
        QueryPointsBuilder::new(self.collection.clone())
            .query(q)
            .limit(k as u64)
            .filter(conditions)
            .params(search)
            .build()
    }

    fn upsert(&self, points: Vec<PointStruct>) -> Result<()> {
        for chunk in points.chunks(self.settings.batch) {
            let request = UpsertPointsBuilder::new(self.collection.clone(), chunk.to_vec()).wait(true);
            self.call("upsert_points", request.build(), |c, r| async move { c.upsert_points(r).await })?;
        }
        Ok(())
    }

    /// Refuses to work on a collection that was not loaded (or vanished since): the caller
    /// (the gallery's catch-up) must [`QdrantIndex::load`] and compare it with the store first,
    /// never write into or search a collection that silently lost points.
    fn check_ready(&self) -> Result<()> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(IndexError::Unavailable {
            reason: format!("the Qdrant collection {} is not loaded; it catches up from the store", self.collection),
            retry_after_s: self.settings.retry_after_s,
        })
    }
}

fn num_id(id: &PointId) -> Option<u64> {
    match id.point_id_options {
        Some(PointIdOptions::Num(n)) => Some(n),
        _ => None,
    }
}

/// Face hits, best first, ties by ascending id (the contract), at most `k`.
fn hits(points: Vec<ScoredPoint>, k: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> =
        points.iter().filter_map(|p| Some(Hit { id: p.id.as_ref().and_then(num_id)?, score: p.score })).collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits.truncate(k);
    hits
}

fn payload(id: u64, label: Option<&str>) -> Payload {
    let mut p = Payload::new();
    p.insert(FACE, id as i64);
    if let Some(label) = label {
        p.insert(SUBJECT, label);
    }
    p
}

impl VectorIndex for QdrantIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    fn add(&self, items: &[(u64, &[f32])]) -> Result<()> {
        self.add_labelled(items, &[])
    }

    fn add_labelled(&self, items: &[(u64, &[f32])], labels: &[&str]) -> Result<()> {
        if !labels.is_empty() && labels.len() != items.len() {
            return Err(IndexError::InvalidArgument(format!("{} labels for {} vectors", labels.len(), items.len())));
        }
        // Labels follow their items through the de-duplication (the last occurrence wins).
        let label_of: std::collections::HashMap<u64, &str> =
            items.iter().zip(labels).map(|((id, _), l)| (*id, *l)).collect();
        let batch = prepare_batch(self.dim, items)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.check_ready()?;
        let points = batch
            .into_iter()
            .map(|(id, v)| PointStruct::new(id, v.to_vec(), payload(id, label_of.get(&id).copied())))
            .collect();
        self.upsert(points)?;
        self.refresh_count()?;
        Ok(())
    }

    fn remove(&self, ids: &[u64]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.check_ready()?;
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let present = unique.len() - self.missing(&unique)?.len();
        if present > 0 {
            for chunk in unique.chunks(4096) {
                let list = PointsIdsList { ids: chunk.iter().map(|&i| PointId::from(i)).collect() };
                let request = DeletePointsBuilder::new(self.collection.clone()).points(list).wait(true);
                self.call("delete_points", request.build(), |c, r| async move { c.delete_points(r).await })?;
            }
            self.refresh_count()?;
        }
        Ok(present)
    }

    fn relabel(&self, ids: &[u64], label: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.check_ready()?;
        let mut p = Payload::new();
        p.insert(SUBJECT, label);
        let list = PointsIdsList { ids: ids.iter().map(|&i| PointId::from(i)).collect() };
        let request = SetPayloadPointsBuilder::new(self.collection.clone(), p).points_selector(list).wait(true);
        self.call("set_payload", request.build(), |c, r| async move { c.set_payload(r).await })?;
        Ok(())
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams<'_>) -> Result<Vec<Hit>> {
        self.check_ready()?;
        self.search_with(query, k, params, false)
    }

    fn search_batch(&self, queries: &[&[f32]], k: usize, params: &SearchParams<'_>) -> Result<Vec<Vec<Hit>>> {
        self.check_ready()?;
        if matches!(params.filter, Some(Filter::Predicate(_))) || k == 0 {
            return queries.iter().map(|q| self.search_with(q, k, params, false)).collect();
        }
        let mut answers = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(64) {
            let requests = chunk
                .iter()
                .map(|q| Ok(self.query(prepare_query(self.dim, q)?.into_owned(), k, params.ef, false, params.filter)))
                .collect::<Result<Vec<_>>>()?;
            let request = QueryBatchPointsBuilder::new(self.collection.clone(), requests);
            let batch = self.call("query_batch", request.build(), |c, r| async move { c.query_batch(r).await })?;
            answers.extend(batch.result.into_iter().map(|r| hits(r.result, k)));
        }
        Ok(answers)
    }

    fn persist(&self) -> Result<()> {
        let checkpoint = self.checkpoint.load(Ordering::Acquire);
        if self.saved.load(Ordering::Acquire) == checkpoint {
            return Ok(());
        }
        self.check_ready()?;
        let mut unit = vec![0.0f32; self.dim];
        unit[0] = 1.0;
        let mut p = Payload::new();
        p.insert(CHECKPOINT, checkpoint as i64);
        self.upsert(vec![PointStruct::new(PointId::from(MARKER), unit, p)])?;
        self.marker.store(true, Ordering::Release);
        self.saved.store(checkpoint, Ordering::Release);
        Ok(())
    }

    fn set_checkpoint(&self, checkpoint: u64) {
        self.checkpoint.store(checkpoint, Ordering::Release);
    }

    fn checkpoint(&self) -> u64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    fn stats(&self) -> IndexStats {
        IndexStats {
            kind: "qdrant",
            kernel: None,
            dim: self.dim,
            len: self.len(),
            tombstones: 0,
            compactions: 0,
            checkpoint: self.checkpoint(),
        }
    }

    fn destroy(&self) -> Result<()> {
        self.drop_collection().map(drop)
    }
}

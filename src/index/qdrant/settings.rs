//! `[index.qdrant]`: where the Qdrant nodes are, how collections are named, and the collection
//! parameters used when Visage creates one (HNSW, int8 quantization, on-disk vectors, shards).

use serde::{Deserialize, Serialize};

use crate::index::{IndexError, Result};

/// Settings of the Qdrant backend. Collection parameters apply when Visage creates the
/// collection; `visage reindex --to qdrant` recreates it with the current ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QdrantSettings {
    /// gRPC endpoints (Qdrant's port 6334, not the REST port 6333): one node, or several nodes
    /// of one cluster (a list, or one comma-separated string as in `VISAGE_INDEX__QDRANT__URL`).
    /// Requests go round the nodes that answer; a node that stops answering is skipped.
    #[serde(deserialize_with = "urls")]
    pub url: Vec<String>,
    /// API key (`QDRANT__SERVICE__API_KEY` on the server); empty = none.
    pub api_key: String,
    /// Collections are named `<prefix><gallery id>__<model id>`.
    pub collection_prefix: String,
    /// Deadline of one request, milliseconds (connecting included).
    pub timeout_ms: u64,
    /// Points per upsert request.
    pub batch: usize,
    /// Seconds a client is told to wait (Retry-After) while Qdrant cannot be reached.
    pub retry_after_s: u64,
    /// How the server searches; see [`QdrantSearch`].
    pub search: QdrantSearch,
    /// HNSW graph of the collection (built only for `search = "hnsw"`).
    pub hnsw: QdrantHnsw,
    /// Scalar int8 quantization of the vectors (4x less memory), searches rescored with the
    /// original vectors.
    pub quantization: bool,
    /// Rescore quantized candidates with the original vectors (only with `quantization`).
    pub rescore: bool,
    /// Candidates fetched per result before rescoring (only with `quantization`; 1 = none).
    pub oversampling: f64,
    /// Keep the original vectors on disk (memory-mapped) instead of in RAM; with quantization
    /// the int8 copies stay in RAM.
    pub on_disk: bool,
    /// Shards and replicas of a new collection (a cluster: see docker-compose's `cluster` profile).
    pub shard_number: u32,
    pub replication_factor: u32,
}

/// How Qdrant searches a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QdrantSearch {
    /// Every search scans the whole collection on the server (Qdrant's exact search, shards in
    /// parallel): answers equal brute force's, and no graph is built, so a collection is ready
    /// as soon as its points are stored. Its cost grows with the collection per node.
    Exact,
    /// Qdrant's HNSW graph (`hnsw.*`): faster, but on face embeddings the graph loses true
    /// neighbours, most of all a stranger's (see the README's Qdrant table).
    Hnsw,
}

/// HNSW parameters of a Qdrant collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QdrantHnsw {
    /// Links per node.
    pub m: u64,
    /// Candidate list while building.
    pub ef_construct: u64,
    /// Candidate list while searching (a request's `ef` overrides it); 0 = the server's default.
    pub ef: u64,
}

impl Default for QdrantHnsw {
    fn default() -> Self {
        Self { m: 16, ef_construct: 100, ef: 128 }
    }
}

impl Default for QdrantSettings {
    fn default() -> Self {
        Self {
            url: vec!["http://127.0.0.1:6334".into()],
            api_key: String::new(),
            collection_prefix: "visage_".into(),
            timeout_ms: 5000,
            batch: 256,
            retry_after_s: 5,
            search: QdrantSearch::Exact,
            hnsw: QdrantHnsw::default(),
            quantization: false,
            rescore: true,
            oversampling: 2.0,
            on_disk: false,
            shard_number: 1,
            replication_factor: 1,
        }
    }
}

impl QdrantSettings {
    /// Checks the values before anything is sent.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(IndexError::InvalidArgument(format!("index.qdrant: {m}")));
        if self.url.is_empty() {
            return bad("url names no node".into());
        }
        if let Some(url) = self.url.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            return bad(format!("url {url:?} must start with http:// or https:// (the gRPC port, 6334)"));
        }
        if !valid_name_part(&self.collection_prefix) {
            return bad(format!(
                "collection_prefix {:?} may only hold letters, digits, '_' and '-' (at most 64)",
                self.collection_prefix
            ));
        }
        if self.timeout_ms == 0 || self.batch == 0 || self.retry_after_s == 0 {
            return bad("timeout_ms, batch and retry_after_s must be at least 1".into());
        }
        if self.hnsw.m < 2 || self.hnsw.ef_construct < 4 {
            return bad("hnsw.m must be at least 2 and hnsw.ef_construct at least 4".into());
        }
        if !(self.oversampling >= 1.0 && self.oversampling <= 64.0) {
            return bad("oversampling must lie in [1, 64]".into());
        }
        if self.shard_number == 0 || self.replication_factor == 0 {
            return bad("shard_number and replication_factor must be at least 1".into());
        }
        Ok(())
    }

    /// The nodes, for messages: `http://a:6334, http://b:6334`.
    pub fn nodes(&self) -> String {
        self.url.join(", ")
    }

    /// The API key, if one is set.
    pub fn api_key(&self) -> Option<&str> {
        Some(self.api_key.as_str()).filter(|k| !k.is_empty())
    }

    /// The collection of one gallery and model: `<prefix><gallery>__<model>`, each part reduced
    /// to letters, digits, `_` and `-` (other characters become `-`), so that embeddings of two
    /// models never share a collection.
    pub fn collection_name(&self, gallery: &str, model: &str) -> String {
        format!("{}{}__{}", self.collection_prefix, sanitize(gallery), sanitize(model))
    }
}

/// `url` as a list, or as one string of comma-separated URLs (blanks around them dropped).
fn urls<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    let list = match Urls::deserialize(d)? {
        Urls::One(s) => s.split(',').map(str::to_string).collect(),
        Urls::Many(v) => v,
    };
    Ok(list.into_iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect())
}

fn valid_name_part(s: &str) -> bool {
    s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn sanitize(s: &str) -> String {
    let out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') { c } else { '-' }).collect();
    // Qdrant caps names at 255 bytes; model ids are short, but keep the name in bounds.
    out.chars().take(96).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_carry_the_model() {
        let s = QdrantSettings::default();
        let a = s.collection_name("g1", "sface_2021dec@1a2b");
        let b = s.collection_name("g1", "w600k_r50@9f");
        assert_eq!(a, "visage_g1__sface_2021dec-1a2b");
        assert_ne!(a, b);
        assert!(s.collection_name("g/1", "m 2").chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)));
    }

    #[test]
    fn validation_names_the_setting() {
        let mut s = QdrantSettings::default();
        assert!(s.validate().is_ok());
        s.url = vec!["http://a:6334".into(), "qdrant:6334".into()];
        assert!(s.validate().unwrap_err().to_string().contains("index.qdrant: url \"qdrant:6334\""));
        s.url.clear();
        assert!(s.validate().unwrap_err().to_string().contains("names no node"));
        let s = QdrantSettings { collection_prefix: "a/b".into(), ..Default::default() };
        assert!(s.validate().unwrap_err().to_string().contains("collection_prefix"));
    }

    #[test]
    fn url_takes_a_list_or_comma_separated_nodes() {
        let from = |toml: &str| {
            let source = config::File::from_str(toml, config::FileFormat::Toml);
            config::Config::builder()
                .add_source(source)
                .build()
                .unwrap()
                .try_deserialize::<QdrantSettings>()
                .unwrap()
                .url
        };
        assert_eq!(from(r#"url = "http://a:6334""#), ["http://a:6334"]);
        assert_eq!(from(r#"url = "http://a:6334, http://b:6334,""#), ["http://a:6334", "http://b:6334"]);
        assert_eq!(from(r#"url = ["http://a:6334", "http://b:6334"]"#), ["http://a:6334", "http://b:6334"]);
        assert_eq!(from(""), QdrantSettings::default().url);
    }
}

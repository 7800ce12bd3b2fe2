//! Real Qdrant servers for the backend's suites: one node, or a cluster in distributed mode,
//! started from the binary named by `QDRANT_BIN` (or `qdrant` on the PATH) on free loopback
//! ports, each with its own storage and an API key, and killed when the test ends. A test can
//! kill a node with SIGKILL, start it again on the same storage, or wipe its storage (a lost
//! volume).
//!
//! `QDRANT_URL` (and `QDRANT_API_KEY`) points the single-node tests at an external server
//! instead. Without either, a test prints SKIPPED with the reason, or fails when
//! `VISAGE_QDRANT_REQUIRED=1` (scripts/test.sh sets it whenever it found a binary).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use visage::index::QdrantSettings;

/// The API key every spawned node requires.
pub const API_KEY: &str = "visage-test-key";

/// The Qdrant binary: `QDRANT_BIN`, else `qdrant` on the PATH.
pub fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("QDRANT_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "QDRANT_BIN={} is not a file", bin.display());
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("qdrant"))
        .find(|p| p.is_file())
}

/// Says that `test` cannot run and why: SKIPPED on stderr, or a failure when the run requires
/// Qdrant (`VISAGE_QDRANT_REQUIRED=1`).
pub fn skip(test: &str, reason: &str) {
    assert!(std::env::var("VISAGE_QDRANT_REQUIRED").as_deref() != Ok("1"), "{test}: {reason}");
    // Straight to stderr: the harness captures println!, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

const NO_SERVER: &str = "no Qdrant binary (set QDRANT_BIN to a Qdrant 1.18 server binary, or put `qdrant` on \
                         the PATH) and no QDRANT_URL of a running server";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One Qdrant process with its ports and storage; killed when dropped.
pub struct Node {
    bin: PathBuf,
    dir: PathBuf,
    pub http: u16,
    pub grpc: u16,
    p2p: Option<u16>,
    /// The p2p port of the node to join (a cluster's first start).
    bootstrap: Option<u16>,
    child: Option<Child>,
}

impl Node {
    fn new(bin: &Path, dir: PathBuf, cluster: bool, bootstrap: Option<u16>) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            bin: bin.to_path_buf(),
            dir,
            http: free_port(),
            grpc: free_port(),
            p2p: cluster.then(free_port),
            bootstrap,
            child: None,
        }
    }

    /// The gRPC URL Visage is given.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// Starts the process (on the storage it had) and waits until it is ready.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the node is running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("qdrant.log")).unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", self.http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", self.grpc.to_string())
            .env("QDRANT__SERVICE__API_KEY", API_KEY)
            .env("QDRANT__STORAGE__STORAGE_PATH", self.dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", self.dir.join("snapshots"))
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(p2p) = self.p2p {
            cmd.env("QDRANT__CLUSTER__ENABLED", "true")
                .env("QDRANT__CLUSTER__P2P__PORT", p2p.to_string())
                .args(["--uri", &format!("http://127.0.0.1:{p2p}")]);
            if let Some(first) = self.bootstrap {
                cmd.args(["--bootstrap", &format!("http://127.0.0.1:{first}")]);
            }
        }
        // The node dies with the test's thread even if the test process is killed.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display())));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ureq::get(format!("http://127.0.0.1:{}/readyz", self.http)).call().is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("qdrant exited early ({status}); its log:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("qdrant did not become ready in 60 s; its log:\n{}", self.log_tail());
    }

    /// Kills the process with SIGKILL (a crash) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process and deletes its storage (a lost volume); [`Node::start`] brings it up
    /// empty.
    pub fn wipe(&mut self) {
        self.kill();
        for sub in ["storage", "snapshots"] {
            let _ = std::fs::remove_dir_all(self.dir.join(sub));
        }
    }

    /// True while the process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// A REST call with the API key; the JSON answer (`Value::Null` when the node is down).
    pub fn rest(&self, method: &str, path: &str) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.http);
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
        let reply = match method {
            "GET" => agent.get(&url).header("api-key", API_KEY).call(),
            "DELETE" => agent.delete(&url).header("api-key", API_KEY).call(),
            other => panic!("method {other}"),
        };
        reply.ok().and_then(|mut r| r.body_mut().read_json().ok()).unwrap_or(Value::Null)
    }

    /// The last lines of the node's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("qdrant.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawned nodes (one, or a cluster) in one temporary folder, or an external server.
pub struct Qdrant {
    pub nodes: Vec<Node>,
    external: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Qdrant {
    /// One node for `test`: spawned, or the external `QDRANT_URL`; `None` (after saying why)
    /// when there is neither.
    pub fn single(test: &str) -> Option<Self> {
        if let Ok(url) = std::env::var("QDRANT_URL") {
            let key = std::env::var("QDRANT_API_KEY").unwrap_or_default();
            return Some(Self { nodes: Vec::new(), external: Some((url, key)), _dir: None });
        }
        let (_, dir, node) = Self::first_node(test, false)?;
        Some(Self { nodes: vec![node], external: None, _dir: Some(dir) })
    }

    /// The binary, a temporary folder and the first node, started; `None` (after saying why)
    /// without a binary.
    fn first_node(test: &str, cluster: bool) -> Option<(PathBuf, tempfile::TempDir, Node)> {
        let Some(bin) = binary() else {
            skip(test, NO_SERVER);
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node::new(&bin, dir.path().join("node-1"), cluster, None);
        node.start();
        Some((bin, dir, node))
    }

    /// A cluster of `n` nodes in distributed mode (Raft over their p2p ports), ready when every
    /// node sees all `n` peers; `None` (after saying why) without a binary. An external server
    /// cannot stand in: the test kills nodes.
    pub fn cluster(test: &str, n: usize) -> Option<Self> {
        let (bin, dir, first) = Self::first_node(test, true)?;
        let bootstrap = first.p2p;
        let mut nodes = vec![first];
        for i in 2..=n {
            let mut node = Node::new(&bin, dir.path().join(format!("node-{i}")), true, bootstrap);
            node.start();
            nodes.push(node);
        }
        let q = Self { nodes, external: None, _dir: Some(dir) };
        q.wait("every node to see the whole cluster", Duration::from_secs(60), || {
            q.nodes
                .iter()
                .all(|node| node.rest("GET", "/cluster")["result"]["peers"].as_object().map(|p| p.len()) == Some(n))
        });
        Some(q)
    }

    /// The gRPC URLs of all nodes, comma-separated (as `VISAGE_INDEX__QDRANT__URL` takes them).
    pub fn urls(&self) -> String {
        match &self.external {
            Some((url, _)) => url.clone(),
            None => self.nodes.iter().map(Node::url).collect::<Vec<_>>().join(","),
        }
    }

    /// The API key.
    pub fn api_key(&self) -> String {
        match &self.external {
            Some((_, key)) => key.clone(),
            None => API_KEY.to_string(),
        }
    }

    /// True when the test spawned the nodes (and so may kill them).
    pub fn spawned(&self) -> bool {
        self.external.is_none()
    }

    /// Settings that reach these nodes, with a collection prefix of their own so that tests
    /// never see each other's collections.
    pub fn settings(&self) -> QdrantSettings {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        QdrantSettings {
            url: self.urls().split(',').map(str::to_string).collect(),
            api_key: self.api_key(),
            collection_prefix: format!("visage_test_{}_", &suffix[..8]),
            ..QdrantSettings::default()
        }
    }

    /// The environment of a `visage serve` on these nodes.
    pub fn env(&self, settings: &QdrantSettings) -> Vec<(String, String)> {
        vec![
            ("VISAGE_INDEX__KIND".into(), "qdrant".into()),
            ("VISAGE_INDEX__QDRANT__URL".into(), settings.url.join(",")),
            ("VISAGE_INDEX__QDRANT__API_KEY".into(), settings.api_key.clone()),
            ("VISAGE_INDEX__QDRANT__COLLECTION_PREFIX".into(), settings.collection_prefix.clone()),
            ("VISAGE_INDEX__QDRANT__SHARD_NUMBER".into(), settings.shard_number.to_string()),
            ("VISAGE_INDEX__QDRANT__REPLICATION_FACTOR".into(), settings.replication_factor.to_string()),
        ]
    }

    /// Waits until `done` holds, or fails naming `what` (with the nodes' logs).
    pub fn wait(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let logs: Vec<String> =
            self.nodes.iter().enumerate().map(|(i, n)| format!("--- node {}:\n{}", i + 1, n.log_tail())).collect();
        panic!("timed out after {limit:?} waiting for {what}\n{}", logs.join("\n"));
    }

    /// The replica states of `collection` as the running nodes report them: (shard, state) for
    /// every replica, local and remote.
    pub fn replica_states(&self, collection: &str) -> Vec<(u64, String)> {
        let mut states = Vec::new();
        for node in self.nodes.iter().filter(|n| n.running()) {
            let info = node.rest("GET", &format!("/collections/{collection}/cluster"));
            for kind in ["local_shards", "remote_shards"] {
                for shard in info["result"][kind].as_array().into_iter().flatten() {
                    let id = shard["shard_id"].as_u64().unwrap_or(u64::MAX);
                    states.push((id, shard["state"].as_str().unwrap_or("?").to_string()));
                }
            }
        }
        states
    }

    /// Waits until every replica of `collection` is active on every running node.
    pub fn wait_active(&self, collection: &str, replicas: usize, limit: Duration) -> Duration {
        let running = self.nodes.iter().filter(|n| n.running()).count();
        self.wait(&format!("every replica of {collection} to be active"), limit, || {
            let states = self.replica_states(collection);
            states.len() == replicas * running && states.iter().all(|(_, s)| s == "Active")
        })
    }
}

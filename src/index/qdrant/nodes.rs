//! The Qdrant nodes one index talks to, and which of them answer. Requests go round the nodes
//! that answer (so a cluster's load is spread and no node is special); a node that fails at the
//! transport level is skipped for a while and then tried again. When every node is marked down,
//! all are tried, so a single node that comes back is found at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use qdrant_client::Qdrant;

use crate::index::{IndexError, Result};

/// One node: its URL, its client, and until when it is skipped.
pub(super) struct Node {
    pub url: String,
    pub client: Qdrant,
    down_until: Mutex<Option<Instant>>,
}

/// See the module documentation.
pub(super) struct Nodes {
    list: Vec<Node>,
    next: AtomicUsize,
    /// How long a node that failed is skipped.
    pause: Duration,
}

impl Nodes {
    /// Clients for `urls`, at least one (the settings are validated first); gRPC connects
    /// lazily: nothing is sent yet.
    pub fn connect(urls: &[String], api_key: Option<&str>, timeout: Duration, pause: Duration) -> Result<Self> {
        let list = urls
            .iter()
            .map(|url| {
                let client = Qdrant::from_url(url)
                    .api_key(api_key.map(str::to_string))
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .skip_compatibility_check()
                    .build()
                    .map_err(|e| IndexError::InvalidArgument(format!("index.qdrant.url {url:?}: {e}")))?;
                Ok(Node { url: url.clone(), client, down_until: Mutex::new(None) })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { list, next: AtomicUsize::new(0), pause })
    }

    /// The order in which to try the nodes for one request: those that answer, starting one
    /// further round than the last request did, then those marked down.
    pub fn order(&self) -> impl Iterator<Item = &Node> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let (up, down): (Vec<&Node>, Vec<&Node>) = (0..n)
            .map(|i| &self.list[(start + i) % n])
            .partition(|node| node.down_until.lock().is_none_or(|t| t <= now));
        up.into_iter().chain(down)
    }

    /// Records that `node` answered; true when it had been marked down.
    pub fn up(&self, node: &Node) -> bool {
        node.down_until.lock().take().is_some()
    }

    /// Marks `node` down for a while; true when it was not already.
    pub fn down(&self, node: &Node) -> bool {
        let mut until = node.down_until.lock();
        let was_up = until.is_none_or(|t| t <= Instant::now());
        *until = Some(Instant::now() + self.pause);
        was_up
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

//! The benchmarks' and the test suite's HTTP side: a loopback [`Target`], a [`Request`] built
//! once and sent as often as wanted, and [`Conn`], one keep-alive connection (a `ureq` agent
//! that keeps at most one idle connection), every wait bounded. [`super::server::OwnServer`] is
//! the `visage serve` child process they talk to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ureq::http;

use crate::error::{Code, Result, VisageError};

/// A tar of `count` photos drawn from `photos`, photo `k` as `{folder(k)}/photo.EXT` (one
/// subject per folder, for an enrolment job).
pub(super) fn photo_archive(
    photos: &[(PathBuf, Vec<u8>)],
    count: usize,
    folder: impl Fn(usize) -> String,
    rng: &mut crate::synth::Rng,
) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for k in 0..count {
        let (path, bytes) = &photos[rng.below(photos.len())];
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("{}/photo.{ext}", folder(k)), bytes.as_slice())
            .map_err(|e| VisageError::Store(format!("archive: {e}")))?;
    }
    tar.into_inner().map_err(|e| VisageError::Store(format!("archive: {e}")))
}

/// Default bound on one request (connect, send, answer).
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer body read.
const MAX_BODY: u64 = 16 << 20;

/// An error carrying the server's own message (`{"error": {"message": ...}}` or the raw text).
pub(super) fn server_error(what: &str, body: &[u8]) -> VisageError {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().or(v["message"].as_str()).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect());
    VisageError::Config(format!("{what}: {message}"))
}

/// The content type a photo is sent with (the server sniffs the format; this is for logs).
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("gif") => "image/gif",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// `q`-quantile (nearest rank) of the latencies, NaN when there are none.
pub(super) fn percentile(sorted_ms: &[f64], q: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted_ms.len() as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, sorted_ms.len()) - 1]
}

/// A loopback HTTP server: where to connect and what to put in requests.
pub struct Target {
    /// `http://ADDRESS:PORT/PREFIX` of the loopback address connected to.
    url: String,
    /// `http://host:port` as given, for messages.
    pub base: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PREFIX]`, refusing any host that is not loopback.
    pub fn parse(url: &str, api_key: Option<String>) -> Result<Self> {
        let bad = |m: String| VisageError::unprocessable(Code::InvalidParameter, m);
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            bad(format!("--url {url:?}: only http:// URLs of a server on this machine (loopback) are accepted"))
        })?;
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad(format!("--url {url:?}: unclosed '['")))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port: u16 = match port {
            None => 80,
            Some(p) => p.parse().map_err(|_| bad(format!("--url {url:?}: bad port {p:?}")))?,
        };
        let refuse = || {
            bad(format!(
                "--url {url:?}: host {host:?} is not loopback; this benchmark only talks to 127.0.0.0/8, localhost or ::1"
            ))
        };
        let candidates: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![SocketAddr::new(ip, port)]
        } else if host.eq_ignore_ascii_case("localhost") {
            (host, port).to_socket_addrs().map(|a| a.collect()).unwrap_or_default()
        } else {
            return Err(refuse());
        };
        // Only loopback addresses, even if "localhost" resolves to something else as well; the
        // requests go to the address chosen here, never through a name lookup of their own.
        let loopback: Vec<SocketAddr> = candidates.into_iter().filter(|a| a.ip().is_loopback()).collect();
        if loopback.is_empty() {
            return Err(refuse());
        }
        let addr = loopback
            .iter()
            .copied()
            .find(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok())
            .unwrap_or(loopback[0]);
        let prefix = path.trim_end_matches('/');
        Ok(Self {
            url: format!("http://{addr}{prefix}"),
            base: format!("http://{authority}"),
            api_key,
            timeout: IO_TIMEOUT,
        })
    }

    /// The server on `127.0.0.1:port`.
    pub fn loopback(port: u16, api_key: Option<String>) -> Self {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        Self { url: format!("http://{addr}"), base: format!("http://{addr}"), api_key, timeout: IO_TIMEOUT }
    }

    /// The same server with another bound on each request.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// A request for `path` (with its query), carrying the API key when there is one.
    pub fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Request {
        let mut request = Request {
            method: method.to_string(),
            url: format!("{}{path}", self.url),
            headers: Vec::new(),
            body: body.to_vec(),
        };
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        match content_type {
            Some(ct) => request.header("content-type", ct),
            None => request,
        }
    }
}

/// One request, built once and sent as often as wanted.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn to_http(&self) -> std::result::Result<http::Request<&[u8]>, http::Error> {
        let mut builder = http::Request::builder().method(self.method.as_str()).uri(self.url.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(self.body.as_slice())
    }
}

/// One keep-alive connection, opened on first use and again whenever the server closes it.
pub struct Conn {
    agent: ureq::Agent,
    /// The last exchange succeeded, so the next one likely goes over its idle connection.
    warm: bool,
}

impl Conn {
    pub fn new(target: &Target) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .accept("application/json")
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            .timeout_global(Some(target.timeout))
            .build()
            .new_agent();
        Self { agent, warm: false }
    }

    /// Sends a request and returns the status and body.
    pub fn call(&mut self, request: &Request) -> std::io::Result<(u16, Vec<u8>)> {
        self.call_full(request).map(|r| (r.status, r.body))
    }

    /// [`Conn::call`] with the answer's headers of interest as well. A request on a reused
    /// connection that fails (not by timing out) is tried once more on a fresh one: the server
    /// may have closed the idle connection as the request left.
    pub fn call_full(&mut self, request: &Request) -> std::io::Result<Reply> {
        let mut outcome = self.exchange(request);
        if self.warm && matches!(&outcome, Err(e) if !matches!(e, ureq::Error::Timeout(_))) {
            outcome = self.exchange(request);
        }
        self.warm = outcome.is_ok();
        outcome.map_err(ureq::Error::into_io)
    }

    fn exchange(&self, request: &Request) -> std::result::Result<Reply, ureq::Error> {
        let mut response = self.agent.run(request.to_http()?)?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (retry_after, content_type) = (header("retry-after"), header("content-type"));
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_BODY).read_to_vec()?;
        Ok(Reply { status, body, retry_after, content_type })
    }
}

/// One answer: its status, body and the headers the callers look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

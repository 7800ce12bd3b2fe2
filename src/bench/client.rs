//! The benchmarks' HTTP side: a loopback [`Target`], a keep-alive [`Conn`] over
//! `std::net::TcpStream` (no client crate in the binary; it sends a pre-built request and reads
//! `Content-Length` or chunked answers, every wait bounded), and [`OwnServer`], a `visage serve`
//! child process the benchmark starts, stops (SIGTERM) or kills (SIGKILL).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::{Code, Result, VisageError};

/// A tar of `count` photos drawn from `photos`, photo `k` as `{folder(k)}/photo.EXT` (one
/// subject per folder, for an enrolment job).
pub(super) fn photo_archive(
    photos: &[(PathBuf, Vec<u8>)],
    count: usize,
    folder: impl Fn(usize) -> String,
    rng: &mut crate::index::Rng,
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

/// How long a server this command starts may take to load its models.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Socket timeout for one request (connect, send, answer).
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(30);
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
pub(super) fn content_type(path: &Path) -> &'static str {
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
pub(super) struct Target {
    addr: SocketAddr,
    /// `http://host:port` as given, for messages and the Host header.
    pub(super) base: String,
    host: String,
    /// Path prefix from the URL (empty, or `/prefix` without a trailing slash).
    prefix: String,
    api_key: Option<String>,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PREFIX]`, refusing any host that is not loopback.
    pub(super) fn parse(url: &str, api_key: Option<String>) -> Result<Self> {
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
        // Only loopback addresses, even if "localhost" resolves to something else as well.
        let loopback: Vec<SocketAddr> = candidates.into_iter().filter(|a| a.ip().is_loopback()).collect();
        if loopback.is_empty() {
            return Err(refuse());
        }
        let addr = loopback
            .iter()
            .copied()
            .find(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok())
            .unwrap_or(loopback[0]);
        Ok(Self {
            addr,
            base: format!("http://{authority}"),
            host: authority.to_string(),
            prefix: path.trim_end_matches('/').to_string(),
            api_key,
        })
    }

    pub(super) fn loopback(port: u16, api_key: Option<String>) -> Self {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        Self { addr, base: format!("http://{addr}"), host: addr.to_string(), prefix: String::new(), api_key }
    }

    /// The bytes of one HTTP/1.1 request (keep-alive is HTTP/1.1's default).
    pub(super) fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
        let mut head =
            format!("{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n", self.prefix, self.host);
        if let Some(key) = &self.api_key {
            head.push_str(&format!("X-API-Key: {key}\r\n"));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

/// One keep-alive connection, opened on first use and again whenever the server closes it.
pub(super) struct Conn<'a> {
    target: &'a Target,
    stream: Option<BufReader<TcpStream>>,
}

impl<'a> Conn<'a> {
    pub(super) fn new(target: &'a Target) -> Self {
        Self { target, stream: None }
    }

    /// Sends a request and returns the status and body. A request on a reused connection that
    /// fails is tried once more on a fresh one (the server may have closed an idle connection).
    pub(super) fn call(&mut self, request: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        self.call_full(request).map(|r| (r.status, r.body))
    }

    /// [`Conn::call`] with the `Retry-After` header as well.
    pub(super) fn call_full(&mut self, request: &[u8]) -> std::io::Result<Reply> {
        let reused = self.stream.is_some();
        match self.exchange(request) {
            Err(_) if reused => self.exchange(request),
            other => other,
        }
    }

    fn exchange(&mut self, request: &[u8]) -> std::io::Result<Reply> {
        let stream = match self.stream.take() {
            Some(s) => s,
            None => {
                let s = TcpStream::connect_timeout(&self.target.addr, IO_TIMEOUT)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                BufReader::new(s)
            }
        };
        let mut stream = stream;
        stream.get_mut().write_all(request)?;
        let (reply, keep) = read_response(&mut stream)?;
        if keep {
            self.stream = Some(stream);
        }
        Ok(reply)
    }
}

/// One answer: its status, body and `Retry-After` header.
pub(super) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<String>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one answer, and whether the connection may be reused.
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(Reply, bool)> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let status_line = read_line(r)?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default().to_string();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(&format!("bad status line {status_line:?}")))?;
    let (mut length, mut chunked, mut keep): (Option<u64>, _, _) = (None, false, version == "HTTP/1.1");
    let mut retry_after = None;
    for _ in 0..256 {
        let line = read_line(r)?;
        if line.is_empty() {
            let body = if chunked {
                read_chunked(r)?
            } else if let Some(n) = length {
                if n > MAX_BODY {
                    return Err(invalid("answer body too large"));
                }
                let mut body = vec![0; n as usize];
                r.read_exact(&mut body)?;
                body
            } else if status == 204 || status == 304 || (100..200).contains(&status) {
                Vec::new()
            } else {
                keep = false; // the body ends when the server closes the connection
                let mut body = Vec::new();
                r.take(MAX_BODY).read_to_end(&mut body)?;
                body
            };
            return Ok((Reply { status, body, retry_after }, keep));
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim().to_ascii_lowercase();
        match name.trim().to_ascii_lowercase().as_str() {
            "retry-after" => retry_after = Some(value),
            "content-length" => length = Some(value.parse().map_err(|_| invalid("bad Content-Length"))?),
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" if value.contains("close") => keep = false,
            "connection" if value.contains("keep-alive") => keep = true,
            _ => {}
        }
    }
    Err(invalid("too many header lines"))
}

/// A chunked body (RFC 9112 §7.1), trailers skipped.
fn read_chunked(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = u64::from_str_radix(line.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            for _ in 0..256 {
                if read_line(r)?.is_empty() {
                    return Ok(body);
                }
            }
            return Err(invalid("too many trailer lines"));
        }
        if body.len() as u64 + size > MAX_BODY {
            return Err(invalid("answer body too large"));
        }
        let start = body.len();
        body.resize(start + size as usize, 0);
        r.read_exact(&mut body[start..])?;
        read_line(r)?; // the CRLF after the chunk
    }
}

/// One header line without its CRLF, at most 16 KiB; EOF before any byte is an error.
fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if r.by_ref().take(16 << 10).read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed by the server"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A `visage serve` child on a free loopback port, over a throw-away data directory (removed on
/// drop) or a given one (kept); killed on drop (also when the benchmark fails half-way).
pub(super) struct OwnServer {
    child: Child,
    pub(super) port: u16,
    data_dir: PathBuf,
    owned_dir: bool,
}

impl OwnServer {
    /// A server over a fresh temporary data directory, its messages on this process's stderr.
    pub(super) fn start(global_args: &[OsString]) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let data_dir = std::env::temp_dir().join(format!("visage-bench-{}-{nanos}", std::process::id()));
        let server = Self::start_in(global_args, &data_dir, Stdio::inherit());
        match server {
            Ok(mut s) => {
                s.owned_dir = true;
                Ok(s)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&data_dir);
                Err(e)
            }
        }
    }

    /// A server over `data_dir` (created if missing, kept on drop), its stderr sent to `log`.
    pub(super) fn start_in(global_args: &[OsString], data_dir: &Path, log: Stdio) -> Result<Self> {
        let setup = |what: &str, e: std::io::Error| VisageError::Config(format!("cannot {what}: {e}"));
        let exe = std::env::current_exe().map_err(|e| setup("find the visage executable", e))?;
        // A port the OS just handed out; another process could take it before the server binds
        // it, in which case the server exits and the error says so.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| setup("find a free port", e))?
            .port();
        std::fs::create_dir_all(data_dir).map_err(|e| setup(&format!("create {}", data_dir.display()), e))?;
        let child = Command::new(exe)
            .args(global_args)
            .args(["serve", "--address", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| setup("start visage serve", e))?;
        Ok(Self { child, port, data_dir: data_dir.to_path_buf(), owned_dir: false })
    }

    /// The server's process id (for `/proc`).
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/readyz` until 200, the child exits, or [`READY_TIMEOUT`].
    pub(super) fn wait_ready(&mut self, target: &Target) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = target.request("GET", "/readyz", None, &[]);
        while Instant::now() < deadline {
            if let Ok((200, _)) = Conn::new(target).call(&probe) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(VisageError::Config(format!(
                    "visage serve exited before it was ready ({status}); see its messages"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(VisageError::Config(format!("visage serve was not ready after {}s", READY_TIMEOUT.as_secs())))
    }

    /// SIGKILL: a crash, nothing flushed.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit (at most `grace`, then SIGKILL); true when the
    /// server exited by itself with status 0.
    pub(super) fn terminate(&mut self, grace: Duration) -> bool {
        #[cfg(target_os = "linux")]
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory is shared.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

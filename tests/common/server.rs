//! A real `visage serve` process on a loopback port, with its own data directory, and the
//! calls the tests make to it: the library's own server process and client
//! (`visage::bench::{server, client}`), with test-shaped answers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use visage::bench::client::{self, Conn, Target};
use visage::bench::server::OwnServer;

/// Bound on one request.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running server; killed when dropped.
pub struct Server {
    process: Option<OwnServer>,
    port: u16,
    pub base: String,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Where the server's stderr (its log) goes; inherited when unset.
    log: Option<PathBuf>,
}

/// One part of a multipart body.
pub enum Part<'a> {
    File(&'a [u8]),
    Text(&'a str),
}

/// Status and JSON body of a response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub retry_after: Option<String>,
}

impl Server {
    /// Starts a server over `data_dir` with extra environment variables and waits until ready.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_logged(data_dir, env, None)
    }

    /// [`Server::start`] with the server's stderr appended to `log`.
    pub fn start_logged(data_dir: &Path, env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let mut s = Self {
            process: None,
            port: 0,
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: log.map(Path::to_path_buf),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_visage"));
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let log = match &self.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open the server log"),
            ),
            None => Stdio::inherit(),
        };
        let mut process = OwnServer::spawn(command, &self.data_dir, log).expect("start visage serve");
        self.port = process.port;
        self.base = format!("http://127.0.0.1:{}", process.port);
        process.wait_ready(&self.target()).unwrap_or_else(|e| panic!("visage serve did not become ready: {e}"));
        self.process = Some(process);
    }

    /// Stops the server: gracefully (SIGTERM, waits for exit) or by SIGKILL (a crash).
    pub fn stop(&mut self, graceful: bool) {
        if let Some(mut process) = self.process.take() {
            if graceful {
                process.terminate(Duration::from_secs(30));
            } else {
                process.kill();
            }
        }
    }

    /// Stops and starts again on the same data directory.
    pub fn restart(&mut self, graceful: bool) {
        self.stop(graceful);
        self.spawn();
    }

    fn target(&self) -> Target {
        Target::loopback(self.port, None).with_timeout(TIMEOUT)
    }

    /// Sends one request; its status, content type and body.
    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> client::Reply {
        let target = self.target();
        let request =
            headers.iter().fold(target.request(method, path, content_type, body), |request, (name, value)| {
                request.header(name, value)
            });
        Conn::new(&target).call_full(&request).unwrap_or_else(|e| panic!("{method} {path} reaches the server: {e}"))
    }

    fn reply(r: client::Reply) -> Reply {
        let text = String::from_utf8_lossy(&r.body);
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({}): {text}", r.status));
        Reply { status: r.status, json, retry_after: r.retry_after }
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> Reply {
        Self::reply(self.send("GET", path, None, &[], &[]))
    }

    /// GET a path's body as text (e.g. `/metrics`).
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.send("GET", path, None, &[], &[]);
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    }

    /// The value of one series (name and labels, as printed) in the `/metrics` text; 0 when
    /// absent.
    pub fn metric(text: &str, series: &str) -> f64 {
        text.lines().find_map(|l| l.rsplit_once(' ').filter(|(name, _)| *name == series)?.1.parse().ok()).unwrap_or(0.0)
    }

    /// DELETE a path.
    pub fn delete(&self, path: &str) -> Reply {
        Self::reply(self.send("DELETE", path, None, &[], &[]))
    }

    /// POST/PATCH a JSON body.
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.raw(method, path, "application/json", body.to_string().as_bytes(), &[])
    }

    /// POST a body with a content type and extra headers.
    pub fn raw(&self, method: &str, path: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        Self::reply(self.send(method, path, Some(content_type), body, headers))
    }

    /// POST a JSON body; the answer's status, content type and text.
    pub fn post_text(&self, path: &str, body: &Value) -> (u16, String, String) {
        let r = self.send("POST", path, Some("application/json"), body.to_string().as_bytes(), &[]);
        (r.status, r.content_type.unwrap_or_default(), String::from_utf8_lossy(&r.body).into_owned())
    }

    /// Polls a bulk job until it is no longer queued or running (or `timeout` passes); its status.
    pub fn wait_job(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.get(&format!("/v1/jobs/{id}"));
            assert_eq!(r.status, 200, "{}", r.json);
            let state = r.json["state"].as_str().unwrap_or_default().to_string();
            if !matches!(state.as_str(), "queued" | "running") || Instant::now() > deadline {
                return r.json;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POST a multipart/form-data body.
    pub fn multipart(&self, path: &str, parts: &[(&str, Part)]) -> Reply {
        self.multipart_with(path, parts, &[])
    }

    /// POST a multipart/form-data body with extra headers.
    pub fn multipart_with(&self, path: &str, parts: &[(&str, Part)], headers: &[(&str, &str)]) -> Reply {
        let boundary = "visage-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, part) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                Part::File(bytes) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                }
                Part::Text(text) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}").as_bytes(),
                    );
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.raw("POST", path, &format!("multipart/form-data; boundary={boundary}"), &body, headers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(false);
    }
}

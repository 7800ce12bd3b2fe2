//! A real `visage serve` process on a loopback port, with its own data directory, and a small
//! HTTP client for it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server; killed when dropped.
pub struct Server {
    child: Option<Child>,
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Starts a server over `data_dir` with extra environment variables and waits until ready.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_logged(data_dir, env, None)
    }

    /// [`Server::start`] with the server's stderr appended to `log`.
    pub fn start_logged(data_dir: &Path, env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let mut s = Self {
            child: None,
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: log.map(Path::to_path_buf),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let port = free_port();
        self.base = format!("http://127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_visage"))
            .args(["serve", "--address", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(match &self.log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open the server log"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start visage serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = ureq::get(format!("{}/readyz", self.base)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("visage serve exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("visage serve did not become ready");
    }

    /// Stops the server: gracefully (SIGTERM, waits for exit) or by SIGKILL (a crash).
    pub fn stop(&mut self, graceful: bool) {
        if let Some(mut child) = self.child.take() {
            if graceful {
                Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same data directory.
    pub fn restart(&mut self, graceful: bool) {
        self.stop(graceful);
        self.spawn();
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent()
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.expect("request reaches the server");
        let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_string());
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}"));
        Reply { status, json, retry_after }
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> Reply {
        Self::reply(Self::agent().get(format!("{}{path}", self.base)).call())
    }

    /// GET a path's body as text (e.g. `/metrics`).
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let mut r = Self::agent().get(format!("{}{path}", self.base)).call().expect("request reaches the server");
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    }

    /// The value of one series (name and labels, as printed) in the `/metrics` text; 0 when
    /// absent.
    pub fn metric(text: &str, series: &str) -> f64 {
        text.lines().find_map(|l| l.rsplit_once(' ').filter(|(name, _)| *name == series)?.1.parse().ok()).unwrap_or(0.0)
    }

    /// DELETE a path.
    pub fn delete(&self, path: &str) -> Reply {
        Self::reply(Self::agent().delete(format!("{}{path}", self.base)).call())
    }

    /// POST/PATCH a JSON body.
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.raw(method, path, "application/json", body.to_string().as_bytes(), &[])
    }

    /// POST a body with a content type and extra headers.
    pub fn raw(&self, method: &str, path: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        Self::reply(Self::agent().run(self.request(method, path, content_type, body, headers)))
    }

    /// POST a JSON body; the answer's status, content type and text.
    pub fn post_text(&self, path: &str, body: &Value) -> (u16, String, String) {
        let req = self.request("POST", path, "application/json", body.to_string().as_bytes(), &[]);
        let mut r = Self::agent().run(req).expect("request reaches the server");
        let content_type =
            r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        (r.status().as_u16(), content_type, r.body_mut().read_to_string().unwrap_or_default())
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> ureq::http::Request<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(url).header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body.to_vec()).unwrap()
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

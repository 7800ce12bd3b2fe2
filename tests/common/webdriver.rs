//! A small W3C WebDriver client (plain JSON over HTTP) driving headless Chromium through
//! chromedriver, both from Debian's packages (`scripts/test.sh` installs them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver's codes for keys that type no text, for [`Browser::press`].
pub mod key {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SHIFT: &str = "\u{E008}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = " ";
}

/// A browser session; chromedriver is stopped when dropped.
pub struct Browser {
    driver: Child,
    url: String,
    session: String,
    agent: ureq::Agent,
    /// Where screenshots go.
    pub shots: PathBuf,
}

/// The path of an executable: `$env` if set, else the first of `names` on `PATH`.
fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280×800. Without them: a panic when
    /// `VISAGE_UI_REQUIRED` is set (CI), else `None` with the reason printed (a skip).
    pub fn start(shots: PathBuf) -> Option<Self> {
        let driver = find("VISAGE_CHROMEDRIVER", &["chromedriver"]);
        let chromium = find("VISAGE_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let reason = "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver; ./scripts/test.sh does it)";
            assert!(std::env::var_os("VISAGE_UI_REQUIRED").is_none(), "{reason}");
            eprintln!("SKIPPED: {reason}");
            return None;
        };
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = agent
                .get(format!("{url}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::create_dir_all(&shots).unwrap();
        let mut browser = Self { driver: child, url, session: String::new(), agent, shots };
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--no-first-run", "--disable-extensions"],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let created = browser.request("POST", "/session", Some(caps));
        browser.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("new session: {created}")).to_string();
        Some(browser)
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let req = ureq::http::Request::builder().method(method).uri(&url).header("content-type", "application/json");
        let req = req.body(body.unwrap_or(json!({})).to_string().into_bytes()).unwrap();
        let mut r = self.agent.run(req).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let v: Value = r.body_mut().read_json().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status < 300, "WebDriver {method} {path} -> {status}: {}", v["value"]);
        v["value"].clone()
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.request(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens a URL.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Resizes the window (CSS pixels of the outer window).
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({ "width": width, "height": height })));
    }

    /// Runs a script (`return ...`) with arguments; its result.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Polls `script` until it returns something other than null/false/""; panics after 20 s
    /// with `what` and the page's status line.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.js(script, vec![]);
            if !(v.is_null() || v == false || v == "") {
                return v;
            }
            if Instant::now() > deadline {
                let status = self.js("return document.querySelector('#status').textContent", vec![]);
                panic!("timed out waiting for {what} (status line: {status})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The element `css` selects (waits for it to exist).
    pub fn find(&self, css: &str) -> String {
        self.wait(css, &format!("return document.querySelector({}) !== null", json!(css)));
        let v = self.cmd("POST", "/element", Some(json!({ "using": "css selector", "value": css })));
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("find {css}: {v}")).to_string()
    }

    /// Clicks what `css` selects, as a user does (it must be visible and not covered), once it
    /// is rendered: a screen switched to a moment ago is shown by a queued `hashchange`.
    pub fn click(&self, css: &str) {
        let q = json!(css);
        self.wait(css, &format!("const e = document.querySelector({q}); return e !== null && e.checkVisibility()"));
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), None);
    }

    /// Types into what `css` selects (for a file input: an absolute path).
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/value"), Some(json!({ "text": text })));
    }

    /// Clears a text field.
    pub fn clear(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), None);
    }

    /// Chooses a file in a file input.
    pub fn choose_file(&self, css: &str, path: &Path) {
        self.type_into(css, path.to_str().unwrap());
    }

    /// The visible text of what `css` selects.
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), None).as_str().unwrap_or_default().to_string()
    }

    /// Presses and releases each key of `keys` in turn (text, or [`key`] codes) as real key
    /// events (W3C Actions): focus moves, buttons and links activate, text is typed.
    pub fn press(&self, keys: &str) {
        self.press_with(None, keys);
    }

    /// [`Self::press`] with `modifier` (e.g. [`key::SHIFT`]) held down throughout.
    pub fn press_with(&self, modifier: Option<&str>, keys: &str) {
        let mut actions: Vec<Value> = modifier.map(|m| json!({ "type": "keyDown", "value": m })).into_iter().collect();
        for c in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": c.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": c.to_string() }));
        }
        actions.extend(modifier.map(|m| json!({ "type": "keyUp", "value": m })));
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.cmd("POST", "/actions", Some(body));
    }

    /// A short description of `document.activeElement` (tag, id, classes, text or label).
    pub fn focused(&self) -> String {
        let v = self.js(
            "const e = document.activeElement;
             return e ? `${e.tagName.toLowerCase()}#${e.id}.${e.className} \"${(e.getAttribute('aria-label') || e.textContent).trim().slice(0, 40)}\"` : ''",
            vec![],
        );
        v.as_str().unwrap_or_default().to_string()
    }

    /// Whether `document.activeElement` matches `css`.
    pub fn has_focus(&self, css: &str) -> bool {
        self.js(
            "return document.activeElement !== null && document.activeElement.matches(arguments[0])",
            vec![json!(css)],
        ) == true
    }

    /// Presses Tab (Shift+Tab when `back`) until the focused element matches `css`, as a keyboard
    /// user reaches a control; panics after 40 presses, naming what has focus. The presses taken.
    pub fn tab_to(&self, css: &str, back: bool) -> usize {
        for n in 1..=40 {
            self.press_with(back.then_some(key::SHIFT), key::TAB);
            if self.has_focus(css) {
                return n;
            }
        }
        panic!("Tab never reached {css}; focus is on {}", self.focused());
    }

    /// Each rendered element `css` selects (`checkVisibility()`), described (tag, id, classes),
    /// with its accessible name as the browser computes it (WebDriver "Get Computed Label").
    pub fn computed_labels(&self, css: &str) -> Vec<(String, String)> {
        let found = self.js(
            "return [...document.querySelectorAll(arguments[0])].filter(e => e.checkVisibility())
               .map(e => [e, `${e.tagName.toLowerCase()}#${e.id}.${e.className}[${e.type || ''}]`])",
            vec![json!(css)],
        );
        found
            .as_array()
            .unwrap_or_else(|| panic!("elements {css}: {found}"))
            .iter()
            .map(|pair| {
                let id = pair[0][ELEMENT].as_str().unwrap_or_else(|| panic!("an element: {pair}"));
                let label = self.cmd("GET", &format!("/element/{id}/computedlabel"), None);
                (pair[1].as_str().unwrap_or_default().to_string(), label.as_str().unwrap_or_default().to_string())
            })
            .collect()
    }

    /// Saves a PNG screenshot of the viewport as `name.png` under `shots`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.as_str().unwrap()).unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The browser console's entries since the last call (chromedriver's log), as
    /// `(level, message)`.
    pub fn console(&self) -> Vec<(String, String)> {
        let v = self.cmd("POST", "/se/log", Some(json!({ "type": "browser" })));
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_string(),
                            e["message"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(format!("{}/session/{}", self.url, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

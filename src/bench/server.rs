//! [`OwnServer`]: a `visage serve` child process on a free loopback port, which a benchmark or
//! a test starts, waits for, stops (SIGTERM) or kills (SIGKILL).

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::client::{Conn, Target};
use crate::error::{Result, VisageError};

/// How long a server may take to load its models and open its gallery.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Time between two `/readyz` probes (the resolution of a measured start-up time).
const READY_POLL: Duration = Duration::from_millis(25);

/// A `visage serve` child over a throw-away data directory (removed on drop) or a given one
/// (kept); killed on drop (also when the caller fails half-way).
pub struct OwnServer {
    child: Child,
    pub port: u16,
    data_dir: PathBuf,
    owned_dir: bool,
}

impl OwnServer {
    /// This executable's server over a fresh temporary data directory, its messages on this
    /// process's stderr; `global_args` go before `serve`.
    pub fn start(global_args: &[OsString]) -> Result<Self> {
        let data_dir = scratch_dir("serve");
        match Self::start_in(global_args, &data_dir, Stdio::inherit()) {
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

    /// This executable's server over `data_dir` (created if missing, kept on drop), its stderr
    /// sent to `log`.
    pub fn start_in(global_args: &[OsString], data_dir: &Path, log: Stdio) -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| setup("find the visage executable", e))?;
        let mut command = Command::new(exe);
        command.args(global_args);
        Self::spawn(command, data_dir, log)
    }

    /// `command` (a visage executable with its global flags and environment) with `serve`
    /// on a free loopback port over `data_dir` (created if missing, kept on drop) appended.
    pub fn spawn(mut command: Command, data_dir: &Path, log: Stdio) -> Result<Self> {
        // A port the OS just handed out; another process could take it before the server binds
        // it, in which case the server exits and the error says so.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| setup("find a free port", e))?
            .port();
        std::fs::create_dir_all(data_dir).map_err(|e| setup(&format!("create {}", data_dir.display()), e))?;
        let child = command
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
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/readyz` until 200, the child exits, or [`READY_TIMEOUT`].
    pub fn wait_ready(&mut self, target: &Target) -> Result<()> {
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
            std::thread::sleep(READY_POLL);
        }
        Err(VisageError::Config(format!("visage serve was not ready after {}s", READY_TIMEOUT.as_secs())))
    }

    /// SIGKILL: a crash, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit (at most `grace`, then SIGKILL); true when the
    /// server exited by itself with status 0.
    pub fn terminate(&mut self, grace: Duration) -> bool {
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

/// A new folder name under the temp dir for one benchmark's files (`visage-bench-WHAT-...`).
pub(super) fn scratch_dir(what: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("visage-bench-{what}-{}-{nanos}", std::process::id()))
}

fn setup(what: &str, e: std::io::Error) -> VisageError {
    VisageError::io(what, e)
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// The benchmark's folder under the temp dir, removed on drop unless kept.
pub(super) struct Scratch {
    pub path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn create(what: &str, keep: bool) -> Result<Self> {
        let path = scratch_dir(what);
        std::fs::create_dir_all(&path).map_err(|e| setup("creating the scratch folder", e))?;
        Ok(Self { path, keep })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

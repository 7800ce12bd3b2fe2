//! Settings as the binary loads them: a key that no setting has (a typo in the file or in a
//! `VISAGE_` variable) stops `visage serve` before it listens, naming the key and the nearest
//! known one; every configuration the repository ships or documents loads clean.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::Server;
use visage::config::Sources;
use visage::http::HttpSettings;
use visage::Settings;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `visage serve` with `config` written to a file and `env`; it must exit non-zero with an
/// `invalid_config` error before it listens. Returns its stderr.
fn refused(config: Option<&str>, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_visage"));
    serve.args(["serve", "--address", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(dir.path().join("data"));
    if let Some(text) = config {
        let file = dir.path().join("visage.toml");
        std::fs::write(&file, text).unwrap();
        serve.arg("--config").arg(file);
    }
    let mut child = serve.envs(env.iter().copied()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("visage serve is still running with a mistyped setting ({config:?}, {env:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("[invalid_config]") && !stderr.contains("listening"), "{stderr}");
    stderr
}

#[test]
fn a_mistyped_key_or_section_in_the_file_stops_serve_before_it_listens() {
    // One letter short of `api_keys`: the API would be open with no word logged.
    let err = refused(Some("[server]\napi_key = [\"secret-1\"]\n"), &[]);
    assert!(err.contains("`server.api_key`") && err.contains("`server.api_keys`"), "{err}");
    assert!(!err.contains("secret-1"), "a key's value is never printed: {err}");
    let err = refused(Some("[sever]\napi_keys = [\"secret-1\"]\n"), &[]);
    assert!(err.contains("unknown section `sever`") && err.contains("did you mean `server`"), "{err}");
    // Flattened parts and options are known, so their neighbours' typos are caught too.
    let err = refused(Some("[index.scan]\nkernal = \"scalar\"\n[enroll]\nmin_scor = 0.5\n"), &[]);
    assert!(err.contains("`index.scan.kernal`") && err.contains("`index.scan.kernel`"), "{err}");
    assert!(err.contains("`enroll.min_scor`") && err.contains("`enroll.min_score`"), "{err}");
}

#[test]
fn a_mistyped_variable_stops_serve_before_it_listens() {
    let err = refused(None, &[("VISAGE_SERVER__API_KEY", "secret-1")]);
    assert!(err.contains("`server.api_key`") && err.contains("`server.api_keys`"), "{err}");
    assert!(err.contains("VISAGE_SERVER__API_KEY)") && err.contains("(VISAGE_SERVER__API_KEYS)"), "{err}");
    // One `_` where `__` belongs is a typo, not another variable.
    let err = refused(None, &[("VISAGE_SERVER_API_KEYS", "secret-1")]);
    assert!(err.contains("VISAGE_SERVER_API_KEYS is not read") && err.contains("VISAGE_SERVER__API_KEYS?"), "{err}");
    let err = refused(None, &[("VISAGE_SEVER__API_KEYS", "secret-1")]);
    assert!(err.contains("unknown section `sever`") && err.contains("`server.api_keys`"), "{err}");
}

/// Every key of the README's configuration table, as a dotted path (`server.protect_metrics`,
/// `protect_docs` → both under `server`).
fn documented_keys() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = readme.split("## Configuration").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut keys = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split('|').nth(1).unwrap();
        let mut parent = String::new();
        for name in cell.split(',').map(|n| n.trim().trim_matches('`')) {
            let key = match name.rsplit_once('.') {
                Some((p, _)) => {
                    parent = p.to_string();
                    name.to_string()
                }
                None => format!("{parent}.{name}"),
            };
            keys.insert(key);
        }
    }
    keys
}

/// The settings that `docker-compose.yml` and the `Dockerfile` set through `VISAGE_` variables,
/// as dotted paths.
fn shipped_variables() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for file in ["docker-compose.yml", "Dockerfile"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(rest) = word.strip_prefix("VISAGE_").filter(|r| r.contains("__")) {
                keys.insert(rest.to_lowercase().replace("__", "."));
            }
        }
    }
    keys
}

/// Checks a file holding each of `keys` (set to 0: only the names are checked).
fn check_keys(dir: &Path, keys: &BTreeSet<String>) -> visage::Result<()> {
    let file = dir.join("keys.toml");
    std::fs::write(&file, keys.iter().map(|k| format!("{k} = 0\n")).collect::<String>()).unwrap();
    Sources::open(Some(&file))?.check(&[Settings::known()?, HttpSettings::known()?])
}

#[test]
fn every_configuration_the_repository_ships_or_documents_loads_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (documented, shipped) = (documented_keys(), shipped_variables());
    assert!(documented.len() > 60 && documented.contains("index.qdrant.hnsw.ef"), "{documented:?}");
    assert!(shipped.contains("server.address") && shipped.contains("index.qdrant.url"), "{shipped:?}");
    check_keys(dir.path(), &documented).unwrap();
    check_keys(dir.path(), &shipped).unwrap();
    // The same check refuses a key that is not one.
    let mut typo = documented.clone();
    typo.insert("server.api_key".into());
    let err = check_keys(dir.path(), &typo).unwrap_err().to_string();
    assert!(err.contains("`server.api_key`") && err.contains("`server.api_keys`"), "{err}");

    // Every file under config/, served by the binary, with variables that are not settings.
    for entry in std::fs::read_dir(root().join("config")).unwrap() {
        let file = entry.unwrap().path();
        let data = dir.path().join(file.file_stem().unwrap());
        let env = [("VISAGE_CONFIG", file.to_str().unwrap()), ("VISAGE_UI_REQUIRED", "1"), ("VISAGE_LOG", "warn")];
        let server = Server::start(&data, &env);
        assert_eq!(server.get("/readyz").status, 200, "{}", file.display());
    }
}

//! The `visage` command line, run as a user runs it.

mod common;

use std::process::Command;

use serde_json::Value;

fn visage(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_visage")).args(args).output().expect("run visage");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn arg(name: &str) -> String {
    common::photo(name).to_string_lossy().into_owned()
}

#[test]
fn detect_prints_faces_and_draws_them() {
    let out = std::env::temp_dir().join(format!("visage-draw-{}.png", std::process::id()));
    let (code, json, err) = visage(&["detect", &arg("t1.jpg"), "--draw", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let faces = json["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 6);
    for f in faces {
        assert!(f["score"].as_f64().unwrap() >= 0.6);
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    }
    let drawn = image::open(&out).unwrap().to_rgb8();
    let original = image::open(common::photo("t1.jpg")).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), original.dimensions());
    // The box outline of the first face is drawn in green on its top edge.
    let b = &faces[0]["bbox"];
    let (x, y) = (
        ((b["x1"].as_f64().unwrap() + b["x2"].as_f64().unwrap()) / 2.0) as u32,
        b["y1"].as_f64().unwrap().round() as u32,
    );
    assert_eq!(drawn.get_pixel(x, y).0, [0, 255, 0]);
    std::fs::remove_file(out).ok();
}

#[test]
fn embed_prints_one_unit_vector_per_face() {
    let (code, json, err) = visage(&["embed", &arg("faces.jpg")]);
    assert_eq!(code, 0, "{err}");
    let faces = json["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    for f in faces {
        let v: Vec<f64> = f["embedding"]["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(v.len(), 128);
        assert!((v.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn compare_decides_same_and_different() {
    let (code, same, err) = visage(&["compare", &arg("obama.jpg"), &arg("obama2.jpg")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(same["best"]["same"], Value::Bool(true), "{same}");
    let (_, different, _) = visage(&["compare", &arg("obama.jpg"), &arg("biden.jpg")]);
    assert_eq!(different["best"]["same"], Value::Bool(false), "{different}");
    assert!(different["threshold"].as_f64().unwrap() > 0.3);
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let (code, _, err) = visage(&["detect", &arg("not_an_image.jpg")]);
    assert_eq!(code, 2);
    assert!(err.contains("[unsupported_format]") && !err.contains("panicked"), "{err}");
    let (code, _, err) = visage(&["embed", "/nonexistent/photo.jpg"]);
    assert_ne!(code, 0);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_models_or_runtime_name_the_setup_command() {
    for (var, value) in
        [("VISAGE_EMBEDDER__MODEL", "models/absent.onnx"), ("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_visage"))
            .args(["detect", &arg("obama.jpg")])
            .env(var, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(err.contains("[setup_required]") && err.contains("./scripts/setup.sh"), "{err}");
    }
}

/// The README's command-line synopsis (the first `sh` block under "## Command line"): each
/// entry, a line starting `visage ` and its continuation lines, comments cut, keyed by the
/// command path its leading words name in `cmd` (e.g. "bench gallery").
fn readme_synopsis(cmd: &clap::Command) -> Vec<(String, String)> {
    let readme = include_str!("../README.md");
    let section = readme.split("\n## Command line\n").nth(1).expect("README has a Command line section");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("its sh block");
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        let text = line.split('#').next().unwrap_or_default();
        match text.strip_prefix("visage ") {
            Some(rest) => {
                let (mut at, mut path) = (cmd, Vec::new());
                for word in rest.split_whitespace() {
                    let Some(sub) = at.find_subcommand(word) else { break };
                    at = sub;
                    path.push(word);
                }
                entries.push((path.join(" "), text.to_string()));
            }
            None => entries.last_mut().expect("the block starts with a `visage` line").1.push_str(text),
        }
    }
    entries
}

/// The flags written in a synopsis entry: `--long` and `-s` words, brackets and `|` apart.
fn written_flags(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || "[]|".contains(c))
        .filter(|w| {
            w.starts_with("--") || (w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphabetic())
        })
        .map(str::to_string)
        .collect()
}

/// Every command of the tree that runs (a leaf, or one with its own arguments), by path, with
/// the flags clap defines for it (global ones and help apart).
fn clap_commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, std::collections::BTreeSet<String>)>) {
    let own: Vec<_> = cmd
        .get_arguments()
        .filter(|a| !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if !path.is_empty() && (own.iter().any(|a| !a.is_positional()) || cmd.get_subcommands().next().is_none()) {
        let mut flags = std::collections::BTreeSet::new();
        for a in &own {
            flags.extend(a.get_long().map(|l| format!("--{l}")));
            flags.extend(a.get_short().map(|s| format!("-{s}")));
        }
        out.push((path.to_string(), flags));
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        clap_commands(sub, format!("{path} {}", sub.get_name()).trim(), out);
    }
}

#[test]
fn the_readme_synopsis_lists_every_command_and_flag_clap_defines() {
    let mut cmd = <visage::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    let synopsis = readme_synopsis(&cmd);
    let mut commands = Vec::new();
    clap_commands(&cmd, "", &mut commands);
    assert!(commands.len() >= 18, "{commands:?}");
    for (path, flags) in &commands {
        let entry = synopsis.iter().find(|(p, _)| p == path).map(|(_, text)| text);
        let entry = entry.unwrap_or_else(|| panic!("the README's synopsis lacks `visage {path}`"));
        let written = written_flags(entry);
        let missing: Vec<_> = flags.difference(&written).collect();
        assert!(missing.is_empty(), "the README's `visage {path}` lacks {missing:?}");
        let unknown: Vec<_> = written.difference(flags).collect();
        assert!(unknown.is_empty(), "the README's `visage {path}` names {unknown:?}, which clap does not define");
    }
    for (path, _) in &synopsis {
        assert!(commands.iter().any(|(p, _)| p == path), "the README's synopsis names `visage {path}`, no command");
    }
    let readme = include_str!("../README.md");
    let global = readme.lines().find(|l| l.starts_with("Global flags:")).expect("the README's global flags");
    for a in cmd.get_arguments().filter(|a| a.is_global_set()) {
        let long = format!("`--{}", a.get_long().unwrap());
        assert!(global.contains(&long), "the README's global flags lack {long}`");
    }
}

#[test]
fn a_full_disk_is_storage_full_not_a_configuration_error() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("SKIPPED: no /dev/full on this system to make a write fail with ENOSPC");
        return;
    }
    let (code, _, err) = visage(&["detect", &arg("obama.jpg"), "--draw", "/dev/full"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("[storage_full]") && err.contains("/dev/full"), "{err}");
}

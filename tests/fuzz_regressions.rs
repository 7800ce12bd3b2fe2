//! The fuzz targets' inputs replayed as plain tests through the same harnesses
//! (`visage::fuzzing`): the seeds (`fuzz/make_seeds.py` writes them from the test photos into
//! `fuzz-seeds/TARGET/` of the test data folder) and every input that once made a target
//! fail (`tests/fuzz_regressions/TARGET/`, named for the bug). A harness panics on any violated
//! property, so each file that once crashed keeps its fix honest. `scripts/fuzz.sh` fuzzes.

mod common;

use std::path::Path;

/// Runs every seed of `name` and every file of `tests/fuzz_regressions/TARGET` through the target.
fn replay(name: &str) {
    let (_, target) = visage::fuzzing::TARGETS.iter().find(|(n, _)| *n == name).expect("a fuzz target");
    let seed_dir = common::testdata().join("fuzz-seeds");
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut seeds = 0;
    for dir in [&seed_dir, &regressions] {
        let Ok(files) = std::fs::read_dir(dir.join(name)) else { continue };
        for file in files {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            eprintln!("{name}: {}", path.display());
            target(&bytes);
            seeds += usize::from(dir == &seed_dir);
        }
    }
    assert!(seeds > 0, "no seeds for {name} in {}: run ./scripts/test.sh (fuzz/make_seeds.py)", seed_dir.display());
}

#[test]
fn every_target_is_tested_here() {
    let here = include_str!("fuzz_regressions.rs");
    for (name, _) in visage::fuzzing::TARGETS {
        assert!(here.contains(&format!("fn {name}()")), "no test replays {name}");
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/fuzz_targets/{name}.rs"));
        assert!(target.is_file(), "no fuzz target {}", target.display());
    }
}

#[test]
fn decode_image() {
    replay("decode_image");
}

#[test]
fn multipart_form() {
    replay("multipart_form");
}

#[test]
fn json_body() {
    replay("json_body");
}

#[test]
fn archive() {
    replay("archive");
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn embeddings_npy() {
    replay("embeddings_npy");
}

#[test]
fn embeddings_jsonl() {
    replay("embeddings_jsonl");
}

#[test]
fn lfw_pairs() {
    replay("lfw_pairs");
}

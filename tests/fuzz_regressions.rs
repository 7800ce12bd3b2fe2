//! The fuzz targets' inputs replayed as plain tests through the same harnesses
//! (`visage::fuzzing`): the seeds (`fuzz/make_seeds.py` writes them from the test photos into
//! `fuzz-seeds/TARGET/` of the test data folder) and every input that once made a target
//! fail (`tests/fuzz_regressions/TARGET/`, named for the bug). A harness panics on any violated
//! property, so each file that once crashed keeps its fix honest. Then a smoke of a few seconds
//! per target: seeds mutated at random (bit flips, interesting bytes, cuts, copies, splices) with
//! a fixed seed, without coverage guidance, which needs the instrumented build that
//! `scripts/fuzz.sh` makes (tens of minutes, too long for CI); a failing input is written to
//! `target/tmp/fuzz-smoke/TARGET/`. `scripts/fuzz.sh` fuzzes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use visage::synth::Rng;

/// How long each target's mutation smoke runs.
const SMOKE: Duration = Duration::from_millis(3500);

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
    smoke(name, *target, &seed_dir.join(name));
}

/// Mutated seeds through the target for [`SMOKE`]; the input is saved before each run, so a
/// panic leaves it behind.
fn smoke(name: &str, target: visage::fuzzing::Target, seeds: &Path) {
    let corpus: Vec<Vec<u8>> =
        std::fs::read_dir(seeds).unwrap().map(|f| std::fs::read(f.unwrap().path()).unwrap()).collect();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke").join(name);
    std::fs::create_dir_all(&out).unwrap();
    let last = out.join("last-input");
    let mut rng = Rng::new(name.bytes().fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let (start, mut runs) = (Instant::now(), 0u64);
    while start.elapsed() < SMOKE {
        let mut input = corpus[rng.below(corpus.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut input, &corpus, &mut rng);
        }
        std::fs::write(&last, &input).unwrap();
        target(&input);
        runs += 1;
    }
    std::fs::remove_file(&last).ok();
    eprintln!("{name}: {runs} mutated inputs in {:.1} s, no failure", start.elapsed().as_secs_f64());
    assert!(runs > 0);
}

/// One random change, as a mutational fuzzer makes them.
fn mutate(input: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng) {
    const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b',', b'"', b'\n'];
    let at = |rng: &mut Rng, len: usize| rng.below(len.max(1));
    match rng.below(6) {
        0 if !input.is_empty() => {
            let i = at(rng, input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = at(rng, input.len());
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => input.truncate(at(rng, input.len() + 1)),
        3 if !input.is_empty() => {
            let (a, b) = (at(rng, input.len()), at(rng, input.len()));
            let chunk = input[a.min(b)..a.max(b)].to_vec();
            let i = at(rng, input.len());
            input.splice(i..i, chunk);
        }
        4 => {
            let i = at(rng, input.len() + 1);
            let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next_u64() as u8).collect();
            input.splice(i..i, bytes);
        }
        _ => {
            let other = &corpus[rng.below(corpus.len())];
            let cut = at(rng, input.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[at(rng, other.len() + 1).min(other.len())..]);
        }
    }
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

//! Fuzz harnesses (test tooling, `testing` feature): each hands arbitrary bytes to one of the
//! entry points that read untrusted input, as the service calls it, and asserts what must hold
//! whatever the bytes: no panic, failures are client errors (4xx codes), the limits and the
//! allowed roots are respected. `fuzz/` runs them under libFuzzer (`scripts/fuzz.sh`);
//! `tests/fuzz_regressions.rs` replays the seeds and every input that once failed.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{test::TestRequest, web, FromRequest};

use crate::config::Settings;
use crate::enroll::embeddings::{self, Reader};
use crate::enroll::source::{walk_archive, ArchiveLimits, Entry, ReadLimits, ReadResult};
use crate::enroll::{import, EmbeddingsFile, Source};
use crate::error::Code;
use crate::eval::{pairs, Sample};
use crate::http::input::Form;
use crate::pipeline::decode::{self, ImageLimits};

/// A fuzz target: bytes in, a panic on any violated property.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz.sh`, `fuzz/fuzz_targets/` and the regression test
/// name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_image", decode_image),
    ("multipart_form", multipart_form),
    ("json_body", json_body),
    ("archive", archive),
    ("manifest", manifest),
    ("embeddings_npy", embeddings_npy),
    ("embeddings_jsonl", embeddings_jsonl),
    ("lfw_pairs", lfw_pairs),
];

/// The model embeddings are imported as.
const MODEL: &str = "fuzz@0";

/// The default limits (`config/default.toml`), which the service runs with.
fn limits() -> &'static ImageLimits {
    &defaults().limits
}

/// The default settings, as the service starts with them.
fn defaults() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings::load(None).expect("the default settings load"))
}

/// The HTTP door's default settings, as the service starts with them.
fn http_defaults() -> &'static crate::http::HttpSettings {
    static SETTINGS: OnceLock<crate::http::HttpSettings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let sources = crate::config::Sources::open(None).expect("the default settings load");
        crate::http::HttpSettings::read(&sources).expect("the door's default settings load")
    })
}

/// A failure must be the caller's fault: a 4xx code, never a 5xx.
fn assert_client_error(code: Code, message: &dyn std::fmt::Display) {
    assert!(code.is_client_error(), "a server error ({code}) for bad input: {message}");
}

/// The default limits with the pixel cap scaled down to 4 MP: under fuzzing's instrumentation
/// a decoder runs some 250 times slower, so that a 5 MP image (41 ms in a release build) takes
/// over libFuzzer's 10 s. The same checks run against the smaller cap.
fn fuzz_image_limits() -> &'static ImageLimits {
    static LIMITS: OnceLock<ImageLimits> = OnceLock::new();
    LIMITS.get_or_init(|| ImageLimits { max_image_pixels: limits().max_image_pixels.min(1 << 22), ..*limits() })
}

/// Image bytes through [`decode::decode`] under [`fuzz_image_limits`]: an image comes out within
/// the limits, or an image error.
pub fn decode_image(data: &[u8]) {
    let limits = fuzz_image_limits();
    match decode::decode(data, limits) {
        Ok(image) => {
            let (w, h) = image.dimensions();
            assert!(w > 0 && h > 0, "an empty {w}x{h} image decoded");
            assert!(
                w <= limits.max_image_side
                    && h <= limits.max_image_side
                    && u64::from(w) * u64::from(h) <= limits.max_image_pixels,
                "a {w}x{h} image passed the limits"
            );
        }
        Err(e) => assert_client_error(e.code(), &e),
    }
}

/// The boundary of [`multipart_form`]'s bodies.
pub const BOUNDARY: &str = "visage-fuzz";

/// A `multipart/form-data` body (boundary [`BOUNDARY`]) after a selector byte: bit 0 picks the
/// image fields of the CompreFace verify route instead of Visage's own.
pub fn multipart_form(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    read_form(&format!("multipart/form-data; boundary={BOUNDARY}"), body, selector & 1 == 1);
}

/// A request body after a selector byte: bit 0 as in [`multipart_form`], bits 1-2 the content
/// type (JSON mostly, with base64 images and data URLs; else a raw image or another type).
pub fn json_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = match (selector >> 1) & 3 {
        0 | 1 => "application/json",
        2 => "image/png",
        _ => "text/plain",
    };
    read_form(content_type, body, selector & 1 == 1);
}

/// Reads a body as the routes do ([`Form::read`], or [`Form::read_with`] the CompreFace verify
/// route's fields), then asks it for what the routes ask.
fn read_form(content_type: &str, body: &[u8], compreface: bool) {
    let (req, mut payload) =
        TestRequest::default().insert_header((CONTENT_TYPE, content_type)).set_payload(body.to_vec()).to_http_parts();
    let form_limits = crate::http::form_limits_for(&http_defaults().server, limits());
    let limit = form_limits.body;
    let images: &[&str] = if compreface { &["source_image", "target_image"] } else { &["image", "image_a", "image_b"] };
    futures_executor::block_on(async {
        let payload = web::Payload::from_request(&req, &mut payload).await.expect("a payload");
        let form = if compreface {
            Form::read_with(&req, payload, form_limits, images).await
        } else {
            Form::read(&req, payload, form_limits).await
        };
        let mut form = match form {
            Ok(form) => form,
            Err(e) => return assert_client_error(e.code, &e),
        };
        let fields = [
            form.get::<f32>("threshold").map(drop),
            form.get::<String>("subject_id").map(drop),
            form.get::<usize>("k").map(drop),
            form.get::<Vec<f32>>("embedding").map(drop),
            form.get::<bool>("aligned").map(drop),
            form.get::<serde_json::Value>("attributes").map(drop),
        ];
        for e in fields.into_iter().filter_map(Result::err) {
            assert_client_error(e.code, &e);
        }
        for name in images {
            match form.image(name) {
                Ok(bytes) => {
                    assert!(bytes.len() <= limit, "a {} byte image passed the {limit} byte limit", bytes.len())
                }
                Err(e) => assert_client_error(e.code, &e),
            }
        }
    });
}

/// True when `path` is absolute or climbs above its root.
fn escapes(path: &Path) -> bool {
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// What must hold of every entry of a source: a valid subject id, and bytes within the limit.
fn check_entry(entry: &Entry, read: &mut dyn FnMut() -> ReadResult, max: usize) -> Option<Vec<u8>> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@');
    assert!(entry.subject.len() <= 128 && entry.subject.chars().all(valid), "subject id {:?}", entry.subject);
    let bytes = read().ok()?;
    assert!(bytes.len() <= max, "a {} byte member passed the {max} byte limit", bytes.len());
    Some(bytes)
}

/// A zip, tar or tar.gz archive through [`walk_archive`] (what an archive job walks): no
/// member outside the archive's root is read, and each is read within the size limit.
pub fn archive(data: &[u8]) {
    let max = limits().max_image_bytes;
    // The service's default caps (enroll.max_archive_*), scaled down to fuzzing's memory.
    let caps = ArchiveLimits { bytes: 256 << 20, entries: 100_000 };
    let _ = walk_archive(Cursor::new(data), max, caps, &mut |entry, read| {
        if escapes(Path::new(&entry.name)) {
            // Reported in the job's report, never read.
            assert!(read().is_err(), "member {:?} escapes the archive and was read", entry.name);
        } else {
            check_entry(&entry, read, max);
        }
        ControlFlow::Continue(())
    });
}

/// A folder of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("visage-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Self(dir)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&self.0)).expect("a scratch folder");
        std::fs::write(&path, bytes).expect("a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The one photo beside a fuzzed manifest.
const PHOTO: &[u8] = b"photo bytes";

/// A manifest after a selector byte (CSV, JSON array or JSON Lines), walked as a server job
/// walks it (confined to its folder, which holds one photo): rows read only files inside it.
pub fn manifest(data: &[u8]) {
    let Some((&selector, text)) = data.split_first() else { return };
    let dir = Scratch::new();
    dir.write("a/1.jpg", PHOTO);
    let path = dir.write(["m.csv", "m.json", "m.jsonl"][usize::from(selector) % 3], text);
    let roots = [dir.0.clone()];
    let max = limits().max_image_bytes;
    let read_limits = ReadLimits { item_bytes: max, archive: ArchiveLimits::NONE };
    let walked = Source::Manifest(path).walk(Some(&roots), read_limits, &mut |entry, read| {
        if let Some(bytes) = check_entry(&entry, read, max) {
            assert!(bytes == PHOTO || bytes == text, "row {:?} read a file outside its folder", entry.name);
        }
        ControlFlow::Continue(())
    });
    if let Err(e) = walked {
        assert_client_error(e.code(), &e);
    }
}

/// A `.npy` and its subjects CSV: the first two bytes (little-endian) give the CSV's length (0:
/// no CSV), the CSV follows, then the `.npy`.
pub fn embeddings_npy(data: &[u8]) {
    let [a, b, rest @ ..] = data else { return };
    let (csv, npy) = rest.split_at(usize::from(u16::from_le_bytes([*a, *b])).min(rest.len()));
    let dir = Scratch::new();
    let file = dir.write("e.npy", npy);
    let subjects = (!csv.is_empty()).then(|| dir.write("labels.csv", csv));
    read_embeddings(&EmbeddingsFile { file, subjects });
}

/// A JSON Lines embeddings file.
pub fn embeddings_jsonl(data: &[u8]) {
    let dir = Scratch::new();
    read_embeddings(&EmbeddingsFile { file: dir.write("e.jsonl", data), subjects: None });
}

/// An embeddings file read as an import job reads it (its checks, then every row, resumed once
/// after the first) and as `visage eval --distractors-file` reads it (no labels).
fn read_embeddings(file: &EmbeddingsFile) {
    let dim = import::check_file(file, MODEL, None).unwrap_or_else(|e| {
        assert_client_error(e.code(), &e);
        None
    });
    let read = Reader::open(&file.file, file.subjects.as_deref()).and_then(|mut reader| {
        reader.count()?;
        reader.skip(1)?;
        let mut rows = Vec::new();
        while reader.read_batch(64, &mut rows)? {
            for n in rows.drain(..) {
                if let Ok(row) = n.row {
                    let dim = dim.or(reader.dim()).unwrap_or(row.vector.len());
                    let _ = embeddings::unit(row.vector, dim);
                }
            }
        }
        Ok(())
    });
    let distractors = Reader::open(&file.file, None).and_then(|mut reader| {
        let (dim, mut vectors) = (reader.dim().unwrap_or(2), Vec::new());
        while reader.read_vectors(64, dim, Some(MODEL), &mut vectors)? > 0 {
            vectors.clear();
        }
        Ok(())
    });
    for e in [read.err(), distractors.err()].into_iter().flatten() {
        assert_client_error(e.code(), &e);
    }
}

/// An LFW pairs file (UTF-8, as `visage eval --pairs` reads it), parsed and resolved.
pub fn lfw_pairs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(pairs) = pairs::parse(text) else { return };
    let samples: Vec<Sample> = pairs
        .iter()
        .take(4)
        .map(|p| Sample {
            label: p.a.0.clone(),
            item: format!("lfw/{}/{}.jpg", p.a.0, pairs::lfw_stem(&p.a.0, p.a.1)),
            vector: vec![1.0],
        })
        .collect();
    let (found, missing) = pairs::resolve(&pairs, &samples);
    assert_eq!(found.len() + missing.len(), pairs.len(), "every pair is resolved or missing");
}

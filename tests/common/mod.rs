//! Shared test fixtures: the real photos fetched by scripts/fetch_testdata.sh and one pipeline
//! built from the default configuration with the real models.
#![allow(dead_code)]

pub mod qdrant;
pub mod server;
pub mod webdriver;

use std::path::PathBuf;
use std::sync::OnceLock;

use visage::pipeline::Face;
use visage::{Pipeline, Settings};

/// Folder of test photos (`VISAGE_TESTDATA`, else the set-up script's cache).
pub fn testdata() -> PathBuf {
    let dir = std::env::var_os("VISAGE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/visage/testdata"));
    assert!(dir.join("obama.jpg").is_file(), "test photos missing in {}: run ./scripts/test.sh", dir.display());
    dir
}

/// Path of one test photo.
pub fn photo(name: &str) -> PathBuf {
    testdata().join(name)
}

/// Bytes of one test photo.
pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(photo(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Default settings (config/default.toml + environment), as the binary loads them.
pub fn settings() -> Settings {
    Settings::load(None).expect("default settings load")
}

/// The default pipeline (YuNet + SFace), loaded once per test binary.
pub fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| Pipeline::load(&settings()).expect("models load: run ./scripts/setup.sh"))
}

/// All faces of a test photo with embeddings.
pub fn faces(name: &str) -> Vec<Face> {
    let p = pipeline();
    let image = p.decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    p.faces(&image).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The single face of a one-face photo.
pub fn one_face(name: &str) -> Face {
    let mut f = faces(name);
    assert_eq!(f.len(), 1, "{name}: expected exactly one face, got {}", f.len());
    f.remove(0)
}

/// Cosine similarity of two faces' embeddings.
pub fn cosine(a: &Face, b: &Face) -> f32 {
    a.embedding.cosine(&b.embedding).expect("same embedder")
}

/// Writes a photo (by extension) under `dir`, creating folders.
pub fn save(image: &image::RgbImage, dir: &std::path::Path, rel: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Copies a test photo to `dir/rel`.
pub fn copy(name: &str, dir: &std::path::Path, rel: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(photo(name), &path).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// A decoded test photo.
pub fn rgb(name: &str) -> image::RgbImage {
    pipeline().decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `subjects` subject folders `s000`, `s001`, ... under `dir`, each with the same three real
/// one-face photos (Obama, Biden, the astronaut): 3 × `subjects` items, every one enrollable.
pub fn repeated_set(dir: &std::path::Path, subjects: usize) -> usize {
    for s in 0..subjects {
        for name in ["obama.jpg", "biden.jpg", "astronaut.png"] {
            copy(name, dir, &format!("s{s:03}/{name}"));
        }
    }
    subjects * 3
}

/// A labelled folder in LFW's naming (`Name/Name_0001.jpg`) from the real photos: several
/// photos of Obama, Hopper, Biden and the astronaut (real ones and photometric/geometric
/// variants), the six people of t1.jpg cropped out (two variants each), the three of faces.jpg
/// (one photo each: identities with a single photo), and one photo without a face. Returns the
/// number of photos per subject that hold a face.
pub fn labelled_set(root: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    use image::imageops;
    let mut counts = std::collections::BTreeMap::new();
    let mut put = |name: &str, image: &image::RgbImage| {
        let n = counts.entry(name.to_string()).or_insert(0);
        *n += 1;
        save(image, root, &format!("{name}/{name}_{n:04}.png"));
    };
    for photo in ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama_q20.jpg"] {
        put("Barack_Obama", &rgb(photo));
    }
    let obama = rgb("obama2.jpg");
    put("Barack_Obama", &imageops::flip_horizontal(&obama));
    for photo in ["hopper.jpg", "hopper_gray.jpg", "hopper_orientation_6.jpg"] {
        put("Grace_Hopper", &rgb(photo));
    }
    for photo in ["biden.jpg", "astronaut.png"] {
        let name = if photo == "biden.jpg" { "Joe_Biden" } else { "Eileen_Collins" };
        let image = rgb(photo);
        put(name, &image);
        put(name, &imageops::flip_horizontal(&image));
        put(name, &imageops::colorops::brighten(&image, -40));
    }
    for (photo, prefix, both) in [("t1.jpg", "T1_Person", true), ("faces.jpg", "Tracking_Person", false)] {
        let image = rgb(photo);
        let faces = pipeline().detect(&image).unwrap();
        for (i, f) in faces.iter().enumerate() {
            let (w, h) = (f.bbox.width(), f.bbox.height());
            let x = (f.bbox.x1 - w * 0.5).max(0.0) as u32;
            let y = (f.bbox.y1 - h * 0.5).max(0.0) as u32;
            let crop = imageops::crop_imm(&image, x, y, (w * 2.0) as u32, (h * 2.0) as u32).to_image();
            let crop = imageops::resize(&crop, crop.width() * 2, crop.height() * 2, imageops::FilterType::CatmullRom);
            let name = format!("{prefix}_{}", i + 1);
            put(&name, &crop);
            if both {
                put(&name, &imageops::flip_horizontal(&crop));
            }
        }
    }
    copy("coffee.png", root, "Nobody/Nobody_0001.png");
    counts
}

/// Mirrors the photos of `store` into `linked` as symbolic links, file by file, except the
/// subject folder `linked_folder`, which becomes one link to its folder in `store`.
#[cfg(unix)]
pub fn link_set(store: &std::path::Path, linked: &std::path::Path, linked_folder: &str) {
    for entry in walkdir::WalkDir::new(store).min_depth(1).max_depth(1) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_str().unwrap().to_string();
        std::fs::create_dir_all(linked).unwrap();
        if name == linked_folder || !entry.file_type().is_dir() {
            std::os::unix::fs::symlink(entry.path(), linked.join(&name)).unwrap();
            continue;
        }
        for photo in std::fs::read_dir(entry.path()).unwrap() {
            let photo = photo.unwrap();
            std::fs::create_dir_all(linked.join(&name)).unwrap();
            std::os::unix::fs::symlink(photo.path(), linked.join(&name).join(photo.file_name())).unwrap();
        }
    }
}

/// Writes `rows` as a float32 `[N, D]` `.npy` (C order).
pub fn write_npy(path: &std::path::Path, rows: &[Vec<f32>]) {
    use npyz::WriterBuilder as _;
    let dim = rows.first().map_or(0, Vec::len);
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows.len() as u64, dim as u64])
        .writer(file)
        .begin_nd()
        .unwrap();
    for r in rows {
        w.extend(r.iter().copied()).unwrap();
    }
    w.finish().unwrap();
}

/// Adds one synthetic face (vector `v`, embedder `model`) to `subject` straight through the
/// gallery, as an enrolment would after the pipeline; returns its face id.
pub fn add_vector(g: &visage::gallery::Gallery, model: &str, subject: &str, v: &[f32], tag: &str) -> u64 {
    use visage::pipeline::detect::{BBox, Detection};
    let e = visage::pipeline::embed::Embedding { model: std::sync::Arc::from(model), vector: v.to_vec() };
    let detection =
        Detection { bbox: BBox { x1: 1.0, y1: 2.0, x2: 50.0, y2: 60.0 }, score: 0.9, landmarks: [[1.0; 2]; 5] };
    let face = visage::gallery::NewFace {
        model: &e.model,
        vector: &e.vector,
        detection: &detection,
        image_sha256: tag,
        external_id: None,
        quality: None,
        crop: None,
    };
    g.add_face(subject, &e, face).unwrap().0.id
}

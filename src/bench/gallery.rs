//! `visage bench gallery`: a synthetic gallery file shaped like real face embeddings
//! ([`crate::synth`]), for `visage import` at MegaFace scale. With the same size, shape,
//! dimension and seed it holds exactly the gallery that `cargo bench --bench index` builds, so
//! a figure measured through the commands can be set beside the index benchmark's.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use crate::error::Result;
use crate::service::{EmbeddingRecord as Record, EmbeddingsWriter as Writer};
use crate::synth::{Identities, Rng, Shape};

/// `visage bench gallery` options.
#[derive(Debug, Args)]
pub struct GalleryOptions {
    /// Output: FILE.npy (with FILE.subjects.csv beside it) or FILE.jsonl.
    #[arg(long, value_name = "FILE.npy|FILE.jsonl")]
    pub out: PathBuf,
    /// Faces in the file (rounded up to whole identities).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// `isotropic` (MegaFace-like, 2 photos per person) or `clustered` (10 per person).
    #[arg(long, default_value = "isotropic")]
    pub shape: Shape,
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// The index benchmark's seed (42) gives its gallery.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Model id written into a .jsonl's rows (a .npy carries none; `visage import --model`).
    #[arg(long, default_value = "synthetic")]
    pub model: String,
}

/// Writes the file; returns a summary (rows, identities, seconds, paths).
pub fn gallery(opts: &GalleryOptions) -> Result<Value> {
    let started = Instant::now();
    let per = opts.shape.per_identity();
    let identities: Identities = opts.shape.identities(opts.rows.div_ceil(per), opts.dim, opts.seed);
    let rows = identities.len() * per;
    let mut writer = Writer::create(&opts.out, rows as u64, opts.dim)?;
    // The sequence of `synth::gallery(&identities, per, seed + 1)`, one face at a time.
    let mut rng = Rng::new(opts.seed + 1);
    let width = identities.len().to_string().len();
    for i in 0..identities.len() {
        let subject = format!("p{i:0width$}");
        for _ in 0..per {
            let vector = identities.sample(i, &mut rng);
            writer.write(&Record {
                subject: &subject,
                external_id: None,
                name: "",
                model: &opts.model,
                vector: &vector,
            })?;
        }
    }
    let files = writer.finish()?;
    Ok(json!({
        "rows": rows,
        "identities": identities.len(),
        "per_identity": per,
        "shape": opts.shape.name(),
        "dim": opts.dim,
        "seed": opts.seed,
        "files": files,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::EmbeddingsReader as Reader;
    use crate::synth::gallery as synth_gallery;

    #[test]
    fn the_file_holds_the_index_benchmarks_gallery_with_a_subject_per_identity() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("g.npy");
        let opts = GalleryOptions {
            out: out.clone(),
            rows: 9,
            shape: Shape::Isotropic,
            dim: 16,
            seed: 7,
            model: "synthetic".into(),
        };
        let summary = gallery(&opts).unwrap();
        assert_eq!((summary["rows"].as_u64(), summary["identities"].as_u64()), (Some(10), Some(5)));
        let expected = synth_gallery(&Shape::Isotropic.identities(5, 16, 7), 2, 8);
        let mut reader = Reader::open(&out, None).unwrap();
        let mut rows = Vec::new();
        while reader.read_batch(100, &mut rows).unwrap() {}
        assert_eq!(rows.len(), 10);
        for (i, row) in rows.iter().enumerate() {
            let row = row.row.as_ref().expect("a valid row");
            assert_eq!(row.subject.as_deref(), Some(format!("p{}", i / 2).as_str()));
            assert_eq!(row.vector, expected.row(i));
        }
    }
}

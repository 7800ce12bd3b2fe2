//! `cargo bench --features testing --bench index [-- SIZE... --shape=clustered|isotropic --dim=N --queries=N
//! --lambda=X --lambdas=X,Y --kernels=scalar,avx2,avx512 --hnsw-max=N --faiss=PYTHON --faiss-kinds=hnsw,ivf,sq8,flat
//! --faiss-hnsw-max=N --qdrant=URL[,URL] --qdrant-key=KEY --qdrant-configs=exact,hnsw,hnsw-int8
//! --qdrant-efs=128,512]`: every engine on synthetic galleries of both shapes against exact
//! search and, with `--faiss`, FAISS, with `--qdrant` a running Qdrant (scripts/bench_qdrant.sh
//! starts one), on the same vectors; see `visage::index::bench`.

use std::path::PathBuf;

use visage::index::bench::{
    default_faiss_script, run, FaissOptions, IndexBenchOptions, QdrantBenchOptions, QdrantConfig,
};
use visage::index::QdrantSettings;
use visage::synth::Shape;

fn main() {
    let mut opts = IndexBenchOptions::default();
    let mut sizes = Vec::new();
    let (mut qdrant_configs, mut qdrant_efs) = ("exact,hnsw,hnsw-int8".to_string(), vec![128u64, 512]);
    let mut qdrant_key = String::new();
    for arg in std::env::args().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or(("", arg.as_str()));
        let number = value.parse::<f64>().ok();
        match (key, number) {
            ("", Some(v)) => sizes.push(v as usize),
            ("--dim", Some(v)) => opts.dim = v as usize,
            ("--queries", Some(v)) => opts.queries = v as usize,
            ("--baseline-queries", Some(v)) => opts.baseline_queries = v as usize,
            ("--lambda", Some(v)) => opts.scan.lambda = v as f32,
            ("--hnsw-max", Some(v)) => opts.hnsw_max = v as usize,
            ("--threshold", Some(v)) => opts.threshold = v as f32,
            ("--kernels", _) => opts.kernels = value.split(',').filter_map(|x| x.parse().ok()).collect(),
            ("--lambdas", _) => opts.lambdas = value.split(',').filter_map(|x| x.parse().ok()).collect(),
            ("--shape", _) => {
                opts.shapes = match value.parse::<Shape>() {
                    Ok(shape) => vec![shape],
                    Err(_) => opts.shapes,
                }
            }
            ("--faiss", _) => {
                opts.faiss = Some(FaissOptions {
                    python: PathBuf::from(value),
                    script: default_faiss_script(),
                    kinds: "hnsw,ivf,sq8,flat".into(),
                    hnsw_max: 100_000,
                })
            }
            ("--faiss-kinds", _) => opts.faiss.iter_mut().for_each(|f| f.kinds = value.to_string()),
            ("--faiss-hnsw-max", Some(v)) => opts.faiss.iter_mut().for_each(|f| f.hnsw_max = v as usize),
            ("--qdrant", _) => {
                let settings =
                    QdrantSettings { url: value.split(',').map(str::to_string).collect(), ..Default::default() };
                opts.qdrant = Some(QdrantBenchOptions { settings, configs: Vec::new() });
            }
            ("--qdrant-key", _) => qdrant_key = value.to_string(),
            ("--qdrant-configs", _) => qdrant_configs = value.to_string(),
            ("--qdrant-efs", _) => qdrant_efs = value.split(',').filter_map(|x| x.parse().ok()).collect(),
            _ if arg == "--bench" => {} // cargo's own
            _ => eprintln!("ignoring {arg}"),
        }
    }
    if let Some(q) = &mut opts.qdrant {
        q.settings.api_key = qdrant_key;
        q.configs = qdrant_configs.split(',').filter_map(|c| QdrantConfig::parse(c, &qdrant_efs)).collect();
    }
    if !sizes.is_empty() {
        opts.sizes = sizes;
    }
    if let Err(e) = run(&opts) {
        eprintln!("index bench failed: {e}");
        std::process::exit(1);
    }
}

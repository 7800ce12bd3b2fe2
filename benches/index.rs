//! `cargo bench --bench index [-- SIZE... --dim=N --queries=N --m=N --efc=N --ef=N]`: exact vs
//! HNSW on clustered synthetic galleries; see `visage::index::bench`.

use visage::index::bench::{run, IndexBenchOptions};

fn main() {
    let mut opts = IndexBenchOptions::default();
    let mut sizes = Vec::new();
    for arg in std::env::args().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or(("", arg.as_str()));
        let Ok(v) = value.parse::<usize>() else { continue }; // e.g. cargo's own `--bench`
        match key {
            "" => sizes.push(v),
            "--dim" => opts.dim = v,
            "--queries" => opts.queries = v,
            "--m" => opts.hnsw.max_nb_conn = v,
            "--efc" => opts.hnsw.ef_construction = v,
            "--ef" => opts.hnsw.ef_search = v,
            _ => eprintln!("ignoring {arg}"),
        }
    }
    if !sizes.is_empty() {
        opts.sizes = sizes;
    }
    if let Err(e) = run(&opts) {
        eprintln!("index bench failed: {e}");
        std::process::exit(1);
    }
}

//! `visage bench pipeline`: per-stage median latency on real photos, and the ratio of the
//! end-to-end time to the time spent inside the neural networks (the floor any pipeline pays).

use std::path::PathBuf;

use crate::error::{Result, VisageError};
use crate::service::Engine;

/// Prints one line per photo and stage, then the overall overhead ratio.
pub fn pipeline(engine: &Engine, images: &[PathBuf], runs: usize) -> Result<()> {
    let photos = images
        .iter()
        .map(|path| std::fs::read(path).map_err(|e| VisageError::io(path.display(), e)))
        .collect::<Result<Vec<_>>>()?;
    println!("image\tfaces\tdecode\tdet_prep\tdet_model\tdet_total\talign\tembed_model\tend_to_end\tratio");
    let (mut total_e2e, mut total_model) = (0.0, 0.0);
    for (path, p) in images.iter().zip(engine.profile(&photos, runs)?) {
        total_e2e += p.end_to_end;
        total_model += p.model();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{name}\t{}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.3}\t{:.2}\t{:.2}\t{:.3}",
            p.faces,
            p.decode,
            p.det_prep,
            p.det_model,
            p.det_total,
            p.align,
            p.embed_model,
            p.end_to_end,
            p.end_to_end / p.model()
        );
    }
    println!("overall: end-to-end / model time = {:.3} (medians in ms, {runs} runs each)", total_e2e / total_model);
    Ok(())
}

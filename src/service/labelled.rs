//! A labelled source (folder, archive or manifest) embedded photo by photo, through the same
//! reading, decoding and gating as a job but with nothing stored: what an evaluation starts from.

use std::collections::HashSet;

use super::{assemble, Engine};
use std::ops::ControlFlow;

use crate::enroll::{process, Gate, Options, Outcome, ReadLimits, Source};
use crate::error::Result;
use crate::eval::Sample;

/// A photo of the source that gave no usable face.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unembedded {
    pub item: String,
    /// As a job records it.
    pub outcome: Outcome,
    pub reason: String,
}

impl Engine {
    /// Photos in `source` (None when it cannot tell without reading them all).
    pub fn count_source(&self, source: &Source) -> Result<Option<u64>> {
        source.count(None, self.settings.enroll.archive_limits(), &|| false)
    }

    /// The first `n` photos of `source` that read and decode, as their bytes (a benchmark's
    /// sample), within the engine's size limits.
    pub fn sample_source(&self, source: &Source, n: usize) -> Result<Vec<Vec<u8>>> {
        let pipeline = self.pipeline()?;
        let limits = ReadLimits {
            item_bytes: self.settings.limits.max_image_bytes,
            archive: self.settings.enroll.archive_limits(),
        };
        let mut photos = Vec::new();
        source.walk(None, limits, &mut |_, read| {
            if let Ok(bytes) = read() {
                if pipeline.decode(&bytes).is_ok() {
                    photos.push(bytes);
                }
            }
            if photos.len() >= n {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(photos)
    }

    /// Embeds every photo of `source` on the engine's workers, `gate` deciding which face of a
    /// photo counts; `aligned`: the photos are aligned face crops already. `each` is called once
    /// per photo, in completion order, with its sample (labelled by its subject folder's name)
    /// or why it has none.
    pub fn embed_labelled(
        &self,
        source: &Source,
        gate: Gate,
        aligned: bool,
        each: &mut dyn FnMut(std::result::Result<Sample, Unembedded>),
    ) -> Result<()> {
        let opts = Options { gate, aligned, ..assemble::job_options(&self.settings, self.workers) };
        process::process(self.pipeline()?, source, &HashSet::new(), &opts, &mut |p| {
            each(match p.result {
                Ok(face) if !p.entry.subject.is_empty() => {
                    Ok(Sample { label: p.entry.subject_name, item: p.entry.name, vector: face.embedding.vector })
                }
                Ok(_) => Err(Unembedded {
                    item: p.entry.name,
                    outcome: Outcome::Invalid,
                    reason: "not in a subject folder".into(),
                }),
                Err((outcome, reason)) => Err(Unembedded { item: p.entry.name, outcome, reason }),
            });
            Ok(())
        })
        .map(drop)
    }
}

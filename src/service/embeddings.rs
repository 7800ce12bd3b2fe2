//! Embeddings computed elsewhere, as `visage import` takes them: which model they are taken to be
//! of, and how long their vectors are, before the gallery is opened for them.

use crate::config::Settings;
use crate::enroll::{import, EmbeddingsFile};
use crate::error::{Code, Result, VisageError};
use crate::gallery::{Binding, Gallery};

pub use crate::enroll::import::item_position;

/// The configured embedder's model id and vector length (when its file declares it), read from
/// the model file without running it.
pub fn configured_embedder(settings: &Settings) -> Result<(String, Option<usize>)> {
    crate::pipeline::runtime::describe(&settings.embedder.model, "face embedder model")
}

/// The model and vector length of the embeddings in `file`, for the gallery in
/// `server.data_dir`: `given`, else the configured embedder's id (read from the model file
/// without running it), else the gallery's own model. A gallery holding faces of another model,
/// or a file whose rows disagree, is refused.
pub fn import_binding(settings: &Settings, file: &EmbeddingsFile, given: Option<&str>) -> Result<(String, usize)> {
    let binding = Gallery::binding(&settings.server.data_dir)?;
    let (model, known_dim) = resolve_model(settings, given, binding.as_ref())?;
    match (known_dim, import::check_file(file, &model, known_dim)?) {
        (Some(d), _) | (None, Some(d)) => Ok((model, d)),
        (None, None) => Err(VisageError::unprocessable(
            Code::InvalidSource,
            format!("{}: no readable row tells the vectors' length", file.file.display()),
        )),
    }
}

/// The model the embeddings are taken to be of, and the length of its vectors when known.
fn resolve_model(
    settings: &Settings,
    given: Option<&str>,
    binding: Option<&Binding>,
) -> Result<(String, Option<usize>)> {
    let bound = binding.filter(|b| b.faces > 0);
    let configured = configured_embedder(settings);
    let model = match (given, &configured, bound.and_then(|b| b.model.as_ref())) {
        (Some(m), _, _) => m.to_string(),
        (None, Ok((id, _)), _) => id.clone(),
        (None, Err(_), Some(m)) => m.clone(),
        (None, Err(e), None) => {
            return Err(VisageError::unprocessable(
                Code::ModelRequired,
                format!("{e}; or name the embeddings' model with --model (a new gallery is bound to it)"),
            ))
        }
    };
    if let Some(b) = bound {
        let held = b.model.as_deref().unwrap_or_default();
        if held != model {
            return Err(VisageError::conflict(
                Code::IncompatibleEmbeddings,
                format!(
                    "the gallery holds embeddings of model {held}, these are of {model}; embeddings of different models cannot be compared"
                ),
            ));
        }
        return Ok((model, b.dim));
    }
    let known = configured.ok().filter(|(id, _)| *id == model).and_then(|(_, dim)| dim);
    Ok((model, known))
}

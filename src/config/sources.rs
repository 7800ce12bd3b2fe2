//! Where the settings come from, in order: `config/default.toml` (compiled in), an optional file,
//! then `VISAGE_<SECTION>__<KEY>` environment variables. Every part of the program reads its own
//! settings from the same [`Sources`]; [`Sources::check`] refuses keys none of them has.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::unknown::{env_name, env_path, meant, misspelt_env, tree_of, union, unknown_keys, Unknown};
use crate::error::{Result, VisageError};

pub(super) const DEFAULTS: &str = include_str!("../../config/default.toml");

fn invalid(e: impl std::fmt::Display) -> VisageError {
    VisageError::Config(e.to_string())
}

fn defaults() -> ::config::File<::config::FileSourceString, ::config::FileFormat> {
    ::config::File::from_str(DEFAULTS, ::config::FileFormat::Toml)
}

/// The layered sources of the settings, merged.
#[derive(Debug, Clone)]
pub struct Sources {
    file: Option<PathBuf>,
    merged: ::config::Config,
}

impl Sources {
    /// The defaults, then `file` (if given), then the environment.
    pub fn open(file: Option<&Path>) -> Result<Self> {
        let mut builder = ::config::Config::builder().add_source(defaults());
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid(format!("config file {} not found", path.display())));
            }
            builder = builder.add_source(::config::File::from(path));
        }
        let environment =
            ::config::Environment::with_prefix("VISAGE").prefix_separator("_").separator("__").try_parsing(true);
        let merged = builder.add_source(environment).build().map_err(invalid)?;
        Ok(Self { file: file.map(Path::to_path_buf), merged })
    }

    /// One part's settings (its fields of the tables it reads; the rest is ignored).
    pub fn read<T: DeserializeOwned>(&self) -> Result<T> {
        self.merged.clone().try_deserialize().map_err(invalid)
    }

    /// A part's key tree: its settings from the defaults alone, serialized (options as null).
    pub fn known<T: DeserializeOwned + Serialize>() -> Result<Value> {
        let config = ::config::Config::builder().add_source(defaults()).build().map_err(invalid)?;
        let part: T = config.try_deserialize().map_err(invalid)?;
        serde_json::to_value(part).map_err(invalid)
    }

    /// Refuses every key of the file and every `VISAGE_` variable that is in none of `known`
    /// (the key trees of every part that reads these sources), naming the nearest known key.
    pub fn check(&self, known: &[Value]) -> Result<()> {
        let known = union(known);
        let mut refused = Vec::new();
        if let Some(path) = &self.file {
            let file = ::config::Config::builder().add_source(::config::File::from(path.as_path())).build();
            let given: Value = file.and_then(|c| c.try_deserialize()).map_err(invalid)?;
            for unknown in unknown_keys(&given, &known) {
                refused.push(format!("{} in {}{}", unknown.describe(), path.display(), hint(&unknown, false)));
            }
        }
        let mut variables: Vec<String> = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()).collect();
        variables.sort();
        for name in variables {
            if let Some(path) = env_path(&name) {
                for mut unknown in unknown_keys(&tree_of(&path), &known) {
                    unknown.nearest = meant(&unknown, &path, &known);
                    refused.push(format!("{} (from {name}){}", unknown.describe(), hint(&unknown, true)));
                }
            } else if let Some(meant) = misspelt_env(&name, &known) {
                refused.push(format!(
                    "{name} is not read: a setting's variable has `__` between section and key; did you mean {}?",
                    env_name(&meant)
                ));
            }
        }
        match refused.is_empty() {
            true => Ok(()),
            false => Err(invalid(refused.join("; "))),
        }
    }
}

/// `: did you mean `server.api_keys`?` (with its variable for one from the environment).
fn hint(unknown: &Unknown, env: bool) -> String {
    match &unknown.nearest {
        Some(path) if env => format!("; did you mean `{}` ({})?", path.join("."), env_name(path)),
        Some(path) => format!("; did you mean `{}`?", path.join(".")),
        None => String::new(),
    }
}

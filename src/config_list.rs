//! Settings that are lists, given either as a sequence (a TOML file) or as one comma-separated
//! string (an environment variable); shared by the modules that own such settings.

use std::path::PathBuf;

use serde::Deserialize;

/// A list given either as a sequence or as one comma-separated string (environment variables).
pub fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect(),
    })
}

/// A list of paths given either as a sequence or as one comma-separated string.
pub fn list_or_csv_paths<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<PathBuf>, D::Error> {
    Ok(list_or_csv(d)?.into_iter().map(PathBuf::from).collect())
}

//! Unknown settings. Every key a source gives (the file, a `VISAGE_` variable) must be in the
//! known tree: the defaults serialized, so that `#[serde(flatten)]` parts and options (null)
//! are in it too. A mistyped key is refused with the nearest known one instead of leaving the
//! default silently in force. A table that is empty in the defaults is an open map, whose keys
//! are the user's (`server.scoped_keys`): what is below it is the deserializer's to check. The
//! engine's settings have none (a test of their tree asserts that none of its tables is empty).

use serde_json::{Map, Value};

/// Prefix of the variables that are settings (`VISAGE_<SECTION>__<KEY>`).
const ENV_PREFIX: &str = "visage_";
/// Between the levels of a setting's variable name.
const ENV_SEPARATOR: &str = "__";
/// Most edits between `VISAGE_<SECTION>_<rest>` and a known key for the variable to be taken as
/// that setting with `_` for `__` (other `VISAGE_*` variables are not settings).
const ENV_TYPO_EDITS: usize = 2;

/// A key that no setting has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub path: Vec<String>,
    /// It is given a table (a section), not a value.
    pub table: bool,
    /// The known path at the same level nearest to it (edit distance).
    pub nearest: Option<Vec<String>>,
}

impl Unknown {
    /// `unknown setting `server.api_key`` or `unknown section `sever``.
    pub fn describe(&self) -> String {
        let what = if self.table { "section" } else { "setting" };
        format!("unknown {what} `{}`", self.path.join("."))
    }
}

/// The keys of `given` that `known` lacks, in order. Below a known leaf nothing is looked at:
/// whether the value fits is the deserializer's to say.
pub fn unknown_keys(given: &Value, known: &Value) -> Vec<Unknown> {
    let mut found = Vec::new();
    walk(given, known, &mut Vec::new(), &mut found);
    found
}

fn walk(given: &Value, known: &Value, path: &mut Vec<String>, found: &mut Vec<Unknown>) {
    let (Value::Object(given), Value::Object(known)) = (given, known) else { return };
    for (key, value) in given {
        path.push(key.clone());
        match known.get(key) {
            Some(known) if known.as_object().is_some_and(Map::is_empty) => {}
            Some(known) => walk(value, known, path, found),
            None => found.push(Unknown {
                path: path.clone(),
                table: value.is_object(),
                nearest: nearest(key, known.keys()).map(|k| [&path[..path.len() - 1], &[k]].concat()),
            }),
        }
        path.pop();
    }
}

fn nearest<'a>(key: &str, candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    candidates.min_by_key(|c| strsim::levenshtein(key, c)).cloned()
}

/// For a variable's `path`: the nearest key at the unknown level followed by the rest of the
/// path where that is a setting (`sever.api_keys` → `server.api_keys`), else the nearest key.
pub fn meant(unknown: &Unknown, path: &[String], known: &Value) -> Option<Vec<String>> {
    let nearest = unknown.nearest.as_ref()?;
    let whole = [&nearest[..], &path[unknown.path.len()..]].concat();
    Some(if unknown_keys(&tree_of(&whole), known).is_empty() { whole } else { nearest.clone() })
}

/// The union of key trees (the parts that read the same sources).
pub fn union<'a>(trees: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut all = Value::Object(Map::new());
    for tree in trees {
        merge(&mut all, tree);
    }
    all
}

fn merge(into: &mut Value, tree: &Value) {
    match (into, tree) {
        (Value::Object(into), Value::Object(tree)) => {
            for (key, value) in tree {
                merge(into.entry(key.clone()).or_insert_with(|| Value::Object(Map::new())), value);
            }
        }
        (into, tree) if into.as_object().is_some_and(Map::is_empty) => *into = tree.clone(),
        _ => {}
    }
}

/// The path a variable sets, read as the `config` crate reads it (lower-cased, the prefix
/// `VISAGE_` taken off, levels split at `__`); `None` when it is not of that form.
pub fn env_path(name: &str) -> Option<Vec<String>> {
    let rest = name.to_lowercase().strip_prefix(ENV_PREFIX)?.to_string();
    rest.contains(ENV_SEPARATOR).then(|| rest.split(ENV_SEPARATOR).map(String::from).collect())
}

/// The variable that sets `path` (`["server", "api_keys"]` → `VISAGE_SERVER__API_KEYS`).
pub fn env_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join(ENV_SEPARATOR)).to_uppercase()
}

/// A tree holding `path` alone, as the variable gives it.
pub fn tree_of(path: &[String]) -> Value {
    path.iter().rev().fold(Value::Null, |inner, key| Value::Object(Map::from_iter([(key.clone(), inner)])))
}

/// For a variable `VISAGE_<section>_<rest>` without `__`, where `<section>` is a known section
/// and `<rest>` (near) a key of it with `_` between levels: the path it was meant to set
/// (`VISAGE_SERVER_API_KEYS` → `server.api_keys`). Other variables (`VISAGE_LOG`,
/// `VISAGE_UI_REQUIRED`) are not settings and give `None`.
pub fn misspelt_env(name: &str, known: &Value) -> Option<Vec<String>> {
    let name = name.to_lowercase();
    let rest = name.strip_prefix(ENV_PREFIX).filter(|r| !r.contains(ENV_SEPARATOR))?;
    known.as_object()?.iter().find_map(|(section, keys)| {
        let tail = rest.strip_prefix(section.as_str())?.strip_prefix('_')?;
        let (edits, path) = leaves(keys, &mut Vec::new())
            .into_iter()
            .map(|path| (strsim::levenshtein(tail, &path.join("_")), path))
            .min_by_key(|(edits, _)| *edits)?;
        (edits <= ENV_TYPO_EDITS).then(|| [vec![section.clone()], path].concat())
    })
}

/// The paths of every leaf below `tree`.
fn leaves(tree: &Value, path: &mut Vec<String>) -> Vec<Vec<String>> {
    match tree {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| {
                path.push(key.clone());
                let found = leaves(value, path);
                path.pop();
                found
            })
            .collect(),
        _ => vec![path.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Value {
        json!({
            "server": {"address": "x", "api_keys": [], "workers": 0},
            "index": {"kind": "scan", "auto_threshold": 1, "scan": {"lambda": 3.0, "kernel": null},
                      "qdrant": {"url": [], "hnsw": {"m": 16}}},
            "ui": {"enabled": true},
        })
    }

    fn path(dotted: &str) -> Vec<String> {
        dotted.split('.').map(String::from).collect()
    }

    #[test]
    fn known_keys_pass_and_unknown_ones_are_named_with_the_nearest_at_their_level() {
        let given = json!({
            "server": {"address": "0.0.0.0:1", "api_key": ["k"]},
            "index": {"scan": {"kernal": "avx2", "kernel": "avx2"}, "qdrant": {"hnsw": {"m": 8}}},
            "sever": {"workers": 1},
        });
        let mut named: Vec<(String, String)> = unknown_keys(&given, &known())
            .iter()
            .map(|u| (u.describe(), u.nearest.clone().unwrap().join(".")))
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                ("unknown section `sever`".into(), "server".into()),
                ("unknown setting `index.scan.kernal`".into(), "index.scan.kernel".into()),
                ("unknown setting `server.api_key`".into(), "server.api_keys".into()),
            ]
        );
        // An option (null by default) is known; below a leaf the value's shape is serde's to judge.
        assert!(unknown_keys(&json!({"index": {"scan": {"kernel": "avx2"}}}), &known()).is_empty());
        assert!(unknown_keys(&json!({"server": {"address": {"x": 1}}}), &known()).is_empty());
        assert!(unknown_keys(&known(), &known()).is_empty());
    }

    #[test]
    fn the_union_of_trees_knows_every_part_s_keys() {
        let engine = json!({"server": {"data_dir": "data"}, "index": {"kind": "scan"}});
        let door = json!({"server": {"address": "x"}, "ui": {"enabled": true}});
        let all = union([&engine, &door]);
        assert_eq!(
            all,
            json!({"server": {"data_dir": "data", "address": "x"}, "index": {"kind": "scan"}, "ui": {"enabled": true}})
        );
        assert!(unknown_keys(&json!({"server": {"data_dir": "d", "address": "a"}}), &all).is_empty());
        assert_eq!(
            unknown_keys(&json!({"server": {"adress": "a"}}), &engine)[0].nearest,
            Some(path("server.data_dir"))
        );
    }

    #[test]
    fn variables_map_as_the_config_crate_maps_them() {
        assert_eq!(env_path("VISAGE_SERVER__API_KEYS"), Some(path("server.api_keys")));
        assert_eq!(env_path("visage_Index__Qdrant__URL"), Some(path("index.qdrant.url")));
        for not_a_setting in ["VISAGE_LOG", "VISAGE_CONFIG", "VISAGE_SERVER_API_KEYS", "OTHER__X", "VISAGEX__Y"] {
            assert_eq!(env_path(not_a_setting), None, "{not_a_setting}");
        }
        assert_eq!(env_name(&path("index.qdrant.url")), "VISAGE_INDEX__QDRANT__URL");
        let unknown = unknown_keys(&tree_of(&env_path("VISAGE_SERVER__API_KEY").unwrap()), &known());
        assert_eq!(unknown[0].path, path("server.api_key"));
        assert!(!unknown[0].table);
        let given = path("sever.api_keys");
        let unknown = &unknown_keys(&tree_of(&given), &known())[0];
        assert_eq!(meant(unknown, &given, &known()), Some(path("server.api_keys")), "the rest of the path kept");
        let given = path("sever.api_kes");
        let unknown = &unknown_keys(&tree_of(&given), &known())[0];
        assert_eq!(meant(unknown, &given, &known()), Some(path("server")), "no such setting: the section alone");
        assert!(unknown_keys(&tree_of(&path("index.qdrant.hnsw.m")), &known()).is_empty());
    }

    #[test]
    fn a_single_underscore_before_a_key_is_a_typo_other_variables_are_not_settings() {
        let k = known();
        assert_eq!(misspelt_env("VISAGE_SERVER_API_KEYS", &k), Some(path("server.api_keys")));
        assert_eq!(misspelt_env("VISAGE_SERVER_API_KEY", &k), Some(path("server.api_keys")));
        assert_eq!(misspelt_env("VISAGE_INDEX_QDRANT_URL", &k), Some(path("index.qdrant.url")));
        assert_eq!(misspelt_env("VISAGE_UI_ENABLED", &k), Some(path("ui.enabled")));
        for other in ["VISAGE_UI_REQUIRED", "VISAGE_LOG", "VISAGE_QDRANT_REQUIRED", "VISAGE_SERVER__API_KEYS"] {
            assert_eq!(misspelt_env(other, &k), None, "{other}");
        }
    }
}

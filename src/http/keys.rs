//! API keys as the HTTP door holds them: SHA-256 digests, checked in constant time. A configured
//! entry is either the key itself or `sha256:<64 hex digits>` (its digest, so that a config file
//! or an environment variable need not hold the key); plain entries are hashed at start-up and
//! only the digests are kept. A presented key is hashed and compared with every digest by
//! [`subtle`], without an early exit, so the time taken says nothing about the keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Configured key entries (`server.api_keys`, `server.read_keys`, `compat.*_keys`). Their
/// `Debug` shows only how many there are, so that printing the settings leaks no key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyList(pub Vec<String>);

impl std::fmt::Debug for KeyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyList({} keys, redacted)", self.0.len())
    }
}

impl std::ops::Deref for KeyList {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// Serialized as redacted as its `Debug` (the settings' key tree needs the field, never a key).
impl Serialize for KeyList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|_| "redacted"))
    }
}

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::config_list::list_or_csv(d).map(Self)
    }
}

/// What a key scoped to collections may do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopedRole {
    /// Recognition and the gallery's reads.
    Read,
    /// Also enrolment, deletion, renames and review.
    Write,
    /// Also jobs and applied calibrations.
    Admin,
}

/// One entry of `server.scoped_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedKey {
    pub role: ScopedRole,
    /// The only collections the key sees (`default` for the routes without a collection).
    pub collections: Vec<String>,
}

/// `server.scoped_keys`: `"<key or sha256:hex>" = { role, collections }`. Its `Debug` and its
/// serialization show no key.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ScopedKeys(pub BTreeMap<String, ScopedKey>);

impl std::fmt::Debug for ScopedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopedKeys({} keys, redacted)", self.0.len())
    }
}

impl Serialize for ScopedKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.values().enumerate().map(|(i, v)| (format!("redacted-{i}"), v)))
    }
}

/// The prefix of an entry that is a key's digest rather than the key.
pub const HASH_PREFIX: &str = "sha256:";

/// Accepted keys, as digests only.
#[derive(Clone, Default)]
pub struct KeySet {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({} keys)", self.digests.len())
    }
}

/// The digest an entry `sha256:<hex>` stands for (`sha256sum` of the key, without newline).
pub fn digest_of(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl KeySet {
    /// Parses configured entries (keys, or `sha256:<64 hex digits>`). An entry with the prefix
    /// but not 64 hex digits is refused rather than taken as a key.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let digests = entries
            .iter()
            .map(|entry| match entry.strip_prefix(HASH_PREFIX) {
                Some(hex_digest) => {
                    let bytes = hex::decode(hex_digest.trim()).ok().filter(|b| b.len() == 32);
                    let bytes = bytes.ok_or_else(|| {
                        format!("a key entry {HASH_PREFIX}... must be followed by 64 hex digits (a SHA-256)")
                    })?;
                    Ok(<[u8; 32]>::try_from(bytes.as_slice()).expect("32 bytes"))
                }
                None => Ok(digest_of(entry)),
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { digests })
    }

    /// The union of sets.
    pub fn union<'a>(sets: impl IntoIterator<Item = &'a KeySet>) -> Self {
        Self { digests: sets.into_iter().flat_map(|s| s.digests.iter().copied()).collect() }
    }

    /// No key configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `key` is one of the set: its digest is compared with every entry in constant time.
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Which entry `key` is, compared with every entry in constant time (no early exit).
    pub fn position(&self, key: &str) -> Option<usize> {
        let given = digest_of(key);
        let (found, at) = self.digests.iter().enumerate().fold((Choice::from(0), 0u64), |(found, at), (i, d)| {
            let eq = d.ct_eq(&given);
            (found | eq, u64::conditional_select(&at, &(i as u64), eq))
        });
        bool::from(found).then_some(at as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_and_hashed_entries_are_kept_as_digests_and_matched() {
        // sha256("s3cret-admin") as `printf %s s3cret-admin | sha256sum` prints it.
        let hashed = format!("{HASH_PREFIX}{}", hex::encode(Sha256::digest(b"s3cret-admin")));
        let set = KeySet::parse(&list(&["plain-key", &hashed])).unwrap();
        assert_eq!(set.digests, [digest_of("plain-key"), digest_of("s3cret-admin")]);
        assert!(set.contains("plain-key") && set.contains("s3cret-admin"));
        // The digest entry itself is not a key, nor are near misses.
        for wrong in [hashed.as_str(), "plain-ke", "plain-key ", "", "PLAIN-KEY"] {
            assert!(!set.contains(wrong), "{wrong:?}");
        }
        assert!(!format!("{set:?}").contains("plain"));
        assert_eq!(format!("{:?}", KeyList(list(&["plain-key"]))), "KeyList(1 keys, redacted)");
    }

    #[test]
    fn malformed_digest_entries_are_refused() {
        for bad in ["sha256:", "sha256:abc", &format!("sha256:{}", "zz".repeat(32))] {
            assert!(KeySet::parse(&list(&[bad])).is_err(), "{bad}");
        }
        assert!(KeySet::parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn the_comparison_is_subtle_s_constant_time_equality_over_whole_digests() {
        // Every entry is compared (no early exit): a set whose first entry matches and one whose
        // last does give the same answer through the same fold, and `ct_eq` on digests of keys
        // sharing a long prefix is false like on unrelated ones.
        let many: Vec<String> = (0..64).map(|i| format!("key-{i}")).collect();
        let set = KeySet::parse(&many).unwrap();
        assert!(set.contains("key-0") && set.contains("key-63") && !set.contains("key-64"));
        let (a, b) = (digest_of("prefix-shared-aaaaaaaa"), digest_of("prefix-shared-aaaaaaab"));
        assert!(!bool::from(a.ct_eq(&b)) && bool::from(a.ct_eq(&a)));
    }
}

//! Named API keys, stored as SHA-256 digests.
//!
//! The presented key is hashed and its digest compared with every stored
//! one in constant time, all of them, every time: how long a refusal takes
//! then says nothing about how close a guess came, nor which key it was
//! near.

use std::sync::Arc;

use ring::digest;
use subtle::ConstantTimeEq;

use crate::client::{Identity, Proof};

/// The API keys of one `[[auth]]` block.
pub struct ApiKeys {
    keys: Vec<([u8; 32], Arc<Identity>)>,
}

// === impl ApiKeys ===

impl ApiKeys {
    /// The keys of block `block`. The config has checked each digest is 64
    /// hex digits; one that is not would match nothing.
    pub fn new(block: &str, keys: &[crate::config::ApiKey]) -> Self {
        let keys = keys
            .iter()
            .filter_map(|k| {
                let digest = parse_hex(k.sha256.get_ref())?;
                let scopes = k.scopes.iter().map(|s| s.as_str().into()).collect();
                let identity = Identity::new(block, Proof::ApiKey, &k.name, scopes, Default::default());
                Some((digest, Arc::new(identity)))
            })
            .collect();
        Self { keys }
    }

    /// Whether the block has any key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The identity of the key `presented`, if it is one of them.
    pub fn find(&self, presented: &[u8]) -> Option<Arc<Identity>> {
        let asked = digest::digest(&digest::SHA256, presented);
        let mut found = None;
        for (stored, identity) in &self.keys {
            if bool::from(stored.ct_eq(asked.as_ref())) {
                found = Some(identity.clone());
            }
        }
        found
    }
}

/// The hex SHA-256 of `key`, as `api_keys` stores it and `switchyard
/// hash-key` prints it.
pub fn hash_key(key: &str) -> String {
    digest::digest(&digest::SHA256, key.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, secret: &str) -> crate::config::ApiKey {
        crate::config::ApiKey {
            name: name.into(),
            sha256: toml::Spanned::new(0..0, hash_key(secret)),
            scopes: vec!["tools:call".into()],
        }
    }

    #[test]
    fn a_key_is_found_by_its_digest_and_named() {
        let keys = ApiKeys::new("team", &[key("ci", "s3cret-ci"), key("ops", "s3cret-ops")]);
        assert_eq!(&*keys.find(b"s3cret-ops").unwrap().name, "ops");
        let ci = keys.find(b"s3cret-ci").unwrap();
        assert_eq!(&*ci.name, "ci");
        assert!(ci.has_scope("tools:call"));
        assert!(keys.find(b"s3cret-c").is_none());
        assert!(keys.find(b"").is_none());
    }

    #[test]
    fn the_digest_is_sha256_in_hex_upper_or_lower() {
        // The SHA-256 of "abc", from FIPS 180-2.
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let upper = hash_key("abc").to_uppercase();
        assert_eq!(parse_hex(&upper), parse_hex(&hash_key("abc")));
        assert!(parse_hex("zz").is_none());
        assert!(parse_hex(&"g".repeat(64)).is_none());
    }
}

//! Who a request is from, once a route's `[[auth]]` block has proven it.
//!
//! An identity is made by the `auth` module and carried in the request's
//! [`Client`](super::Client); everything that asks "who is this" (cache
//! keys, rate-limit buckets, session tokens, `[[authz]]` rules, the access
//! log) reads it from there.

use std::sync::Arc;

use ring::digest;
use serde_json::{Map, Value};

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A named API key.
    ApiKey,
    /// A bearer JWT the gateway verified.
    Jwt,
}

/// An authenticated caller.
#[derive(Debug)]
pub struct Identity {
    /// The principal's name: the API key's name, or the JWT's principal
    /// claim. What logs show and `principal = "…"` rules match.
    pub name: Arc<str>,
    /// How it was proven.
    pub proof: Proof,
    /// The scopes its key or token carries.
    pub scopes: Box<[Box<str>]>,
    /// The JWT's claims, for `claim = { … }` rules; empty for an API key.
    pub claims: Map<String, Value>,
    /// A digest of the auth block, the proof and the name: the principal in
    /// cache keys, rate-limit buckets and session tokens. Two tokens of one
    /// subject are one principal, whatever their scopes; what differs by
    /// scope is filtered per request, after the cache.
    pub digest: [u8; 16],
}

// === impl Identity ===

impl Identity {
    /// An identity named `name` by `block`'s `proof`.
    pub fn new(block: &str, proof: Proof, name: &str, scopes: Box<[Box<str>]>, claims: Map<String, Value>) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"switchyard identity v1\0");
        ctx.update(block.as_bytes());
        ctx.update(&[0, proof as u8, 0]);
        ctx.update(name.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&ctx.finish().as_ref()[..16]);
        Self { name: name.into(), proof, scopes, claims, digest: out }
    }

    /// Whether its key or token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    /// Whether claim `name` is `value`, or is a list holding it.
    pub fn claim_is(&self, name: &str, value: &str) -> bool {
        match self.claims.get(name) {
            Some(Value::String(s)) => s == value,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(value)),
            Some(Value::Bool(b)) => value == if *b { "true" } else { "false" },
            Some(Value::Number(n)) => n.to_string() == value,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(block: &str, proof: Proof, name: &str) -> Identity {
        Identity::new(block, proof, name, Box::new([]), Map::new())
    }

    #[test]
    fn the_digest_tells_blocks_proofs_and_names_apart() {
        let a = id("team", Proof::Jwt, "alice");
        assert_eq!(a.digest, id("team", Proof::Jwt, "alice").digest);
        assert_ne!(a.digest, id("team", Proof::ApiKey, "alice").digest);
        assert_ne!(a.digest, id("other", Proof::Jwt, "alice").digest);
        assert_ne!(a.digest, id("team", Proof::Jwt, "alicf").digest);
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(id("ab", Proof::Jwt, "c").digest, id("a", Proof::Jwt, "bc").digest);
    }

    #[test]
    fn claims_match_strings_lists_and_scalars() {
        let claims = serde_json::json!({"groups": ["eng", "ops"], "team": "eng", "admin": true, "level": 3});
        let Value::Object(claims) = claims else { unreachable!() };
        let i = Identity::new("t", Proof::Jwt, "bob", vec!["tools:read".into()].into(), claims);
        assert!(i.claim_is("groups", "ops"));
        assert!(!i.claim_is("groups", "sales"));
        assert!(i.claim_is("team", "eng"));
        assert!(i.claim_is("admin", "true"));
        assert!(i.claim_is("level", "3"));
        assert!(!i.claim_is("missing", "x"));
        assert!(i.has_scope("tools:read"));
        assert!(!i.has_scope("tools:call"));
    }
}

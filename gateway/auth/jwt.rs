//! Bearer JWTs: the signature against the issuer's keys, then `iss`, `aud`,
//! `exp` and `nbf`, with the configured leeway.
//!
//! Only the algorithms the config names are accepted, and a key is used
//! only for its own family, so `alg: none` and an RSA public key presented
//! as an HMAC secret both fail. The principal is the configured claim
//! (`sub` by default); the scopes are `scope` (space-separated, as OAuth
//! writes them) or `scp` (a list, as some issuers do).
//!
//! A verified token is remembered by its SHA-256 until it expires (or for
//! five minutes at most), so that a client presenting the same token on
//! every request pays for one signature check, not one per request; the
//! digest, not the token, is what the cache holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation};
use ring::digest;
use serde_json::{Map, Value};

use super::jwks::Jwks;
use crate::client::{Identity, Proof};

/// How long a verified token is remembered at most, so that a key the
/// issuer withdraws stops being honoured soon after.
const REMEMBER_FOR: Duration = Duration::from_secs(300);
/// How many verified tokens are remembered.
const REMEMBERED: u64 = 10_000;

/// Checks the JWTs of one `[[auth]]` block.
pub struct Verifier {
    /// The block's name, in the identity's digest.
    block: Arc<str>,
    jwks: Jwks,
    algorithms: Vec<Algorithm>,
    issuer: String,
    audience: Vec<String>,
    leeway: u64,
    principal_claim: String,
    verified: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// A token that passed, remembered until it expires.
struct Verified {
    identity: Arc<Identity>,
    /// Its `exp`, seconds since the epoch.
    expires: u64,
}

/// Why a token failed, in words safe to log and to answer with: none of
/// them holds any part of the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not a JWT at all.
    #[error("the token is not a JWT")]
    Malformed,
    /// Signed with an algorithm the route does not accept.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// No key of the issuer has its `kid`.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYet,
    /// Another `iss`.
    #[error("the token is from another issuer")]
    Issuer,
    /// Another `aud`.
    #[error("the token is for another audience")]
    Audience,
    /// Without a claim the gateway needs.
    #[error("the token lacks the `{0}` claim")]
    Missing(String),
}

// === impl Verifier ===

impl Verifier {
    /// A verifier from a block's `jwt` settings.
    pub fn new(block: &str, cfg: &crate::config::Jwt, jwks: Jwks) -> Self {
        let algorithms = cfg.algorithms.iter().filter_map(|a| a.get_ref().parse::<Algorithm>().ok()).collect();
        Self {
            block: block.into(),
            jwks,
            algorithms,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.values(),
            leeway: cfg.leeway.0.as_secs(),
            principal_claim: cfg.principal_claim.clone(),
            verified: moka::sync::Cache::builder().max_capacity(REMEMBERED).time_to_live(REMEMBER_FOR).build(),
        }
    }

    /// Whether `token` has the shape of a JWT: three base64url parts.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.bytes().filter(|&b| b == b'.').count() == 2
    }

    /// The identity `token` proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, Invalid> {
        let hash: [u8; 32] = digest::digest(&digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or_else(|_| unreachable!("SHA-256 is 32 bytes"));
        let now = unix_now();
        if let Some(v) = self.verified.get(&hash) {
            if now <= v.expires.saturating_add(self.leeway) {
                return Ok(v.identity.clone());
            }
            self.verified.invalidate(&hash);
            return Err(Invalid::Expired);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => Invalid::Algorithm,
            _ => Invalid::Malformed,
        })?;
        if !self.algorithms.contains(&header.alg) {
            return Err(Invalid::Algorithm);
        }
        let keys = self.jwks.keys_for(header.kid.as_deref()).await;
        let candidates = keys.candidates(header.kid.as_deref());
        if candidates.is_empty() {
            return Err(Invalid::UnknownKey);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = Invalid::Signature;
        for key in candidates.iter().filter(|k| k.alg.is_none_or(|a| a == header.alg)) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.remember(hash, data.claims),
                Err(e) => last = invalid(e.kind()),
            }
            if last != Invalid::Signature {
                // The signature held; the claims are what failed, and no
                // other key changes that.
                break;
            }
        }
        Err(last)
    }

    fn remember(&self, hash: [u8; 32], claims: Map<String, Value>) -> Result<Arc<Identity>, Invalid> {
        let name = match claims.get(&self.principal_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(Invalid::Missing(self.principal_claim.clone())),
        };
        let expires = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let identity = Arc::new(Identity::new(&self.block, Proof::Jwt, &name, scopes_of(&claims), claims));
        self.verified.insert(hash, Arc::new(Verified { identity: identity.clone(), expires }));
        Ok(identity)
    }
}

/// A token's scopes: `scope` as OAuth writes it (space-separated), or
/// `scp` as a list or a string.
fn scopes_of(claims: &Map<String, Value>) -> Box<[Box<str>]> {
    let from = |v: &Value| -> Vec<Box<str>> {
        match v {
            Value::String(s) => s.split_ascii_whitespace().map(Into::into).collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(Into::into).collect(),
            _ => Vec::new(),
        }
    };
    let mut scopes = claims.get("scope").map(from).unwrap_or_default();
    scopes.extend(claims.get("scp").map(from).unwrap_or_default());
    scopes.into()
}

fn invalid(kind: &jsonwebtoken::errors::ErrorKind) -> Invalid {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => Invalid::Expired,
        K::ImmatureSignature => Invalid::NotYet,
        K::InvalidIssuer => Invalid::Issuer,
        K::InvalidAudience => Invalid::Audience,
        K::MissingRequiredClaim(c) => Invalid::Missing(c.clone()),
        K::InvalidAlgorithm | K::InvalidAlgorithmName => Invalid::Algorithm,
        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => Invalid::Signature,
        _ => Invalid::Malformed,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

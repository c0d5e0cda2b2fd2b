//! The signing keys of a JWT issuer: a JWKS from a URL or a file, cached.
//!
//! When the keys are fetched again:
//! - when they are older than the document's `Cache-Control: max-age`
//!   (clamped between `min_refresh` and a day; ten minutes when it says
//!   nothing), by the first request that finds them stale, while the others
//!   go on with the old keys;
//! - when a token names a `kid` the set does not hold, since that is how an
//!   issuer's key rotation first shows, but at most once per `min_refresh`:
//!   otherwise tokens with made-up key ids would turn the gateway into a
//!   load generator against the issuer.
//!
//! A failed fetch keeps the keys already held; with none held, tokens are
//! refused until a fetch succeeds. The decision of when to fetch is
//! [`Schedule`], a pure value tested on tokio's paused clock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full, Limited};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;

use crate::backend::HttpClient;

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// How long keys are kept when the document sets no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// The longest keys are kept without a fetch, whatever the document says.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Where the keys come from.
pub enum Source {
    /// Fetched over HTTP(S).
    Url(http::Uri, Box<HttpClient>),
    /// Read from a file.
    File(PathBuf),
}

/// One usable key.
pub struct Key {
    /// The algorithm the JWK pins, if it names one.
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

/// The keys of one JWKS document, by `kid`.
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Vec<Key>>,
    /// Keys without a `kid`, tried for tokens without one.
    anonymous: Vec<Key>,
}

/// An issuer's keys and when to fetch them again.
pub struct Jwks {
    source: Source,
    keys: ArcSwap<KeySet>,
    schedule: Mutex<Schedule>,
    /// Held while fetching, so that concurrent requests make one fetch.
    fetching: tokio::sync::Mutex<()>,
}

/// When the keys were fetched and may be fetched again.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// When the keys held were fetched; `None` before the first success.
    fetched: Option<Instant>,
    /// How long they stay fresh.
    max_age: Duration,
    /// When the last fetch, successful or not, began.
    attempted: Option<Instant>,
    /// Shortest time between two fetches that are not due.
    min_refresh: Duration,
}

/// Why a set of keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The fetch or the read failed.
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(String),
    /// The document is not a JWKS.
    #[error("the JWKS is not valid: {0}")]
    Invalid(String),
}

// === impl Schedule ===

impl Schedule {
    /// A schedule with nothing fetched yet.
    pub fn new(min_refresh: Duration) -> Self {
        Self { fetched: None, max_age: DEFAULT_MAX_AGE, attempted: None, min_refresh }
    }

    /// Whether the keys held are past their age (or there are none), so
    /// that a fetch is due, unless one began less than `min_refresh` ago.
    pub fn stale(&self, now: Instant) -> bool {
        let expired = self.fetched.is_none_or(|at| now >= at + self.max_age);
        expired && self.may_fetch(now)
    }

    /// Whether a fetch that is not due (an unknown `kid`) may begin now.
    pub fn may_fetch(&self, now: Instant) -> bool {
        self.attempted.is_none_or(|at| now >= at + self.min_refresh)
    }

    /// A fetch begins.
    pub fn attempt(&mut self, now: Instant) {
        self.attempted = Some(now);
    }

    /// A fetch succeeded, with the document's `max-age`.
    pub fn fetched(&mut self, now: Instant, max_age: Option<Duration>) {
        self.fetched = Some(now);
        self.max_age = max_age.unwrap_or(DEFAULT_MAX_AGE).clamp(self.min_refresh, LONGEST_MAX_AGE);
    }
}

// === impl KeySet ===

impl KeySet {
    /// The usable keys of a JWKS document. Keys for HMAC, or that cannot
    /// verify a signature, are left out: a public document's key must never
    /// serve as a shared secret.
    pub fn parse(body: &[u8]) -> Result<KeySet, FetchError> {
        let set: JwkSet = serde_json::from_slice(body).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            let Some(key) = usable(jwk) else { continue };
            match &jwk.common.key_id {
                Some(kid) => keys.by_kid.entry(kid.clone()).or_default().push(key),
                None => keys.anonymous.push(key),
            }
        }
        if keys.is_empty() {
            return Err(FetchError::Invalid("it holds no RSA, EC or Ed25519 signing key".into()));
        }
        Ok(keys)
    }

    /// The keys a token with this `kid` may be signed with.
    pub fn candidates(&self, kid: Option<&str>) -> &[Key] {
        match kid {
            Some(kid) => self.by_kid.get(kid).map_or(&[], Vec::as_slice),
            None => &self.anonymous,
        }
    }

    fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.anonymous.is_empty()
    }
}

fn usable(jwk: &Jwk) -> Option<Key> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(algorithm_of(a)?),
    };
    Some(Key { alg, key: DecodingKey::from_jwk(jwk).ok()? })
}

fn algorithm_of(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

// === impl Jwks ===

impl Jwks {
    /// An issuer's keys from `source`; a file is read now, so that a bad one
    /// fails the load, and a URL on first use.
    pub fn new(source: Source, min_refresh: Duration) -> Result<Jwks, FetchError> {
        let jwks = Jwks {
            keys: ArcSwap::from_pointee(KeySet::default()),
            schedule: Mutex::new(Schedule::new(min_refresh)),
            fetching: tokio::sync::Mutex::new(()),
            source,
        };
        if let Source::File(path) = &jwks.source {
            let body = std::fs::read(path).map_err(|e| FetchError::Fetch(format!("{}: {e}", path.display())))?;
            jwks.keys.store(Arc::new(KeySet::parse(&body)?));
            jwks.with_schedule(|s| {
                s.attempt(Instant::now());
                s.fetched(Instant::now(), Some(LONGEST_MAX_AGE));
            });
        }
        Ok(jwks)
    }

    /// The keys to check a token against, fetched first when they are
    /// stale, or when `kid` is not among them and a fetch may begin.
    pub async fn keys_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        let held = self.keys.load_full();
        let now = Instant::now();
        let unknown = held.candidates(kid).is_empty();
        let due = self.with_schedule(|s| s.stale(now) || (unknown && s.may_fetch(now)));
        if !due {
            return held;
        }
        // One fetch at a time; whoever waited finds it done.
        let _fetching = self.fetching.lock().await;
        let now = Instant::now();
        let still_due = self.with_schedule(|s| s.stale(now) || (unknown && s.may_fetch(now)));
        if !still_due {
            return self.keys.load_full();
        }
        self.with_schedule(|s| s.attempt(now));
        match self.fetch().await {
            Ok((keys, max_age)) => {
                self.keys.store(Arc::new(keys));
                self.with_schedule(|s| s.fetched(Instant::now(), max_age));
            }
            Err(e) => tracing::warn!(source = %self.describe(), "{e}; keeping the keys held"),
        }
        self.keys.load_full()
    }

    fn with_schedule<T>(&self, f: impl FnOnce(&mut Schedule) -> T) -> T {
        let mut guard = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn describe(&self) -> String {
        match &self.source {
            Source::Url(uri, _) => uri.to_string(),
            Source::File(path) => path.display().to_string(),
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), FetchError> {
        match &self.source {
            Source::File(path) => {
                let body =
                    tokio::fs::read(path).await.map_err(|e| FetchError::Fetch(format!("{}: {e}", path.display())))?;
                Ok((KeySet::parse(&body)?, Some(LONGEST_MAX_AGE)))
            }
            Source::Url(uri, client) => {
                let mut req = Request::new(Full::new(Bytes::new()));
                *req.uri_mut() = uri.clone();
                req.headers_mut().insert(header::ACCEPT, http::HeaderValue::from_static("application/json"));
                let resp = tokio::time::timeout(Duration::from_secs(10), client.send(req))
                    .await
                    .map_err(|_| FetchError::Fetch("no answer within 10s".into()))?
                    .map_err(|e| FetchError::Fetch(e.to_string()))?;
                if !resp.status().is_success() {
                    return Err(FetchError::Fetch(format!("HTTP {}", resp.status())));
                }
                let max_age = resp.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).and_then(max_age);
                let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                    .collect()
                    .await
                    .map_err(|e| FetchError::Fetch(e.to_string()))?
                    .to_bytes();
                Ok((KeySet::parse(&body)?, max_age))
            }
        }
    }
}

/// The `max-age` of a `Cache-Control` value; `no-cache` and `no-store`
/// count as zero, which the schedule raises to `min_refresh`.
pub fn max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            found = secs.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    found
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;

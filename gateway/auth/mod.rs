//! Who is calling, proven: a route's `[[auth]]` block checks the caller's
//! credential before anything else happens to the request, and `[[authz]]`
//! rules decide which tools, prompts and resources the caller may use.
//!
//! The front door runs [`Authenticator::authenticate`] first, before the
//! body is read, a rate-limit bucket is touched or a backend is asked; a
//! refusal is a 401 (no or bad credential) or a 403 `insufficient_scope`
//! (a good one that lacks a scope the block requires), each with a
//! `WWW-Authenticate` challenge that names the protected resource metadata
//! ([`metadata`]), so that an MCP client can find an authorization server.
//!
//! Credentials are read from `Authorization: Bearer …` (an API key or a
//! JWT) or `X-Api-Key` (an API key). Neither header ever reaches a backend
//! (`front::headers`), unless the backend sets `passthrough_auth`. Why a
//! credential failed is logged, in words that hold nothing of it.

pub mod authz;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod metadata;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};

pub use authz::Policy;
pub use keys::hash_key;

use crate::backend::{BuildError, HttpClient};
use crate::client::Identity;
use crate::config;
use metadata::Challenge;

/// The header API keys may come in, besides `Authorization: Bearer`.
pub const API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// One `[[auth]]` block, built.
pub struct Authenticator {
    /// The block's name.
    pub name: Arc<str>,
    keys: keys::ApiKeys,
    jwt: Option<jwt::Verifier>,
    required_scopes: Vec<String>,
    /// The protected resource metadata it serves, if any.
    pub metadata: Option<config::ResourceMetadata>,
}

/// Why a request was refused; each becomes a 401 or a 403 with its
/// challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credential was presented.
    Missing,
    /// The credential is not good, for this reason.
    Invalid(String),
    /// The credential is good but lacks these scopes.
    Scope(Vec<String>),
}

// === impl Authenticator ===

impl Authenticator {
    /// Builds a block; `client` fetches a JWKS given as a URL.
    pub fn build(cfg: &config::Auth, client: impl FnOnce() -> Result<HttpClient, String>) -> Result<Self, BuildError> {
        let name = cfg.name.get_ref().as_str();
        let fail = |message: String| BuildError::new(format!("auth `{name}`"), message);
        let jwt = match &cfg.jwt {
            None => None,
            Some(j) => {
                let source = j.jwks.get_ref();
                let source = if source.starts_with("http://") || source.starts_with("https://") {
                    let uri = source.parse().map_err(|e| fail(format!("jwks `{source}`: {e}")))?;
                    jwks::Source::Url(uri, Box::new(client().map_err(fail)?))
                } else {
                    jwks::Source::File(source.into())
                };
                let keys = jwks::Jwks::new(source, j.min_refresh.0).map_err(|e| fail(e.to_string()))?;
                Some(jwt::Verifier::new(name, j, keys))
            }
        };
        Ok(Self {
            name: name.into(),
            keys: keys::ApiKeys::new(name, &cfg.api_keys),
            jwt,
            required_scopes: cfg.required_scopes.clone(),
            metadata: cfg.resource_metadata.clone(),
        })
    }

    /// Who the credential in `headers` proves the caller to be.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Identity>, Refusal> {
        let identity = self.identify(headers).await?;
        let missing: Vec<String> = self.required_scopes.iter().filter(|s| !identity.has_scope(s)).cloned().collect();
        if !missing.is_empty() {
            // RFC 6750 asks for the scopes the resource needs, so a client
            // that steps up asks for all of them at once.
            return Err(Refusal::Scope(self.required_scopes.clone()));
        }
        Ok(identity)
    }

    async fn identify(&self, headers: &HeaderMap) -> Result<Arc<Identity>, Refusal> {
        let (presented, bearer) = match credential(headers)? {
            Some(c) => c,
            None => return Err(Refusal::Missing),
        };
        if let Some(jwt) = &self.jwt
            && bearer
            && jwt::Verifier::looks_like_jwt(presented)
        {
            return match jwt.verify(presented).await {
                Ok(identity) => Ok(identity),
                Err(e) => self.keys.find(presented.as_bytes()).ok_or(Refusal::Invalid(e.to_string())),
            };
        }
        if self.keys.is_empty() {
            return Err(Refusal::Invalid("the token is not a JWT".into()));
        }
        self.keys.find(presented.as_bytes()).ok_or_else(|| Refusal::Invalid("the API key is not known".into()))
    }
}

/// The credential presented, and whether it came as a bearer token:
/// `Authorization` wins over `X-Api-Key`; an `Authorization` of another
/// scheme is refused rather than ignored, so that a client sending Basic
/// learns why it fails.
fn credential(headers: &HeaderMap) -> Result<Option<(&str, bool)>, Refusal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| Refusal::Invalid("the Authorization header is not text".into()))?;
        let value = value.trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Invalid("only Bearer credentials are accepted".into()));
        }
        let token = token.trim();
        return if token.is_empty() { Ok(None) } else { Ok(Some((token, true))) };
    }
    match headers.get(API_KEY) {
        Some(v) => {
            let key = v.to_str().map_err(|_| Refusal::Invalid("the X-Api-Key header is not text".into()))?.trim();
            Ok((!key.is_empty()).then_some((key, false)))
        }
        None => Ok(None),
    }
}

// === impl Refusal ===

impl Refusal {
    /// The challenge it answers with.
    pub fn challenge(&self) -> Challenge {
        match self {
            Refusal::Missing => Challenge::Missing,
            Refusal::Invalid(why) => Challenge::InvalidToken(why.clone()),
            Refusal::Scope(scopes) => Challenge::InsufficientScope(scopes.join(" ")),
        }
    }

    /// A short stable name, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Invalid(_) => "invalid",
            Refusal::Scope(_) => "scope",
        }
    }

    /// Why, in words for the log and the error body.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Missing => "no credential was presented".into(),
            Refusal::Invalid(why) => why.clone(),
            Refusal::Scope(scopes) => format!("the credential lacks a required scope ({})", scopes.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests;

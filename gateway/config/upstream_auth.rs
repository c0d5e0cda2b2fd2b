//! How the gateway proves who it is to an HTTP backend: an OAuth 2.1
//! client-credentials token it fetches itself (`oauth`), and a TLS client
//! certificate (`client_cert` and `client_key`).
//!
//! Why the gateway fetches a token of its own: the MCP authorization spec
//! forbids passing the client's token through, and a server that checks the
//! audience of its tokens wants one minted for it. Static `headers` cover a
//! fixed API key; `oauth` covers a token that expires.
//!
//! ```toml
//! [[backends]]
//! name = "wiki"
//! instances = [{ url = "https://wiki.internal/mcp" }]
//! oauth = { token_url = "https://idp.example.com/oauth/token", client_id = "switchyard", client_secret = "${WIKI_SECRET}", scopes = ["wiki:read"], audience = "https://wiki.internal/mcp" }
//! client_cert = "certs/switchyard.pem"
//! client_key = "certs/switchyard-key.pem"
//! ```

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::error::Issue;
use super::interpolate::line_of;
use super::types::{Backend, Transport};
use super::values::InstanceUrl;

/// `oauth = { … }`: the client-credentials grant the gateway runs against
/// `token_url` for this backend's token.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// The authorization server's token endpoint, `http://` or `https://`.
    pub token_url: InstanceUrl,
    /// The gateway's client id at the authorization server.
    pub client_id: String,
    /// Its client secret; write it as `${VAR}` so it stays out of the file.
    pub client_secret: String,
    /// Scopes asked for, sent space-separated as `scope`; none by default.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Who the token is for: sent both as `audience` (the Auth0 and Okta
    /// name) and as `resource` (RFC 8707, the name MCP's authorization spec
    /// uses), so that either kind of server mints a token for the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// How the client authenticates to the token endpoint.
    #[serde(default)]
    pub auth_method: AuthMethod,
}

/// How the client id and secret reach the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic, which every server must support.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// What is wrong with the upstream credentials of backend `i`, on its own.
pub(super) fn check(i: usize, b: &Backend, text: &str) -> Vec<Issue> {
    let line = |at: usize| Some(line_of(text, at));
    let key = |k: &str| format!("backends.{i}.{k}");
    let mut issues = Vec::new();
    if let Some(oauth) = &b.oauth {
        let at = line(oauth.span().start);
        if b.transport == Transport::Stdio {
            issues.push(Issue::new(
                &key("oauth"),
                at,
                "`oauth` is for transport = \"http\"; a stdio process gets its credential through `env`",
            ));
        }
        if oauth.get_ref().client_id.is_empty() {
            issues.push(Issue::new(&key("oauth.client_id"), at, "must not be empty"));
        }
        if oauth.get_ref().client_secret.is_empty() {
            issues.push(Issue::new(&key("oauth.client_secret"), at, "must not be empty"));
        }
        if let Some(bad) = oauth.get_ref().scopes.iter().find(|s| !valid_scope(s)) {
            issues.push(Issue::new(
                &key("oauth.scopes"),
                at,
                format!("`{bad}` is not a scope: one non-empty word of printable ASCII, without `\"` or `\\`"),
            ));
        }
        if oauth.get_ref().audience.as_deref() == Some("") {
            issues.push(Issue::new(&key("oauth.audience"), at, "must not be empty; leave it out instead"));
        }
        if b.headers.keys().any(|k| k.0 == http::header::AUTHORIZATION) {
            issues.push(Issue::new(
                &key("headers.authorization"),
                at,
                "`oauth` sets the upstream's Authorization; drop it from `headers`",
            ));
        }
    }
    match (&b.client_cert, &b.client_key) {
        (Some(cert), None) => issues.push(Issue::new(
            &key("client_key"),
            line(cert.span().start),
            "`client_cert` needs `client_key`, the private key of the certificate",
        )),
        (None, Some(k)) => issues.push(Issue::new(
            &key("client_cert"),
            line(k.span().start),
            "`client_key` needs `client_cert`, the certificate chain it belongs to",
        )),
        (Some(cert), Some(_)) if b.transport == Transport::Stdio => issues.push(Issue::new(
            &key("client_cert"),
            line(cert.span().start),
            "`client_cert` is for transport = \"http\" with https instances",
        )),
        _ => {}
    }
    issues
}

/// A `scope-token` of RFC 6749 §3.3: printable ASCII other than space, `"`
/// and `\`.
fn valid_scope(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl Backend {
    /// The paths of the backend's client certificate and key, when both
    /// are set (validation refuses one without the other).
    pub fn client_identity(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some((cert.get_ref().as_path(), key.get_ref().as_path())),
            _ => None,
        }
    }

    /// The `oauth` table, without its span.
    pub fn oauth(&self) -> Option<&OAuth> {
        self.oauth.as_ref().map(Spanned::get_ref)
    }
}

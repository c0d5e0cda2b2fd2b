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

// === impl OAuth ===

impl OAuth {
    /// What is wrong in the table on its own, as `(key under oauth, message)`;
    /// what depends on the rest of the backend is checked with the backend.
    pub(super) fn issues(&self) -> Vec<(&'static str, String)> {
        let mut issues = Vec::new();
        if self.client_id.is_empty() {
            issues.push(("client_id", "must not be empty".to_string()));
        }
        if self.client_secret.is_empty() {
            issues.push(("client_secret", "must not be empty".to_string()));
        }
        if let Some(bad) = self.scopes.iter().find(|s| !valid_scope(s)) {
            issues.push((
                "scopes",
                format!("`{bad}` is not a scope: one non-empty word of printable ASCII, without `\"` or `\\`"),
            ));
        }
        if self.audience.as_deref() == Some("") {
            issues.push(("audience", "must not be empty; leave it out instead".to_string()));
        }
        issues
    }
}

/// A `scope-token` of RFC 6749 §3.3: printable ASCII other than space, `"`
/// and `\`.
fn valid_scope(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

//! Who may call: `[[auth]]` blocks that routes name, and `[[authz]]` rules
//! per route.
//!
//! ```toml
//! [[auth]]
//! name = "team"
//! api_keys = [{ name = "ci", sha256 = "<hex of SHA-256 of the key>", scopes = ["tools:call"] }]
//! jwt = { jwks = "https://idp.example.com/jwks.json", issuer = "https://idp.example.com", audience = "https://mcp.example.com/mcp" }
//! resource_metadata = { resource = "https://mcp.example.com/mcp", authorization_servers = ["https://idp.example.com"], scopes_supported = ["tools:read", "tools:call"] }
//!
//! [[routes]]
//! path = "/mcp"
//! backend = "tools"
//! auth = "team"
//!
//! [[authz]]
//! route = "/mcp"
//! allow = [{ scope = "tools:read", tools = ["*search*", "*get*"] },
//!          { principal = "ci", tools = ["*"] }]
//! ```
//!
//! A key is stored as the hex SHA-256 of the key (`switchyard hash-key`
//! prints it), never as the key: a config file in a repository or a
//! `/admin/config` dump then holds nothing a client could present.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::units::Duration;

/// One `[[auth]]` block: the credentials a route accepts.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// What routes call it by, in `auth = "…"`.
    pub name: Spanned<String>,
    /// Named API keys, by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKey>,
    /// Bearer JWTs, checked against a JWKS.
    #[serde(default)]
    pub jwt: Option<Jwt>,
    /// Scopes every request must carry; a token without one of them gets
    /// 403 `insufficient_scope`, naming them, so that its client can ask
    /// for more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// The protected resource metadata (RFC 9728) this block serves.
    #[serde(default)]
    pub resource_metadata: Option<ResourceMetadata>,
}

/// One named API key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The principal the key stands for, in logs, limits and the cache.
    pub name: String,
    /// The hex SHA-256 of the key.
    pub sha256: Spanned<String>,
    /// What the key may do, matched by `scope` rules as a token's scopes are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// How bearer JWTs are checked.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// Where the signing keys are: an `http(s)://` URL, fetched and
    /// refreshed, or a file path, read at load and on reload.
    pub jwks: Spanned<String>,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` a token must carry one of: this gateway's resource.
    pub audience: OneOrMany,
    /// The signature algorithms accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Spanned<String>>,
    /// How far `exp` and `nbf` may be off the gateway's clock.
    #[serde(default = "default_leeway")]
    pub leeway: Duration,
    /// The claim that names the principal.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// Shortest time between two JWKS fetches that an unknown `kid` causes,
    /// so that tokens with made-up key ids cannot hammer the issuer.
    #[serde(default = "default_min_refresh")]
    pub min_refresh: Duration,
}

/// A string, or a list of them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// The fields of the protected resource metadata document.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetadata {
    /// The resource identifier; absent, the URL the client used (scheme,
    /// `Host` and the route's path).
    #[serde(default)]
    pub resource: Option<String>,
    /// The authorization servers that issue tokens for it.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes a client may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// A page for humans about the resource.
    #[serde(default)]
    pub resource_documentation: Option<String>,
}

/// One `[[authz]]` block: who may use what on one route.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authz {
    /// The route's path.
    pub route: Spanned<String>,
    /// The rules; a request is allowed when any one allows it.
    pub allow: Vec<Rule>,
}

/// One allow rule: who (every condition given must hold; none given means
/// every authenticated caller), and the names it opens, as globs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The principal: an API key's name, or the JWT's principal claim.
    #[serde(default)]
    pub principal: Option<String>,
    /// A scope the caller's token or key carries.
    #[serde(default)]
    pub scope: Option<String>,
    /// Claims the JWT must carry with these values (a list claim must
    /// contain the value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claim: BTreeMap<String, String>,
    /// Tool names (as the route exposes them), as globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Prompt names, as globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// Resource URIs (and URI templates, in `resources/templates/list`), as globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// The algorithms accepted when the config names none.
pub const DEFAULT_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];
/// The algorithms a config may name: asymmetric ones only, so that a public
/// key can never be used as an HMAC secret.
pub const KNOWN_ALGORITHMS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

fn default_algorithms() -> Vec<Spanned<String>> {
    DEFAULT_ALGORITHMS.iter().map(|a| Spanned::new(0..0, a.to_string())).collect()
}

fn default_leeway() -> Duration {
    Duration(std::time::Duration::from_secs(60))
}

fn default_principal_claim() -> String {
    "sub".into()
}

fn default_min_refresh() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}

// === impl OneOrMany ===

impl OneOrMany {
    /// The values.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// What is wrong in the `[[auth]]` blocks, as `(key, span start, message)`.
pub fn check_auth(blocks: &[Auth]) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (i, a) in blocks.iter().enumerate() {
        let at = a.name.span().start;
        if !names.insert(a.name.get_ref().as_str()) {
            out.push((format!("auth.{i}.name"), at, format!("duplicate auth name `{}`", a.name.get_ref())));
        }
        if a.api_keys.is_empty() && a.jwt.is_none() {
            out.push((format!("auth.{i}"), at, "an auth block needs `api_keys`, `jwt`, or both".into()));
        }
        let mut key_names = HashSet::new();
        for (k, key) in a.api_keys.iter().enumerate() {
            let hex = key.sha256.get_ref();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push((
                    format!("auth.{i}.api_keys.{k}.sha256"),
                    key.sha256.span().start,
                    "must be the 64 hex digits of the key's SHA-256 (`switchyard hash-key` prints them)".into(),
                ));
            }
            if key.name.is_empty() || !key_names.insert(key.name.as_str()) {
                out.push((
                    format!("auth.{i}.api_keys.{k}.name"),
                    key.sha256.span().start,
                    format!("a key needs a name of its own; `{}` is empty or taken", key.name),
                ));
            }
        }
        if let Some(jwt) = &a.jwt {
            let source = jwt.jwks.get_ref();
            if source.is_empty() {
                out.push((format!("auth.{i}.jwt.jwks"), jwt.jwks.span().start, "needs a URL or a file path".into()));
            }
            if jwt.issuer.is_empty() {
                out.push((format!("auth.{i}.jwt.issuer"), jwt.jwks.span().start, "must not be empty".into()));
            }
            if jwt.audience.values().iter().all(String::is_empty) {
                out.push((
                    format!("auth.{i}.jwt.audience"),
                    jwt.jwks.span().start,
                    "must name this gateway's resource: a token for another audience must not pass".into(),
                ));
            }
            if jwt.min_refresh.0 < std::time::Duration::from_secs(1) {
                out.push((
                    format!("auth.{i}.jwt.min_refresh"),
                    jwt.jwks.span().start,
                    "must be at least 1s, or tokens with made-up key ids could make the gateway fetch the JWKS on every request".into(),
                ));
            }
            for (n, alg) in jwt.algorithms.iter().enumerate() {
                if !KNOWN_ALGORITHMS.contains(&alg.get_ref().as_str()) {
                    let span = if alg.span().is_empty() { jwt.jwks.span() } else { alg.span() };
                    out.push((
                        format!("auth.{i}.jwt.algorithms.{n}"),
                        span.start,
                        format!("`{}` is not one of {}", alg.get_ref(), KNOWN_ALGORITHMS.join(", ")),
                    ));
                }
            }
        }
    }
    out
}

/// What is wrong in the `[[authz]]` blocks, given which route paths exist
/// and which of them have `auth`.
pub fn check_authz(
    blocks: &[Authz],
    routes: &HashSet<&str>,
    with_auth: &HashSet<&str>,
) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, z) in blocks.iter().enumerate() {
        let at = z.route.span().start;
        let path = z.route.get_ref().as_str();
        if !routes.contains(path) {
            out.push((format!("authz.{i}.route"), at, format!("no route has the path `{path}`")));
        } else if !with_auth.contains(path) {
            out.push((
                format!("authz.{i}.route"),
                at,
                format!("route `{path}` has no `auth`: rules need to know who is calling"),
            ));
        }
        if !seen.insert(path) {
            out.push((format!("authz.{i}.route"), at, format!("`{path}` has rules already; put them in one block")));
        }
        for (r, rule) in z.allow.iter().enumerate() {
            if rule.tools.is_empty() && rule.prompts.is_empty() && rule.resources.is_empty() {
                out.push((
                    format!("authz.{i}.allow.{r}"),
                    at,
                    "a rule opens nothing without `tools`, `prompts` or `resources`".into(),
                ));
            }
        }
    }
    out
}

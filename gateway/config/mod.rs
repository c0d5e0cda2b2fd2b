//! Config: TOML in, validated [`Config`] out.
//!
//! The serde types mirror the file and reject unknown keys. Values that can be
//! checked on their own (durations, sizes, URLs, header names) are checked while
//! deserialising, so serde reports them with their key path and line. Checks
//! across entries (a route naming a missing backend, duplicate names) run after,
//! and use the spans kept in [`toml::Spanned`] fields to name the line.
//!
//! Naming: a config type is named for the part of the file it mirrors, so
//! several share a name with the runtime type built from them (`Backend`,
//! `Balance`, `Cache`, `Route`, `Retry`). Outside this module they are always
//! written with their module, `config::Backend`, never imported bare or
//! renamed, so that a bare name is always the runtime type.
//!
//! ```toml
//! [gateway]
//! listen = "127.0.0.1:8080"
//! session_key = "${SWITCHYARD_SESSION_KEY}"
//!
//! [[backends]]
//! name = "search"
//! instances = [{ url = "http://10.0.0.5:3001/mcp", weight = 3 }]
//! timeout = "10s"
//!
//! [[routes]]
//! path = "/mcp"
//! backend = "search"
//! ```

mod aggregate;
mod auth;
mod balance;
mod cache;
mod error;
pub mod interpolate;
pub mod limit;
mod resilience;
mod routing;
mod side;
mod types;
pub mod units;
mod upstream_auth;
mod values;

use std::collections::HashSet;
use std::path::Path;

pub use aggregate::{Aggregation, Collisions, FailureMode, Filter, Member, glob_matches};
pub use auth::{ApiKey, Auth, Authz, DEFAULT_ALGORITHMS, Jwt, OneOrMany, ResourceMetadata, Rule};
pub use balance::Balance;
pub use cache::{Cache, CacheMethod};
pub use error::{ConfigError, Issue};
pub use resilience::{HealthCheck, Outlier, Probe, Retry};
pub use routing::{MAX_WEIGHT, Route, SplitSide, name_from_path};
pub use types::*;
pub use upstream_auth::{AuthMethod, OAuth};
pub use values::{HeaderKey, InstanceUrl, RoutePath};

/// The config used when no file is given and `./switchyard.toml` is absent.
/// `${SWITCHYARD_DEMO_URL}` is filled in with the address of the built-in mock.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

impl Config {
    /// Reads and validates a config file, expanding `${VAR}` from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: name.clone(),
            issues: vec![Issue::new("", None, format!("cannot read file: {e}"))],
        })?;
        Config::parse(&text, &name, &|var| std::env::var(var).ok())
    }

    /// Parses and validates config text. `lookup` resolves `${VAR}`.
    pub fn parse(
        text: &str,
        source_name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let fail = |issues| ConfigError { source_name: source_name.to_string(), issues };
        let expanded = interpolate::expand(text, lookup).map_err(fail)?;
        let config = deserialize(&expanded).map_err(|i| fail(vec![i]))?;
        let issues = config.validate(&expanded);
        if issues.is_empty() { Ok(config) } else { Err(fail(issues)) }
    }

    /// The config as TOML, with secrets replaced by `"<redacted>"`.
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        if copy.gateway.session_key.is_some() {
            copy.gateway.session_key = Some(REDACTED.to_string());
        }
        if copy.gateway.admin_token.is_some() {
            copy.gateway.admin_token = Some(REDACTED.to_string());
        }
        for token in copy.gateway.admin_tokens.values_mut() {
            *token = REDACTED.to_string();
        }
        for backend in &mut copy.backends {
            for value in backend.headers.values_mut() {
                *value = REDACTED.to_string();
            }
            if let Some(oauth) = &mut backend.oauth {
                oauth.get_mut().client_secret = REDACTED.to_string();
            }
        }
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// Cross-entry checks that serde cannot make field by field.
    fn validate(&self, text: &str) -> Vec<Issue> {
        let line = |span: std::ops::Range<usize>| Some(interpolate::line_of(text, span.start));
        let mut issues = self.gateway_issues(text);
        let mut names = HashSet::new();
        for (i, b) in self.backends.iter().enumerate() {
            if !names.insert(b.name.get_ref().as_str()) {
                issues.push(Issue::new(
                    &format!("backends.{i}.name"),
                    line(b.name.span()),
                    format!("duplicate backend name `{}`", b.name.get_ref()),
                ));
            }
            issues.extend(backend_issues(i, b, text));
        }
        issues.extend(self.command_issues(text));
        issues.extend(self.route_issues(&names, text));
        let paths: HashSet<&str> = self.routes.iter().map(|r| r.path.get_ref().as_str()).collect();
        issues.extend(limit::check(&self.rate_limits, &paths, &names, &line));
        issues.extend(self.auth_issues(&paths, text));
        issues
    }

    /// What is wrong in `[gateway]`.
    fn gateway_issues(&self, text: &str) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(addr) = self.gateway.admin_listen
            && !addr.ip().is_loopback()
            && self.gateway.admin_token.is_none()
            && self.gateway.admin_tokens.is_empty()
        {
            issues.push(Issue::new(
                "gateway.admin_listen",
                key_line(text, "admin_listen"),
                format!("{addr} is not a loopback address, so gateway.admin_token (or admin_tokens) must be set"),
            ));
        }
        for (name, token) in &self.gateway.admin_tokens {
            if token.len() < 16 {
                issues.push(Issue::new(
                    &format!("gateway.admin_tokens.{name}"),
                    key_line(text, "admin_tokens").or_else(|| key_line(text, name)),
                    "must be at least 16 characters",
                ));
            }
        }
        if self.gateway.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            issues.push(Issue::new(
                "gateway.admin_token",
                key_line(text, "admin_token"),
                "must be at least 16 characters",
            ));
        }
        if self.gateway.session_ttl.0 < std::time::Duration::from_secs(1) {
            issues.push(Issue::new(
                "gateway.session_ttl",
                key_line(text, "session_ttl"),
                "must be at least 1s: a token carries its issue time in whole seconds",
            ));
        }
        if self.gateway.h2_max_concurrent_streams == 0 {
            issues.push(Issue::new(
                "gateway.h2_max_concurrent_streams",
                key_line(text, "h2_max_concurrent_streams"),
                "must be at least 1: at 0 an h2 client could send no request at all",
            ));
        }
        issues
    }

    /// What is wrong in `[[auth]]` and `[[authz]]`, and in the routes'
    /// `auth` names.
    fn auth_issues(&self, paths: &HashSet<&str>, text: &str) -> Vec<Issue> {
        let line = |at: usize| Some(interpolate::line_of(text, at));
        let mut found = auth::check_auth(&self.auth);
        let blocks: HashSet<&str> = self.auth.iter().map(|a| a.name.get_ref().as_str()).collect();
        for (i, r) in self.routes.iter().enumerate() {
            if let Some(name) = &r.auth
                && !blocks.contains(name.get_ref().as_str())
            {
                found.push((
                    format!("routes.{i}.auth"),
                    name.span().start,
                    format!("no [[auth]] block is named `{}`", name.get_ref()),
                ));
            }
        }
        let with_auth: HashSet<&str> =
            self.routes.iter().filter(|r| r.auth.is_some()).map(|r| r.path.get_ref().as_str()).collect();
        found.extend(auth::check_authz(&self.authz, paths, &with_auth));
        found.into_iter().map(|(key, at, message)| Issue::new(&key, line(at), message)).collect()
    }

    /// stdio commands that `[gateway] allowed_commands` does not list.
    ///
    /// The match is exact on the expanded string, with no `PATH` lookup: a
    /// lookup would make the check depend on the environment the file is
    /// checked in, and `npx` allowed as a name must not let `./npx` run.
    fn command_issues(&self, text: &str) -> Vec<Issue> {
        let Some(allowed) = &self.gateway.allowed_commands else { return Vec::new() };
        let stdio = self.backends.iter().enumerate().filter(|(_, b)| b.transport == Transport::Stdio);
        stdio
            .filter_map(|(i, b)| {
                let command = b.command.as_ref()?;
                let program = command.get_ref();
                (!program.is_empty() && !allowed.contains(program)).then(|| {
                    Issue::new(
                        &format!("backends.{i}.command"),
                        Some(interpolate::line_of(text, command.span().start)),
                        format!("`{program}` is not in gateway.allowed_commands (matched as the exact string)"),
                    )
                })
            })
            .collect()
    }

    /// Paths and names that clash between routes, and what
    /// [`routing::check`] finds in each.
    fn route_issues(&self, names: &HashSet<&str>, text: &str) -> Vec<Issue> {
        let line = |span: std::ops::Range<usize>| Some(interpolate::line_of(text, span.start));
        let mut issues = Vec::new();
        let mut paths = HashSet::new();
        let mut route_names = HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            for (key, at, message) in routing::check(r, names) {
                issues.push(Issue::new(&format!("routes.{i}.{key}"), line(at..at), message));
            }
            let path = r.path.get_ref().as_str();
            if RESERVED_PATHS.iter().any(|p| path == *p || path.starts_with(&format!("{p}/"))) {
                issues.push(Issue::new(
                    &format!("routes.{i}.path"),
                    line(r.path.span()),
                    format!("`{path}` is reserved for the operations endpoints"),
                ));
            }
            if !paths.insert(path) {
                issues.push(Issue::new(
                    &format!("routes.{i}.path"),
                    line(r.path.span()),
                    format!("duplicate route path `{path}`"),
                ));
            } else if !route_names.insert(r.name()) {
                issues.push(Issue::new(
                    &format!("routes.{i}.name"),
                    line(r.path.span()),
                    format!("duplicate route name `{}`; set `name` on one of them", r.name()),
                ));
            }
        }
        issues
    }
}

/// What is wrong in one `[[backends]]` entry on its own.
fn backend_issues(i: usize, b: &Backend, text: &str) -> Vec<Issue> {
    let line = |span: std::ops::Range<usize>| Some(interpolate::line_of(text, span.start));
    let mut issues = Vec::new();
    for (key, value) in &b.headers {
        if http::HeaderValue::from_str(value).is_err() {
            issues.push(Issue::new(
                &format!("backends.{i}.headers.{}", key.0),
                line(b.name.span()),
                "not a valid header value (control characters or non-ASCII)",
            ));
        }
    }
    for (key, message) in resilience::check(&b.retry, &b.health, &b.outlier) {
        issues.push(Issue::new(&format!("backends.{i}.{key}"), line(b.name.span()), message));
    }
    for (key, message) in b.cache.as_ref().map(cache::check).unwrap_or_default() {
        issues.push(Issue::new(&format!("backends.{i}.{key}"), line(b.name.span()), message));
    }
    issues.extend(upstream_credential_issues(i, b, text));
    let at = |key: &str| format!("backends.{i}.{key}");
    if b.transport == Transport::Stdio && matches!(b.health.probe, Probe::HttpGet { .. }) {
        // The line of the `http_get` itself, when it follows the name.
        let from = b.name.span().start;
        let at_line = text[from..].find("http_get").map(|o| interpolate::line_of(text, from + o));
        issues.push(Issue::new(
            &at("health.probe"),
            at_line.or(line(b.name.span())),
            "`http_get` needs an HTTP instance; a stdio process is probed over its pipe: \
             use \"ping\", \"tools/list\", \"discover\" or \"none\"",
        ));
    }
    if b.transport == Transport::Stdio && b.era != ServerEra::Auto {
        issues.push(Issue::new(
            &at("era"),
            line(b.name.span()),
            "`era` is for HTTP backends; a stdio process's era is learned from its own handshake",
        ));
    }
    if b.transport == Transport::Stdio && b.passthrough_auth {
        issues.push(Issue::new(
            &at("passthrough_auth"),
            line(b.name.span()),
            "a stdio process has no request headers to pass a credential in",
        ));
    }
    match b.transport {
        Transport::Http if b.instances.is_empty() => {
            issues.push(Issue::new(&at("instances"), line(b.name.span()), "a backend needs at least one instance"));
        }
        Transport::Http if b.command.is_some() => issues.push(Issue::new(
            &at("command"),
            line(b.name.span()),
            "`command` is for transport = \"stdio\"; an http backend lists `instances`",
        )),
        Transport::Stdio if b.program().is_empty() => {
            issues.push(Issue::new(&at("command"), line(b.name.span()), "a stdio backend needs a `command`"));
        }
        Transport::Stdio if !b.instances.is_empty() => issues.push(Issue::new(
            &at("instances"),
            line(b.name.span()),
            "a stdio backend runs `command`; `instances` is for transport = \"http\"",
        )),
        Transport::Stdio if b.processes == 0 || b.max_processes == 0 => issues.push(Issue::new(
            &at("processes"),
            line(b.name.span()),
            "`processes` and `max_processes` must be at least 1",
        )),
        _ => {}
    }
    issues
}

/// What is wrong with backend `i`'s own upstream credentials: the `oauth`
/// table, and how it and a client certificate fit the rest of the backend.
fn upstream_credential_issues(i: usize, b: &Backend, text: &str) -> Vec<Issue> {
    let line = |at: usize| Some(interpolate::line_of(text, at));
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
        for (field, message) in oauth.get_ref().issues() {
            issues.push(Issue::new(&key(&format!("oauth.{field}")), at, message));
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

const REDACTED: &str = "<redacted>";

/// The line of the first `key = …` in `text`, for keys that are unique in
/// the file and carry no span of their own.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')))
        .map(|i| i + 1)
}

/// Paths the operations endpoints own; a route cannot take them.
pub const RESERVED_PATHS: &[&str] = &["/health", "/metrics", "/admin", "/.well-known"];

/// Typed parse with the key path of the first error, and its line.
fn deserialize(text: &str) -> Result<Config, Issue> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_issue("", text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // A `Spanned` field adds a private segment of its own to the path.
        let path = e.path().to_string().replace(".$__serde_spanned_private_value", "");
        let path = if path == "." { String::new() } else { path };
        toml_issue(&path, text, e.inner())
    })
}

fn toml_issue(path: &str, text: &str, e: &toml::de::Error) -> Issue {
    let line = e.span().map(|s| interpolate::line_of(text, s.start));
    Issue::new(path, line, e.message().trim().to_string())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod aggregate_tests;

#[cfg(test)]
#[path = "auth_tests.rs"]
mod auth_tests;

#[cfg(test)]
#[path = "upstream_auth_tests.rs"]
mod upstream_auth_tests;

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod gateway_tests;

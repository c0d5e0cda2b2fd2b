//! OAuth 2.0 protected resource metadata (RFC 9728), and the challenges
//! that point a client at it.
//!
//! MCP's authorization spec makes the gateway a resource server: a client
//! refused with 401 finds, in `WWW-Authenticate`, the URL of a document
//! that names the authorization servers that issue tokens for this
//! resource, and asks one of them. The document's URL is the resource's
//! with `/.well-known/oauth-protected-resource` put between its host and
//! its path (RFC 9728 §3.1), so `https://mcp.example.com/mcp` has
//! `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.

use bytes::Bytes;
use http::HeaderValue;
use serde_json::json;

use crate::config::ResourceMetadata;

/// The well-known prefix the documents are served under.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Where a request came in, for what the config leaves to the request.
pub struct Seen<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` (or `:authority`) the client used.
    pub host: &'a str,
    /// The route's path.
    pub path: &'a str,
}

/// The resource identifier: the configured one, or the URL the client used.
pub fn resource(cfg: &ResourceMetadata, seen: &Seen<'_>) -> String {
    match &cfg.resource {
        Some(r) => r.clone(),
        None => format!("{}://{}{}", seen.scheme, seen.host, seen.path),
    }
}

/// The metadata document's URL for `resource`.
pub fn document_url(resource: &str) -> String {
    let (scheme, rest) = resource.split_once("://").unwrap_or(("https", resource));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    format!("{scheme}://{authority}{WELL_KNOWN}{path}")
}

/// The metadata document.
pub fn document(cfg: &ResourceMetadata, seen: &Seen<'_>) -> Bytes {
    let mut doc = json!({
        "resource": resource(cfg, seen),
        "authorization_servers": cfg.authorization_servers,
        "bearer_methods_supported": ["header"],
    });
    if !cfg.scopes_supported.is_empty() {
        doc["scopes_supported"] = json!(cfg.scopes_supported);
    }
    if let Some(page) = &cfg.resource_documentation {
        doc["resource_documentation"] = json!(page);
    }
    Bytes::from(doc.to_string())
}

/// What a refused client is told in `WWW-Authenticate`.
#[derive(Clone, Debug)]
pub enum Challenge {
    /// No credential was presented.
    Missing,
    /// One was, and it is not good (RFC 6750 `invalid_token`).
    InvalidToken(String),
    /// It is good but lacks these scopes (RFC 6750 `insufficient_scope`).
    InsufficientScope(String),
}

/// The `WWW-Authenticate` value of `challenge`, pointing at `metadata_url`
/// when the block serves metadata.
pub fn www_authenticate(challenge: &Challenge, metadata_url: Option<&str>) -> HeaderValue {
    let mut params: Vec<String> = Vec::new();
    match challenge {
        Challenge::Missing => {}
        Challenge::InvalidToken(why) => {
            params.push(r#"error="invalid_token""#.into());
            params.push(format!(r#"error_description="{}""#, quote(why)));
        }
        Challenge::InsufficientScope(scope) => {
            params.push(r#"error="insufficient_scope""#.into());
            params.push(format!(r#"scope="{}""#, quote(scope)));
        }
    }
    if let Some(url) = metadata_url {
        params.push(format!(r#"resource_metadata="{}""#, quote(url)));
    }
    let value = if params.is_empty() { "Bearer".to_string() } else { format!("Bearer {}", params.join(", ")) };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// A quoted-string's content: no quote or backslash, nothing outside
/// visible ASCII.
fn quote(s: &str) -> String {
    s.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_url_goes_between_host_and_path() {
        assert_eq!(
            document_url("https://mcp.example.com/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            document_url("https://mcp.example.com"),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            document_url("https://mcp.example.com/"),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            document_url("http://127.0.0.1:8080/a/mcp/"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/mcp"
        );
    }

    #[test]
    fn the_resource_falls_back_to_the_url_the_client_used() {
        let seen = Seen { scheme: "http", host: "127.0.0.1:9", path: "/mcp" };
        let mut cfg = ResourceMetadata::default();
        assert_eq!(resource(&cfg, &seen), "http://127.0.0.1:9/mcp");
        cfg.resource = Some("https://mcp.example.com/mcp".into());
        assert_eq!(resource(&cfg, &seen), "https://mcp.example.com/mcp");
        cfg.authorization_servers = vec!["https://idp.example.com".into()];
        cfg.scopes_supported = vec!["tools:read".into()];
        let doc: serde_json::Value = serde_json::from_slice(&document(&cfg, &seen)).unwrap();
        assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
        assert_eq!(doc["authorization_servers"][0], "https://idp.example.com");
        assert_eq!(doc["scopes_supported"][0], "tools:read");
        assert_eq!(doc["bearer_methods_supported"][0], "header");
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let url = Some("https://h/.well-known/oauth-protected-resource/mcp");
        assert_eq!(
            www_authenticate(&Challenge::Missing, url),
            r#"Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(www_authenticate(&Challenge::Missing, None), "Bearer");
        let v = www_authenticate(&Challenge::InsufficientScope("tools:call admin".into()), url);
        let v = v.to_str().unwrap();
        assert!(
            v.starts_with(r#"Bearer error="insufficient_scope", scope="tools:call admin", resource_metadata=""#),
            "{v}"
        );
        let v = www_authenticate(&Challenge::InvalidToken("the \"token\" has expired".into()), None);
        assert_eq!(v, r#"Bearer error="invalid_token", error_description="the token has expired""#);
    }
}

//! What crosses the gateway in headers, each way.
//!
//! Upstream: the client's end-to-end headers, minus hop-by-hop ones and the
//! client's credentials (`Authorization`, `X-Api-Key`, `Cookie`: the spec
//! forbids token passthrough; a backend with `passthrough_auth` gets the
//! first two, by its operator's explicit choice), plus the backend's configured headers and `X-Forwarded-*`.
//! `Mcp-Param-*`, `Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version` and
//! `Last-Event-ID` pass untouched.
//!
//! Downstream: the upstream's headers minus hop-by-hop ones and its session id,
//! which only the gateway's own token replaces.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::client::Connection;
use crate::mcp::headers::{REQUEST_ID, SESSION_ID};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Names listed in `Connection`, which are hop-by-hop for this message.
/// `keep-alive` and `close` are options, not header names, and are skipped,
/// so the usual `Connection: keep-alive` costs no allocation.
fn connection_listed(headers: &HeaderMap) -> Vec<&str> {
    let mut listed = Vec::new();
    for value in headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok()) {
        for token in value.split(',').map(str::trim) {
            if !token.is_empty() && !token.eq_ignore_ascii_case("keep-alive") && !token.eq_ignore_ascii_case("close") {
                listed.push(token);
            }
        }
    }
    listed
}

fn is_listed(listed: &[&str], name: &HeaderName) -> bool {
    listed.iter().any(|l| l.eq_ignore_ascii_case(name.as_str()))
}

/// Headers the gateway sets itself, or must never forward upstream.
fn is_replaced_upstream(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "authorization"
            | "x-api-key"
            | "cookie"
            | "content-length"
            | "mcp-session-id"
            | "origin"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-request-id"
    )
}

/// What the upstream request's headers are built from.
pub struct Forwarding<'a> {
    /// The backend's static headers.
    pub configured: &'a [(HeaderName, HeaderValue)],
    /// The client's connection.
    pub peer: &'a Connection,
    /// Whether the client connected over TLS.
    pub tls: bool,
    /// The request id.
    pub request_id: &'a HeaderValue,
    /// The upstream session id, when the session has one.
    pub upstream_session: Option<&'a str>,
    /// Whether the client's own `Authorization` and `X-Api-Key` go on.
    pub passthrough_auth: bool,
}

/// The client credentials `passthrough_auth` lets through.
fn is_passed_credential(name: &HeaderName) -> bool {
    matches!(name.as_str(), "authorization" | "x-api-key")
}

/// Turns the client's headers into the upstream request's, in place: most
/// headers pass, so removing the few that must not is cheaper than copying
/// the rest into a new map.
pub fn upstream(mut headers: HeaderMap, f: &Forwarding<'_>) -> HeaderMap {
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) => {
            let ip = f.peer.forwarded_for.to_str().unwrap_or("unknown");
            HeaderValue::from_str(&format!("{prior}, {ip}")).unwrap_or_else(|_| f.peer.forwarded_for.clone())
        }
        None => f.peer.forwarded_for.clone(),
    };
    let drop: Vec<HeaderName> = {
        let listed = connection_listed(&headers);
        headers
            .keys()
            .filter(|n| is_hop_by_hop(n) || is_replaced_upstream(n) || is_listed(&listed, n))
            .filter(|n| !(f.passthrough_auth && is_passed_credential(n)))
            .cloned()
            .collect()
    };
    for name in drop {
        headers.remove(&name);
    }
    for (name, value) in f.configured {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(X_FORWARDED_FOR, xff);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(if f.tls { "https" } else { "http" }));
    headers.insert(REQUEST_ID, f.request_id.clone());
    // An upstream that issued no session id gets none back, not an empty one.
    if let Some(sid) = f.upstream_session.filter(|s| !s.is_empty()).and_then(|s| HeaderValue::from_str(s).ok()) {
        headers.insert(SESSION_ID, sid);
    }
    headers
}

/// Cleans the upstream response's headers for the client, in place.
pub fn downstream(headers: &mut HeaderMap, request_id: &HeaderValue) {
    let listed = connection_listed(headers);
    let drop: Vec<HeaderName> =
        headers.keys().filter(|n| is_hop_by_hop(n) || *n == SESSION_ID || is_listed(&listed, n)).cloned().collect();
    for name in drop {
        headers.remove(&name);
    }
    headers.insert(REQUEST_ID, request_id.clone());
    let is_sse = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if is_sse {
        // Tells nginx-style buffers in front of us not to hold events back.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_strips_and_adds() {
        let mut c = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer client"),
            ("x-api-key", "client-key"),
            ("cookie", "a=b"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("mcp-session-id", "gateway-token"),
            ("mcp-param-region", "eu"),
            ("mcp-method", "tools/call"),
            ("last-event-id", "42"),
            ("x-forwarded-for", "1.2.3.4"),
            ("accept", "application/json, text/event-stream"),
        ] {
            c.append(k, v.parse().unwrap());
        }
        let configured = vec![(HeaderName::from_static("authorization"), HeaderValue::from_static("Bearer upstream"))];
        let rid = HeaderValue::from_static("rid-1");
        let out = upstream(
            c,
            &Forwarding {
                configured: &configured,
                peer: &Connection::new("10.1.1.1:5000".parse().unwrap()),
                tls: true,
                request_id: &rid,
                upstream_session: Some("up-1"),
                passthrough_auth: false,
            },
        );
        assert_eq!(out["authorization"], "Bearer upstream");
        assert!(!out.contains_key("x-api-key"));
        for gone in ["cookie", "connection", "x-secret-hop", "keep-alive", "te"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["mcp-session-id"], "up-1");
        assert_eq!(out["mcp-param-region"], "eu");
        assert_eq!(out["mcp-method"], "tools/call");
        assert_eq!(out["last-event-id"], "42");
        assert_eq!(out["x-forwarded-for"], "1.2.3.4, 10.1.1.1");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-request-id"], "rid-1");
    }

    #[test]
    fn passthrough_auth_lets_the_clients_credentials_through_and_nothing_else() {
        let mut c = HeaderMap::new();
        for (k, v) in [("authorization", "Bearer client"), ("x-api-key", "k"), ("cookie", "a=b")] {
            c.append(k, v.parse().unwrap());
        }
        let rid = HeaderValue::from_static("r");
        let out = upstream(
            c,
            &Forwarding {
                configured: &[],
                peer: &Connection::new("10.1.1.1:5000".parse().unwrap()),
                tls: false,
                request_id: &rid,
                upstream_session: None,
                passthrough_auth: true,
            },
        );
        assert_eq!(out["authorization"], "Bearer client");
        assert_eq!(out["x-api-key"], "k");
        assert!(!out.contains_key("cookie"));
        assert!(!out.contains_key("mcp-session-id"));
    }

    #[test]
    fn downstream_strips_session_and_marks_sse() {
        let mut h = HeaderMap::new();
        h.insert("mcp-session-id", "upstream-secret".parse().unwrap());
        h.insert("content-type", "text/event-stream".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        downstream(&mut h, &HeaderValue::from_static("r"));
        assert!(!h.contains_key("mcp-session-id"));
        assert!(!h.contains_key("transfer-encoding"));
        assert_eq!(h["x-accel-buffering"], "no");
        assert_eq!(h["x-request-id"], "r");
    }
}

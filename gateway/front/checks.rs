//! Transport-level checks on a request, before its body is read.

use http::{HeaderMap, header};

use crate::error::GatewayError;

/// `Content-Type` must be `application/json` (parameters such as charset allowed).
pub fn content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"));
    if ok { Ok(()) } else { Err(GatewayError::UnsupportedMediaType) }
}

/// Whether `Accept` lists `wanted` (`type/subtype`) by name.
///
/// Wildcards do not count: the spec says a client MUST list both types, the
/// official SDK servers refuse `*/*`, and a gateway that let it through would
/// hand backends requests they refuse with a less clear error.
fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|item| item.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(wanted)))
}

/// A POST must accept both response forms, since the server picks one.
pub fn accept_post(headers: &HeaderMap) -> Result<(), GatewayError> {
    // What every SDK sends, checked first without splitting.
    if headers.get(header::ACCEPT).is_some_and(|v| v.as_bytes() == b"application/json, text/event-stream") {
        return Ok(());
    }
    if accepts(headers, "application/json") && accepts(headers, "text/event-stream") {
        Ok(())
    } else {
        Err(GatewayError::NotAcceptable("both application/json and text/event-stream"))
    }
}

/// A GET opens an SSE stream, so it must accept one.
pub fn accept_get(headers: &HeaderMap) -> Result<(), GatewayError> {
    if accepts(headers, "text/event-stream") { Ok(()) } else { Err(GatewayError::NotAcceptable("text/event-stream")) }
}

/// An `Origin`, when present, must be allowed: the spec's defence against
/// browsers being used to reach local servers.
pub fn origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), GatewayError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| GatewayError::Forbidden("Origin is not allowed"))?;
    if allowed.iter().any(|pattern| origin_matches(pattern, origin)) {
        Ok(())
    } else {
        Err(GatewayError::Forbidden("Origin is not allowed"))
    }
}

/// `pattern` is `scheme://host[:port]`, where a port of `*` matches any port
/// or none.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if let Some(base) = pattern.strip_suffix(":*") {
        let Some(rest) = origin.get(..base.len()) else { return false };
        if !rest.eq_ignore_ascii_case(base) {
            return false;
        }
        let tail = &origin[base.len()..];
        tail.is_empty()
            || tail.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    } else {
        pattern.eq_ignore_ascii_case(origin)
    }
}

/// On a loopback listener only loopback names may appear in `Host`; anything
/// else is a DNS-rebinding attempt.
pub fn loopback_host(host: Option<&str>) -> Result<(), GatewayError> {
    let Some(host) = host else { return Ok(()) };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let ok =
        name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if ok { Ok(()) } else { Err(GatewayError::Forbidden("Host is not a loopback name")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn accept_rules() {
        assert!(accept_post(&h(&[("accept", "application/json, text/event-stream")])).is_ok());
        assert!(accept_post(&h(&[("accept", "application/json"), ("accept", "text/event-stream;q=0.9")])).is_ok());
        assert!(accept_post(&h(&[("accept", "*/*")])).is_err());
        assert!(accept_post(&h(&[("accept", "application/json")])).is_err());
        assert!(accept_post(&h(&[])).is_err());
        assert!(accept_get(&h(&[("accept", "text/event-stream")])).is_ok());
        assert!(accept_get(&h(&[("accept", "text/*")])).is_err());
        assert!(accept_get(&h(&[("accept", "application/json")])).is_err());
    }

    #[test]
    fn content_type_rules() {
        assert!(content_type(&h(&[("content-type", "application/json; charset=utf-8")])).is_ok());
        assert!(content_type(&h(&[("content-type", "text/plain")])).is_err());
        assert!(content_type(&h(&[])).is_err());
    }

    #[test]
    fn origin_rules() {
        let allowed = vec!["http://localhost:*".to_string(), "https://app.example.com".to_string()];
        for ok in ["http://localhost:6274", "http://localhost", "https://app.example.com"] {
            assert!(origin(&h(&[("origin", ok)]), &allowed).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.com",
            "http://localhost.evil.com",
            "http://localhost:80x",
            "https://app.example.com:444",
            "null",
        ] {
            assert!(origin(&h(&[("origin", bad)]), &allowed).is_err(), "{bad}");
        }
        assert!(origin(&h(&[]), &[]).is_ok());
    }

    #[test]
    fn host_rules() {
        for ok in [None, Some("localhost:8080"), Some("127.0.0.1"), Some("[::1]:80"), Some("LOCALHOST")] {
            assert!(loopback_host(ok).is_ok(), "{ok:?}");
        }
        for bad in ["evil.com", "evil.com:8080", "10.0.0.1:80", "localhost.evil.com"] {
            assert!(loopback_host(Some(bad)).is_err(), "{bad}");
        }
    }
}

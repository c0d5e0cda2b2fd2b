//! Who a request is from, as far as the gateway can tell without
//! authenticating anyone: the credential the client presented, or its IP.
//!
//! Cache keys and rate-limit buckets are per principal. The credential is
//! kept only as a SHA-256 digest, so a key in memory, in a log or in a shared
//! Redis never holds a usable token. The digest has no secret in it on
//! purpose: two replicas must name the same client the same way.
//!
//! ```
//! use http::HeaderMap;
//! use switchyard::client::Principal;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", "Bearer s3cret".parse().unwrap());
//! let ip = "10.0.0.7".parse().unwrap();
//! let p = Principal::of(&headers, ip);
//! assert!(p.key().starts_with("cred:"));
//! assert_eq!(Principal::of(&HeaderMap::new(), ip).key(), "ip:10.0.0.7");
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, header};
use ring::digest;

/// The API-key header, the other common way clients present a credential.
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The principal of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The first 16 bytes of the SHA-256 of the credential.
    Credential([u8; 16]),
    /// No credential: the client's address.
    Ip(IpAddr),
    /// An authenticated caller: its [`Identity`](super::Identity)'s digest.
    Identity([u8; 16]),
}

// === impl Principal ===

impl Principal {
    /// The principal of a request with these headers from `ip`.
    ///
    /// `Authorization` wins over `X-Api-Key`; the whole header value is
    /// hashed, scheme included, so `Bearer x` and `Basic x` differ. An empty
    /// value counts as absent.
    pub fn of(headers: &HeaderMap, ip: IpAddr) -> Self {
        let credential = [header::AUTHORIZATION, API_KEY]
            .iter()
            .filter_map(|name| headers.get(name))
            .map(|v| v.as_bytes())
            .find(|v| !v.is_empty());
        match credential {
            Some(bytes) => {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(b"switchyard principal v1\0");
                ctx.update(bytes);
                let mut out = [0u8; 16];
                out.copy_from_slice(&ctx.finish().as_ref()[..16]);
                Principal::Credential(out)
            }
            None => Principal::Ip(ip),
        }
    }

    /// A stable text form for shared keys and logs: `cred:<32 hex digits>`,
    /// `id:<32 hex digits>` or `ip:<address>`.
    pub fn key(&self) -> String {
        match self {
            Principal::Credential(bytes) => hex_key("cred:", bytes),
            Principal::Identity(bytes) => hex_key("id:", bytes),
            Principal::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

fn hex_key(prefix: &str, bytes: &[u8; 16]) -> String {
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn a_credential_names_the_client_whatever_its_address() {
        let h = headers(&[("authorization", "Bearer abc")]);
        let other_ip = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(Principal::of(&h, IP), Principal::of(&h, other_ip));
        assert!(matches!(Principal::of(&h, IP), Principal::Credential(_)));
    }

    #[test]
    fn different_credentials_are_different_principals() {
        let a = Principal::of(&headers(&[("authorization", "Bearer abc")]), IP);
        let b = Principal::of(&headers(&[("authorization", "Bearer abd")]), IP);
        let c = Principal::of(&headers(&[("x-api-key", "Bearer abc")]), IP);
        assert_ne!(a, b);
        // The same bytes in either header are the same credential.
        assert_eq!(a, c);
    }

    #[test]
    fn authorization_wins_over_the_api_key() {
        let both = Principal::of(&headers(&[("authorization", "Bearer abc"), ("x-api-key", "k")]), IP);
        assert_eq!(both, Principal::of(&headers(&[("authorization", "Bearer abc")]), IP));
    }

    #[test]
    fn no_or_empty_credential_falls_back_to_the_ip() {
        assert_eq!(Principal::of(&HeaderMap::new(), IP), Principal::Ip(IP));
        assert_eq!(Principal::of(&headers(&[("authorization", "")]), IP), Principal::Ip(IP));
    }

    #[test]
    fn the_key_is_stable_and_holds_no_credential() {
        let p = Principal::of(&headers(&[("authorization", "Bearer s3cret")]), IP);
        let key = p.key();
        assert_eq!(key.len(), 5 + 32);
        assert!(!key.contains("s3cret"));
        assert_eq!(key, Principal::of(&headers(&[("authorization", "Bearer s3cret")]), IP).key());
        assert_eq!(Principal::Ip(IP).key(), "ip:192.0.2.1");
    }
}

//! Values checked on their own while the file is deserialised, so serde
//! reports a bad one with its key path and line: route paths, instance
//! URLs, header names.

use http::{HeaderName, Uri};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// An absolute URL path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RoutePath(String);

impl RoutePath {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RoutePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let valid = s.starts_with('/') && s.parse::<Uri>().is_ok_and(|u| u.path() == s && u.query().is_none());
        if valid {
            Ok(Self(s))
        } else {
            Err(de::Error::custom(format!("route path `{s}` must be an absolute path such as \"/mcp\"")))
        }
    }
}

/// An `http` or `https` URL with a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceUrl(pub Uri);

impl<'de> Deserialize<'de> for InstanceUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let uri: Uri = s.parse().map_err(|e| de::Error::custom(format!("invalid URL `{s}`: {e}")))?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(_)) => Ok(Self(uri)),
            _ => Err(de::Error::custom(format!("invalid URL `{s}`: expected http://host[:port]/path or https://…"))),
        }
    }
}

impl Serialize for InstanceUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A header name that is valid on the wire, checked at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderKey(pub HeaderName);

impl PartialOrd for HeaderKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeaderKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}

impl<'de> Deserialize<'de> for HeaderKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HeaderName::from_bytes(s.as_bytes())
            .map(Self)
            .map_err(|_| de::Error::custom(format!("`{s}` is not a valid header name")))
    }
}

impl Serialize for HeaderKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

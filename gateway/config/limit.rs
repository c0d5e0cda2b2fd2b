//! `[[rate_limits]]`: GCRA rate limits on the front door, and the checks
//! that tie them to the routes and backends they name.
//!
//! ```toml
//! [[rate_limits]]
//! name = "search-per-client"        # the `rule` label; default "rate_limits.<index>"
//! key = "client"                    # "client" (credential digest, else IP), "ip" or "global"
//! match = { route = "/mcp", method = "tools/call", tool = "search" }
//! rate = "100/s"                    # also "/m" and "/h"
//! burst = 20                        # default: a tenth of one period's count, at least 2
//! store = "redis://10.0.0.9:6379"   # shared between replicas; default: this process only
//! ```
//!
//! `store` sits on the rule, not in a gateway-wide table, so that one config
//! can keep a cheap local limit beside a shared one; rules that name the same
//! URL share one connection. Besides `redis://host:port`, `redis+unix:///path`
//! and `unix:///path` reach a Redis on a unix socket.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use toml::Spanned;

use super::error::Issue;
use super::units::Duration;

/// One `[[rate_limits]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The rule's name, in metrics (`rule` label), logs and the shared
    /// store's keys, so replicas must agree on it. Default:
    /// `rate_limits.<index>`.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Whose requests share one bucket.
    #[serde(default)]
    pub key: LimitKey,
    /// Which requests the rule counts; every field left out matches all.
    #[serde(default, rename = "match")]
    pub matches: LimitMatch,
    /// The sustained rate, such as `"100/s"`.
    pub rate: Rate,
    /// Requests that may arrive at once above the sustained rate. Default: a
    /// tenth of `rate`'s count, at least 2, so that over any ten periods the
    /// admitted count is within 1% of the rate while small bunches still pass.
    /// A burst of 1 admits only requests that arrive on schedule: with
    /// arrivals that are not, the admitted rate falls below `rate` (by up to
    /// a quarter at three times the rate), which is why 2 is the least default.
    #[serde(default)]
    pub burst: Option<NonZeroU32>,
    /// Where the buckets live: absent for this process, or a Redis URL to
    /// share them between replicas.
    #[serde(default)]
    pub store: Option<Store>,
    /// Longest wait for the shared store before this request falls back to
    /// the local bucket. Default 50 ms: a Redis on the same network answers in
    /// well under a millisecond, and a stalled one must not stall requests.
    #[serde(default = "default_store_timeout")]
    pub store_timeout: Duration,
}

fn default_store_timeout() -> Duration {
    Duration::millis(50)
}

/// Whose requests share a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitKey {
    /// The principal: a digest of the credential the client presented, or
    /// else its IP.
    #[default]
    Client,
    /// The client's IP address, whatever credential it sends.
    Ip,
    /// One bucket for everyone.
    Global,
}

/// `match = { … }`: which requests a rule counts.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitMatch {
    /// A route's path, such as `"/mcp"`.
    pub route: Option<Spanned<String>>,
    /// A backend's name.
    pub backend: Option<Spanned<String>>,
    /// A JSON-RPC method, such as `"tools/call"`.
    pub method: Option<String>,
    /// A tool name; matches only `tools/call` of that tool.
    pub tool: Option<String>,
}

/// A rate: `count` requests per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period; at least 1.
    pub count: u32,
    /// One second, minute or hour.
    pub period: std::time::Duration,
}

/// Where a rule's buckets live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// The Redis URL as written (it may hold a password: never log it whole).
    pub url: String,
}

// === impl RateLimit ===

impl RateLimit {
    /// The burst in effect: the configured one or the default.
    pub fn burst(&self) -> u32 {
        self.burst.map_or((self.rate.count / 10).max(2), NonZeroU32::get)
    }
}

// === impl Rate ===

impl Rate {
    /// Parses `"100/s"`, `"30/m"` or `"1000/h"`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || format!("invalid rate `{text}`; write it like \"100/s\", \"30/m\" or \"1000/h\"");
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim();
        if !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let count: u32 = count.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("rate `{text}` must allow at least one request"));
        }
        Ok(Rate { count, period: std::time::Duration::from_secs(secs) })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

// === impl Store ===

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let url = String::deserialize(d)?;
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("redis" | "redis+unix" | "unix")) {
            return Err(de::Error::custom(format!(
                "store `{url}` is not a Redis URL; write \"redis://host:port\" or \"redis+unix:///path/to.sock\""
            )));
        }
        redis::Client::open(url.as_str()).map_err(|e| de::Error::custom(format!("store `{url}`: {e}")))?;
        Ok(Store { url })
    }
}

impl Store {
    /// The URL with any password replaced, for logs and `switchyard check`.
    pub fn redacted(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) if rest.split('/').next().is_some_and(|auth| auth.contains('@')) => {
                let host = rest.split_once('@').map_or(rest, |(_, h)| h);
                format!("{scheme}://<redacted>@{host}")
            }
            _ => self.url.clone(),
        }
    }
}

impl Serialize for Store {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// Checks across entries: the routes (by path) and backends (by name) a
/// `match` names exist, and rule names are unique. `line` turns a span into
/// a line number.
pub(super) fn check(
    rules: &[RateLimit],
    routes: &HashSet<&str>,
    backends: &HashSet<&str>,
    line: &dyn Fn(std::ops::Range<usize>) -> Option<usize>,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut names = HashSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = |key: &str| format!("rate_limits.{i}.{key}");
        if let Some(route) = &rule.matches.route
            && !routes.contains(route.get_ref().as_str())
        {
            let message = format!("no route has the path `{}`", route.get_ref());
            issues.push(Issue::new(&at("match.route"), line(route.span()), message));
        }
        if let Some(backend) = &rule.matches.backend
            && !backends.contains(backend.get_ref().as_str())
        {
            let message = format!("no backend is named `{}`", backend.get_ref());
            issues.push(Issue::new(&at("match.backend"), line(backend.span()), message));
        }
        if let Some(name) = &rule.name
            && !names.insert(name.get_ref().as_str())
        {
            let message = format!("duplicate rule name `{}`", name.get_ref());
            issues.push(Issue::new(&at("name"), line(name.span()), message));
        }
    }
    issues
}

#[cfg(test)]
#[path = "limit_tests.rs"]
mod tests;

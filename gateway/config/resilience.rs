//! The resilience settings of a backend: `retry`, `health` and `outlier`.
//!
//! Every default below comes from a proxy that has run for years in front of
//! real traffic (Envoy, HAProxy, linkerd), scaled for MCP: pools are small
//! (two to five instances, not fifty), requests are few and slow (a tool call
//! takes seconds, not microseconds), and a session is pinned to one instance.
//! Each field says where its default comes from and why it fits.
//!
//! ```toml
//! [[backends]]
//! name = "search"
//! instances = [{ url = "http://10.0.0.5:3001/mcp" }, { url = "http://10.0.0.6:3001/mcp" }]
//! timeout = "10s"
//! attempt_timeout = "3s"
//! retry = { attempts = 3, idempotent_tools = ["search"] }
//! health = { probe = "ping", interval = "5s" }
//! outlier = { consecutive_failures = 5 }
//!
//! [backends.timeouts]
//! "tools/call" = "60s"
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::units::{Duration, Percent};

/// `retry = { … }`: when a failed attempt is tried again.
///
/// What may be retried at all is not configurable (see `retry` in the
/// gateway): a connection that failed is always retried, a 5xx, reset or
/// attempt timeout only for replay-safe methods and `idempotent_tools`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retry {
    /// Most attempts per request, the first included. 3 lets a request try
    /// each instance of the usual three-instance pool once (Envoy's default
    /// of one retry is two attempts); the budget, not this number, is what
    /// stops a retry storm. 1 turns retries off.
    pub attempts: u32,
    /// Retries allowed, as a percentage of requests over the last second.
    /// 20 is linkerd's default retry budget: at worst a failing pool sees
    /// 1.2 times its normal load, never three times.
    pub budget_percent: u32,
    /// Retries allowed each second on top of the percentage, so that a quiet
    /// backend (a handful of requests a minute) can still retry. 10 is
    /// linkerd's `minRetriesPerSecond`.
    pub min_per_second: u32,
    /// First backoff before a retry; each later one doubles, up to
    /// `max_backoff`, with jitter. 25 ms is Envoy's base interval.
    pub backoff: Duration,
    /// Cap on the backoff. 250 ms is Envoy's default (ten times the base).
    pub max_backoff: Duration,
    /// Tools the operator declares safe to run twice. Tool annotations
    /// (`idempotentHint`) come from the server and are not trusted for this.
    pub idempotent_tools: Vec<String>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            budget_percent: 20,
            min_per_second: 10,
            backoff: Duration::millis(25),
            max_backoff: Duration::millis(250),
            idempotent_tools: Vec::new(),
        }
    }
}

/// `health = { … }`: active probes of every instance.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    /// What a probe sends. `"ping"` is the cheapest MCP request every server
    /// must answer, so it is the default.
    pub probe: Probe,
    /// Time between probes while the backend has traffic. 5 s: HAProxy
    /// checks every 2 s and Kubernetes every 10 s; MCP instances are few and
    /// their failures are felt by long tool calls, so 5 s with `fall = 3`
    /// finds a dead instance in about 15 s while passive detection and
    /// retries cover the gap.
    pub interval: Duration,
    /// Each wait is shortened by a random share of up to this much, so that
    /// the probes of many gateways do not arrive in step. Only ever shortened,
    /// so `interval × fall` stays a true bound. 10% is Envoy's
    /// `interval_jitter_percent` habit.
    pub jitter: Percent,
    /// How long a probe may take. 1 s: an MCP `ping` is answered in
    /// milliseconds by a live server, and a probe must finish well inside
    /// `interval`.
    pub timeout: Duration,
    /// Successful probes in a row that bring a down instance back. 2 is
    /// HAProxy's default: one lucky answer from a flapping instance is not
    /// enough.
    pub rise: u32,
    /// Failed probes in a row that take an instance down. 3 is HAProxy's
    /// default: one lost packet does not empty the pool.
    pub fall: u32,
    /// Time between probes while the backend has had no traffic since the
    /// last probe. 60 s is Envoy's `no_traffic_interval`: idle pools (and
    /// scale-to-zero servers) are not woken every few seconds.
    pub idle_interval: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            probe: Probe::Ping,
            interval: Duration::secs(5),
            jitter: Percent(0.10),
            timeout: Duration::secs(1),
            rise: 2,
            fall: 3,
            idle_interval: Duration::secs(60),
        }
    }
}

/// What an active probe sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// MCP `ping`, in a session the checker keeps with the instance.
    Ping,
    /// MCP `tools/list`, in the checker's session: proves the server can do
    /// more than answer pings.
    ToolsList,
    /// Stateless-era `server/discover`, for servers of 2026-07-28 and later.
    Discover,
    /// Plain `GET path` on the instance's host, expecting one status.
    HttpGet {
        /// The path, such as `/health`.
        path: String,
        /// The status that means healthy.
        expect: u16,
    },
    /// No active probes: the table then follows passive detection alone.
    None,
}

/// `{ http_get = "/health", expect = 200 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGetProbe {
    http_get: String,
    #[serde(default = "ok_status")]
    expect: u16,
}

fn ok_status() -> u16 {
    200
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#""ping", "tools/list", "discover", "none" or { http_get = "/health", expect = 200 }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Probe, E> {
                match v {
                    "ping" => Ok(Probe::Ping),
                    "tools/list" => Ok(Probe::ToolsList),
                    "discover" => Ok(Probe::Discover),
                    "none" => Ok(Probe::None),
                    other => Err(E::custom(format!(
                        "unknown probe `{other}`; expected \"ping\", \"tools/list\", \"discover\", \"none\" \
                         or {{ http_get = \"/health\", expect = 200 }}"
                    ))),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Probe, A::Error> {
                let p = HttpGetProbe::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if !p.http_get.starts_with('/') {
                    return Err(de::Error::custom(format!(
                        "http_get `{}` must be a path such as \"/health\"",
                        p.http_get
                    )));
                }
                if !(100..=599).contains(&p.expect) {
                    return Err(de::Error::custom(format!("expect = {} is not an HTTP status", p.expect)));
                }
                Ok(Probe::HttpGet { path: p.http_get, expect: p.expect })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for Probe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Probe::Ping => s.serialize_str("ping"),
            Probe::ToolsList => s.serialize_str("tools/list"),
            Probe::Discover => s.serialize_str("discover"),
            Probe::None => s.serialize_str("none"),
            Probe::HttpGet { path, expect } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("http_get", path)?;
                m.serialize_entry("expect", expect)?;
                m.end()
            }
        }
    }
}

/// `outlier = { … }`: passive detection, from the answers real requests get.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outlier {
    /// Failures in a row (connection errors, 5xx, timeouts) that eject an
    /// instance. 5 is Envoy's `consecutive_5xx`.
    pub consecutive_failures: u32,
    /// How long the first ejection lasts; the n-th lasts n times as long.
    /// 30 s is Envoy's `base_ejection_time`.
    pub base_ejection: Duration,
    /// Cap on one ejection. 300 s is Envoy's `max_ejection_time`.
    pub max_ejection: Duration,
    /// Most of the pool, in percent, that may be ejected at once. Envoy says
    /// 10, but MCP pools are small: with two or three instances 10% would
    /// never eject anyone. 50 lets one of two go, and matches the panic
    /// threshold, below which the balancer ignores health anyway.
    pub max_ejected_percent: u32,
}

impl Default for Outlier {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::secs(30),
            max_ejection: Duration::secs(300),
            max_ejected_percent: 50,
        }
    }
}

/// Checks across the fields of one backend's resilience settings; each
/// message names the key it is about, relative to the backend.
pub(super) fn check(retry: &Retry, health: &HealthCheck, outlier: &Outlier) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if retry.attempts == 0 || retry.attempts > 10 {
        out.push(("retry.attempts", format!("{} is out of range; use 1 (no retries) to 10", retry.attempts)));
    }
    if retry.budget_percent > 1000 {
        out.push(("retry.budget_percent", format!("{} is above 1000", retry.budget_percent)));
    }
    if retry.min_per_second > 1_000_000 {
        out.push(("retry.min_per_second", format!("{} is above 1000000", retry.min_per_second)));
    }
    if retry.backoff.0 > retry.max_backoff.0 {
        out.push(("retry.backoff", "must not be longer than retry.max_backoff".into()));
    }
    if health.timeout.0 >= health.interval.0 {
        out.push(("health.timeout", "must be shorter than health.interval, so probes do not overlap".into()));
    }
    if health.idle_interval.0 < health.interval.0 {
        out.push(("health.idle_interval", "must not be shorter than health.interval".into()));
    }
    if health.jitter.0 >= 1.0 {
        out.push(("health.jitter", "must be below 100%".into()));
    }
    if health.rise == 0 || health.fall == 0 {
        out.push(("health.rise", "rise and fall must be at least 1".into()));
    }
    if outlier.consecutive_failures == 0 {
        out.push(("outlier.consecutive_failures", "must be at least 1".into()));
    }
    if outlier.base_ejection.0 > outlier.max_ejection.0 {
        out.push(("outlier.base_ejection", "must not be longer than outlier.max_ejection".into()));
    }
    if outlier.max_ejected_percent > 100 {
        out.push(("outlier.max_ejected_percent", format!("{} is above 100", outlier.max_ejected_percent)));
    }
    out
}

//! Buckets shared between replicas, in Redis.
//!
//! Each decision is one round trip: a Lua script runs the same GCRA step as
//! [`super::gcra`] atomically inside Redis, on Redis's own clock (`TIME`),
//! so replicas whose clocks disagree still agree on every bucket. A bucket is
//! one string key, `switchyard:rl:<rule>:<key>`, holding the TAT in
//! microseconds and expiring when the bucket is full again. Giving a token
//! back (a later rule refused the request) is a second script, the same
//! step in reverse, and one more round trip on that rarer path.
//!
//! Redis is a dependency the gateway must survive losing. Every call is
//! bounded by the rule's `store_timeout`; on an error or a timeout the rule
//! falls back to the local buckets of this process, says so once in the log
//! and sets `switchyard_ratelimit_store_fallback{rule}` to 1, and does not
//! ask Redis again for [`RETRY_AFTER`], so that a dead Redis costs one
//! timeout a second rather than one per request. While it falls back, each
//! replica admits the whole rate on its own: the limit is too generous by
//! the number of replicas, never too strict, and requests keep flowing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use metrics::Gauge;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use super::gcra::{Decision, Gcra};

/// How long a rule keeps to its local buckets after Redis failed it.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// GCRA in Lua; `ARGV` are the interval and the tolerance in microseconds.
/// The TAT is written with `%.0f`: Lua's default number format would turn a
/// microsecond timestamp into an inexact exponent form.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, ahead - tolerance}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor(ahead / 1000) + 1)
return {1, 0}
";

/// A refund ([`super::gcra::Gcra::refund`]) in Lua: the TAT one interval
/// earlier, not before now; a key at or before now is a full bucket, so it
/// is deleted. `ARGV[1]` is the interval in microseconds.
const REFUND_LUA: &str = r"
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return {1, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new_tat = tat - interval
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
end
return {1, 0}
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));
static REFUND: LazyLock<Script> = LazyLock::new(|| Script::new(REFUND_LUA));

/// One Redis, shared by every rule that names its URL.
pub struct Connection {
    client: redis::Client,
    /// The URL without its password, for logs.
    shown: String,
    /// Made on first use, inside the runtime; it connects lazily and
    /// reconnects by itself.
    manager: OnceLock<Option<ConnectionManager>>,
    timeout: Duration,
}

/// A rule's buckets in Redis, with its fallback state.
pub struct RedisBuckets {
    conn: Arc<Connection>,
    gcra: Gcra,
    /// Key prefix: `switchyard:rl:<rule>:`.
    prefix: String,
    rule: Arc<str>,
    /// Whether the rule is on its local buckets now.
    down: AtomicBool,
    /// Until when (ms since `epoch`) Redis is not asked again.
    quiet_until_ms: AtomicU64,
    epoch: Instant,
    fallback: Gauge,
}

// === impl Connection ===

impl Connection {
    /// A connection to `url` (checked at config load), each call bounded by
    /// `timeout`.
    pub fn new(url: &str, shown: String, timeout: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self { client: redis::Client::open(url)?, shown, manager: OnceLock::new(), timeout })
    }

    fn manager(&self) -> Option<ConnectionManager> {
        self.manager
            .get_or_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(250))))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .inspect_err(|e| tracing::warn!(store = %self.shown, error = %e, "cannot use the rate-limit store"))
                    .ok()
            })
            .clone()
    }
}

// === impl RedisBuckets ===

impl RedisBuckets {
    /// `rule`'s buckets in `conn`.
    pub fn new(conn: Arc<Connection>, rule: Arc<str>, gcra: Gcra) -> Self {
        let fallback = metrics::gauge!("switchyard_ratelimit_store_fallback", "rule" => rule.to_string());
        fallback.set(0.0);
        Self {
            conn,
            gcra,
            prefix: format!("switchyard:rl:{rule}:"),
            rule,
            down: AtomicBool::new(false),
            quiet_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            fallback,
        }
    }

    /// Takes one request from `key`'s shared bucket; `None` when Redis could
    /// not answer in time, and the caller must decide locally.
    pub async fn check(&self, key: &str) -> Option<Decision> {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        if self.down.load(Ordering::Relaxed) && now_ms < self.quiet_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let tolerance_us = (self.gcra.tolerance_ns / 1000).max(1);
        match self.run(&SCRIPT, key, &[self.interval_us(), tolerance_us]).await {
            Ok((allowed, wait_us)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(rule = &*self.rule, store = %self.conn.shown, "rate-limit store is back; buckets are shared again");
                    self.fallback.set(0.0);
                }
                Some(match allowed {
                    1 => Decision::Allow,
                    _ => Decision::Deny(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0))),
                })
            }
            Err(error) => {
                self.quiet_until_ms.store(now_ms + RETRY_AFTER.as_millis() as u64, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        rule = &*self.rule, store = %self.conn.shown, %error,
                        "rate-limit store failed; falling back to this replica's own buckets"
                    );
                    self.fallback.set(1.0);
                }
                None
            }
        }
    }

    /// Gives back the token a request took from `key`'s shared bucket, when
    /// a later rule refused that request. Best effort: a refund that fails
    /// leaves the bucket one request emptier, which it was anyway a moment
    /// ago, so it is logged and not retried, and does not count as the
    /// store failing a decision.
    pub async fn refund(&self, key: &str) {
        if let Err(error) = self.run(&REFUND, key, &[self.interval_us()]).await {
            tracing::debug!(rule = &*self.rule, store = %self.conn.shown, %error, "rate-limit refund failed");
        }
    }

    /// Whether the rule is on its local buckets now.
    pub fn falling_back(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn interval_us(&self) -> u64 {
        (self.gcra.interval_ns / 1000).max(1)
    }

    /// Runs `script` on `key`'s bucket with `args`, within the store's timeout.
    async fn run(&self, script: &Script, key: &str, args: &[u64]) -> Result<(i64, i64), String> {
        let Some(mut manager) = self.conn.manager() else { return Err("the store URL cannot be used".into()) };
        let mut call = script.key(format!("{}{key}", self.prefix));
        for arg in args {
            call.arg(*arg);
        }
        match tokio::time::timeout(self.conn.timeout, call.invoke_async::<(i64, i64)>(&mut manager)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.conn.timeout)),
        }
    }
}

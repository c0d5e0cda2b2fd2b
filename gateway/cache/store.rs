//! Where answers are kept: a moka cache bounded by bytes, one per backend,
//! and its metrics.
//!
//! moka does the two hard parts: a size bound with a good eviction policy
//! (TinyLFU, so one scan of rare keys does not flush the hot lists), and
//! `try_get_with`, which runs one load per key however many callers miss at
//! once. Freshness is checked against tokio's clock on every read (an
//! answer's own `ttlMs` may be shorter than the configured `ttl`), so tests
//! can pause time; moka's own `time_to_live` is only the backstop that frees
//! memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use metrics::{Counter, Gauge, counter, gauge};
use moka::notification::RemovalCause;
use tokio::time::Instant;

use super::key::Key;

/// One cached answer: the JSON-RPC `result`, without the id it was first
/// sent with.
#[derive(Debug)]
pub struct Entry {
    /// The raw `result` value.
    pub result: Bytes,
    /// When it stops being served.
    pub expires: Instant,
    /// Whether the answer said `cacheScope: "public"`.
    pub public: bool,
}

/// The per-backend store.
pub struct Store {
    cache: moka::future::Cache<Key, Arc<Entry>>,
    /// The metric handles, shared with the eviction listener.
    pub metrics: Arc<Metrics>,
}

/// A backend's cache metrics.
pub struct Metrics {
    /// Answers served from memory.
    pub hits: Counter,
    /// Answers fetched upstream for the cache.
    pub misses: Counter,
    /// Callers that waited on another caller's fetch instead of making their own.
    pub coalesced: Counter,
    /// Entries dropped for room or age (not by invalidation).
    pub evictions: Counter,
    bytes_gauge: Gauge,
    bytes: AtomicI64,
}

// === impl Entry ===

impl Entry {
    /// Whether it may still be served at `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        now < self.expires
    }
}

/// The weight of an entry in bytes: what it holds plus a fixed overhead.
fn weight(key: &Key, entry: &Entry) -> u32 {
    u32::try_from(key.weight() + entry.result.len() + 64).unwrap_or(u32::MAX)
}

// === impl Store ===

impl Store {
    /// A store of at most `max_bytes`, whose entries live at most `ttl`.
    pub fn new(backend: &str, max_bytes: u64, ttl: std::time::Duration) -> Self {
        let metrics = Arc::new(Metrics::new(backend));
        let listener_metrics = metrics.clone();
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Key, v: &Arc<Entry>| weight(k, v))
            .time_to_live(ttl)
            .support_invalidation_closures()
            .eviction_listener(move |k: Arc<Key>, v: Arc<Entry>, cause: RemovalCause| {
                listener_metrics.add_bytes(-i64::from(weight(&k, &v)));
                if cause.was_evicted() {
                    listener_metrics.evictions.increment(1);
                }
            })
            .build();
        Self { cache, metrics }
    }

    /// The entry for `key`, if it is still fresh. A stale one is dropped.
    pub async fn fresh(&self, key: &Key) -> Option<Arc<Entry>> {
        let entry = self.cache.get(key).await?;
        if entry.fresh(Instant::now()) {
            Some(entry)
        } else {
            self.cache.invalidate(key).await;
            None
        }
    }

    /// The entry for `key`, loaded by `init` if absent; concurrent callers
    /// for the same key share one load and its outcome.
    pub async fn get_or_load<E, F>(&self, key: &Key, init: F) -> Result<Arc<Entry>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<Arc<Entry>, E>>,
    {
        let counted = async {
            let entry = init.await?;
            self.metrics.add_bytes(i64::from(weight(key, &entry)));
            Ok(entry)
        };
        self.cache.try_get_with_by_ref(key, counted).await
    }

    /// Stores `entry` under `key`, replacing any other.
    pub async fn insert(&self, key: Key, entry: Arc<Entry>) {
        self.metrics.add_bytes(i64::from(weight(&key, &entry)));
        self.cache.insert(key, entry).await;
    }

    /// Drops `key`.
    pub async fn remove(&self, key: &Key) {
        self.cache.invalidate(key).await;
    }

    /// Drops every entry for which `pred` holds.
    pub fn remove_if(&self, pred: impl Fn(&Key) -> bool + Send + Sync + 'static) {
        // Fails only without `support_invalidation_closures`, which is set.
        if let Err(e) = self.cache.invalidate_entries_if(move |k, _| pred(k)) {
            tracing::warn!(error = %e, "cache: could not invalidate entries");
        }
    }

    /// Drops `entry` under whatever key holds it. Synchronous, so that it
    /// can run in a `Drop`.
    pub fn remove_entry(&self, entry: Arc<Entry>) {
        if let Err(e) = self.cache.invalidate_entries_if(move |_, v| Arc::ptr_eq(v, &entry)) {
            tracing::warn!(error = %e, "cache: could not invalidate an entry");
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

// === impl Metrics ===

impl Metrics {
    fn new(backend: &str) -> Self {
        let backend = backend.to_string();
        Self {
            hits: counter!("switchyard_cache_hits_total", "backend" => backend.clone()),
            misses: counter!("switchyard_cache_misses_total", "backend" => backend.clone()),
            coalesced: counter!("switchyard_cache_coalesced_total", "backend" => backend.clone()),
            evictions: counter!("switchyard_cache_evictions_total", "backend" => backend.clone()),
            bytes_gauge: gauge!("switchyard_cache_bytes", "backend" => backend),
            bytes: AtomicI64::new(0),
        }
    }

    fn add_bytes(&self, delta: i64) {
        let now = self.bytes.fetch_add(delta, Ordering::Relaxed) + delta;
        self.bytes_gauge.set(now.max(0) as f64);
    }
}

//! Invalidations that overtake a fetch.
//!
//! A miss is fetched upstream while the world goes on: a
//! `notifications/tools/list_changed` may arrive, or an operator may empty
//! the cache, after the request left and before its answer came back. That
//! answer was read before the change, so it must not be kept, or the cache
//! would serve the old list as a hit until the TTL runs out. Dropping the
//! store's entries at the moment of the invalidation cannot help: the answer
//! is not in the store yet.
//!
//! So every invalidation is numbered and remembered for a while with what it
//! covers ([`Scope`]), a fetch notes the number before it sends its request
//! ([`Invalidations::mark`]), and before and after its answer is stored it
//! asks whether an invalidation since then covers its key
//! ([`Invalidations::overtaken`]). Only the fetch that raced pays for the
//! question (one atomic load when nothing was invalidated meanwhile, which is
//! nearly always); a hit never asks.
//!
//! Only the last [`REMEMBERED`] invalidations are kept. A fetch older than all
//! of them is treated as overtaken: dropping an answer costs one more
//! upstream call, keeping a stale one costs wrong answers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::key::Key;
use super::store::{Entry, Store};

/// Invalidations remembered for fetches in flight.
pub const REMEMBERED: usize = 256;

/// What one invalidation dropped.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Everything: the admin API, or a change feed that lost messages.
    All,
    /// Every entry of these methods (`list_changed`).
    Methods(&'static [&'static str]),
    /// The reads of one URI (`resources/updated`).
    Read(Box<str>),
}

/// The numbered recent invalidations of one cache.
#[derive(Default)]
pub struct Invalidations {
    /// The number of the latest invalidation; 0 before the first.
    latest: AtomicU64,
    /// The last [`REMEMBERED`] of them, oldest first, with their numbers.
    recent: Mutex<VecDeque<(u64, Scope)>>,
}

/// The answer one fetch stored, checked once more when the fetching call
/// ends (or is dropped): an invalidation may have come between the last
/// check and the store's insert, which happens inside moka, where it cannot
/// be asked. Then the entry is dropped again; that leaves a window of a few
/// instructions in which a stale answer can be served, against one of the
/// whole TTL.
pub struct Kept<'a> {
    invalidations: &'a Invalidations,
    store: &'a Store,
    key: &'a Key,
    /// The fetch's mark and the entry it handed to the store.
    stored: Mutex<Option<(u64, Arc<Entry>)>>,
}

// === impl Scope ===

impl Scope {
    /// Whether it drops `key`'s entry.
    pub fn covers(&self, key: &Key) -> bool {
        match self {
            Scope::All => true,
            Scope::Methods(methods) => methods.contains(&key.method()),
            Scope::Read(uri) => key.method() == "resources/read" && key.name() == Some(uri),
        }
    }
}

// === impl Invalidations ===

impl Invalidations {
    /// The mark a fetch takes before it sends its request.
    pub fn mark(&self) -> u64 {
        self.latest.load(Ordering::SeqCst)
    }

    /// Numbers and remembers an invalidation. Call it before dropping the
    /// store's entries: a fetch that stores its answer after this either sees
    /// the number, or stored early enough for the drop to catch the entry.
    pub fn record(&self, scope: Scope) {
        // A poisoned lock still holds a consistent queue: every change to it
        // is one call that cannot panic halfway.
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let number = self.latest.load(Ordering::SeqCst) + 1;
        recent.push_back((number, scope));
        if recent.len() > REMEMBERED {
            recent.pop_front();
        }
        self.latest.store(number, Ordering::SeqCst);
    }

    /// Whether an invalidation after `mark` covers `key`, or may have: one no
    /// longer remembered counts as covering.
    pub fn overtaken(&self, mark: u64, key: &Key) -> bool {
        if self.latest.load(Ordering::SeqCst) == mark {
            return false;
        }
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let remembered = recent.front().is_some_and(|(oldest, _)| *oldest <= mark + 1);
        !remembered || recent.iter().any(|(n, scope)| *n > mark && scope.covers(key))
    }
}

// === impl Kept ===

impl<'a> Kept<'a> {
    /// Watches what the fetch for `key` stores in `store`.
    pub fn new(invalidations: &'a Invalidations, store: &'a Store, key: &'a Key) -> Self {
        Self { invalidations, store, key, stored: Mutex::new(None) }
    }

    /// Notes that the fetch that took `mark` is storing `entry`.
    pub fn storing(&self, mark: u64, entry: Arc<Entry>) {
        *self.stored.lock().unwrap_or_else(|e| e.into_inner()) = Some((mark, entry));
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        let stored = self.stored.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((mark, entry)) = stored
            && self.invalidations.overtaken(mark, self.key)
        {
            tracing::debug!(method = self.key.method(), "cache: dropping an answer an invalidation overtook");
            // By identity, under any key (it may have moved to the public
            // one): a newer answer stored meanwhile stays.
            self.store.remove_entry(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Principal;

    fn key(method: &str, name: Option<&str>) -> Key {
        let who = Principal::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        Key::new("2025-06-18", who, None, method, name, "{}".into())
    }

    #[test]
    fn only_later_invalidations_that_cover_the_key_overtake_it() {
        let log = Invalidations::default();
        let tools = key("tools/list", None);
        let read_a = key("resources/read", Some("a"));
        let before = log.mark();
        assert!(!log.overtaken(before, &tools));
        log.record(Scope::Read("b".into()));
        log.record(Scope::Methods(&["prompts/list"]));
        assert!(!log.overtaken(before, &tools) && !log.overtaken(before, &read_a));
        log.record(Scope::Read("a".into()));
        assert!(log.overtaken(before, &read_a) && !log.overtaken(before, &tools));
        let after = log.mark();
        log.record(Scope::Methods(&["tools/list"]));
        assert!(log.overtaken(after, &tools) && !log.overtaken(after, &read_a));
        log.record(Scope::All);
        assert!(log.overtaken(log.mark() - 1, &read_a));
        assert!(!log.overtaken(log.mark(), &read_a));
    }

    #[test]
    fn a_fetch_older_than_every_remembered_invalidation_is_overtaken() {
        let log = Invalidations::default();
        let tools = key("tools/list", None);
        let before = log.mark();
        for _ in 0..REMEMBERED {
            log.record(Scope::Read("x".into()));
        }
        assert!(!log.overtaken(before, &tools), "all remembered, none covers");
        log.record(Scope::Read("x".into()));
        assert!(log.overtaken(before, &tools), "one forgotten: it may have covered");
        assert!(!log.overtaken(1, &tools));
    }

    #[tokio::test]
    async fn an_answer_stored_just_before_an_invalidation_is_dropped_when_its_call_ends() {
        let store = Store::new("t", 1 << 20, std::time::Duration::from_secs(60));
        let log = Invalidations::default();
        let tools = key("tools/list", None);
        let entry = |v: &'static str| {
            let expires = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            Arc::new(Entry { result: bytes::Bytes::from_static(v.as_bytes()), expires, public: false })
        };
        // Stored, then overtaken: dropped when the fetching call ends.
        let kept = Kept::new(&log, &store, &tools);
        let mark = log.mark();
        let old = entry("old");
        kept.storing(mark, old.clone());
        store.insert(tools.clone(), old).await;
        log.record(Scope::Methods(&["tools/list"]));
        drop(kept);
        assert!(store.fresh(&tools).await.is_none());
        // Overtaken only by something else: kept.
        let kept = Kept::new(&log, &store, &tools);
        let mark = log.mark();
        let fine = entry("fine");
        kept.storing(mark, fine.clone());
        store.insert(tools.clone(), fine).await;
        log.record(Scope::Read("a".into()));
        drop(kept);
        assert_eq!(&store.fresh(&tools).await.unwrap().result[..], b"fine");
        // A newer answer under the same key is not the one dropped.
        let kept = Kept::new(&log, &store, &tools);
        kept.storing(log.mark(), entry("stale"));
        log.record(Scope::All);
        drop(kept);
        assert_eq!(&store.fresh(&tools).await.unwrap().result[..], b"fine");
    }
}

//! What an HTTP instance speaks, and the upstream sessions the gateway
//! holds with it on behalf of clients of the other era.
//!
//! Both live with the instance, beside its live record, so that a reload
//! that keeps the instance keeps them, and `/admin/backends` shows the era.
//! They are forgotten together when the instance comes back from down (it
//! may have restarted as another version) and when it no longer knows one
//! of the gateway's sessions.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::HeaderValue;

/// Most upstream sessions held per instance for bridged clients. A session
/// serves one principal with one capability set, so this bounds what a
/// flood of distinct callers can make the gateway (and the server) hold.
const MAX_BRIDGED_SESSIONS: u64 = 10_000;

/// A bridged session unused this long is dropped; the server has most
/// likely expired it already, and the next request opens a fresh one.
const BRIDGED_IDLE: Duration = Duration::from_secs(30 * 60);

/// After a failed attempt to learn an instance's eras, how long before the
/// next: a server that is down (or hangs) must not make every refused
/// request wait on a probe of its own.
pub const RELEARN_AFTER: Duration = Duration::from_secs(30);

/// Which protocol eras an instance answered to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Speaks {
    /// It answers `initialize` (2025-03-26 to 2025-11-25).
    pub session: bool,
    /// It answers 2026-07-28 requests.
    pub stateless: bool,
    /// The versions it named: `server/discover`'s `supportedVersions`, or
    /// the version its `initialize` agreed to.
    pub versions: Vec<String>,
}

/// An upstream session the gateway opened for clients of the stateless
/// era: one principal, one declared capability set.
#[derive(Debug)]
pub struct Bridged {
    /// `Mcp-Session-Id`, when the server issued one.
    pub id: Option<HeaderValue>,
    /// The version `initialize` agreed to, sent as `MCP-Protocol-Version`.
    pub version: HeaderValue,
    /// The server's `initialize` result, which `server/discover` is
    /// answered from.
    pub result: Arc<serde_json::Value>,
}

/// The key of a bridged session: the client capabilities it declared
/// upstream, and the principal it serves.
pub type BridgedKey = (u8, crate::client::Principal);

/// One instance's era knowledge and bridged sessions.
pub struct EraState {
    speaks: ArcSwapOption<Speaks>,
    /// Held while the era is being learned, so that a burst of first
    /// requests sends one probe, not one each.
    pub learning: tokio::sync::Mutex<()>,
    /// When learning last failed.
    failed_at: std::sync::Mutex<Option<tokio::time::Instant>>,
    sessions: moka::sync::Cache<BridgedKey, Arc<Bridged>>,
}

impl Default for EraState {
    fn default() -> Self {
        Self {
            speaks: ArcSwapOption::empty(),
            learning: tokio::sync::Mutex::new(()),
            failed_at: std::sync::Mutex::new(None),
            sessions: moka::sync::Cache::builder()
                .max_capacity(MAX_BRIDGED_SESSIONS)
                .time_to_idle(BRIDGED_IDLE)
                .build(),
        }
    }
}

impl EraState {
    /// What the instance speaks, once learned.
    pub fn speaks(&self) -> Option<Arc<Speaks>> {
        self.speaks.load_full()
    }

    /// Records what the instance speaks.
    pub fn learned(&self, speaks: Speaks) {
        self.speaks.store(Some(Arc::new(speaks)));
    }

    /// Whether learning may be tried now: not within [`RELEARN_AFTER`] of
    /// a failure.
    pub fn may_learn(&self) -> bool {
        let failed = self.failed_at.lock().ok().and_then(|f| *f);
        failed.is_none_or(|at| at.elapsed() >= RELEARN_AFTER)
    }

    /// Records a failed attempt to learn.
    pub fn learning_failed(&self) {
        if let Ok(mut f) = self.failed_at.lock() {
            *f = Some(tokio::time::Instant::now());
        }
    }

    /// Forgets the era and every bridged session: the instance may have
    /// restarted as something else.
    pub fn forget(&self) {
        self.speaks.store(None);
        self.sessions.invalidate_all();
    }

    /// The bridged session for `key`, if one is held.
    pub fn session(&self, key: &BridgedKey) -> Option<Arc<Bridged>> {
        self.sessions.get(key)
    }

    /// Keeps a newly opened bridged session.
    pub fn keep(&self, key: BridgedKey, session: Arc<Bridged>) {
        self.sessions.insert(key, session);
    }

    /// Drops `key`'s session if it is still `stale` (the server answered
    /// 404 to it); a newer one opened meanwhile stays.
    pub fn drop_session(&self, key: &BridgedKey, stale: &Arc<Bridged>) {
        if self.sessions.get(key).is_some_and(|s| Arc::ptr_eq(&s, stale)) {
            self.sessions.invalidate(key);
        }
    }

    /// How many bridged sessions are held.
    pub fn sessions_held(&self) -> u64 {
        self.sessions.run_pending_tasks();
        self.sessions.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridged(id: &'static str) -> Arc<Bridged> {
        Arc::new(Bridged {
            id: Some(HeaderValue::from_static(id)),
            version: HeaderValue::from_static("2025-11-25"),
            result: Arc::new(serde_json::json!({})),
        })
    }

    #[test]
    fn a_stale_session_is_dropped_but_not_its_successor() {
        let era = EraState::default();
        let key = (0, crate::client::Principal::Ip([127, 0, 0, 1].into()));
        let old = bridged("a");
        era.keep(key, old.clone());
        let new = bridged("b");
        era.keep(key, new.clone());
        era.drop_session(&key, &old);
        assert!(era.session(&key).is_some_and(|s| Arc::ptr_eq(&s, &new)), "the newer session stays");
        era.drop_session(&key, &new);
        assert!(era.session(&key).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_learning_is_not_tried_again_at_once() {
        let era = EraState::default();
        assert!(era.may_learn());
        era.learning_failed();
        assert!(!era.may_learn());
        tokio::time::advance(RELEARN_AFTER - Duration::from_millis(1)).await;
        assert!(!era.may_learn());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(era.may_learn());
    }

    #[test]
    fn forgetting_drops_the_era_and_the_sessions() {
        let era = EraState::default();
        era.learned(Speaks { session: true, stateless: false, versions: vec!["2025-11-25".into()] });
        era.keep((0, crate::client::Principal::Ip([127, 0, 0, 1].into())), bridged("a"));
        assert_eq!(era.sessions_held(), 1);
        era.forget();
        assert!(era.speaks().is_none());
        assert_eq!(era.sessions_held(), 0);
    }
}

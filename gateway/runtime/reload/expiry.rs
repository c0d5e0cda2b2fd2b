//! Retired sides leave their splits once no session can be left on them.
//!
//! A side retired from a split (by the admin API or a reload) takes no new
//! session, so the newest token naming it was issued before it was retired;
//! `session_ttl` later, no token naming it opens any more, and keeping the
//! side would only let retired canaries pile up for as long as the gateway
//! runs. One task sleeps until the first retired side is due, or until a
//! split or the config changes (which may retire a side, or change
//! `session_ttl`), and drops what is due. Sides that the file names for the
//! route stay: the file says they belong to it.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Live;

// === impl Live ===

impl Live {
    /// Drops, at `now`, every retired side that `session_ttl` has passed on
    /// and the file does not name for its route; returns when the next one
    /// is due. Serialised with reloads and split changes.
    pub async fn drop_expired_sides(&self, now: Instant) -> Option<Instant> {
        let _changes = self.api_splits.lock().await;
        let runtime = self.runtime();
        let ttl = runtime.config.gateway.session_ttl.0;
        let mut next: Option<Instant> = None;
        for route in runtime.front.routes() {
            let file = runtime.file_sides(&route.path).unwrap_or_default();
            let named = |backend: &str| file.iter().any(|(b, _)| *b == backend);
            let mut split = route.split();
            if let Some((left, gone)) = split.without_expired(now, ttl, named) {
                tracing::info!(route = &*route.name, dropped = ?gone, session_ttl = ?ttl,
                    "dropped retired sides from the split: every session on them has expired");
                route.set_split(left);
                split = route.split();
            }
            next = next.into_iter().chain(split.next_expiry(ttl, named)).min();
        }
        next
    }
}

/// Starts the task that drops expired retired sides; it ends with `live`.
pub fn expire_sides(live: &Arc<Live>) -> JoinHandle<()> {
    let weak = Arc::downgrade(live);
    let changed = live.changed.clone();
    tokio::spawn(async move {
        loop {
            // Held only while it works, so the task never keeps `live` alive.
            let Some(live) = weak.upgrade() else { return };
            let next = live.drop_expired_sides(Instant::now()).await;
            drop(live);
            match next {
                Some(at) => tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = changed.notified() => {}
                },
                None => changed.notified().await,
            }
        }
    })
}

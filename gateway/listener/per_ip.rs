//! The per-address connection cap: one client cannot take every slot of
//! `max_connections`.
//!
//! Why accept and close, rather than leave the connection in the backlog as
//! the global cap does: the kernel's backlog is one queue for every client,
//! so a client over its own cap waiting there would hold back the others
//! queued behind it. Closing it at once costs one accept and leaves the
//! queue to clients with slots to spare.
//!
//! The counts live in a map keyed by address, each entry held by the
//! [`Slot`]s of that address's open connections; the last slot to drop
//! removes its entry, so the map is the size of the set of addresses with
//! connections open, not of every address ever seen.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

/// Open connections per client address, up to a cap.
pub struct PerIp {
    /// Open connections of each address that has any.
    counts: Arc<DashMap<IpAddr, usize>>,
    /// Most open connections per address.
    cap: NonZeroUsize,
}

/// One open connection's place in its address's count; dropping it frees
/// the place.
pub struct Slot {
    /// The map the count is in.
    counts: Arc<DashMap<IpAddr, usize>>,
    /// Whose count.
    ip: IpAddr,
}

/// Warns about refused connections at most once per [`RefusalLog::EVERY`],
/// with how many it did not warn about: a client hammering the cap must not
/// flood the log. Each refusal is still logged at debug.
#[derive(Default)]
pub struct RefusalLog {
    /// When the last warning went out.
    last: Option<tokio::time::Instant>,
    /// Refusals since then.
    unlogged: u64,
}

// === impl PerIp ===

impl PerIp {
    /// A cap of `cap` open connections per address.
    pub fn new(cap: NonZeroUsize) -> Self {
        Self { counts: Arc::new(DashMap::new()), cap }
    }

    /// A slot for one more connection from `ip`, or `None` when the address
    /// is at its cap. An IPv4 address mapped into IPv6 counts as the IPv4
    /// address, so a dual-stack listener cannot be used to double the cap.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        let mut count = self.counts.entry(ip).or_insert(0);
        // A fresh entry holds 0 and the cap is at least 1, so a refusal
        // never leaves an empty entry behind.
        if *count >= self.cap.get() {
            return None;
        }
        *count += 1;
        Some(Slot { counts: self.counts.clone(), ip })
    }

    /// Open connections from `ip`.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        self.counts.get(&ip.to_canonical()).map_or(0, |c| *c)
    }

    /// Addresses with connections open.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.counts.len()
    }
}

// === impl Slot ===

impl Drop for Slot {
    fn drop(&mut self) {
        // Decrement and remove under the entry's lock, so that a concurrent
        // acquire sees either the old count or no entry, never a removed one.
        self.counts.remove_if_mut(&self.ip, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
    }
}

// === impl RefusalLog ===

impl RefusalLog {
    /// The least time between two warnings.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Records a connection from `ip` closed at its cap.
    pub fn refused(&mut self, ip: IpAddr) {
        tracing::debug!(%ip, "connection closed: the address is at max_connections_per_ip");
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < Self::EVERY) {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            %ip,
            also_refused = self.unlogged,
            "connection closed: the address is at max_connections_per_ip (warned at most every 10 s)"
        );
        self.last = Some(now);
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_cap_holds_per_address_and_a_dropped_slot_frees_its_place() {
        let per_ip = PerIp::new(NonZeroUsize::new(2).unwrap());
        let a = per_ip.try_acquire(ip("10.0.0.1")).unwrap();
        let _b = per_ip.try_acquire(ip("10.0.0.1")).unwrap();
        assert!(per_ip.try_acquire(ip("10.0.0.1")).is_none());
        // Another address has its own count.
        let other = per_ip.try_acquire(ip("10.0.0.2")).unwrap();
        drop(a);
        assert_eq!(per_ip.open(ip("10.0.0.1")), 1);
        assert!(per_ip.try_acquire(ip("10.0.0.1")).is_some());
        drop(other);
        assert_eq!(per_ip.addresses(), 1, "an address with nothing open keeps no entry");
    }

    #[test]
    fn a_mapped_ipv4_address_shares_the_ipv4_count() {
        let per_ip = PerIp::new(NonZeroUsize::new(1).unwrap());
        let _v4 = per_ip.try_acquire(ip("192.0.2.7")).unwrap();
        assert!(per_ip.try_acquire(ip("::ffff:192.0.2.7")).is_none());
    }

    #[test]
    fn refusals_leave_no_entry_and_the_last_slot_removes_its_own() {
        let per_ip = PerIp::new(NonZeroUsize::new(1).unwrap());
        let slot = per_ip.try_acquire(ip("::1")).unwrap();
        for _ in 0..3 {
            assert!(per_ip.try_acquire(ip("::1")).is_none());
        }
        assert_eq!(per_ip.open(ip("::1")), 1);
        drop(slot);
        assert_eq!(per_ip.addresses(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_warned_about_at_most_every_ten_seconds() {
        let mut log = RefusalLog::default();
        log.refused(ip("::1"));
        log.refused(ip("::1"));
        log.refused(ip("::1"));
        assert_eq!(log.unlogged, 2);
        tokio::time::advance(RefusalLog::EVERY).await;
        log.refused(ip("::1"));
        assert_eq!(log.unlogged, 0, "the next warning after the interval counts the ones held back");
    }
}

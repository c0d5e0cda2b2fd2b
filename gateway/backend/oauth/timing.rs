//! When a token is refreshed, and how long a failing token endpoint is left
//! alone: pure functions of durations, which the tests drive directly.

use std::time::Duration;

use tokio::time::Instant;

/// A token is refreshed at least this long before it expires: long enough
/// for a slow token endpoint to answer, and for a request sent with the old
/// token to arrive before it lapses.
const EARLY: Duration = Duration::from_secs(30);
/// The first delay after a failed fetch, doubled after each further failure.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest delay between fetches from a failing token endpoint.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// Where a cached token stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Good; nothing to do.
    Fresh,
    /// Still good, but due for a refresh: it is used while a new one is
    /// fetched in the background, so no request waits on the refresh.
    Stale,
    /// Expired: a request must wait for a new one.
    Expired,
}

/// How long after it was issued a token of `lifetime` is refreshed: at 80%
/// of its life or [`EARLY`] before it expires, whichever is sooner, but not
/// before half its life, so that a short-lived token is not fetched anew for
/// every request.
pub fn refresh_after(lifetime: Duration) -> Duration {
    let early = lifetime.mul_f64(0.8).min(lifetime.saturating_sub(EARLY));
    early.max(lifetime / 2)
}

/// Where a token due for refresh at `refresh_at` and expiring at
/// `expires_at` stands at `now`.
pub fn freshness(now: Instant, refresh_at: Instant, expires_at: Instant) -> Freshness {
    if now >= expires_at {
        Freshness::Expired
    } else if now >= refresh_at {
        Freshness::Stale
    } else {
        Freshness::Fresh
    }
}

/// How long to wait before the next fetch after `failures` failures in a
/// row: nothing after none, then 1 s, 2 s, 4 s … up to a minute, each scaled
/// by `0.5 + jitter / 2` for a `jitter` in `[0, 1]` ("equal jitter"), so
/// that replicas that failed together do not all come back together.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doubled = BACKOFF_BASE.saturating_mul(1u32.checked_shl(failures - 1).unwrap_or(u32::MAX));
    doubled.min(BACKOFF_CAP).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn long_tokens_refresh_at_80_percent_short_ones_at_half_life() {
        assert_eq!(refresh_after(S(3600)), S(2880));
        // 80% of 100 s is 80 s, but 30 s before expiry (70 s) is sooner.
        assert_eq!(refresh_after(S(100)), S(70));
        // 30 s before expiry would be now: half its life instead.
        assert_eq!(refresh_after(S(40)), S(20));
        assert_eq!(refresh_after(S(2)), S(1));
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn freshness_by_instant() {
        let t0 = Instant::now();
        let (refresh, expires) = (t0 + S(80), t0 + S(100));
        assert_eq!(freshness(t0, refresh, expires), Freshness::Fresh);
        assert_eq!(freshness(t0 + S(79), refresh, expires), Freshness::Fresh);
        assert_eq!(freshness(t0 + S(80), refresh, expires), Freshness::Stale);
        assert_eq!(freshness(t0 + S(99), refresh, expires), Freshness::Stale);
        assert_eq!(freshness(t0 + S(100), refresh, expires), Freshness::Expired);
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_equal_jitter() {
        assert_eq!(backoff(0, 1.0), Duration::ZERO);
        assert_eq!(backoff(1, 1.0), S(1));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(2, 1.0), S(2));
        assert_eq!(backoff(3, 1.0), S(4));
        assert_eq!(backoff(7, 1.0), S(60));
        assert_eq!(backoff(40, 1.0), S(60));
        assert_eq!(backoff(u32::MAX, 0.0), S(30));
        assert_eq!(backoff(1, 7.0), S(1), "jitter is clamped");
    }
}

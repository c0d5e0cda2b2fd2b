//! Admission: a cap on the requests in flight to one backend.
//!
//! Past `max_in_flight`, a request is refused at once with 503 and
//! `Retry-After` instead of joining a queue: a queue in front of a saturated
//! backend only turns overload into latency for everyone, and the client
//! (or its load balancer) can try another replica now. The count is per
//! backend over all the routes that reach it, and a request holds its slot
//! until its response body ends, so a streamed tool call counts for as long
//! as it streams. GET streams, DELETE and `subscriptions/listen` take no
//! slot: they are long-lived by design and would hold a slot for hours.
//!
//! The refusal says when to come back ([`Admission::retry_after`]): HTTP's
//! `Retry-After` in whole seconds, and `error.data.retryAfterMs` in
//! milliseconds, guessed from how long this backend's requests have lately
//! held their slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use metrics::Counter;
use tokio::time::Instant;

use crate::error::GatewayError;

/// The hint before any request has given its slot back: nothing measured
/// yet, so the one second `Retry-After` has always said.
const FIRST_GUESS: Duration = Duration::from_secs(1);

/// One backend's in-flight count and its cap.
pub struct Admission {
    backend: Arc<str>,
    limit: u32,
    in_flight: AtomicU32,
    /// How long a slot is held, in microseconds: a moving average (weight
    /// 1/8 for each release), 0 until the first release.
    held_us: AtomicU64,
    /// The longest a request to the backend may take (its `timeout`, or a
    /// longer per-method one): no slot is held longer, so no hint is longer.
    deadline: Duration,
    shed: Counter,
}

/// A slot taken from an [`Admission`]; dropping it gives the slot back.
pub struct Permit {
    admission: Arc<Admission>,
    /// When the slot was taken, to measure how long it was held.
    since: Instant,
}

// === impl Admission ===

impl Admission {
    /// A cap of `limit` requests in flight to `backend`, whose requests take
    /// at most `deadline`.
    pub fn new(backend: &str, limit: u32, deadline: Duration) -> Arc<Self> {
        let shed = metrics::counter!("switchyard_shed_total", "backend" => backend.to_string());
        Arc::new(Self {
            backend: backend.into(),
            limit,
            in_flight: AtomicU32::new(0),
            held_us: AtomicU64::new(0),
            deadline,
            shed,
        })
    }

    /// Takes a slot, or refuses with [`GatewayError::Shed`].
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, GatewayError> {
        let taken =
            self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1));
        match taken {
            Ok(_) => Ok(Permit { admission: self.clone(), since: Instant::now() }),
            Err(_) => {
                self.shed.increment(1);
                Err(GatewayError::Shed { backend: self.backend.clone(), retry_after: self.retry_after() })
            }
        }
    }

    /// The cap and the deadline it was built with, which a reload compares
    /// to keep the count of an unchanged cap.
    pub fn settings(&self) -> (u32, Duration) {
        (self.limit, self.deadline)
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// When a refused client should try again: when a slot is likely to be
    /// free. Every one of the `limit` slots is taken, each held for `held`
    /// on average; requests that started at different times end at
    /// different times, so one slot frees about every `held / limit`. That
    /// is the backend's recent latency as the gateway sees it (the whole
    /// response, streams included), spread over the slots. It is kept within
    /// [1 ms, the backend's deadline]: a zero would invite a busy loop, and
    /// no slot is held past the deadline.
    pub fn retry_after(&self) -> Duration {
        let held = self.held_us.load(Ordering::Relaxed);
        let guess = match held {
            0 => FIRST_GUESS,
            held => Duration::from_micros(held / u64::from(self.limit.max(1))),
        };
        let floor = Duration::from_millis(1);
        guess.clamp(floor, self.deadline.max(floor))
    }

    fn release(&self, held: Duration) {
        let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.held_us.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
            Some(if avg == 0 { sample } else { avg - avg / 8 + sample / 8 })
        });
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Permit ===

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.release(self.since.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shed_after(result: Result<Permit, GatewayError>) -> Duration {
        match result {
            Err(GatewayError::Shed { retry_after, .. }) => retry_after,
            Err(e) => panic!("refused with {e}"),
            Ok(_) => panic!("admitted past the cap"),
        }
    }

    #[test]
    fn past_the_cap_requests_are_shed_until_a_slot_frees() {
        let a = Admission::new("b", 2, Duration::from_secs(30));
        let one = a.try_acquire().unwrap();
        let _two = a.try_acquire().unwrap();
        assert!(matches!(a.try_acquire(), Err(GatewayError::Shed { .. })));
        assert_eq!(a.in_flight(), 2);
        drop(one);
        assert_eq!(a.in_flight(), 1);
        assert!(a.try_acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_hint_follows_how_long_slots_are_held() {
        let a = Admission::new("b", 4, Duration::from_secs(30));
        let full: Vec<Permit> = (0..4).map(|_| a.try_acquire().unwrap()).collect();
        // Nothing measured yet: the old one second.
        assert_eq!(shed_after(a.try_acquire()), Duration::from_secs(1));
        // Slots held 400 ms each: one frees about every 100 ms.
        tokio::time::advance(Duration::from_millis(400)).await;
        drop(full);
        let full: Vec<Permit> = (0..4).map(|_| a.try_acquire().unwrap()).collect();
        assert_eq!(shed_after(a.try_acquire()), Duration::from_millis(100));
        // Faster answers move the average down, an eighth at a time.
        drop(full);
        let full: Vec<Permit> = (0..4).map(|_| a.try_acquire().unwrap()).collect();
        let hint = shed_after(a.try_acquire());
        assert!(hint < Duration::from_millis(100) && hint >= Duration::from_millis(1), "{hint:?}");
        drop(full);
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_hint_stays_within_a_millisecond_and_the_deadline() {
        let quick = Admission::new("q", 1, Duration::from_secs(30));
        drop(quick.try_acquire().unwrap());
        let _held = quick.try_acquire().unwrap();
        assert_eq!(shed_after(quick.try_acquire()), Duration::from_millis(1), "no time held is still 1 ms");

        let slow = Admission::new("s", 1, Duration::from_millis(500));
        let held = slow.try_acquire().unwrap();
        assert_eq!(shed_after(slow.try_acquire()), Duration::from_millis(500), "the first guess, past the deadline");
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(held);
        let _held = slow.try_acquire().unwrap();
        assert_eq!(shed_after(slow.try_acquire()), Duration::from_millis(500));
    }
}

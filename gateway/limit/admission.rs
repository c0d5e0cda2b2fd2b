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

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use metrics::Counter;

use crate::error::GatewayError;

/// One backend's in-flight count and its cap.
pub struct Admission {
    backend: Arc<str>,
    limit: u32,
    in_flight: AtomicU32,
    shed: Counter,
}

/// A slot taken from an [`Admission`]; dropping it gives the slot back.
pub struct Permit(Arc<Admission>);

// === impl Admission ===

impl Admission {
    /// A cap of `limit` requests in flight to `backend`.
    pub fn new(backend: &str, limit: u32) -> Arc<Self> {
        let shed = metrics::counter!("switchyard_shed_total", "backend" => backend.to_string());
        Arc::new(Self { backend: backend.into(), limit, in_flight: AtomicU32::new(0), shed })
    }

    /// Takes a slot, or refuses with [`GatewayError::Shed`].
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, GatewayError> {
        let taken =
            self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1));
        match taken {
            Ok(_) => Ok(Permit(self.clone())),
            Err(_) => {
                self.shed.increment(1);
                Err(GatewayError::Shed(self.backend.clone()))
            }
        }
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

// === impl Permit ===

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_requests_are_shed_until_a_slot_frees() {
        let a = Admission::new("b", 2);
        let one = a.try_acquire().unwrap();
        let _two = a.try_acquire().unwrap();
        assert!(matches!(a.try_acquire(), Err(GatewayError::Shed(_))));
        assert_eq!(a.in_flight(), 2);
        drop(one);
        assert_eq!(a.in_flight(), 1);
        assert!(a.try_acquire().is_ok());
    }
}

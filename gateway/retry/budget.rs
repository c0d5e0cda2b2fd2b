//! The retry budget: in any one second, retries may be at most
//! `budget_percent` of the requests plus `min_per_second`.
//!
//! This is finagle's and linkerd's budget, the one tower ships as
//! `TpsBudget`, written here for two reasons that showed in tests and
//! profiles:
//!
//! - `TpsBudget` turns the percentage into "one retry per n deposits" with
//!   `f32` arithmetic, so 20% becomes one per 4 (25%), and 30% one per 3
//!   (33%). Here the accounting is in integer tokens: a request deposits
//!   `budget_percent` tokens, a retry costs 100.
//! - `TpsBudget` takes a mutex on every deposit, and every request deposits.
//!   Here a deposit is one compare-and-swap on the current slot.
//!
//! The second is ten slots of 100 ms. Each slot packs the tick it belongs
//! to with its request and retry counts into one `AtomicU64`, so a slot left
//! over from an earlier second is recognised and restarted by whoever
//! touches it next. A retry is taken first and given back if it did not
//! fit, so that two retries checking at the same instant can both be
//! refused but never both squeeze into the last place.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

const SLOTS: usize = 10;
const SLOT: Duration = Duration::from_millis(100);
/// Largest count a slot holds (16 bits each for requests and retries).
const MAX_COUNT: u64 = 0xffff;

/// A retry budget over a sliding second.
pub struct Budget {
    /// Zero of the tick clock.
    epoch: Instant,
    /// `tick << 32 | requests << 16 | retries`.
    slots: [AtomicU64; SLOTS],
    /// Tokens a request deposits (the percentage).
    percent: u64,
    /// Retries allowed per second whatever the traffic.
    floor: u64,
}

impl Budget {
    /// A budget of `percent` of requests plus `floor` retries a second.
    pub fn new(percent: u32, floor: u32) -> Self {
        Self { epoch: Instant::now(), slots: Default::default(), percent: u64::from(percent), floor: u64::from(floor) }
    }

    /// Counts a request.
    pub fn deposit(&self) {
        self.add(self.tick(), 1, 0);
    }

    /// Takes one retry; `false` when the last second's budget is spent.
    pub fn withdraw(&self) -> bool {
        let now = self.tick();
        self.add(now, 0, 1);
        let (mut requests, mut retries) = (0, 0);
        for slot in &self.slots {
            let (tick, r, w) = unpack(slot.load(Relaxed));
            if now.wrapping_sub(tick) < SLOTS as u32 {
                requests += r;
                retries += w;
            }
        }
        if retries * 100 > requests * self.percent + self.floor * 100 {
            self.take_back(now);
            return false;
        }
        true
    }

    /// Gives back a retry taken at `tick`, unless its slot has moved on.
    fn take_back(&self, tick: u32) {
        let slot = &self.slots[tick as usize % SLOTS];
        let mut current = slot.load(Relaxed);
        loop {
            let (t, r, w) = unpack(current);
            if t != tick || w == 0 {
                return;
            }
            match slot.compare_exchange_weak(current, pack(t, r, w - 1), Relaxed, Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    fn tick(&self) -> u32 {
        // Wraps after 13 years of uptime, harmlessly: a slot is only ever
        // compared with the ticks of the last second.
        (Instant::now().saturating_duration_since(self.epoch).as_millis() / SLOT.as_millis()) as u32
    }

    fn add(&self, tick: u32, requests: u64, retries: u64) {
        let slot = &self.slots[tick as usize % SLOTS];
        let mut current = slot.load(Relaxed);
        loop {
            let (t, r, w) = unpack(current);
            if (t.wrapping_sub(tick) as i32) > 0 {
                // A thread that read the clock late: the slot already belongs
                // to a later second, which this count must not reset.
                return;
            }
            let (r, w) = if t == tick { (r, w) } else { (0, 0) };
            let next = pack(tick, (r + requests).min(MAX_COUNT), (w + retries).min(MAX_COUNT));
            match slot.compare_exchange_weak(current, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }
}

fn pack(tick: u32, requests: u64, retries: u64) -> u64 {
    (u64::from(tick) << 32) | (requests << 16) | retries
}

fn unpack(v: u64) -> (u32, u64, u64) {
    ((v >> 32) as u32, (v >> 16) & MAX_COUNT, v & MAX_COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries(b: &Budget, tries: usize) -> usize {
        (0..tries).filter(|_| b.withdraw()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_alone_refills_each_second() {
        let b = Budget::new(0, 3);
        assert_eq!(retries(&b, 10), 3);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(retries(&b, 10), 0, "the same second");
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(retries(&b, 10), 3, "a second later");
    }

    #[tokio::test(start_paused = true)]
    async fn the_share_is_exact() {
        for (percent, requests, allowed) in [(20, 50, 10), (30, 100, 30), (10, 95, 9), (100, 7, 7), (250, 4, 10)] {
            let b = Budget::new(percent, 0);
            for _ in 0..requests {
                b.deposit();
            }
            assert_eq!(retries(&b, 1000), allowed, "{percent}% of {requests}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_and_retries_are_forgotten_after_a_second() {
        let b = Budget::new(20, 0);
        for _ in 0..50 {
            b.deposit();
        }
        tokio::time::advance(Duration::from_millis(950)).await;
        assert_eq!(retries(&b, 4), 4, "still inside the second");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(retries(&b, 10), 0, "the requests have left the window");
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(retries(&b, 10), 0, "the 4 retries are still in it");
        tokio::time::advance(Duration::from_millis(1_000)).await;
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(retries(&b, 10), 2, "a fresh second: 20% of 10");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sliding_second_never_allows_more_than_its_share() {
        // 100 requests a second, spread over 100 ms slots, always failing:
        // in every window of ten slots, at most 20 + 5 retries.
        let b = Budget::new(20, 5);
        let mut per_slot = Vec::new();
        for _ in 0..50 {
            for _ in 0..10 {
                b.deposit();
            }
            per_slot.push(retries(&b, 10));
            tokio::time::advance(SLOT).await;
        }
        for window in per_slot.windows(SLOTS) {
            assert!(window.iter().sum::<usize>() <= 25, "{window:?}");
        }
        assert!(per_slot[20..].iter().sum::<usize>() >= 60, "the budget is also used: {per_slot:?}");
    }
}

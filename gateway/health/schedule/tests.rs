//! The schedule on a paused clock: when an idle wait ends, and that it
//! reads the instance's state while it waits, not once before.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::*;
use crate::config::units;
use crate::telemetry::backend::InstanceMetrics;

fn cfg() -> config::HealthCheck {
    config::HealthCheck {
        interval: units::Duration::millis(500),
        timeout: units::Duration::millis(300),
        idle_interval: units::Duration::secs(60),
        fall: 2,
        ..Default::default()
    }
}

fn up_record(name: &str) -> Arc<Record> {
    let r = Arc::new(Record::new(1, Instant::now(), InstanceMetrics::new("schedule", name)));
    r.set_health(Health::Up, "first probe succeeded");
    r
}

/// A schedule whose last probe, just now, succeeded with the pool at
/// `requests`.
fn after_a_good_probe(requests: u64) -> Schedule {
    let mut s = Schedule::new(&cfg());
    s.first = None;
    s.probed(Instant::now(), true, requests);
    s
}

/// How long `until_due` waits with the pool's count in `pool`.
async fn waited(s: &mut Schedule, record: &Record, pool: &AtomicU64) -> Duration {
    let from = Instant::now();
    s.until_due(record, || Some(pool.load(Relaxed))).await;
    from.elapsed()
}

#[test]
fn only_a_healthy_instance_that_nothing_contradicts_may_idle() {
    let quiet = Seen { health: Health::Up, last_ok: true, ejected: false, pool_busy: false };
    assert!(may_idle(quiet));
    assert!(!may_idle(Seen { health: Health::Unknown, ..quiet }));
    assert!(!may_idle(Seen { health: Health::Down, ..quiet }));
    assert!(!may_idle(Seen { last_ok: false, ..quiet }), "a failed probe is followed up at `interval`");
    assert!(!may_idle(Seen { ejected: true, ..quiet }), "an ejected instance gets no traffic because of its state");
    assert!(!may_idle(Seen { pool_busy: true, ..quiet }));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_pool_is_probed_every_idle_interval() {
    let (r, pool) = (up_record("quiet"), AtomicU64::new(7));
    let took = waited(&mut after_a_good_probe(7), &r, &pool).await;
    assert!(took <= Duration::from_secs(60) && took >= Duration::from_secs(54), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_busy_pool_is_probed_every_interval() {
    let (r, pool) = (up_record("busy"), AtomicU64::new(8));
    let took = waited(&mut after_a_good_probe(7), &r, &pool).await;
    assert!(took <= Duration::from_millis(500) && took >= Duration::from_millis(450), "{took:?}");
}

/// Issue 12: the pool was quiet at the last probe, so the old loop slept a
/// whole `idle_interval`; traffic came back, the instance died and was
/// ejected, and its health stayed `up` for that minute. The wait now ends
/// within one `interval` of the traffic.
#[tokio::test(start_paused = true)]
async fn traffic_that_comes_back_ends_an_idle_wait_within_one_interval() {
    let (r, pool) = (up_record("returns"), Arc::new(AtomicU64::new(7)));
    let traffic = tokio::spawn({
        let pool = pool.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(2_200)).await;
            pool.fetch_add(1, Relaxed);
        }
    });
    let took = waited(&mut after_a_good_probe(7), &r, &pool).await;
    traffic.await.unwrap();
    assert!(took > Duration::from_millis(2_200) && took <= Duration::from_millis(2_700), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn an_ejection_ends_any_wait_at_once() {
    for (name, requests) in [("eject-idle", 7), ("eject-busy", 8)] {
        let (r, pool) = (up_record(name), AtomicU64::new(requests));
        let eject = tokio::spawn({
            let r = r.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(120)).await;
                r.eject(r.now_ms() + 30_000);
            }
        });
        let took = waited(&mut after_a_good_probe(7), &r, &pool).await;
        eject.await.unwrap();
        assert_eq!(took, Duration::from_millis(120), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_or_an_ejection_is_followed_up_at_interval_in_a_quiet_pool() {
    let (r, pool) = (up_record("failed"), AtomicU64::new(7));
    let mut s = after_a_good_probe(7);
    s.probed(Instant::now(), false, 7);
    let took = waited(&mut s, &r, &pool).await;
    assert!(took <= Duration::from_millis(500), "after a failure: {took:?}");

    let r = up_record("ejected");
    r.eject(r.now_ms() + 30_000);
    r.ejection().await;
    let took = waited(&mut after_a_good_probe(7), &r, &pool).await;
    assert!(took <= Duration::from_millis(500), "while ejected: {took:?}");
}

#[tokio::test(start_paused = true)]
async fn the_first_probe_comes_within_the_jitter_share_of_an_interval() {
    let (r, pool) = (up_record("first"), AtomicU64::new(0));
    let took = waited(&mut Schedule::new(&cfg()), &r, &pool).await;
    assert!(took <= Duration::from_millis(50), "{took:?}");
}

//! The probe schedule on a paused clock, with a stand-in for the process.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use super::*;
use crate::config::units;
use crate::table::Health;
use crate::telemetry::backend::InstanceMetrics;

/// A process that answers, or hangs until the probe times out.
#[derive(Default)]
struct Fake {
    hung: AtomicBool,
    pid: AtomicU32,
    probes: AtomicU32,
}

impl Fake {
    async fn probe(&self, timeout: Duration) -> Option<Probed> {
        self.probes.fetch_add(1, Relaxed);
        let pid = self.pid.load(Relaxed);
        if self.hung.load(Relaxed) {
            tokio::time::sleep(timeout).await;
            return Some(Probed { pid, outcome: Err("no answer to ping".into()) });
        }
        Some(Probed { pid, outcome: Ok(()) })
    }
}

fn cfg() -> config::HealthCheck {
    config::HealthCheck {
        interval: units::Duration::secs(5),
        timeout: units::Duration::secs(1),
        idle_interval: units::Duration::secs(60),
        rise: 2,
        fall: 3,
        ..Default::default()
    }
}

/// Waits, on the paused clock, until `record` has `health`; returns how long.
async fn until(record: &Record, health: Health) -> Duration {
    let from = Instant::now();
    while record.health() != health {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(from.elapsed() < Duration::from_secs(3600), "never became {health:?}");
    }
    from.elapsed()
}

/// Starts the loop over `fake`; the returned sender stops it.
fn start(fake: &Arc<Fake>, record: &Arc<Record>, traffic: bool) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stop_rx) = watch::channel(false);
    let (fake, record) = (fake.clone(), record.clone());
    let task = tokio::spawn(async move {
        let cfg = cfg();
        let pool = vec![record.clone()];
        let target = Target { backend: "b", instance: "stdio://process/0", record: &record, pool: &pool };
        let timeout = cfg.timeout.0;
        schedule(&cfg, &target, stop_rx, || {
            // A pool with traffic: one request between any two probes.
            if traffic {
                drop(record.start());
            }
            let fake = fake.clone();
            async move { fake.probe(timeout).await }
        })
        .await;
    });
    (stop, task)
}

#[tokio::test(start_paused = true)]
async fn a_hung_process_is_down_within_interval_times_fall_plus_timeout() {
    let fake = Arc::new(Fake { pid: AtomicU32::new(7), ..Default::default() });
    let record = Arc::new(Record::new(1, Instant::now(), InstanceMetrics::new("b", "stdio://process/0")));
    let (stop, task) = start(&fake, &record, true);
    until(&record, Health::Up).await;
    // Just after a probe succeeded: the worst case.
    let probes = fake.probes.load(Relaxed);
    while fake.probes.load(Relaxed) == probes {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    fake.hung.store(true, Relaxed);
    let took = until(&record, Health::Down).await;
    let c = cfg();
    assert!(took <= c.interval.0 * c.fall + c.timeout.0, "{took:?}");
    assert!(took >= c.interval.0.mul_f64(0.9) * (c.fall - 1), "{took:?}: went down before `fall` probes");
    assert!(record.reason().unwrap().contains("3 probes in a row failed"), "{:?}", record.reason());

    // A new process (pid 8): the old streak does not count, so `rise`
    // successes are needed from the first answer of the new pid on.
    fake.pid.store(8, Relaxed);
    fake.hung.store(false, Relaxed);
    let took = until(&record, Health::Up).await;
    assert!(took <= c.interval.0 * c.rise + c.timeout.0, "{took:?}");
    assert_eq!(record.probe().map(|p| p.ok), Some(true));
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_pool_is_probed_slowly_until_a_probe_fails() {
    let fake = Arc::new(Fake { pid: AtomicU32::new(7), ..Default::default() });
    let record = Arc::new(Record::new(1, Instant::now(), InstanceMetrics::new("b", "stdio://process/1")));
    let (stop, task) = start(&fake, &record, false);
    until(&record, Health::Up).await;
    // Up and idle: the next probes come `idle_interval` apart.
    let c = cfg();
    let probes = fake.probes.load(Relaxed);
    tokio::time::sleep(c.idle_interval.0 * 2 + Duration::from_millis(1)).await;
    let slow = fake.probes.load(Relaxed) - probes;
    assert!((2..=3).contains(&slow), "{slow} probes in two idle intervals");
    // Once one fails, `interval` again: down within one idle interval plus
    // (fall - 1) intervals and a timeout.
    fake.hung.store(true, Relaxed);
    let took = until(&record, Health::Down).await;
    assert!(took <= c.idle_interval.0 + c.interval.0 * (c.fall - 1) + c.timeout.0, "{took:?}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_process_means_no_verdict_and_stop_ends_the_loop() {
    let record = Arc::new(Record::new(1, Instant::now(), InstanceMetrics::new("b", "stdio://process/2")));
    let (stop, stop_rx) = watch::channel(false);
    let probes = Arc::new(AtomicU32::new(0));
    let task = tokio::spawn({
        let (record, probes) = (record.clone(), probes.clone());
        async move {
            let cfg = cfg();
            let pool = vec![record.clone()];
            let target = Target { backend: "b", instance: "i", record: &record, pool: &pool };
            schedule(&cfg, &target, stop_rx, || {
                probes.fetch_add(1, Relaxed);
                async { None }
            })
            .await;
        }
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(probes.load(Relaxed) >= 10, "kept looking every interval");
    assert_eq!(record.health(), Health::Unknown);
    assert!(record.probe().is_none());
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), task).await.expect("stops at once").unwrap();
}

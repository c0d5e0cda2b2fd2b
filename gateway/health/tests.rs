use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[test]
fn first_outcome_decides_an_unknown_instance() {
    let mut s = Streak::default();
    assert_eq!(observe(Health::Unknown, &mut s, true, 2, 3), Some(Health::Up));
    let mut s = Streak::default();
    assert_eq!(observe(Health::Unknown, &mut s, false, 2, 3), Some(Health::Down));
}

#[test]
fn fall_failures_in_a_row_take_it_down_and_rise_successes_bring_it_back() {
    let (rise, fall) = (2, 3);
    let mut s = Streak::default();
    let mut h = Health::Up;
    let mut feed = |h: &mut Health, ok: bool| {
        if let Some(next) = observe(*h, &mut s, ok, rise, fall) {
            *h = next;
        }
        *h
    };
    assert_eq!(feed(&mut h, false), Health::Up);
    assert_eq!(feed(&mut h, false), Health::Up);
    assert_eq!(feed(&mut h, true), Health::Up, "a success breaks the run of failures");
    assert_eq!(feed(&mut h, false), Health::Up);
    assert_eq!(feed(&mut h, false), Health::Up);
    assert_eq!(feed(&mut h, false), Health::Down, "third failure in a row");
    assert_eq!(feed(&mut h, true), Health::Down);
    assert_eq!(feed(&mut h, false), Health::Down, "a failure breaks the run of successes");
    assert_eq!(feed(&mut h, true), Health::Down);
    assert_eq!(feed(&mut h, true), Health::Up, "second success in a row");
}

#[test]
fn jitter_only_shortens_and_stays_in_bounds() {
    let interval = Duration::from_secs(5);
    assert_eq!(jittered(interval, 0.1, 0.0), interval);
    let shortest = jittered(interval, 0.1, 0.999_999);
    assert!(shortest >= Duration::from_millis(4_500) && shortest < interval, "{shortest:?}");
    for _ in 0..1000 {
        let d = jittered(interval, 0.1, rand::random());
        assert!(d > Duration::from_millis(4_500) && d <= interval, "{d:?}");
    }
    assert_eq!(jittered(interval, 0.0, 0.7), interval);
}

/// Drives the probe schedule on a paused clock: an instance that dies right
/// after a successful probe is marked down by the `fall`-th failing probe,
/// within `interval × fall`; one that restarts right after a failing probe
/// is back by the `rise`-th success, within `interval × rise`.
#[tokio::test(start_paused = true)]
async fn detection_and_recovery_stay_within_their_bounds() {
    let (interval, jitter, rise, fall) = (Duration::from_secs(5), 0.1, 2, 3);
    for unit in [0.0, 0.5, 0.999] {
        let mut s = Streak::default();
        let mut h = Health::Up;
        let died = tokio::time::Instant::now();
        let mut probes = 0;
        while h == Health::Up {
            tokio::time::sleep(jittered(interval, jitter, unit)).await;
            probes += 1;
            h = observe(h, &mut s, false, rise, fall).unwrap_or(h);
        }
        assert_eq!(probes, fall);
        assert!(died.elapsed() <= interval * fall, "{:?}", died.elapsed());
        let restarted = tokio::time::Instant::now();
        while h == Health::Down {
            tokio::time::sleep(jittered(interval, jitter, unit)).await;
            h = observe(h, &mut s, true, rise, fall).unwrap_or(h);
        }
        assert!(restarted.elapsed() <= interval * rise, "{:?}", restarted.elapsed());
    }
}

/// An ejection shorter than `interval × fall` must not lapse while the
/// probes are failing but have not yet taken the instance down: a dead
/// instance would get requests again in between. Once it is down, its health
/// keeps it out and the ejection runs its course.
#[tokio::test(start_paused = true)]
async fn a_failed_probe_holds_an_ejection_until_the_verdict() {
    use crate::config::units;
    let cfg = config::HealthCheck {
        interval: units::Duration::millis(500),
        timeout: units::Duration::millis(300),
        fall: 2,
        ..Default::default()
    };
    let metrics = crate::telemetry::backend::InstanceMetrics::new("hold", "i");
    let r = Record::new(1, Instant::now(), metrics);
    r.set_health(Health::Up, "first probe succeeded");
    let mut s = Streak::default();
    let refused: Result<(), String> = Err("connection refused".into());
    let fail = |s: &mut Streak| apply(&r, s, &refused, Duration::from_millis(1), &cfg, "hold", "i");

    fail(&mut s);
    assert_eq!(r.ejected_until_ms(), 0, "a failed probe starts no ejection");
    r.eject(r.now_ms() + 200);
    fail(&mut s);
    assert_eq!(r.health(), Health::Down, "fall = 2");
    assert_eq!(r.ejected_until_ms(), 200, "down keeps it out: nothing to hold");

    r.set_health(Health::Up, "restarted");
    s = Streak::default();
    let ejected_at = r.now_ms();
    r.eject(ejected_at + 200);
    fail(&mut s);
    assert_eq!(r.health(), Health::Up);
    assert_eq!(r.ejected_until_ms(), ejected_at + 800, "held for the next probe: interval + timeout");
    tokio::time::advance(Duration::from_millis(799)).await;
    assert!(r.is_ejected(r.now_ms()));
    apply(&r, &mut s, &Ok(()), Duration::from_millis(1), &cfg, "hold", "i");
    assert_eq!(r.ejected_until_ms(), ejected_at + 800, "a success does not end an ejection, nor hold it");
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(!r.is_ejected(r.now_ms()));
    fail(&mut s);
    assert!(!r.is_ejected(r.now_ms()), "a lapsed ejection is not revived");
}

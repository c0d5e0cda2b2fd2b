use std::sync::Arc;
use std::time::Duration;

use super::*;

fn pool(n: usize) -> Vec<Arc<Instance>> {
    let epoch = tokio::time::Instant::now();
    (0..n)
        .map(|i| {
            let url = format!("http://127.0.0.1:{}/mcp", 1000 + i).parse().unwrap();
            Arc::new(Instance::new(url, 1, i, "t", epoch))
        })
        .collect()
}

fn detector() -> Detector {
    Detector::new(&config::Outlier {
        consecutive_failures: 3,
        base_ejection: crate::config::units::Duration::secs(10),
        max_ejection: crate::config::units::Duration::secs(25),
        max_ejected_percent: 50,
    })
}

fn fail_n(d: &Detector, pool: &[Arc<Instance>], i: usize, n: u32) -> bool {
    // Every failure must be fed, so no short-circuiting `any`.
    let mut ejected = false;
    for _ in 0..n {
        ejected |= d.failure(pool, &pool[i], "test");
    }
    ejected
}

#[tokio::test(start_paused = true)]
async fn ejects_after_consecutive_failures_and_a_success_resets_the_run() {
    let (d, p) = (detector(), pool(4));
    assert!(!fail_n(&d, &p, 0, 2));
    d.success(&p[0]);
    assert!(!fail_n(&d, &p, 0, 2), "a success in between must restart the count");
    assert!(d.failure(&p, &p[0], "x"), "third failure in a row ejects");
    let r = &p[0].record;
    assert!(r.is_ejected(r.now_ms()));
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert!(r.is_ejected(r.now_ms()));
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(!r.is_ejected(r.now_ms()), "the first ejection lasts base_ejection");
}

#[tokio::test(start_paused = true)]
async fn ejections_grow_linearly_up_to_the_cap() {
    let (d, p) = (detector(), pool(4));
    let r = &p[0].record;
    let mut lengths = Vec::new();
    for _ in 0..4 {
        let start = r.now_ms();
        assert!(fail_n(&d, &p, 0, 3));
        lengths.push(r.ejected_until_ms() - start);
        // Serve again right after the ejection ends, well inside max_ejection.
        tokio::time::advance(Duration::from_millis(r.ejected_until_ms() - start + 1)).await;
    }
    assert_eq!(lengths, vec![10_000, 20_000, 25_000, 25_000]);
    assert_eq!(d.ejection_length(100), Duration::from_secs(25));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_resets_the_growth() {
    let (d, p) = (detector(), pool(4));
    let r = &p[0].record;
    assert!(fail_n(&d, &p, 0, 3));
    tokio::time::advance(Duration::from_secs(11)).await;
    assert!(fail_n(&d, &p, 0, 3));
    assert_eq!(r.ejections(), 2);
    // Out for 20 s, then clean for max_ejection (25 s): back to the base.
    tokio::time::advance(Duration::from_secs(20 + 25)).await;
    let start = r.now_ms();
    assert!(fail_n(&d, &p, 0, 3));
    assert_eq!(r.ejected_until_ms() - start, 10_000);
}

#[tokio::test(start_paused = true)]
async fn max_ejected_percent_caps_the_pool() {
    let (d, p) = (detector(), pool(4));
    assert!(fail_n(&d, &p, 0, 3));
    assert!(fail_n(&d, &p, 1, 3), "2 of 4 is 50%: allowed");
    assert!(!fail_n(&d, &p, 2, 10), "3 of 4 would be 75%");
    // Once one ejection ends, there is room again.
    tokio::time::advance(Duration::from_secs(11)).await;
    assert!(fail_n(&d, &p, 2, 1));

    let (d, one) = (detector(), pool(1));
    assert!(!fail_n(&d, &one, 0, 10), "a pool of one is never ejected from");
}

#[tokio::test(start_paused = true)]
async fn uneject_ends_an_ejection_early() {
    let (d, p) = (detector(), pool(2));
    assert!(fail_n(&d, &p, 0, 3));
    let r = &p[0].record;
    r.uneject();
    assert!(!r.is_ejected(r.now_ms()));
    assert_eq!(r.ejections(), 1, "the ejection still counts towards the next one's length");
}

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::backend::Health;

fn pool(n: usize) -> Vec<Arc<Instance>> {
    let epoch = tokio::time::Instant::now();
    (0..n)
        .map(|i| {
            let url = format!("http://127.0.0.1:{}/mcp", 2000 + i).parse().unwrap();
            Arc::new(Instance::new(url, 1, i, "balance-test", epoch))
        })
        .collect()
}

fn picks(pool: &[Arc<Instance>], n: usize) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(pick(pool, None).unwrap().instance.index).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn idle_pool_is_shared_round_the_instances() {
    let p = pool(3);
    let counts = picks(&p, 300);
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|c| *c > 50), "{counts:?}");
}

#[tokio::test]
async fn least_loaded_per_weight_wins() {
    let p = pool(3);
    let _busy: Vec<_> = (0..3).map(|_| p[0].record.start()).chain((0..2).map(|_| p[1].record.start())).collect();
    let _one = p[2].record.start();
    assert_eq!(picks(&p, 50).keys().copied().collect::<Vec<_>>(), vec![2]);
    // Weight 4 makes 3 in flight cheaper than 1 at weight 1.
    p[0].record.set_weight(4);
    assert_eq!(picks(&p, 50).keys().copied().collect::<Vec<_>>(), vec![0]);
}

#[tokio::test]
async fn latency_breaks_ties() {
    let p = pool(2);
    p[0].record.observe_latency(std::time::Duration::from_millis(50));
    p[1].record.observe_latency(std::time::Duration::from_millis(5));
    assert_eq!(picks(&p, 50).keys().copied().collect::<Vec<_>>(), vec![1]);
}

#[tokio::test]
async fn down_ejected_drained_and_weightless_instances_get_nothing() {
    let p = pool(6);
    p[0].record.set_health(Health::Down, "test");
    p[1].record.eject(p[1].record.now_ms() + 60_000);
    p[2].record.set_drained(true);
    p[3].record.set_weight(0);
    let counts = picks(&p, 200);
    let mut chosen: Vec<_> = counts.keys().copied().collect();
    chosen.sort();
    assert_eq!(chosen, vec![4, 5]);
    assert!(!pick(&p, None).unwrap().panic);
}

#[tokio::test]
async fn a_retry_avoids_what_was_tried_unless_nothing_else_is_left() {
    let p = pool(3);
    let tried = Tried::default();
    tried.record(0);
    tried.record(2);
    for _ in 0..20 {
        assert_eq!(pick(&p, Some(&tried)).unwrap().instance.index, 1);
    }
    tried.record(1);
    assert!(pick(&p, Some(&tried)).is_some(), "with everything tried, any instance will do");
}

#[tokio::test]
async fn panic_mode_below_half_healthy_ignores_health() {
    let p = pool(3);
    p[0].record.set_health(Health::Down, "test");
    p[1].record.set_health(Health::Down, "test");
    // One healthy of three: panic, and the down ones take traffic again.
    let first = pick(&p, None).unwrap();
    assert!(first.panic);
    assert_eq!(picks(&p, 300).len(), 3);
    // Two of three healthy is not panic.
    p[1].record.set_health(Health::Up, "test");
    assert!(!pick(&p, None).unwrap().panic);
    assert!(!picks(&p, 100).contains_key(&0));
    // Drained instances are not candidates, so they do not count towards panic.
    p[2].record.set_drained(true);
    assert!(!pick(&p, None).unwrap().panic, "1 healthy of 2 candidates is half, not fewer");
}

#[tokio::test]
async fn nothing_to_pick_when_all_are_drained() {
    let p = pool(2);
    p[0].record.set_drained(true);
    p[1].record.set_drained(true);
    assert!(pick(&p, None).is_none());
}

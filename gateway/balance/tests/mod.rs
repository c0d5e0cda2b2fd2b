//! The rules both algorithms share: who may take work, retries, panic mode,
//! live weights. Each test runs under both.

mod p2c;
mod round_robin;

use std::sync::Arc;

use super::*;
use crate::table::Health;

const BOTH: [config::Balance; 2] = [config::Balance::P2c, config::Balance::RoundRobin];

/// A pool with these weights, health unknown (so healthy), idle.
fn pool(weights: &[u32]) -> Vec<Arc<Instance>> {
    let epoch = tokio::time::Instant::now();
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let url = format!("http://127.0.0.1:{}/mcp", 2000 + i).parse().unwrap();
            Arc::new(Instance::new(url, *w, i, "balance-test", epoch))
        })
        .collect()
}

/// How many of `n` picks each instance got.
fn picks(b: &Balancer, pool: &[Arc<Instance>], n: usize, tried: Option<&Tried>) -> Vec<usize> {
    let mut counts = vec![0; pool.len()];
    for _ in 0..n {
        counts[b.pick(pool, tried).unwrap().instance.index] += 1;
    }
    counts
}

/// The instances that got at least one pick.
fn chosen(counts: &[usize]) -> Vec<usize> {
    (0..counts.len()).filter(|i| counts[*i] > 0).collect()
}

#[tokio::test]
async fn an_idle_pool_is_shared_round_the_instances() {
    for alg in BOTH {
        let p = pool(&[1, 1, 1]);
        let counts = picks(&Balancer::new(alg, 3), &p, 300, None);
        assert!(counts.iter().all(|c| *c > 50), "{alg:?}: {counts:?}");
    }
}

#[tokio::test]
async fn down_ejected_drained_and_weightless_instances_get_nothing() {
    for alg in BOTH {
        let p = pool(&[1; 6]);
        p[0].record.set_health(Health::Down, "test");
        p[1].record.eject(p[1].record.now_ms() + 60_000);
        p[2].record.set_drained(true);
        p[3].record.set_weight(0);
        let b = Balancer::new(alg, 6);
        assert_eq!(chosen(&picks(&b, &p, 200, None)), vec![4, 5], "{alg:?}");
        assert!(!b.pick(&p, None).unwrap().panic);
    }
}

#[tokio::test]
async fn a_retry_avoids_what_was_tried_unless_nothing_else_is_left() {
    for alg in BOTH {
        let p = pool(&[1, 5, 1]);
        let b = Balancer::new(alg, 3);
        let tried = Tried::default();
        tried.record(1);
        assert_eq!(chosen(&picks(&b, &p, 100, Some(&tried))), vec![0, 2], "{alg:?}");
        tried.record(0);
        assert_eq!(chosen(&picks(&b, &p, 20, Some(&tried))), vec![2], "{alg:?}");
        tried.record(2);
        // With everything tried, any healthy instance will do, by the
        // algorithm's own choice.
        assert_eq!(chosen(&picks(&b, &p, 300, Some(&tried))), vec![0, 1, 2], "{alg:?}");
        // A tried healthy instance beats an untried down one outside panic.
        let p = pool(&[1, 1, 1]);
        p[2].record.set_health(Health::Down, "test");
        let tried = Tried::default();
        tried.record(0);
        tried.record(1);
        assert_eq!(chosen(&picks(&b, &p, 100, Some(&tried))), vec![0, 1], "{alg:?}");
    }
}

#[tokio::test]
async fn panic_mode_below_half_healthy_ignores_health() {
    for alg in BOTH {
        let p = pool(&[1, 1, 1]);
        let b = Balancer::new(alg, 3);
        p[0].record.set_health(Health::Down, "test");
        p[1].record.set_health(Health::Down, "test");
        // One healthy of three: panic, and the down ones take traffic again.
        assert!(b.pick(&p, None).unwrap().panic, "{alg:?}");
        assert_eq!(chosen(&picks(&b, &p, 300, None)), vec![0, 1, 2], "{alg:?}");
        // In panic, a retry still avoids what it tried.
        let tried = Tried::default();
        tried.record(2);
        assert_eq!(chosen(&picks(&b, &p, 100, Some(&tried))), vec![0, 1], "{alg:?}");
        // Two of three healthy is not panic.
        p[1].record.set_health(Health::Up, "test");
        assert!(!b.pick(&p, None).unwrap().panic);
        assert_eq!(chosen(&picks(&b, &p, 100, None)), vec![1, 2], "{alg:?}");
        // Drained instances are not candidates, so they do not count towards panic.
        p[2].record.set_drained(true);
        assert!(!b.pick(&p, None).unwrap().panic, "{alg:?}: 1 healthy of 2 candidates is half, not fewer");
    }
}

#[tokio::test]
async fn nothing_to_pick_when_all_are_drained_or_weightless() {
    for alg in BOTH {
        let p = pool(&[1, 1]);
        let b = Balancer::new(alg, 2);
        p[0].record.set_drained(true);
        p[1].record.set_weight(0);
        assert!(b.pick(&p, None).is_none(), "{alg:?}");
        assert!(b.pick(&[], None).is_none(), "{alg:?}");
    }
}

#[tokio::test]
async fn a_weight_change_applies_to_the_next_pick() {
    for alg in BOTH {
        let p = pool(&[1, 1]);
        let b = Balancer::new(alg, 2);
        let _ = picks(&b, &p, 10, None);
        p[0].record.set_weight(0);
        assert_eq!(b.pick(&p, None).unwrap().instance.index, 1, "{alg:?}");
        p[0].record.set_weight(9);
        p[1].record.set_weight(0);
        assert_eq!(b.pick(&p, None).unwrap().instance.index, 0, "{alg:?}");
        // Weighted 9:1 with equal (zero) load, both favour the heavy one.
        p[1].record.set_weight(1);
        let counts = picks(&b, &p, 1000, None);
        assert!(counts[0] > 800, "{alg:?}: {counts:?}");
    }
}

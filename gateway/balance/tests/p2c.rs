//! P2C: the cost, the cold start, and skewed pools.

use std::time::Duration;

use super::*;
use crate::balance::p2c::Candidate;
use crate::table::Load;

fn p2c(n: usize) -> Balancer {
    Balancer::new(config::Balance::P2c, n)
}

fn slow(inst: &Instance, ms: u64) {
    inst.record.observe_latency(Duration::from_millis(ms));
}

/// Holds `n` requests in flight on `inst` while the guards live.
fn busy(inst: &Instance, n: usize) -> Vec<Load> {
    (0..n).map(|_| inst.record.start()).collect()
}

#[test]
fn cost_is_in_flight_plus_one_times_latency_over_weight() {
    let c = |in_flight, weight, ewma_us| Candidate { index: 0, in_flight, weight, ewma_us };
    assert_eq!(c(3, 2, 100.0).cost(&c(0, 1, 7.0)), 200.0);
    // Cold start: an unknown latency is the other's, then 1.
    assert_eq!(c(1, 1, 0.0).cost(&c(0, 1, 50.0)), 100.0);
    assert_eq!(c(4, 5, 0.0).cost(&c(0, 1, 0.0)), 1.0);
}

#[tokio::test]
async fn a_slow_instance_gets_nothing_while_the_fast_ones_are_idle() {
    let p = pool(&[1, 1, 1]);
    slow(&p[0], 5);
    slow(&p[1], 5);
    slow(&p[2], 50);
    let counts = picks(&p2c(3), &p, 10_000, None);
    assert_eq!(chosen(&counts), vec![0, 1], "{counts:?}");
}

#[tokio::test]
async fn the_two_draws_are_distinct() {
    // Were the same instance ever drawn twice, the dear one would win that
    // draw; with two instances, the cheap one must win every time.
    let p = pool(&[1, 1]);
    let _load = busy(&p[0], 1);
    assert_eq!(chosen(&picks(&p2c(2), &p, 2_000, None)), vec![1]);
}

#[tokio::test]
async fn load_and_latency_multiply_and_weight_divides() {
    let p = pool(&[1, 1]);
    let b = p2c(2);
    // 10 ms with 4 in flight (5 × 10 = 50) is dearer than 40 ms idle (40).
    slow(&p[0], 10);
    slow(&p[1], 40);
    let _load = busy(&p[0], 4);
    assert_eq!(chosen(&picks(&b, &p, 200, None)), vec![1]);
    // At weight 2 the same load costs 25: the fast one wins again.
    p[0].record.set_weight(2);
    assert_eq!(chosen(&picks(&b, &p, 200, None)), vec![0]);
}

#[tokio::test]
async fn a_fresh_instance_is_judged_by_its_load_until_it_answers() {
    let p = pool(&[1, 1]);
    let b = p2c(2);
    slow(&p[0], 50);
    // No sample on 1: it counts as 50 ms too, so its 2 in flight lose to
    // 0's none. A latency of 0 for the unknown would flood it instead.
    let _load = busy(&p[1], 2);
    assert_eq!(chosen(&picks(&b, &p, 200, None)), vec![0]);
    drop(_load);
    // Idle, and as cheap as 0 by assumption: both get work.
    assert_eq!(chosen(&picks(&b, &p, 200, None)), vec![0, 1]);
}

/// A closed loop of `clients`, each sending its next request when the last
/// answers; instance `i` takes `ticks[i]` ticks to answer. Returns the
/// requests each instance served.
fn closed_loop(b: &Balancer, p: &[Arc<Instance>], ticks: &[u64], clients: usize, requests: usize) -> Vec<usize> {
    let mut counts = vec![0; p.len()];
    // (tick it ends, instance, load guard)
    let mut running: Vec<(u64, usize, Load)> = Vec::new();
    let mut now = 0;
    for _ in 0..requests {
        if running.len() == clients {
            now = running.iter().map(|r| r.0).min().unwrap();
            running.retain(|(end, i, _)| {
                if *end <= now {
                    p[*i].record.observe_latency(Duration::from_millis(ticks[*i]));
                }
                *end > now
            });
        }
        let i = b.pick(p, None).unwrap().instance.index;
        counts[i] += 1;
        running.push((now + ticks[i], i, p[i].record.start()));
    }
    counts
}

#[tokio::test]
async fn under_skewed_latency_most_traffic_goes_to_the_fast_instance() {
    // One instance ten times slower than the other, eight clients.
    let p = pool(&[1, 1]);
    let counts = closed_loop(&p2c(2), &p, &[2, 20], 8, 10_000);
    let fast = counts[0] as f64 / 10_000.0;
    eprintln!("p2c, 2 instances, latency 1:10, 8 clients: {counts:?}");
    assert!(fast > 0.8, "fast share {fast:.3}: {counts:?}");
    // Round robin, blind to latency, splits evenly: the measure can tell.
    let p = pool(&[1, 1]);
    let counts = closed_loop(&Balancer::new(config::Balance::RoundRobin, 2), &p, &[2, 20], 8, 10_000);
    assert_eq!(counts, vec![5_000, 5_000]);
}

#[tokio::test]
async fn under_skewed_latency_with_three_instances_the_slow_one_is_avoided() {
    let p = pool(&[1, 1, 1]);
    let counts = closed_loop(&p2c(3), &p, &[2, 2, 20], 12, 10_000);
    let slow_share = counts[2] as f64 / 10_000.0;
    eprintln!("p2c, 3 instances, latency 1:1:10, 12 clients: {counts:?}");
    assert!(slow_share < 0.2, "slow share {slow_share:.3}: {counts:?}");
}

//! Smooth weighted round robin: accuracy, smoothness, live weights, and
//! shares under concurrent picks.

use super::*;

fn rr(n: usize) -> Balancer {
    Balancer::new(config::Balance::RoundRobin, n)
}

/// Asserts each share is within ±2% of what `weights` ask.
fn assert_within_2_percent(counts: &[usize], weights: &[u32]) {
    let (n, total) = (counts.iter().sum::<usize>() as f64, weights.iter().sum::<u32>() as f64);
    for (c, w) in counts.iter().zip(weights) {
        let want = n * f64::from(*w) / total;
        assert!((*c as f64 - want).abs() <= want * 0.02, "{counts:?} for weights {weights:?}");
    }
}

#[tokio::test]
async fn ten_thousand_picks_land_on_the_weights() {
    let p = pool(&[1, 2, 7]);
    let counts = picks(&rr(3), &p, 10_000, None);
    assert_within_2_percent(&counts, &[1, 2, 7]);
    // Smooth WRR is exact over every whole cycle.
    assert_eq!(counts, vec![1_000, 2_000, 7_000]);
}

#[tokio::test]
async fn picks_interleave_rather_than_burst() {
    let p = pool(&[5, 1, 1]);
    let b = rr(3);
    let order: Vec<usize> = (0..14).map(|_| b.pick(&p, None).unwrap().instance.index).collect();
    assert_eq!(order, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

#[tokio::test]
async fn shares_follow_a_live_weight_change() {
    let p = pool(&[1, 1]);
    let b = rr(2);
    assert_eq!(picks(&b, &p, 100, None), vec![50, 50]);
    p[0].record.set_weight(3);
    assert_eq!(picks(&b, &p, 400, None), vec![300, 100]);
}

#[tokio::test]
async fn shares_hold_over_the_instances_left_when_one_is_down() {
    let p = pool(&[1, 2, 7]);
    p[2].record.set_health(Health::Down, "test");
    assert_eq!(picks(&rr(3), &p, 3_000, None), vec![1_000, 2_000, 0]);
}

#[test]
fn concurrent_picks_still_land_on_the_weights() {
    let p = pool(&[1, 2, 7]);
    let b = rr(3);
    let threads = 4;
    let per_thread = 10_000;
    let counts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| picks(&b, &p, per_thread, None))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold(vec![0; 3], |acc, c| acc.iter().zip(&c).map(|(a, b)| a + b).collect())
    });
    assert_eq!(counts.iter().sum::<usize>(), threads * per_thread);
    assert_within_2_percent(&counts, &[1, 2, 7]);
}

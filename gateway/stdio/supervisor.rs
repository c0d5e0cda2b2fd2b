//! Keeping a slot of the pool filled: start the child, shake hands, and
//! restart it when it exits, with jittered exponential backoff.
//!
//! Backoff doubles from `restart.initial` to `restart.max` and resets once a
//! child has stayed up for [`STABLE`], so a server that crashes once a day
//! restarts at once, while a crash loop is damped. A child that stops
//! answering (several request timeouts in a row) is recycled the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::child;
use super::handshake::{self, Handshake};
use super::process::{Process, ReaderContext};
use crate::config;
use crate::table::{Health, Instance};

/// Uptime after which a crash no longer counts toward the backoff.
pub const STABLE: Duration = Duration::from_secs(30);
/// How long the gateway's own `initialize` with a child may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One place in the pool: the running process, if any, and its history.
pub struct Slot {
    /// Its row in the live table: health, drain, weight, load, pid and
    /// restarts. It outlives the processes that run in the slot.
    pub instance: Arc<Instance>,
    /// The live process; empty while (re)starting.
    pub current: ArcSwapOption<Process>,
    /// What the child said about itself in the handshake.
    pub upstream: ArcSwapOption<Handshake>,
    /// Times the child has been restarted.
    pub restarts: AtomicU32,
    /// Why the last start or run failed, for `/health` and error bodies.
    pub last_error: ArcSwapOption<String>,
    /// Woken after every start attempt, successful or not.
    pub settled: tokio::sync::Notify,
    /// Set once the child refused `initialize`: later processes are
    /// discovered instead (stateless-only servers).
    pub discover: std::sync::atomic::AtomicBool,
}

impl Slot {
    /// An empty slot whose row is `instance`.
    pub fn new(instance: Arc<Instance>) -> Self {
        Self {
            instance,
            current: ArcSwapOption::empty(),
            upstream: ArcSwapOption::empty(),
            restarts: AtomicU32::new(0),
            last_error: ArcSwapOption::empty(),
            settled: tokio::sync::Notify::new(),
            discover: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Whether a slot's child is restarted when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Shared pool: always restart.
    Restart,
    /// A session's own process: when it ends, so does the session.
    Once,
}

/// The delay before restart number `attempt` (0-based): doubling from
/// `initial`, capped at `max`, then jittered down by up to a quarter so that
/// a pool of crashing children does not restart in lockstep.
pub fn backoff(restart: &config::Restart, attempt: u32, jitter: f64) -> Duration {
    let base = restart.initial.0.saturating_mul(1u32 << attempt.min(20)).min(restart.max.0);
    base.mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
}

/// Runs the slot until `stop` turns true, then stops the child in the spec's order.
pub async fn supervise(
    slot_index: usize,
    slot: Arc<Slot>,
    cfg: Arc<config::Backend>,
    changes: broadcast::Sender<bytes::Bytes>,
    mut stop: watch::Receiver<bool>,
    lifecycle: Lifecycle,
) {
    let name: Arc<str> = cfg.name.get_ref().as_str().into();
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let mut refused = false;
        match child::spawn(&cfg) {
            Err(e) => {
                let why = format!("cannot start `{}`: {e}", cfg.program());
                tracing::error!(backend = &*name, "{why}");
                slot.last_error.store(Some(Arc::new(why)));
                slot.settled.notify_waiters();
            }
            Ok(spawned) => refused = run(spawned, slot_index, &slot, &cfg, &name, &changes, &mut stop).await,
        }
        if *stop.borrow() {
            return;
        }
        if refused {
            // The next process is discovered instead; no backoff, nothing crashed.
            continue;
        }
        if lifecycle == Lifecycle::Once {
            return;
        }
        if started.elapsed() >= STABLE {
            attempt = 0;
        }
        let delay = backoff(&cfg.restart, attempt, rand::random());
        attempt = attempt.saturating_add(1);
        slot.restarts.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Runs one spawned process: its handshake, then until it exits, stops
/// answering or the gateway stops; then stops it. Returns whether its
/// `initialize` was refused, so that the next process is discovered instead.
async fn run(
    spawned: child::Spawned,
    slot_index: usize,
    slot: &Slot,
    cfg: &config::Backend,
    name: &Arc<str>,
    changes: &broadcast::Sender<bytes::Bytes>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut refused = false;
    let pid = spawned.child.id();
    tracing::info!(backend = &**name, pid, command = cfg.program(), "started stdio process");
    let ctx = ReaderContext {
        backend: name.clone(),
        max_line_bytes: usize::try_from(cfg.max_line_bytes.0).unwrap_or(usize::MAX),
        changes: changes.clone(),
        slot: slot_index,
        timeout: cfg.timeout.0,
    };
    let process = Process::start(pid, spawned.stdin, spawned.stdout, spawned.stderr, ctx);
    let mut child = spawned.child;
    let mode =
        if slot.discover.load(Ordering::Relaxed) { handshake::Mode::Discover } else { handshake::Mode::Initialize };
    match handshake::run(&process, HANDSHAKE_TIMEOUT, mode).await {
        Ok(upstream) => {
            slot.upstream.store(Some(Arc::new(upstream)));
            let restarts = slot.restarts.load(Ordering::Relaxed);
            let record = &slot.instance.record;
            record.set_process(pid.unwrap_or(0), restarts);
            // A new process is judged afresh (see `probe`).
            if restarts > 0 {
                record.set_health(Health::Unknown, &format!("restarted as pid {}", pid.unwrap_or(0)));
            }
            slot.current.store(Some(process.clone()));
            slot.last_error.store(None);
        }
        Err(why) => {
            // A refused initialize is retried at once, on a fresh
            // process, with server/discover.
            refused = matches!(why, handshake::Failed::Refused(_)) && mode == handshake::Mode::Initialize;
            if refused {
                slot.discover.store(true, Ordering::Relaxed);
            }
            tracing::error!(backend = &**name, pid, "handshake failed: {why}");
            slot.last_error.store(Some(Arc::new(format!("handshake failed: {why}"))));
        }
    }
    slot.settled.notify_waiters();
    let ended = process.ended.notified();
    let recycle = process.recycle.notified();
    let reason = if slot.current.load().is_none() {
        "handshake failed"
    } else {
        tokio::select! {
            status = child.wait() => {
                let why = format!("process exited: {}", status.map_or_else(|e| e.to_string(), |s| s.to_string()));
                slot.last_error.store(Some(Arc::new(why)));
                "exited"
            }
            _ = ended => "closed stdout",
            _ = recycle => "stopped answering",
            _ = stop.changed() => "gateway stopping",
        }
    };
    slot.current.store(None);
    slot.instance.record.set_process(0, slot.restarts.load(Ordering::Relaxed));
    tracing::warn!(backend = &**name, pid, reason, "stdio process ended");
    // The process may still be shared (a parked call, a
    // waiter), so its stdin is closed explicitly, not by drop.
    process.close_input();
    child::stop(child, None).await;
    // Wake any waiter still holding this process.
    process.ended.notify_waiters();
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that cannot start crash-loops with no I/O, so the paused
    /// clock sees exactly the backoff schedule.
    #[tokio::test(start_paused = true)]
    async fn crash_loop_respects_the_backoff() {
        let cfg = config::Backend {
            command: Some(toml::Spanned::new(0..0, "/nonexistent/switchyard-test".into())),
            restart: config::Restart {
                initial: config::units::Duration::millis(100),
                max: config::units::Duration::secs(1),
            },
            ..Default::default()
        };
        let slot = Arc::new(Slot::new(crate::stdio::pool::instance("b", false, 0, Instant::now())));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            0,
            slot.clone(),
            Arc::new(cfg),
            broadcast::channel(1).0,
            stop_rx,
            Lifecycle::Restart,
        ));
        // Attempts start at 0, then after delays in [75%, 100%] of 100, 200,
        // 400, 800, 1000, 1000 ... ms.
        let restarts_at = |ms: u64| {
            let slot = slot.clone();
            async move {
                tokio::time::sleep_until(Instant::now() + Duration::from_millis(ms)).await;
                slot.restarts.load(Ordering::Relaxed)
            }
        };
        assert_eq!(restarts_at(50).await, 1);
        // By 150 ms the second attempt (due in 75..100 ms) has run; the third
        // is due no earlier than 75 + 150 = 225 ms.
        assert_eq!(restarts_at(100).await, 2);
        // Over 10 s the cap keeps the loop to about one attempt a second.
        let after_ten_seconds = restarts_at(9_850).await;
        assert!((10..=16).contains(&after_ten_seconds), "{after_ten_seconds} restarts in 10 s");
        assert!(slot.last_error.load_full().unwrap().contains("cannot start"));
        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_down() {
        let r =
            config::Restart { initial: config::units::Duration::millis(250), max: config::units::Duration::secs(30) };
        assert_eq!(backoff(&r, 0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(&r, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&r, 3, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(&r, 10, 0.0), Duration::from_secs(30));
        assert_eq!(backoff(&r, 40, 0.0), Duration::from_secs(30));
        assert_eq!(backoff(&r, 0, 1.0), Duration::from_micros(187_500));
        for j in [0.1, 0.5, 0.9] {
            let d = backoff(&r, 2, j);
            assert!(d <= Duration::from_secs(1) && d >= Duration::from_millis(750), "{d:?}");
        }
    }
}

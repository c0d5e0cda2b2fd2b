//! Active health of stdio processes: each process is probed over its own
//! pipe, with its backend's `health` settings, and the verdict goes to its
//! row in the live table.
//!
//! A probe is a request of the gateway's own (`ping`, `tools/list` or
//! `server/discover`), sent through the process actor like any client
//! request, under an upstream id of its own, so its reply cannot reach a
//! client and no client can cancel it. The gateway holds the child's only
//! session (it ran `initialize` itself), so there is no probe session to
//! keep. `http_get` means nothing on a pipe and is refused by the config.
//!
//! The schedule and the thresholds are the HTTP checker's
//! ([`crate::health::apply`], [`crate::health::Schedule`]): `unknown` → `up`
//! or `down` on the first outcome, then `fall` failures / `rise` successes in
//! a row, and the slower `idle_interval` only while the process is up, its
//! last probe succeeded and the pool has had no traffic.
//!
//! **Probes and hang detection.** A probe that times out counts toward the
//! same run of timeouts as client requests ([`HANG_TIMEOUTS`](super::HANG_TIMEOUTS)
//! in a row recycle the child), and a probe that is answered, even with an
//! error, ends the run. Without that, a child that hangs while idle would be
//! marked `down`, then get no requests, so request timeouts could never
//! recycle it and it would stay hung for good. With `fall` below
//! `HANG_TIMEOUTS`, a hung process is marked `down` (and gets no new
//! requests) before it is replaced; with the defaults (both 3) the same
//! probe does both, and the replacement starts `unknown`. A probe answered
//! with a JSON-RPC error takes the process `down` but does not recycle it,
//! since it still answers. A probe whose process ended meanwhile gives no
//! verdict: the row already speaks for the next one.
//!
//! **Restarts.** A slot keeps its record across restarts: the operator's
//! drain and weight are about the slot, and totals are its history. Health
//! is not: the supervisor sets a restarted process back to `unknown` (which
//! serves, as at startup), and the probe loop starts a fresh streak when it
//! sees a new pid, because what the old process did says nothing of the
//! new one.

use std::future::Future;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::handshake::{self, Unanswered};
use super::supervisor::Slot;
use crate::config::{self, Probe};
use crate::health::{self, Schedule, Streak};
use crate::table::Record;

/// What one probe found.
#[derive(Debug)]
pub(super) struct Probed {
    /// The process probed; a new one starts a new streak.
    pub pid: u32,
    /// `Err` says why it failed.
    pub outcome: Result<(), String>,
}

/// Where the probe loop reports.
pub(super) struct Target<'a> {
    /// The backend's name, for logs.
    pub backend: &'a str,
    /// The instance's label, for logs.
    pub instance: &'a str,
    /// Its row.
    pub record: &'a Record,
    /// Every row of its pool, whose traffic tells an idle pool.
    pub pool: &'a [Arc<Record>],
}

/// Probes the process in `slot` until `stop` turns true (or its sender is
/// dropped). Returns at once when the backend's probe is `none`.
pub(super) async fn run(
    slot: Arc<Slot>,
    cfg: Arc<config::Backend>,
    pool: Vec<Arc<Record>>,
    stop: watch::Receiver<bool>,
) {
    if matches!(cfg.health.probe, Probe::None | Probe::HttpGet { .. }) {
        return;
    }
    let instance = slot.instance.display_url();
    let target =
        Target { backend: cfg.name.get_ref(), instance: &instance, record: &slot.instance.record, pool: &pool };
    schedule(&cfg.health, &target, stop, || probe(&slot, &cfg.health)).await;
}

/// Runs `probe` on the health schedule and records each outcome.
pub(super) async fn schedule<F, Fut>(
    cfg: &config::HealthCheck,
    target: &Target<'_>,
    mut stop: watch::Receiver<bool>,
    mut probe: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Probed>>,
{
    let mut streak = Streak::default();
    let mut pid = None;
    let mut schedule = Schedule::new(cfg);
    let pool_requests = || target.pool.iter().map(|r| r.totals().0).sum::<u64>();
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            () = schedule.until_due(target.record, || Some(pool_requests())) => {}
            _ = stop.changed() => return,
        }
        let (started, requests) = (Instant::now(), pool_requests());
        let Some(probed) = probe().await else {
            // Nothing runs: the supervisor is starting one, and the pick
            // skips the slot meanwhile.
            schedule.probed(started, false, requests);
            continue;
        };
        if pid != Some(probed.pid) {
            streak = Streak::default();
            pid = Some(probed.pid);
        }
        health::apply(
            target.record,
            &mut streak,
            &probed.outcome,
            started.elapsed(),
            cfg,
            target.backend,
            target.instance,
        );
        schedule.probed(started, probed.outcome.is_ok(), requests);
    }
}

/// One probe of the slot's process; `None` when none is running.
async fn probe(slot: &Slot, cfg: &config::HealthCheck) -> Option<Probed> {
    let process = slot.current.load_full().filter(|p| p.is_alive())?;
    let method = match cfg.probe {
        Probe::Ping => "ping",
        Probe::ToolsList => "tools/list",
        Probe::Discover => "server/discover",
        Probe::None | Probe::HttpGet { .. } => return None,
    };
    // A stateless child needs `_meta` on every request, and
    // `server/discover` carries it in either era.
    let stateless = slot.upstream.load().as_ref().is_some_and(|u| u.is_stateless());
    let params = match stateless || method == "server/discover" {
        true => json!({ "_meta": handshake::request_meta() }),
        false => json!({}),
    };
    let outcome = match handshake::ask(&process, method, &params, cfg.timeout.0).await {
        Ok(_) => {
            process.answered();
            Ok(())
        }
        Err(Unanswered::TimedOut(why)) => {
            process.count_timeout();
            Err(why)
        }
        Err(Unanswered::Refused(why)) => {
            // It answered: not hung, whatever it said.
            process.answered();
            Err(why)
        }
        Err(why) => Err(why.to_string()),
    };
    // A process that ended (or was replaced) meanwhile gets no verdict: the
    // row now speaks for its successor, which starts `unknown`.
    let current = slot.current.load();
    if !current.as_ref().is_some_and(|p| Arc::ptr_eq(p, &process) && p.is_alive()) {
        return None;
    }
    Some(Probed { pid: process.pid.unwrap_or(0), outcome })
}

#[cfg(test)]
mod tests;

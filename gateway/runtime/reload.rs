//! [`Live`]: the runtime in force, and the three ways it changes while the
//! gateway runs: a reload of the config file (SIGHUP, `POST /admin/reload`,
//! or the optional file watch), and a split set through the admin API.
//!
//! A reload validates the file first. An invalid file changes nothing: the
//! old config keeps serving, and the error goes to the log, to the caller
//! (the admin response), and to `switchyard_config_reloads_total{result="error"}`
//! and `switchyard_config_last_reload_success` (0).
//!
//! Changes are serialised by one lock, so a reload and a split change never
//! interleave. Requests take no lock: they load the runtime from the
//! [`ArcSwap`]. Retired sides leave their splits `session_ttl` after they
//! were retired ([`expiry`]).

mod expiry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

pub use expiry::expire_sides;

use super::{Leftovers, Runtime};
use crate::backend::BuildError;
use crate::config::Config;
use crate::route::split::{Split, Weight};
use crate::stdio::StdioBackend;
use crate::table::Table;

/// The runtime in force, and how it changes.
pub struct Live {
    current: ArcSwap<Runtime>,
    /// The live table of every instance, replaced on reload.
    pub table: Table,
    /// The file a reload reads; `None` for the embedded default config.
    source: Option<PathBuf>,
    /// Splits set through the admin API, by route path; held while any
    /// change is made, so changes happen one at a time.
    api_splits: Mutex<HashMap<String, Vec<Weight>>>,
    /// stdio backends a reload dropped, still finishing their streams.
    retiring: std::sync::Mutex<Vec<Arc<StdioBackend>>>,
    /// Told of every split change and reload, which may retire a side or
    /// change `session_ttl`, so that the expiry task looks again.
    changed: Arc<Notify>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway runs on the embedded default config.
    #[error("no config file to reload: the gateway was started without one")]
    NoSource,
    /// The file did not validate.
    #[error("{0}")]
    Invalid(#[from] crate::config::ConfigError),
    /// A backend could not be built (an unreadable `ca` file).
    #[error("{0}")]
    Build(#[from] BuildError),
}

/// What a reload did, for its log line and the admin response.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Backends carried over with their state.
    pub kept: Vec<String>,
    /// Backends built anew.
    pub built: Vec<String>,
    /// Backends no longer served (removed, or rebuilt because they changed).
    pub dropped: Vec<String>,
    /// Settings that changed in the file but need a restart to apply.
    pub needs_restart: Vec<&'static str>,
}

/// A split change, for its log line and the admin response.
#[derive(Debug, Serialize)]
pub struct SplitChange {
    /// The route's name.
    pub route: String,
    /// The weights before.
    pub old: Vec<Weight>,
    /// The weights now, sides kept at 0 included.
    pub new: Vec<Weight>,
}

// === impl Live ===

impl Live {
    /// Builds the first runtime. `source` is the file reloads read.
    pub fn new(config: Config, source: Option<PathBuf>) -> Result<Live, BuildError> {
        let (runtime, _) = Runtime::build(config, None, &HashMap::new())?;
        let table = Table::default();
        table.replace(runtime.pools());
        Ok(Live {
            current: ArcSwap::from_pointee(runtime),
            table,
            source,
            api_splits: Mutex::default(),
            retiring: std::sync::Mutex::default(),
            changed: Arc::default(),
        })
    }

    /// The runtime in force; a request holds it to its end.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// Reads the config file again and applies it. `who` is for the log.
    /// The file is read under the change lock, so that of two reloads the
    /// one that reads last is also the one that applies last.
    pub async fn reload(&self, who: &str) -> Result<Report, ReloadError> {
        let mut api_splits = self.api_splits.lock().await;
        let result = match &self.source {
            None => Err(ReloadError::NoSource),
            Some(path) => match Config::load(path) {
                Ok(config) => self.apply_locked(&mut api_splits, config, who),
                Err(e) => Err(e.into()),
            },
        };
        outcome(&result, who);
        result
    }

    /// Applies an already validated config.
    pub async fn apply(&self, config: Config, who: &str) -> Result<Report, ReloadError> {
        let mut api_splits = self.api_splits.lock().await;
        let result = self.apply_locked(&mut api_splits, config, who);
        outcome(&result, who);
        result
    }

    fn apply_locked(
        &self,
        api_splits: &mut HashMap<String, Vec<Weight>>,
        config: Config,
        who: &str,
    ) -> Result<Report, ReloadError> {
        let old = self.runtime();
        let needs_restart = needs_restart(&old.config, &config);
        let grace = config.gateway.shutdown_grace.0;
        let (runtime, left) = Runtime::build(config, Some(&old), api_splits)?;
        // Splits the file now decides, or that no longer build, are no
        // longer the API's: they must not come back on a later reload.
        api_splits.retain(|path, _| left.api_kept.contains(path));
        self.table.replace(runtime.pools());
        self.current.store(Arc::new(runtime));
        self.changed.notify_one();
        let Leftovers { stdio, kept, built, dropped, .. } = left;
        self.retire(grace, stdio);
        let report = Report { kept, built, dropped, needs_restart };
        tracing::info!(by = who, kept = ?report.kept, built = ?report.built, dropped = ?report.dropped,
            needs_restart = ?report.needs_restart, "config reloaded");
        Ok(report)
    }

    /// Stops the stdio processes of dropped backends once their streams have
    /// had `grace` to finish; [`Live::stop_retiring`] stops them sooner if
    /// the gateway shuts down first, so no process outlives it.
    fn retire(&self, grace: Duration, stdio: Vec<Arc<StdioBackend>>) {
        if stdio.is_empty() {
            return;
        }
        if let Ok(mut r) = self.retiring.lock() {
            r.extend(stdio.iter().cloned());
        }
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for backend in stdio {
                backend.shutdown().await;
            }
        });
    }

    /// Stops every stdio process in the spec's order, those a reload left
    /// to finish included (on shutdown).
    pub async fn stop_processes(&self) {
        for backend in self.runtime().stdio_backends() {
            backend.shutdown().await;
        }
        self.stop_retiring().await;
    }

    /// Stops every stdio process a reload left to finish (on shutdown).
    async fn stop_retiring(&self) {
        let retiring = self.retiring.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        for backend in retiring {
            backend.shutdown().await;
        }
    }

    /// Sets a route's split through the admin API. Sides left out stay on
    /// with weight 0, so their sessions keep working.
    pub async fn set_split(&self, route: &str, weights: Vec<Weight>, who: &str) -> Result<SplitChange, SetSplitError> {
        let mut api_splits = self.api_splits.lock().await;
        let runtime = self.runtime();
        let r = runtime.route_named(route).ok_or_else(|| SetSplitError::NoRoute(route.to_string()))?;
        if r.aggregate().is_some() {
            return Err(crate::route::split::SplitError::Aggregated.into());
        }
        let old = r.split();
        let split = Split::build(&r.path, &weights, &runtime.targets, &runtime.limits, Some(&old))?;
        let change = SplitChange { route: route.to_string(), old: old.weights(), new: split.weights() };
        r.set_split(split);
        self.changed.notify_one();
        api_splits.insert(r.path.to_string(), weights);
        tracing::info!(by = who, route, old = ?change.old, new = ?change.new, "split changed");
        Ok(change)
    }

    /// Reloads whenever the config file's contents change, checking every
    /// `every`. Polling, not inotify, because editors and Kubernetes
    /// replace files by rename and symlink swaps that watches miss.
    pub fn watch(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let path = self.source.clone()?;
        let live = Arc::downgrade(self);
        // Read now, not in the task: a change made before the task first
        // runs must still count as a change.
        let mut last = std::fs::read(&path).ok();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = tokio::fs::read(&path).await.ok();
                if now.is_none() || now == last {
                    continue;
                }
                last = now;
                let Some(live) = live.upgrade() else { return };
                // The outcome is logged and counted by reload itself.
                let _ = live.reload("file watch").await;
            }
        }))
    }
}

/// The running reload triggers; dropping it stops them.
pub struct Triggers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Triggers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How often the file watch looks at the file.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Starts the reload triggers: SIGHUP always (so that a SIGHUP never kills
/// the gateway, whose default action it would be), and the file watch when
/// `watch` is set; and the task that drops expired retired sides.
pub fn triggers(live: &Arc<Live>, watch: bool) -> Triggers {
    let mut tasks = vec![expire_sides(live)];
    let weak = Arc::downgrade(live);
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => tasks.push(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(live) = weak.upgrade() else { return };
                // The outcome is logged and counted by reload itself.
                let _ = live.reload("SIGHUP").await;
            }
        })),
        Err(e) => tracing::warn!("cannot listen for SIGHUP, reload only through the admin API: {e}"),
    }
    if watch {
        tasks.extend(live.watch(WATCH_EVERY));
    }
    Triggers { tasks }
}

/// Why a split change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetSplitError {
    /// No route has that name.
    #[error("no route is named `{0}`; GET /admin/routes lists them")]
    NoRoute(String),
    /// The split itself is bad.
    #[error("{0}")]
    Bad(#[from] crate::route::split::SplitError),
}

/// Settings that only a restart applies, because they belong to sockets
/// already open.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.gateway, &new.gateway);
    let mut out = Vec::new();
    let pairs: [(&'static str, String, String); 10] = [
        ("gateway.listen", o.listen.to_string(), n.listen.to_string()),
        ("gateway.tls", json(&o.tls), json(&n.tls)),
        ("gateway.admin_listen", json(&o.admin_listen), json(&n.admin_listen)),
        ("gateway.watch_config", json(&o.watch_config), json(&n.watch_config)),
        ("gateway.shutdown_grace", json(&o.shutdown_grace), json(&n.shutdown_grace)),
        ("gateway.max_connections", o.max_connections.to_string(), n.max_connections.to_string()),
        ("gateway.header_read_timeout", json(&o.header_read_timeout), json(&n.header_read_timeout)),
        ("gateway.max_headers", o.max_headers.to_string(), n.max_headers.to_string()),
        ("gateway.max_connections_per_ip", o.max_connections_per_ip.to_string(), n.max_connections_per_ip.to_string()),
        (
            "gateway.h2_max_concurrent_streams",
            o.h2_max_concurrent_streams.to_string(),
            n.h2_max_concurrent_streams.to_string(),
        ),
    ];
    for (key, before, after) in pairs {
        if before != after {
            tracing::warn!(key, "reload: this setting changed but applies only after a restart");
            out.push(key);
        }
    }
    out
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Logs and counts a reload's outcome.
fn outcome(result: &Result<Report, ReloadError>, who: &str) {
    if let Err(e) = result {
        tracing::error!(by = who, "reload refused, the running config stays in force: {e}");
    }
    record(result.is_ok());
}

fn record(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("switchyard_config_reloads_total", "result" => result).increment(1);
    metrics::gauge!("switchyard_config_last_reload_success").set(if ok { 1.0 } else { 0.0 });
}

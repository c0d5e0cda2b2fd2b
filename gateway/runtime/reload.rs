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
//! [`ArcSwap`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::Mutex;

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
        table.replace(runtime.http_backends(), runtime.stdio_backends());
        Ok(Live { current: ArcSwap::from_pointee(runtime), table, source, api_splits: Mutex::default() })
    }

    /// The runtime in force; a request holds it to its end.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// Reads the config file again and applies it. `who` is for the log.
    pub async fn reload(&self, who: &str) -> Result<Report, ReloadError> {
        let result = match &self.source {
            None => Err(ReloadError::NoSource),
            Some(path) => match Config::load(path) {
                Ok(config) => self.apply(config, who).await,
                Err(e) => Err(e.into()),
            },
        };
        if let Err(e) = &result {
            tracing::error!(by = who, "reload refused, the running config stays in force: {e}");
            record(false);
        }
        result
    }

    /// Applies an already validated config.
    pub async fn apply(&self, config: Config, who: &str) -> Result<Report, ReloadError> {
        let mut api_splits = self.api_splits.lock().await;
        let old = self.runtime();
        let needs_restart = needs_restart(&old.config, &config);
        let grace = config.gateway.shutdown_grace.0;
        let (runtime, left) = match Runtime::build(config, Some(&old), &api_splits) {
            Ok(built) => built,
            Err(e) => {
                tracing::error!(by = who, "reload refused, the running config stays in force: {e}");
                record(false);
                return Err(e.into());
            }
        };
        // Splits the file now decides are no longer the API's.
        api_splits.retain(|path, _| {
            runtime.file_splits.contains_key(path) && old.file_splits.get(path) == runtime.file_splits.get(path)
        });
        self.table.replace(runtime.http_backends(), runtime.stdio_backends());
        self.current.store(Arc::new(runtime));
        let Leftovers { stdio, kept, built, dropped } = left;
        stop_after(grace, stdio);
        let report = Report { kept, built, dropped, needs_restart };
        tracing::info!(by = who, kept = ?report.kept, built = ?report.built, dropped = ?report.dropped,
            needs_restart = ?report.needs_restart, "config reloaded");
        record(true);
        Ok(report)
    }

    /// Sets a route's split through the admin API. Sides left out stay on
    /// with weight 0, so their sessions keep working.
    pub async fn set_split(&self, route: &str, weights: Vec<Weight>, who: &str) -> Result<SplitChange, SetSplitError> {
        let mut api_splits = self.api_splits.lock().await;
        let runtime = self.runtime();
        let r = runtime.route_named(route).ok_or_else(|| SetSplitError::NoRoute(route.to_string()))?;
        let old = r.split();
        let split = Split::build(&r.path, &weights, &runtime.targets, &runtime.limits, Some(&old))?;
        let change = SplitChange { route: route.to_string(), old: old.weights(), new: split.weights() };
        r.set_split(split);
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
/// `watch` is set.
pub fn triggers(live: &Arc<Live>, watch: bool) -> Triggers {
    let mut tasks = Vec::new();
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

/// Stops the stdio processes of dropped backends once their streams have
/// had `grace` to finish.
fn stop_after(grace: Duration, stdio: Vec<Arc<StdioBackend>>) {
    if stdio.is_empty() {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        for backend in stdio {
            backend.shutdown().await;
        }
    });
}

/// Settings that only a restart applies, because they belong to sockets
/// already open.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.gateway, &new.gateway);
    let mut out = Vec::new();
    let pairs: [(&'static str, String, String); 7] = [
        ("gateway.listen", o.listen.to_string(), n.listen.to_string()),
        ("gateway.tls", json(&o.tls), json(&n.tls)),
        ("gateway.admin_listen", json(&o.admin_listen), json(&n.admin_listen)),
        ("gateway.admin_token", json(&o.admin_token), json(&n.admin_token)),
        ("gateway.max_connections", o.max_connections.to_string(), n.max_connections.to_string()),
        ("gateway.header_read_timeout", json(&o.header_read_timeout), json(&n.header_read_timeout)),
        ("gateway.max_headers", o.max_headers.to_string(), n.max_headers.to_string()),
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

fn record(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("switchyard_config_reloads_total", "result" => result).increment(1);
    metrics::gauge!("switchyard_config_last_reload_success").set(if ok { 1.0 } else { 0.0 });
}

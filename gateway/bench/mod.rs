//! `switchyard bench`: an MCP-aware load generator for any MCP endpoint.
//!
//! Generic HTTP load tools can't drive MCP: the session era needs an
//! `initialize` handshake and a session id on every later request, the
//! stateless era needs `_meta` and mirrored headers that match each body, and
//! a 200 can still carry a JSON-RPC error. This module speaks both eras, so
//! the gateway (or any server) can be measured as real clients use it.
//!
//! - [`run`] takes [`Options`] and returns a [`Report`]; the CLI (`cli`) and
//!   the tests both call it.
//! - `worker` holds each concurrency slot's loop and the load shape (closed
//!   loop, or open loop at a fixed rate without coordinated omission);
//!   `conn` the hyper connections; `wire` the pre-serialised requests and the
//!   cheap response check; `mix` the operations; `report` the histograms.
//!
//! Plain `http://` only (HTTP/1.1 keep-alive, or h2c with `--h2`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

mod cli;
mod conn;
mod mix;
mod progress;
mod report;
mod wire;
mod worker;

pub use cli::{BenchArgs, main};
pub use mix::{Mix, Op};
pub use report::{ErrorKind, Latency, Report};
pub use wire::{SESSION_VERSION, STATELESS_VERSION};

use conn::Connector;
use worker::{Context, Schedule, Worker};

/// Which protocol era the bench speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Era {
    /// Streamable HTTP with `initialize` and `Mcp-Session-Id` (2025-06-18).
    Session,
    /// 2026-07-28: no session; `_meta` and mirrored headers on every request.
    Stateless,
}

impl Era {
    /// `session` or `stateless`.
    pub fn name(self) -> &'static str {
        match self {
            Era::Session => "session",
            Era::Stateless => "stateless",
        }
    }
}

/// What to run. [`Options::new`] gives the CLI's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The MCP endpoint, `http://host:port/path`.
    pub url: String,
    pub mix: Mix,
    pub era: Era,
    /// Workers, each with one request in flight (and, in the session era,
    /// its own session).
    pub concurrency: usize,
    /// How long to measure, unless `requests` is set.
    pub duration: Duration,
    /// Measured requests in all; takes precedence over `duration`.
    pub requests: Option<u64>,
    /// Sent before measuring; results discarded.
    pub warmup: Duration,
    /// Open loop: requests per second in total. `None`: closed loop.
    pub rate: Option<f64>,
    /// HTTP/2 prior knowledge (h2c) over `connections` shared connections.
    pub h2: bool,
    pub connections: usize,
    /// The tool `call` invokes, and its arguments (a JSON object).
    pub tool: String,
    pub args: String,
    /// The resource `read` reads.
    pub uri: String,
    /// Per request (a churn counts as one), and for connecting.
    pub timeout: Duration,
    /// Show the progress line on stderr.
    pub progress: bool,
}

impl Options {
    /// The defaults: `call` mix, session era, 16 workers for 10 s, no warm-up.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            mix: Mix::default(),
            era: Era::Session,
            concurrency: 16,
            duration: Duration::from_secs(10),
            requests: None,
            warmup: Duration::ZERO,
            rate: None,
            h2: false,
            connections: 1,
            tool: "echo".into(),
            args: r#"{"text":"hello"}"#.into(),
            uri: "mock://readme".into(),
            timeout: Duration::from_secs(30),
            progress: false,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bad URL {0}")]
    Url(String),
    #[error("bad options: {0}")]
    Args(String),
    /// Connecting or opening a session failed before the clock started.
    #[error("set-up failed: {0}")]
    Setup(String),
}

/// Runs the benchmark and returns what it measured.
///
/// Every worker first connects (and opens its session); any failure there
/// aborts the run with [`BenchError::Setup`]. Failures during the run are
/// counted in the report instead.
pub async fn run(opts: &Options) -> Result<Report, BenchError> {
    if opts.concurrency == 0 {
        return Err(BenchError::Args("concurrency must be at least 1".into()));
    }
    if opts.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(BenchError::Args("rate must be a positive number".into()));
    }
    let target = Arc::new(wire::Target::parse(&opts.url, opts.h2)?);
    let templates = wire::Templates::new(opts.era, &opts.tool, &opts.args, &opts.uri)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let recorder = report::Recorder::new(opts.concurrency.min(cores * 4))
        .map_err(|e| BenchError::Args(format!("histogram: {e}")))?;
    let connector = Connector::new(target, opts.h2.then_some(opts.connections), opts.timeout);
    let ctx = Arc::new(Context { templates, connector, mix: opts.mix.clone(), recorder, timeout: opts.timeout });

    let workers = start_workers(&ctx, opts.concurrency).await?;
    let length = opts.requests.ok_or(opts.duration);
    let schedule = Arc::new(Schedule::new(opts.warmup, length, opts.rate));
    let progress = opts.progress.then(|| progress::Progress::spawn(ctx.clone(), schedule.measure_from));
    let mut running = JoinSet::new();
    for w in workers {
        running.spawn(w.run(schedule.clone()));
    }
    let mut last: Option<Instant> = None;
    while let Some(joined) = running.join_next().await {
        if let Ok(Some(t)) = joined {
            last = Some(last.map_or(t, |l| l.max(t)));
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    let elapsed = last.map_or(Duration::ZERO, |t| t.saturating_duration_since(schedule.measure_from));
    let meta = Report {
        url: opts.url.clone(),
        mix: opts.mix.to_string(),
        era: opts.era.name().into(),
        concurrency: opts.concurrency,
        rate: opts.rate,
        h2: opts.h2,
        requests: 0,
        errors: 0,
        duration_s: 0.0,
        rps: 0.0,
        latency_us: Latency::default(),
        errors_by_kind: Default::default(),
        warmup_requests: 0,
    };
    Ok(ctx.recorder.report(meta, elapsed))
}

/// Connects every worker (and opens its session) concurrently.
async fn start_workers(ctx: &Arc<Context>, n: usize) -> Result<Vec<Worker>, BenchError> {
    let mut starting = JoinSet::new();
    for slot in 0..n {
        let ctx = ctx.clone();
        starting.spawn(async move {
            let limit = ctx.timeout;
            tokio::time::timeout(limit, Worker::start(ctx, slot))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {limit:?} while connecting or initializing")))
        });
    }
    let mut workers = Vec::with_capacity(n);
    let mut failure = None;
    while let Some(joined) = starting.join_next().await {
        match joined {
            Ok(Ok(w)) => workers.push(w),
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(format!("worker task failed: {e}"));
            }
        }
    }
    match failure {
        None => Ok(workers),
        Some(e) => {
            // End the sessions that did open: an empty schedule makes each
            // worker go straight to its DELETE.
            let done = Arc::new(Schedule::new(Duration::ZERO, Ok(0), None));
            let mut closing = JoinSet::new();
            for w in workers {
                closing.spawn(w.run(done.clone()));
            }
            while closing.join_next().await.is_some() {}
            Err(BenchError::Setup(e))
        }
    }
}

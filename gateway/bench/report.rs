//! Recording results while the run goes, and the report at the end.
//!
//! Latencies go into HDR histograms (microseconds, 3 significant digits), so
//! percentiles are exact to 0.1% whatever the spread. Workers record into a
//! few mutex-guarded shards rather than one, so they rarely meet on a lock,
//! and rather than one per worker, so a thousand workers don't cost a
//! thousand histograms. Errors are rare and share one map.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a request counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A non-2xx status.
    Http(u16),
    /// A 2xx answer holding a JSON-RPC error (its code when readable).
    JsonRpc(Option<i64>),
    /// The connection failed or broke.
    Transport,
    /// No complete answer within `--timeout`.
    Timeout,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Http(status) => write!(f, "http_{status}"),
            ErrorKind::JsonRpc(Some(code)) => write!(f, "jsonrpc_{code}"),
            ErrorKind::JsonRpc(None) => f.write_str("jsonrpc_unknown"),
            ErrorKind::Transport => f.write_str("transport"),
            ErrorKind::Timeout => f.write_str("timeout"),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// What one run measured (warm-up excluded).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    /// The mix as given, normalised (`call`, `call=8,list=1`).
    pub mix: String,
    /// `session` or `stateless`.
    pub era: String,
    pub concurrency: usize,
    /// Open-loop target rate (requests/s), or `None` for closed loop.
    pub rate: Option<f64>,
    pub h2: bool,
    /// Requests completed, failed ones included.
    pub requests: u64,
    pub errors: u64,
    /// From the end of warm-up to the last measured completion.
    pub duration_s: f64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Measured from the send; in open loop from the intended send time when
    /// the request left late because every worker was busy.
    pub latency_us: Latency,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub warmup_requests: u64,
}

/// Shared by the workers while they run.
pub(crate) struct Recorder {
    shards: Vec<Mutex<Histogram<u64>>>,
    errors: Mutex<BTreeMap<ErrorKind, u64>>,
    /// Every request so far, warm-up included: the progress line reads these.
    pub done: AtomicU64,
    pub failed: AtomicU64,
    warmup: AtomicU64,
}

/// An hour, in microseconds: longer latencies are clamped to it.
const HIGHEST_US: u64 = 3_600_000_000;

impl Recorder {
    pub(crate) fn new(shards: usize) -> Result<Self, hdrhistogram::CreationError> {
        let shards = (0..shards.max(1))
            .map(|_| Histogram::new_with_bounds(1, HIGHEST_US, 3).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            shards,
            errors: Mutex::new(BTreeMap::new()),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            warmup: AtomicU64::new(0),
        })
    }

    /// Records one measured request from worker `slot`.
    pub(crate) fn record(&self, slot: usize, latency: Duration, outcome: Result<(), ErrorKind>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        lock(&self.shards[slot % self.shards.len()]).saturating_record(micros);
        self.count(outcome);
    }

    /// Counts one warm-up request: progress only, never the report.
    pub(crate) fn record_warmup(&self) {
        self.warmup.fetch_add(1, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, outcome: Result<(), ErrorKind>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Err(kind) = outcome {
            self.failed.fetch_add(1, Ordering::Relaxed);
            *lock(&self.errors).entry(kind).or_default() += 1;
        }
    }

    /// Merges the shards into the final report; `meta` supplies the settings.
    pub(crate) fn report(&self, meta: Report, elapsed: Duration) -> Report {
        // `new_from` copies the bounds, not the counts.
        let mut all = Histogram::<u64>::new_from(&*lock(&self.shards[0]));
        for shard in &self.shards {
            // Same bounds everywhere, so adding cannot fail.
            let _ = all.add(&*lock(shard));
        }
        let errors_by_kind: BTreeMap<String, u64> =
            lock(&self.errors).iter().map(|(k, n)| (k.to_string(), *n)).collect();
        let requests = all.len();
        let duration_s = elapsed.as_secs_f64();
        let latency_us = if requests == 0 {
            Latency::default()
        } else {
            Latency {
                min: all.min(),
                p50: all.value_at_quantile(0.50),
                p90: all.value_at_quantile(0.90),
                p99: all.value_at_quantile(0.99),
                p999: all.value_at_quantile(0.999),
                max: all.max(),
                mean: all.mean(),
            }
        };
        Report {
            requests,
            errors: errors_by_kind.values().sum(),
            duration_s,
            rps: if duration_s > 0.0 { requests as f64 / duration_s } else { 0.0 },
            latency_us,
            errors_by_kind,
            warmup_requests: self.warmup.load(Ordering::Relaxed),
            ..meta
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = match self.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".into(),
        };
        let proto = if self.h2 { "HTTP/2" } else { "HTTP/1.1" };
        writeln!(f, "switchyard bench  {}", self.url)?;
        writeln!(f, "  mix {}  era {}  concurrency {}  {shape}  {proto}", self.mix, self.era, self.concurrency)?;
        let pct = if self.requests > 0 { 100.0 * self.errors as f64 / self.requests as f64 } else { 0.0 };
        writeln!(
            f,
            "  requests {}  in {:.2} s  = {:.1} req/s   errors {} ({pct:.2}%)   warm-up {}",
            self.requests, self.duration_s, self.rps, self.errors, self.warmup_requests
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "  latency (µs)  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p50", "p90", "p99", "p99.9", "max", "mean"
        )?;
        writeln!(
            f,
            "                {:>9} {:>9} {:>9} {:>9} {:>9} {:>9.1}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        )?;
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self.errors_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "  errors by kind: {}", kinds.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Report {
        Report {
            url: "http://x/mcp".into(),
            mix: "call".into(),
            era: "session".into(),
            concurrency: 2,
            rate: None,
            h2: false,
            requests: 0,
            errors: 0,
            duration_s: 0.0,
            rps: 0.0,
            latency_us: Latency::default(),
            errors_by_kind: BTreeMap::new(),
            warmup_requests: 0,
        }
    }

    #[test]
    fn merges_shards_and_counts_errors_by_kind() {
        let r = Recorder::new(3).unwrap();
        for i in 0..1000u64 {
            let outcome = if i % 100 == 0 { Err(ErrorKind::JsonRpc(Some(-32099))) } else { Ok(()) };
            r.record(i as usize, Duration::from_micros(i + 1), outcome);
        }
        r.record(0, Duration::from_secs(1), Err(ErrorKind::Http(503)));
        r.record_warmup();
        let rep = r.report(meta(), Duration::from_secs(2));
        assert_eq!(rep.requests, 1001);
        assert_eq!(rep.errors, 11);
        assert_eq!(rep.errors_by_kind["jsonrpc_-32099"], 10);
        assert_eq!(rep.errors_by_kind["http_503"], 1);
        assert_eq!(rep.warmup_requests, 1);
        let l = &rep.latency_us;
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert!((499..=502).contains(&l.p50), "{l:?}");
        assert!((rep.rps - 500.5).abs() < 0.01);
        assert!(rep.to_string().contains("http_503 1"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let rep = Recorder::new(1).unwrap().report(meta(), Duration::ZERO);
        assert_eq!((rep.requests, rep.rps, rep.latency_us.max), (0, 0.0, 0));
    }
}

//! One concurrency slot: its connection, its session, and its request loop.
//!
//! The [`Schedule`] decides when each request starts and whether it counts:
//! closed loop sends back to back, open loop hands out send times on a fixed
//! grid. In open loop a request that starts late because every worker was
//! still busy has its latency counted from its *intended* send time, so a
//! stalled server shows up as latency instead of as fewer samples
//! (coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request};
use tokio::time::Instant;

use super::Era;
use super::conn::{Connector, Link, Reply};
use super::mix::{Mix, Op, Rng};
use super::report::{ErrorKind, Recorder};
use super::wire::{Body, PROTOCOL_VERSION, SESSION_ID, SESSION_VERSION, Templates, negotiated_version};

/// What every worker shares.
pub(crate) struct Context {
    pub templates: Templates,
    pub connector: Connector,
    pub mix: Mix,
    pub recorder: Recorder,
    pub timeout: Duration,
}

/// Whether a request is warm-up or measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Warmup,
    Measured,
}

/// When requests start and when the run ends.
pub(crate) struct Schedule {
    start: Instant,
    /// Measurement starts here; earlier requests are warm-up.
    pub measure_from: Instant,
    /// Duration mode: no request starts at or after this.
    end: Option<Instant>,
    /// Request mode: measured requests in all.
    quota: Option<u64>,
    issued: AtomicU64,
    /// Open loop: nanoseconds between intended sends, and the next ticket.
    interval_ns: Option<f64>,
    ticket: AtomicU64,
}

impl Schedule {
    pub(crate) fn new(warmup: Duration, length: Result<u64, Duration>, rate: Option<f64>) -> Self {
        let start = Instant::now();
        let measure_from = start + warmup;
        let (quota, end) = match length {
            Ok(n) => (Some(n), None),
            Err(d) => (None, Some(measure_from + d)),
        };
        let interval_ns = rate.filter(|r| *r > 0.0).map(|r| 1e9 / r);
        Self { start, measure_from, end, quota, issued: AtomicU64::new(0), interval_ns, ticket: AtomicU64::new(0) }
    }

    /// The start time and phase of this worker's next request, or `None`
    /// when the run is over. In open loop, waits for the intended time.
    pub(crate) async fn next(&self) -> Option<(Instant, Phase)> {
        let quota_spent = || self.quota.is_some_and(|q| self.issued.load(Ordering::Relaxed) >= q);
        let at = match self.interval_ns {
            Some(ns) => {
                let k = self.ticket.fetch_add(1, Ordering::Relaxed);
                let at = self.start + Duration::from_nanos((k as f64 * ns) as u64);
                if self.end.is_some_and(|end| at >= end) || quota_spent() {
                    return None;
                }
                if at > Instant::now() {
                    // The worker was idle, waiting for its slot: any lateness
                    // now is the timer's (1 ms granularity), not the server's,
                    // so the clock starts when the request really leaves.
                    tokio::time::sleep_until(at).await;
                    Instant::now()
                } else {
                    // Behind schedule: the wait counts against the server.
                    at
                }
            }
            None => Instant::now(),
        };
        if at < self.measure_from {
            return Some((at, Phase::Warmup));
        }
        if self.end.is_some_and(|end| at >= end) {
            return None;
        }
        if let Some(quota) = self.quota
            && self.issued.fetch_add(1, Ordering::Relaxed) >= quota
        {
            return None;
        }
        Some((at, Phase::Measured))
    }
}

/// A session-era session: its id (if the server gave one) and version.
struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
}

/// One concurrency slot.
pub(crate) struct Worker {
    slot: usize,
    ctx: Arc<Context>,
    link: Link,
    session: Option<Session>,
    next_id: u64,
    rng: Rng,
    /// Stateless era: the finished call, list and read bodies (one fixed id).
    fixed: [Bytes; 3],
}

impl Worker {
    /// Connects and, in the session era, opens the worker's session.
    pub(crate) async fn start(ctx: Arc<Context>, slot: usize) -> Result<Worker, String> {
        let id = slot as u64 + 1;
        let t = &ctx.templates;
        let fixed = [t.call.body(id), t.list.body(id), t.read.body(id)];
        let mut w = Worker {
            slot,
            link: Link::new(slot),
            session: None,
            next_id: 1,
            rng: Rng::new(slot as u64),
            fixed,
            ctx: ctx.clone(),
        };
        w.link.open(&ctx.connector).await?;
        if ctx.templates.era == Era::Session && !ctx.mix.churn_only() {
            let session = w.open_session().await.map_err(|(_, detail)| detail)?;
            w.session = Some(session);
        }
        Ok(w)
    }

    /// Sends requests until the schedule says stop; returns when the last
    /// measured request completed.
    pub(crate) async fn run(mut self, schedule: Arc<Schedule>) -> Option<Instant> {
        let mut last = None;
        while let Some((started, phase)) = schedule.next().await {
            let op = self.ctx.mix.pick(self.rng.next_u32());
            let outcome = match tokio::time::timeout(self.ctx.timeout, self.op(op)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ErrorKind::Timeout),
            };
            if matches!(outcome, Err(ErrorKind::Timeout | ErrorKind::Transport)) {
                self.link.abandon();
            }
            let now = Instant::now();
            match phase {
                Phase::Warmup => self.ctx.recorder.record_warmup(),
                Phase::Measured => {
                    self.ctx.recorder.record(self.slot, now.saturating_duration_since(started), outcome);
                    last = Some(now);
                }
            }
        }
        if let Some(session) = self.session.take() {
            let _ = tokio::time::timeout(self.ctx.timeout, self.delete(&session)).await;
        }
        last
    }

    async fn op(&mut self, op: Op) -> Result<(), ErrorKind> {
        let ctx = self.ctx.clone();
        let t = &ctx.templates;
        let (template, index) = match op {
            Op::Call => (&t.call, 0),
            Op::List => (&t.list, 1),
            Op::Read => (&t.read, 2),
            Op::Churn if t.era == Era::Session => return self.churn().await,
            Op::Churn => (&t.call, 0),
        };
        if t.era == Era::Stateless {
            let mut req = ctx.connector.target().request(Method::POST, self.fixed[index].clone());
            t.stateless_headers(&mut req, template);
            return self.link.exchange(&ctx.connector, req).await?.check();
        }
        if self.session.is_none() {
            self.session = Some(self.open_session().await.map_err(|(kind, _)| kind)?);
        }
        let Some(session) = &self.session else { return Err(ErrorKind::Transport) };
        let id = self.next_id;
        self.next_id += 1;
        let req = session_request(&ctx, session, Method::POST, template.body(id));
        let result = self.link.exchange(&ctx.connector, req).await?.check();
        if result == Err(ErrorKind::Http(404)) {
            // The session is gone: open a new one before the next request.
            self.session = None;
        }
        result
    }

    /// A whole short-lived session: initialize, one call, DELETE.
    async fn churn(&mut self) -> Result<(), ErrorKind> {
        let session = self.open_session().await.map_err(|(kind, _)| kind)?;
        let ctx = self.ctx.clone();
        let req = session_request(&ctx, &session, Method::POST, ctx.templates.call.body(1));
        let called = self.link.exchange(&ctx.connector, req).await.and_then(|r| r.check());
        let deleted = self.delete(&session).await;
        called.and(deleted)
    }

    /// `initialize` then `notifications/initialized`; errors carry a
    /// human-readable detail for set-up failures.
    async fn open_session(&mut self) -> Result<Session, (ErrorKind, String)> {
        let ctx = self.ctx.clone();
        let req = ctx.connector.target().request(Method::POST, ctx.templates.initialize.clone());
        let reply = self.link.exchange(&ctx.connector, req).await.map_err(|k| (k, format!("initialize: {k}")))?;
        reply.check().map_err(|k| (k, describe("initialize", k, &reply)))?;
        let version = negotiated_version(&reply.body).unwrap_or(HeaderValue::from_static(SESSION_VERSION));
        let session = Session { id: reply.session, version };
        let req = session_request(&ctx, &session, Method::POST, ctx.templates.initialized.clone());
        let reply = self
            .link
            .exchange(&ctx.connector, req)
            .await
            .map_err(|k| (k, format!("notifications/initialized: {k}")))?;
        reply.check().map_err(|k| (k, describe("notifications/initialized", k, &reply)))?;
        Ok(session)
    }

    /// Ends a session; servers that don't support DELETE may answer 405.
    async fn delete(&mut self, session: &Session) -> Result<(), ErrorKind> {
        let ctx = self.ctx.clone();
        let mut req = session_request(&ctx, session, Method::DELETE, Bytes::new());
        req.headers_mut().remove(CONTENT_TYPE);
        match self.link.exchange(&ctx.connector, req).await?.check() {
            Err(ErrorKind::Http(405)) => Ok(()),
            other => other,
        }
    }
}

fn session_request(ctx: &Context, session: &Session, method: Method, body: Bytes) -> Request<Body> {
    let mut req = ctx.connector.target().request(method, body);
    let headers = req.headers_mut();
    if let Some(id) = &session.id {
        headers.insert(SESSION_ID.clone(), id.clone());
    }
    headers.insert(PROTOCOL_VERSION.clone(), session.version.clone());
    req
}

fn describe(step: &str, kind: ErrorKind, reply: &Reply) -> String {
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]);
    format!("{step} failed ({kind}, HTTP {}): {}", reply.status, body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn request_mode_stops_after_the_quota() {
        let s = Schedule::new(Duration::ZERO, Ok(3), None);
        for _ in 0..3 {
            assert_eq!(s.next().await.map(|(_, p)| p), Some(Phase::Measured));
        }
        assert!(s.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_hands_out_a_fixed_grid() {
        let s = Schedule::new(Duration::from_millis(100), Err(Duration::from_millis(100)), Some(100.0));
        let mut phases = Vec::new();
        let mut times = Vec::new();
        while let Some((at, phase)) = s.next().await {
            phases.push(phase);
            times.push(at);
        }
        // 10 ms apart: 10 warm-up tickets in the first 100 ms, 10 measured.
        assert_eq!(phases.iter().filter(|p| **p == Phase::Warmup).count(), 10);
        assert_eq!(phases.iter().filter(|p| **p == Phase::Measured).count(), 10);
        assert_eq!(times[5] - times[4], Duration::from_millis(10));
    }
}

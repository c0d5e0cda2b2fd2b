//! stdio backends: supervised pools of child processes, shared by every
//! client.
//!
//! Each process is an actor (`process`) started and restarted by a
//! supervisor (`supervisor`). The gateway performs `initialize` with each
//! child itself (`handshake`) and multiplexes all clients over it, rewriting
//! request ids and progress tokens both ways (`wire`).
//!
//! Every process is an instance of the live table (`pool`) with its pid and
//! restart count, probed over its pipe (`probe`). A request goes to the
//! process the HTTP balancer would pick: fewest requests in flight per unit
//! of weight, not drained, not `down` unless panic mode applies.
//!
//! What a client sees:
//! - a session-era client's `initialize` is answered by the gateway from the
//!   child's own result, with a gateway session token; no process is pinned,
//!   so any process, on any replica, serves the next request;
//! - a stateless client's `server/discover` is answered from the same result,
//!   and results gain the fields the 2026-07-28 wire requires;
//! - a request carrying a `progressToken` is answered as SSE, so progress
//!   reaches the client as it happens; others are answered as JSON (`answer`);
//! - the child's own requests (sampling, elicitation, roots) reach the one
//!   client that can answer them (`server_request`): on a session-era
//!   client's SSE stream, or as an `input_required` round for a 2026-07-28
//!   client (`input`); only that client can answer, once (`asked`).

mod answer;
mod asked;
mod child;
pub mod handshake;
mod input;
mod pool;
mod probe;
mod process;
mod server_request;
mod sessions;
pub mod supervisor;
mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, watch};

use crate::config;
use crate::error::GatewayError;
use crate::session::ClientCaps;
use crate::table::Instance;
use crate::telemetry::backend::BackendMetrics;
use answer::Call;
pub use handshake::Handshake;
pub use input::{Answered, MAX_PARKED, Parkable, Parked, ROUND_METHODS, Retry, check_input_responses};
pub use process::{Pending, Process};
use supervisor::Slot;
use wire::Patch;
pub use wire::{server_request_for_client, unguessable};

/// Timeouts in a row after which a process counts as hung and is recycled.
pub const HANG_TIMEOUTS: u32 = 3;

/// A stdio backend: its config, its pool, and the change feed for listeners.
pub struct StdioBackend {
    /// The backend's name.
    pub name: Arc<str>,
    /// The deadline for each request.
    pub timeout: Duration,
    slots: Vec<Arc<Slot>>,
    /// The slots' rows in the live table, in slot order.
    instances: Vec<Arc<Instance>>,
    /// Picks the shared pool's process, by the backend's `balance`.
    balancer: crate::balance::Balancer,
    /// Panic mode of the pool's pick.
    metrics: BackendMetrics,
    changes: broadcast::Sender<Bytes>,
    stop: watch::Sender<bool>,
    supervisors: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// In `per_session` mode, each session's own process.
    sessions: Option<Arc<sessions::Sessions>>,
    /// `_meta` for requests to a stateless child, built once.
    request_meta: serde_json::Value,
    /// Calls of 2026-07-28 clients waiting for their next round of input.
    parked: Arc<input::Parked>,
}

/// Who sent a request, as far as the child's own requests need to know.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// A hash of the client's session token; 0, "unknown", for a client
    /// without one and for every 2026-07-28 client (that era ignores the
    /// header). A client's cancellation reaches only its own requests, and a
    /// server request is not ambiguous among requests of one known client.
    pub owner: u64,
    /// Whether the client speaks the 2026-07-28 era, which forbids server
    /// requests on its response stream.
    pub stateless: bool,
    /// What the client declared it can answer (sampling, elicitation, roots).
    pub caps: ClientCaps,
}

/// How a request is answered.
pub enum Reply {
    /// One JSON-RPC message.
    Json(Bytes),
    /// Messages as they come (progress, then the reply), to be sent as SSE.
    Stream(mpsc::UnboundedReceiver<Bytes>),
}

impl StdioBackend {
    /// Refuses (404) a session of a `per_session` backend whose process is
    /// gone (exited, reaped when idle, or DELETEd), so that a cache hit ends
    /// it as a forward would. Shared pools have no such sessions.
    pub fn check_session(&self, session: Option<u64>) -> Result<(), GatewayError> {
        match (&self.sessions, session) {
            (Some(sessions), Some(key)) if sessions.serving(key).is_none() => Err(GatewayError::SessionNotFound),
            _ => Ok(()),
        }
    }

    /// Starts the pool's supervisors. Must run inside the runtime.
    pub fn start(cfg: &config::Backend) -> Arc<StdioBackend> {
        let cfg = Arc::new(cfg.clone());
        let (changes, _) = broadcast::channel(64);
        let (stop, stop_rx) = watch::channel(false);
        let per_session = cfg.mode == config::StdioMode::PerSession;
        let pool_size = if per_session { 0 } else { cfg.processes.max(1) };
        let name = cfg.name.get_ref().as_str();
        let epoch = tokio::time::Instant::now();
        let instances: Vec<Arc<Instance>> = (0..pool_size).map(|i| pool::instance(name, false, i, epoch)).collect();
        let slots: Vec<Arc<Slot>> = instances.iter().map(|i| Arc::new(Slot::new(i.clone()))).collect();
        let records: Vec<_> = instances.iter().map(|i| i.record.clone()).collect();
        let probes: Vec<_> = slots
            .iter()
            .map(|slot| tokio::spawn(probe::run(slot.clone(), cfg.clone(), records.clone(), stop_rx.clone())))
            .collect();
        let mut supervisors: Vec<_> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let lifecycle = supervisor::Lifecycle::Restart;
                tokio::spawn(supervisor::supervise(
                    i,
                    slot.clone(),
                    cfg.clone(),
                    changes.clone(),
                    stop_rx.clone(),
                    lifecycle,
                ))
            })
            .chain(probes)
            .collect();
        let sessions = per_session.then(|| sessions::Sessions::new(cfg.clone(), changes.clone()));
        if let Some(s) = &sessions {
            supervisors.push(tokio::spawn(s.clone().reap(stop_rx.clone())));
        }
        Arc::new(StdioBackend {
            name: name.into(),
            timeout: cfg.timeout.0,
            slots,
            balancer: crate::balance::Balancer::new(cfg.balance, instances.len()),
            instances,
            metrics: BackendMetrics::new(name),
            changes,
            stop,
            supervisors: std::sync::Mutex::new(supervisors),
            sessions,
            request_meta: handshake::request_meta(),
            parked: Arc::new(input::Parked::new(
                name.into(),
                cfg.max_in_flight.map_or(input::MAX_PARKED, |n| usize::try_from(n.get()).unwrap_or(usize::MAX)),
            )),
        })
    }

    /// Stops every process in the spec's order and waits until each is reaped.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let handles: Vec<_> = self.supervisors.lock().map(|mut h| h.drain(..).collect()).unwrap_or_default();
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// The pid of each running process, for tests and the backend table.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.slots.iter().filter_map(|s| s.current.load_full()?.pid).collect();
        if let Some(sessions) = &self.sessions {
            pids.extend(sessions.pids());
        }
        pids
    }

    /// Whether each client session gets its own process.
    pub fn per_session(&self) -> bool {
        self.sessions.is_some()
    }

    /// `per_session`: starts a process for a new session; returns the
    /// session's key and what its process said in the handshake.
    pub async fn open_session(&self) -> Result<(u64, Arc<Handshake>), GatewayError> {
        match &self.sessions {
            Some(s) => s.open().await,
            None => Err(GatewayError::UpstreamFailed("not a per-session backend".into())),
        }
    }

    /// `per_session`: stops a session's process.
    pub async fn close_session(&self, key: u64) -> bool {
        match &self.sessions {
            Some(s) => s.close(key).await,
            None => false,
        }
    }

    /// Restarts so far, summed over the pool.
    pub fn restarts(&self) -> u32 {
        self.slots.iter().map(|s| s.restarts.load(Ordering::Relaxed)).sum()
    }

    /// The process the balancer picks from the shared pool, and its row.
    pub fn pick(&self) -> Option<(Arc<Process>, Arc<Instance>)> {
        pool::pick(&self.slots, &self.instances, &self.balancer, &self.metrics)
    }

    /// Every process's row in the live table: the shared pool's slots, or
    /// the sessions' processes, by place.
    pub fn instances(&self) -> Vec<Arc<Instance>> {
        match &self.sessions {
            Some(s) => s.instances(),
            None => self.instances.clone(),
        }
    }

    /// What a child said about itself in its handshake, once one has started.
    pub fn upstream(&self) -> Option<Arc<Handshake>> {
        self.slots.iter().find_map(|s| s.upstream.load_full())
    }

    /// Why the backend cannot serve, for error bodies.
    fn unavailable(&self) -> GatewayError {
        // Processes run, but the operator took every one out of rotation.
        if self.slots.iter().any(|s| s.current.load().is_some()) {
            return GatewayError::NoInstance;
        }
        let why = self.slots.iter().find_map(|s| s.last_error.load_full()).map(|e| e.to_string());
        GatewayError::UpstreamConnect(why.unwrap_or_else(|| "no stdio process is running yet".into()))
    }

    /// Change notifications (`list_changed`, `resources/updated`) for a listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.changes.subscribe()
    }

    /// Forwards a client notification. `notifications/cancelled` is mapped to
    /// the upstream id of the client's own request.
    pub fn notify(&self, body: &[u8], method: &str, owner: u64) {
        if method == "notifications/cancelled" {
            #[derive(serde::Deserialize)]
            struct Cancelled<'a> {
                #[serde(borrow)]
                params: Params<'a>,
            }
            #[derive(serde::Deserialize)]
            struct Params<'a> {
                #[serde(borrow, rename = "requestId")]
                request_id: &'a RawValue,
            }
            if let Ok(c) = serde_json::from_slice::<Cancelled>(body) {
                for slot in &self.slots {
                    if let Some(p) = slot.current.load_full() {
                        p.cancel_by_client(owner, c.params.request_id.get(), "cancelled by the client");
                    }
                }
            }
            return;
        }
        if let Some((p, _)) = self.pick() {
            p.notify(one_line(body));
        }
    }

    /// Passes a client's answer to a server request back to the process that
    /// asked, when `owner` is the client it asked and has not answered yet
    /// (see `asked`). Anything else is refused, and the child never sees it:
    /// an id that is not the gateway's, a question asked of another client
    /// or through an input round, one answered already, or one whose
    /// process has since restarted (the question died with it).
    pub fn respond(&self, body: &[u8], owner: u64) -> Result<(), GatewayError> {
        let refused = |why: asked::Refused| GatewayError::InvalidRequest(why.to_string());
        let answer = wire::client_answer_for_server(body).ok_or(refused(asked::Refused::NotAsked))?;
        let slot = answer.to.slot;
        let process = match &self.sessions {
            Some(s) => s.process(slot as u64),
            None => self.slots.get(slot).and_then(|s| s.current.load_full()),
        };
        let process = process.ok_or(refused(asked::Refused::NotAsked))?;
        process.answer_question(answer, owner).map_err(refused)
    }

    /// Sends a client request to the least loaded process.
    ///
    /// `stream` asks for every message (progress included) as it comes;
    /// otherwise only the reply is awaited. Either way the request is bounded
    /// by the backend's `timeout`: on expiry the child gets
    /// `notifications/cancelled` and the client an error.
    pub async fn request(
        &self,
        session: Option<u64>,
        body: &[u8],
        id: &RawValue,
        method: &str,
        caller: Caller,
        stream: bool,
    ) -> Result<Reply, GatewayError> {
        let stateless_client = caller.stateless;
        let child_stateless = self.upstream().is_some_and(|u| u.is_stateless());
        // A retry that names a parked call resumes it; one for a stateless
        // child is the child's own round, and goes through.
        if stateless_client && !child_stateless {
            input::check_input_responses(body)?;
        }
        if stateless_client
            && !child_stateless
            && let Some(retry) = input::Retry::of(body)
        {
            return self.resume(&retry, id, method, stream).await;
        }
        let (process, instance) = match (&self.sessions, session) {
            (Some(sessions), Some(key)) => sessions.serving(key).ok_or(GatewayError::SessionNotFound)?,
            (Some(_), None) => {
                return Err(GatewayError::InvalidRequest(format!(
                    "backend `{}` gives each session its own process: initialize a session first",
                    self.name
                )));
            }
            (None, _) => self.pick().ok_or_else(|| self.unavailable())?,
        };
        let patch = Patch::for_method(stateless_client, child_stateless, method);
        let up_id = process.next_id();
        // A stateless child needs `_meta` on every request; a session-era
        // client does not send it, so the gateway adds its own. A
        // session-era child refuses a stateless client's `_meta` version, so
        // the gateway takes those keys out.
        let meta = match (child_stateless, stateless_client) {
            (true, false) => wire::Meta::Add(&self.request_meta),
            (false, true) => wire::Meta::Strip,
            _ => wire::Meta::Keep,
        };
        let (line, token) = wire::request_line(up_id, body, meta)
            .map_err(|e| GatewayError::InvalidRequest(format!("bad request: {e}")))?;
        // A 2026-07-28 client of a session-era child is asked for input
        // through `input_required` results (see `input`).
        let rounds = (stateless_client && !child_stateless && input::ROUND_METHODS.contains(&method))
            .then(|| input::Rounds { parked: self.parked.clone(), method: method.into() });
        let (tx, rx) = mpsc::unbounded_channel();
        let waiter = Pending {
            sink: tx,
            original_id: id.to_owned(),
            original_token: token,
            patch,
            owner: caller.owner,
            caps: caller.caps,
            askable: (stream && !stateless_client) || rounds.is_some(),
            rounds: rounds.is_some(),
        };
        let record = instance.record.clone();
        let load = record.start();
        let sent = tokio::time::Instant::now();
        if let Err(e) = process.send(up_id, one_line(&line), waiter) {
            record.fail();
            return Err(GatewayError::UpstreamConnect(e.into()));
        }
        let call = Call { process, up_id, rx, record, load, sent, id: id.to_owned(), deadline: self.timeout, rounds };
        if stream { Ok(call.stream()) } else { call.json().await }
    }

    /// A 2026-07-28 client's retry after a round of input: the answer in its
    /// `inputResponses` goes to the child, and the retry waits for what the
    /// call it resumes does next.
    async fn resume(
        &self,
        retry: &input::Retry<'_>,
        id: &RawValue,
        method: &str,
        stream: bool,
    ) -> Result<Reply, GatewayError> {
        let mut waiting = self.parked.take(retry.state(), method)?;
        // What the child sends next answers this retry: rebind before the
        // answer below lets it send anything.
        waiting.call.id = id.to_owned();
        waiting.call.process.rebind(waiting.call.up_id, id.to_owned());
        // The client's think time is not the child's latency.
        waiting.call.sent = tokio::time::Instant::now();
        match waiting.answer(retry) {
            input::Answered::Sent(call, answer) => {
                call.process.answer_round(answer);
                if stream { Ok(call.stream()) } else { call.json().await }
            }
            input::Answered::Missing(call, ask) => call.park(ask).map(Reply::Json),
        }
    }
}

impl Drop for StdioBackend {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A message as one stdio line. JSON allows raw newlines only as whitespace
/// (inside strings they are escaped), so replacing them keeps the meaning.
fn one_line(body: &[u8]) -> Bytes {
    let trimmed = body.strip_suffix(b"\n").unwrap_or(body);
    let mut line: Vec<u8> = trimmed.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect();
    line.push(b'\n');
    Bytes::from(line)
}

impl crate::table::Pool for StdioBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn transport(&self) -> &'static str {
        "stdio"
    }

    fn instances(&self) -> Vec<Arc<Instance>> {
        StdioBackend::instances(self)
    }

    /// A JSON summary for `/health`: per process, its pid, restarts and last error.
    fn summary(&self) -> Option<(bool, serde_json::Value)> {
        let processes: Vec<_> = self
            .slots
            .iter()
            .map(|s| {
                let p = s.current.load_full();
                let record = &s.instance.record;
                let up = p.as_ref().is_some_and(|p| p.is_alive()) && record.health() != crate::table::Health::Down;
                serde_json::json!({
                    "status": if up { "up" } else { "down" },
                    "health": record.health().as_str(),
                    "drained": record.drained(),
                    "pid": p.as_ref().and_then(|p| p.pid),
                    "inFlight": p.as_ref().map_or(0, |p| p.in_flight()),
                    "restarts": s.restarts.load(Ordering::Relaxed),
                    "lastError": s.last_error.load_full().map(|e| e.to_string()),
                })
            })
            .collect();
        // A per-session backend starts processes on demand: it can serve
        // while it has room for one more.
        let up = match &self.sessions {
            Some(s) => s.len() < s.capacity(),
            None => pool::can_serve(&self.slots),
        };
        let mut json = serde_json::json!({
            "name": &*self.name, "transport": "stdio", "status": if up { "up" } else { "down" }, "processes": processes,
        });
        if let Some(u) = self.upstream() {
            json["protocolVersion"] = u.protocol_version.clone().into();
        }
        json["awaitingInput"] = self.parked.waiting().into();
        if let Some(s) = &self.sessions {
            json["mode"] = "per_session".into();
            json["sessionProcesses"] = s.pids().into();
        }
        Some((up, json))
    }
}

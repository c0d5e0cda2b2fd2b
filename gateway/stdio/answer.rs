//! Waiting for a child's answer to one client request.
//!
//! A request written to a child is a [`Call`]: its process, its upstream
//! id, and the receiver of what the reader routes to it (progress, the
//! server's own requests, then the reply). It is answered as one JSON
//! message or as SSE event by event, and is bounded by the backend's
//! `timeout`: on expiry the child gets `notifications/cancelled` and the
//! client an error.
//!
//! A call of a 2026-07-28 client may be asked for input (see `input`): when
//! the child sends a server request for it, the call is parked instead of
//! answered, and the client gets an `input_required` result.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::input::Rounds;
use super::process::Process;
use super::{Reply, wire};
use crate::error::GatewayError;
use crate::mcp::jsonrpc;
use crate::table::{Load, Record};

/// One request in flight on a child.
pub struct Call {
    /// The process it was written to.
    pub process: Arc<Process>,
    /// Its id upstream.
    pub up_id: u64,
    /// What the reader routes to it; the flag marks the reply.
    pub rx: mpsc::UnboundedReceiver<(Bytes, bool)>,
    /// The process's row in the live table, and the in-flight count held on it.
    pub record: Arc<Record>,
    /// Held until the call ends, parked rounds included.
    pub load: Load,
    /// When it was written, for the latency the balancer sees.
    pub sent: tokio::time::Instant,
    /// The id of the client request this round answers.
    pub id: Box<RawValue>,
    /// The backend's `timeout`, for each round.
    pub deadline: Duration,
    /// Where it waits between rounds, when its client is asked through
    /// `input_required` results.
    pub rounds: Option<Rounds>,
}

/// How a wait ended.
enum Ended {
    /// The child's reply.
    Reply(Bytes),
    /// A server request for a client that is asked through `input_required`.
    Ask(Bytes),
    /// The process went away.
    Gone,
}

// === impl Call ===

impl super::input::Parkable for Call {
    fn id(&self) -> &RawValue {
        &self.id
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn abandon(self, reason: &str) {
        Call::abandon(self, reason);
    }
}

impl Call {
    /// Waits for the reply (or a round of input) and answers as one message.
    pub async fn json(mut self) -> Result<Reply, GatewayError> {
        let asks = self.rounds.is_some();
        let rx = &mut self.rx;
        let wait = async {
            while let Some((msg, last)) = rx.recv().await {
                if last {
                    return Ended::Reply(msg);
                }
                if asks && wire::is_server_request(&msg) {
                    return Ended::Ask(msg);
                }
            }
            Ended::Gone
        };
        match tokio::time::timeout(self.deadline, wait).await {
            Ok(Ended::Reply(reply)) => {
                self.process.answered();
                self.finish(true);
                Ok(Reply::Json(reply))
            }
            Ok(Ended::Ask(ask)) => self.park(ask).map(Reply::Json),
            Ok(Ended::Gone) => {
                self.finish(false);
                Err(GatewayError::UpstreamFailed("backend process exited".into()))
            }
            Err(_) => {
                let deadline = self.deadline;
                self.time_out();
                Err(GatewayError::UpstreamTimeout(deadline))
            }
        }
    }

    /// Answers as SSE: every message as it comes, the reply (or an
    /// `input_required` result) last.
    pub fn stream(self) -> Reply {
        let (out, out_rx) = mpsc::unbounded_channel();
        tokio::spawn(self.relay(out));
        Reply::Stream(out_rx)
    }

    async fn relay(mut self, out: mpsc::UnboundedSender<Bytes>) {
        let asks = self.rounds.is_some();
        let expiry = tokio::time::sleep(self.deadline);
        tokio::pin!(expiry);
        let ended = loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some((msg, true)) => break Ended::Reply(msg),
                    Some((msg, false)) if asks && wire::is_server_request(&msg) => break Ended::Ask(msg),
                    Some((msg, false)) => {
                        if out.send(msg).is_err() {
                            self.hang_up();
                            return;
                        }
                    }
                    None => break Ended::Gone,
                },
                _ = &mut expiry => {
                    let msg = format!("upstream did not answer within {:?}", self.deadline);
                    let _ = out.send(jsonrpc::error_body(Some(&self.id), crate::error::codes::GATEWAY_TIMEOUT, &msg));
                    self.time_out();
                    return;
                }
                _ = out.closed() => {
                    self.hang_up();
                    return;
                }
            }
        };
        match ended {
            Ended::Reply(reply) => {
                let _ = out.send(reply);
                self.process.answered();
                self.finish(true);
            }
            Ended::Ask(ask) => {
                let id = self.id.clone();
                let msg = self.park(ask).unwrap_or_else(|e| e.into_response(Some(&id)).into_body());
                let _ = out.send(msg);
            }
            Ended::Gone => self.finish(false),
        }
    }

    /// Parks the call until the client retries, and returns the
    /// `input_required` answer that asks it (or, when too many are parked,
    /// the admission error).
    pub fn park(self, ask: Bytes) -> Result<Bytes, GatewayError> {
        match self.rounds.clone() {
            Some(rounds) => rounds.parked.park(self, &rounds.method, ask),
            // Only calls with rounds get here; answer as the child would
            // have heard from a client that cannot be asked.
            None => Ok(jsonrpc::error_body(Some(&self.id), jsonrpc::INTERNAL_ERROR, "the request needs client input")),
        }
    }

    /// The client went away: the child stops working on it. Not a failure
    /// of the process.
    fn hang_up(self) {
        self.process.cancel(self.up_id, "the client went away");
        self.finish(true);
    }

    /// The client never came back for its round of input: the child stops
    /// working on the call. Neither a failure of the process nor a latency
    /// worth counting.
    pub fn abandon(self, reason: &str) {
        self.process.cancel(self.up_id, reason);
        drop(self.load);
    }

    /// The deadline passed: cancels upstream and counts the timeout; enough
    /// in a row recycle the child.
    pub fn time_out(self) {
        self.process.cancel(self.up_id, "deadline exceeded");
        self.process.count_timeout();
        self.finish(false);
    }

    /// Counts the call finished on its process's row: its latency, and
    /// whether it failed (the process exited, or the deadline passed).
    fn finish(self, ok: bool) {
        if ok {
            self.record.observe_latency(self.sent.elapsed());
            self.record.succeed();
        } else {
            self.record.fail();
        }
        drop(self.load);
    }
}

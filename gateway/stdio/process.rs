//! One child process as an actor.
//!
//! The supervisor spawns the child; this module owns its pipes. A writer task
//! drains a channel into stdin, a reader task reads stdout line by line (up to
//! `max_line_bytes`) and routes each message: a reply to the request waiting
//! for it, a progress notification to the request that owns the token, a
//! change notification to every listener, and a request from the server goes
//! to the one client that can answer it (see `server_request`) or is answered
//! at once, so that the server never waits on the gateway. A third task
//! forwards stderr to the log under the backend's name.
//!
//! When stdout ends, every request still waiting is failed at once with a
//! JSON-RPC error, so a dying process never leaves a client hanging.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{Notify, broadcast, mpsc};

use super::asked::{Questions, Refused, Via};
use super::server_request::{self, Candidate, Unrouted};
use super::wire::{self, ClientAnswer, Line, Patch};
use crate::mcp::jsonrpc;
use crate::session::ClientCaps;

/// Messages for one client request: progress and server requests, then the
/// reply. The flag marks the last message.
pub type Sink = mpsc::UnboundedSender<(Bytes, bool)>;

/// A request waiting for its reply.
pub struct Pending {
    /// Where its progress and reply go.
    pub sink: Sink,
    /// The client's id, restored on the reply.
    pub original_id: Box<RawValue>,
    /// The client's progress token, restored on progress.
    pub original_token: Option<Box<RawValue>>,
    /// How the result is adjusted for the client's era.
    pub patch: Patch,
    /// Who sent it (a hash of the session token; 0, unknown, without one or
    /// for a stateless client; `u64::MAX` for the gateway's own), so that a
    /// client's `notifications/cancelled` only reaches its own requests, and
    /// several requests of one client count as one when the server asks.
    pub owner: u64,
    /// What its client declared it can answer: a server request goes only to
    /// a client that declared the capability it needs.
    pub caps: ClientCaps,
    /// Whether its client can be asked the server's requests (sampling,
    /// elicitation, roots): a session-era client reading an SSE stream for
    /// it, or a 2026-07-28 client through an `input_required` result (that
    /// era forbids server requests on a response stream).
    pub askable: bool,
    /// Whether its client is asked through `input_required` rounds rather
    /// than on a stream, which decides how the answer must come back.
    pub rounds: bool,
}

/// A running child, shared by the requests using it.
pub struct Process {
    /// The child's pid, for the backend table and logs.
    pub pid: Option<u32>,
    /// The pool slot it runs in; ids of server requests name it, so the
    /// client's answer finds its way back.
    pub slot: usize,
    lines: mpsc::UnboundedSender<Bytes>,
    /// Tells the writer to close the child's stdin: `lines` itself lives as
    /// long as the process is shared, which may outlast the stop.
    close_input: Arc<Notify>,
    pending: Mutex<HashMap<u64, Pending>>,
    /// The child's questions relayed to clients, so that only the client
    /// asked can answer each, once.
    questions: Questions,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    alive: AtomicBool,
    /// Requests that timed out in a row; several mean the child hangs.
    pub consecutive_timeouts: AtomicU32,
    /// Signalled when the child should be recycled (it hangs).
    pub recycle: Notify,
    /// Signalled when stdout ends.
    pub ended: Notify,
}

/// What the reader needs besides the process.
pub struct ReaderContext {
    /// The backend's name, for logs.
    pub backend: Arc<str>,
    /// Longest line accepted.
    pub max_line_bytes: usize,
    /// Change notifications for every listening client.
    pub changes: broadcast::Sender<Bytes>,
    /// The pool slot the process runs in.
    pub slot: usize,
    /// The backend's `timeout`: how long a question relayed to a client
    /// waits for its answer.
    pub timeout: std::time::Duration,
}

// === impl Pending ===

impl Pending {
    fn candidate(&self) -> Candidate {
        Candidate { owner: self.owner, caps: self.caps, askable: self.askable }
    }
}

// === impl Process ===

impl Process {
    /// Takes over a child's pipes and starts its tasks.
    pub fn start(
        pid: Option<u32>,
        stdin: ChildStdin,
        stdout: ChildStdout,
        stderr: ChildStderr,
        ctx: ReaderContext,
    ) -> Arc<Process> {
        let (lines, rx) = mpsc::unbounded_channel();
        let close_input = Arc::new(Notify::new());
        let process = Arc::new(Process {
            pid,
            slot: ctx.slot,
            lines,
            close_input: close_input.clone(),
            pending: Mutex::new(HashMap::new()),
            questions: Questions::new(ctx.timeout),
            next_id: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
            consecutive_timeouts: AtomicU32::new(0),
            recycle: Notify::new(),
            ended: Notify::new(),
        });
        tokio::spawn(write_loop(stdin, rx, close_input));
        tokio::spawn(log_stderr(stderr, ctx.backend.clone()));
        tokio::spawn(read_loop(process.clone(), stdout, ctx));
        process
    }

    /// Closes the child's stdin once the lines already queued are written:
    /// the first step of the spec's shutdown, which lets a child that exits
    /// on EOF do so before it is sent SIGTERM.
    pub fn close_input(&self) {
        // A stored permit: the writer sees it even if it is busy now.
        self.close_input.notify_one();
    }

    /// Whether the child is still answering.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Requests waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A fresh upstream id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a request under `up_id` and writes its line.
    pub fn send(&self, up_id: u64, line: Bytes, entry: Pending) -> Result<(), &'static str> {
        if !self.is_alive() {
            return Err("backend process is not running");
        }
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(up_id, entry);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.lines.send(line).map_err(|_| "backend process is not running")
    }

    /// Writes a line that expects no reply (a notification).
    pub fn notify(&self, line: Bytes) {
        let _ = self.lines.send(line);
    }

    /// Gives up on a request (deadline, or the client went away) and tells the
    /// child to stop working on it.
    pub fn cancel(&self, up_id: u64, reason: &str) {
        if self.take(up_id).is_some() {
            let mut line = format!(
                "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{{\"requestId\":{up_id},\"reason\":"
            )
            .into_bytes();
            serde_json::to_writer(&mut line, reason).unwrap_or_default();
            line.extend_from_slice(b"}}\n");
            self.notify(Bytes::from(line));
        }
    }

    /// Gives a request the id of the client request that now waits for it:
    /// a 2026-07-28 client's retry after a round of input.
    pub fn rebind(&self, up_id: u64, id: Box<RawValue>) {
        if let Some(entry) = self.pending.lock().ok().as_mut().and_then(|p| p.get_mut(&up_id)) {
            entry.original_id = id;
        }
    }

    /// Forwards a client's `notifications/cancelled` for its own request.
    ///
    /// An unknown owner (0: no session, or a 2026-07-28 client) cancels
    /// nothing: stateless clients reuse JSON-RPC ids freely and nothing
    /// tells them apart, so the id could name anyone's request. Such a
    /// request ends with its reply, its deadline, or its client hanging up
    /// a streamed answer.
    pub fn cancel_by_client(&self, owner: u64, request_id: &str, reason: &str) {
        if owner == 0 {
            return;
        }
        let found = self.pending.lock().ok().and_then(|p| {
            p.iter().find(|(_, e)| e.owner == owner && e.original_id.get() == request_id).map(|(id, _)| *id)
        });
        if let Some(up_id) = found {
            self.cancel(up_id, reason);
        }
    }

    /// The sink of the request whose client should be asked `method`, by
    /// the rules of [`server_request`], with that client and how it is asked.
    fn asked(&self, method: &str) -> Result<(Sink, u64, Via), Unrouted> {
        let pending = self.pending.lock().map_err(|_| Unrouted::NoStream)?;
        let candidates = pending.iter().map(|(id, e)| (*id, e.candidate()));
        let up_id = server_request::choose(candidates, method)?;
        let entry = pending.get(&up_id).ok_or(Unrouted::NoStream)?;
        let via = if entry.rounds { Via::Round } else { Via::Stream };
        Ok((entry.sink.clone(), entry.owner, via))
    }

    /// Relays the child's request `id` to the client [`asked`](Self::asked)
    /// picks, under an id only that client learns.
    fn relay(&self, id: &RawValue, method: &str, params: Option<&RawValue>) -> Result<(), Unrouted> {
        let (sink, owner, via) = self.asked(method)?;
        let nonce = self.questions.ask(owner, via, id)?;
        let msg = wire::server_request_for_client(self.slot, &nonce, id, method, params);
        if sink.send((msg, false)).is_err() {
            self.questions.forget(&nonce);
            return Err(Unrouted::NoStream);
        }
        Ok(())
    }

    /// Passes a client's POSTed answer to the child's question, when
    /// `owner` is the client that was asked it on a stream, and it is the
    /// first.
    pub fn answer_question(&self, answer: ClientAnswer, owner: u64) -> Result<(), Refused> {
        self.questions.answer(&answer.to, owner)?;
        self.notify(answer.line);
        Ok(())
    }

    /// Passes the answer a round's retry brought. Its one-use
    /// `requestState` already showed it comes from the client asked.
    pub fn answer_round(&self, answer: ClientAnswer) {
        self.questions.forget(&answer.to.nonce);
        self.notify(answer.line);
    }

    /// Counts a request (or probe) that timed out; [`HANG_TIMEOUTS`](super::HANG_TIMEOUTS)
    /// in a row ask the supervisor to recycle the child.
    pub fn count_timeout(&self) {
        if self.consecutive_timeouts.fetch_add(1, Ordering::Relaxed) + 1 >= super::HANG_TIMEOUTS {
            self.recycle.notify_one();
        }
    }

    /// Notes that a request finished in time, for hang detection.
    pub fn answered(&self) {
        self.consecutive_timeouts.store(0, Ordering::Relaxed);
    }

    fn take(&self, up_id: u64) -> Option<Pending> {
        let entry = self.pending.lock().ok()?.remove(&up_id);
        if entry.is_some() {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        entry
    }

    /// Fails every waiting request: the child is gone.
    fn fail_all(&self, why: &str) {
        self.alive.store(false, Ordering::Release);
        let drained: Vec<Pending> = match self.pending.lock() {
            Ok(mut p) => p.drain().map(|(_, e)| e).collect(),
            Err(_) => Vec::new(),
        };
        self.in_flight.store(0, Ordering::Relaxed);
        self.questions.clear();
        for entry in drained {
            let _ =
                entry.sink.send((jsonrpc::error_body(Some(&entry.original_id), jsonrpc::INTERNAL_ERROR, why), true));
        }
    }

    fn route(&self, line: &[u8], ctx: &ReaderContext) {
        let Ok(msg) = serde_json::from_slice::<Line>(line) else {
            tracing::warn!(backend = &*ctx.backend, "skipping a stdout line that is not JSON-RPC");
            return;
        };
        match (&msg.method, msg.id) {
            // A reply to one of ours.
            (None, Some(id)) => {
                let Some(entry) = id.get().parse::<u64>().ok().and_then(|id| self.take(id)) else {
                    tracing::debug!(backend = &*ctx.backend, id = id.get(), "reply to no waiting request");
                    return;
                };
                let reply = wire::reply_for_client(&entry.original_id, msg.result, msg.error, entry.patch);
                let _ = entry.sink.send((reply, true));
            }
            // The server checks that the gateway is alive; no client is asked.
            (Some(method), Some(id)) if method == "ping" => self.answer(jsonrpc::result_body(id, b"{}")),
            // A request from the server (sampling, elicitation, roots). It goes
            // to the client `server_request` picks, with its id rewritten to
            // name this slot (so the answer comes back here) and a nonce (so
            // only that client can answer; see `asked`). With no such client
            // the gateway answers at once, so the server never waits on a
            // question nobody was asked.
            (Some(method), Some(id)) => {
                if let Err(why) = self.relay(id, method, msg.params) {
                    tracing::debug!(backend = &*ctx.backend, method = &**method, %why, "server request refused");
                    self.answer(jsonrpc::error_body(Some(id), jsonrpc::METHOD_NOT_FOUND, &why.to_string()));
                }
            }
            (Some(method), None) if method == "notifications/progress" => {
                let Some(params) = msg.params else { return };
                let Some(token) = wire::progress_token(params) else { return };
                let Ok(pending) = self.pending.lock() else { return };
                if let Some(entry) = pending.get(&token)
                    && let Some(original) = &entry.original_token
                    && let Some(note) = wire::progress_for_client(params, original)
                {
                    let _ = entry.sink.send((note, false));
                }
            }
            (Some(method), None)
                if method.ends_with("/list_changed") || method == "notifications/resources/updated" =>
            {
                let _ = ctx.changes.send(Bytes::copy_from_slice(line));
            }
            (Some(method), None) => {
                tracing::debug!(backend = &*ctx.backend, method = &**method, "notification from the server dropped");
            }
            (None, None) => tracing::warn!(backend = &*ctx.backend, "skipping a stdout line with no id or method"),
        }
    }

    /// Writes the gateway's own answer to a request from the server.
    fn answer(&self, body: Bytes) {
        let mut line = body.to_vec();
        line.push(b'\n');
        self.notify(Bytes::from(line));
    }

    fn fail_oversized(&self, prefix: &[u8], max: usize, ctx: &ReaderContext) {
        match wire::id_in_prefix(prefix).and_then(|id| self.take(id)) {
            Some(entry) => {
                let msg = format!("the server's reply is longer than max_line_bytes ({max})");
                let _ = entry
                    .sink
                    .send((jsonrpc::error_body(Some(&entry.original_id), jsonrpc::INTERNAL_ERROR, &msg), true));
            }
            None => tracing::warn!(backend = &*ctx.backend, max, "dropped a stdout line over max_line_bytes"),
        }
    }
}

async fn write_loop(stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<Bytes>, close: Arc<Notify>) {
    // The pipe itself is unbuffered: without this, every line would be a
    // write(2) of its own instead of one per burst.
    let mut stdin = BufWriter::with_capacity(64 * 1024, stdin);
    loop {
        let line = tokio::select! {
            // Lines queued before the close are written first.
            biased;
            line = rx.recv() => match line {
                Some(line) => line,
                None => break,
            },
            () = close.notified() => break,
        };
        if stdin.write_all(&line).await.is_err() {
            return;
        }
        // Batch whatever else is queued before flushing.
        while let Ok(line) = rx.try_recv() {
            if stdin.write_all(&line).await.is_err() {
                return;
            }
        }
        if stdin.flush().await.is_err() {
            return;
        }
    }
    // Closed, or the channel ended: dropping stdin closes the child's
    // input, the first step of the spec's shutdown. Each burst was flushed.
}

async fn read_loop(process: Arc<Process>, stdout: ChildStdout, ctx: ReaderContext) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match read_line(&mut reader, &mut line, ctx.max_line_bytes).await {
            Ok(LineRead::Line) => process.route(&line, &ctx),
            Ok(LineRead::Oversized) => process.fail_oversized(&line, ctx.max_line_bytes, &ctx),
            Ok(LineRead::Eof) | Err(_) => break,
        }
    }
    process.fail_all("backend process exited");
    process.ended.notify_waiters();
    process.ended.notify_one();
}

enum LineRead {
    Line,
    /// The line was longer than allowed; `buf` holds its first bytes.
    Oversized,
    Eof,
}

/// Reads one line into `buf`, keeping at most `max` bytes of it.
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    let mut oversized = false;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !oversized { LineRead::Eof } else { LineRead::Line });
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let (chunk, done) = match newline {
            Some(i) => (&available[..i], i + 1),
            None => (available, available.len()),
        };
        let found_newline = newline.is_some();
        if !oversized {
            if buf.len() + chunk.len() > max {
                oversized = true;
                let keep = 256usize.saturating_sub(buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk[..keep]);
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(done);
        if found_newline {
            if oversized {
                return Ok(LineRead::Oversized);
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                buf.clear();
                continue;
            }
            return Ok(LineRead::Line);
        }
    }
}

async fn log_stderr(stderr: ChildStderr, backend: Arc<str>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line: String = line.chars().take(2000).collect();
        tracing::info!(target: "switchyard::stdio", backend = &*backend, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_line_caps_and_recovers() {
        let data = format!("{{\"a\":1}}\n{}\n\n{{\"b\":2}}\n", "x".repeat(1000));
        let mut r = BufReader::with_capacity(64, data.as_bytes());
        let mut buf = Vec::new();
        assert!(matches!(read_line(&mut r, &mut buf, 100).await.unwrap(), LineRead::Line));
        assert_eq!(buf, b"{\"a\":1}");
        buf.clear();
        assert!(matches!(read_line(&mut r, &mut buf, 100).await.unwrap(), LineRead::Oversized));
        assert!(buf.len() <= 256);
        buf.clear();
        assert!(matches!(read_line(&mut r, &mut buf, 100).await.unwrap(), LineRead::Line));
        assert_eq!(buf, b"{\"b\":2}");
        buf.clear();
        assert!(matches!(read_line(&mut r, &mut buf, 100).await.unwrap(), LineRead::Eof));
    }
}

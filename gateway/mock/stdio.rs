//! The stdio transport: one JSON-RPC message per line in, one per line out.
//!
//! Lenient where HTTP is strict: there are no sessions to check, so it serves
//! whatever arrives, `initialize` or not, in either era (a request with 2026
//! `_meta` gets stateless-shaped results). Requests run as tasks, so a slow
//! `sleep` does not hold up the next line, and `notifications/cancelled`
//! aborts the task it names, as the stdio transport's cancellation rule asks.
//! One writer task owns stdout, so lines never interleave.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::MockOptions;
use super::tools::{self, Era, Notify, STATELESS_VERSION, execute};
use super::wire::{Call, Message};
use crate::mcp::jsonrpc::{INTERNAL_ERROR, error_body, result_body};

/// Serves `input` until it closes, then lets the requests in flight finish.
pub(crate) async fn serve<R, W>(input: R, output: W, opts: MockOptions) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let writer = tokio::spawn(write_lines(output, rx));
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    let mut server = Server { opts, tx, tasks: JoinSet::new(), in_flight: HashMap::new() };
    let read_error = loop {
        tokio::select! {
            // Cancel-safe: bytes read before another branch wins stay in
            // `line`, and the next call appends the rest.
            read = reader.read_until(b'\n', &mut line) => match read {
                Ok(0) => break None,
                Ok(_) => {
                    server.on_line(&line);
                    line.clear();
                }
                Err(e) => break Some(e),
            },
            Some(done) = server.tasks.join_next(), if !server.tasks.is_empty() => {
                if let Ok(key) = done {
                    server.in_flight.remove(&key);
                }
            }
            () = server.tx.closed() => break None,
        }
    };
    if !line.is_empty() {
        // A last line without its newline is still a message.
        server.on_line(&line);
    }
    let Server { tx, mut tasks, .. } = server;
    drop(tx);
    while tasks.join_next().await.is_some() {}
    let written = writer.await.map_err(std::io::Error::other)?;
    match read_error {
        Some(e) => Err(e),
        None => written,
    }
}

/// The reading side's state.
struct Server {
    opts: MockOptions,
    /// Lines for the writer task; each request task holds a clone.
    tx: mpsc::Sender<Bytes>,
    tasks: JoinSet<Box<str>>,
    /// Raw request id to its task, for `notifications/cancelled`.
    in_flight: HashMap<Box<str>, AbortHandle>,
}

impl Server {
    fn on_line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        if line.first() == Some(&b'[') {
            match serde_json::from_slice::<Vec<&RawValue>>(line) {
                Ok(items) => {
                    for raw in items {
                        self.on_message(Message::parse_raw(raw));
                    }
                }
                Err(_) => self.send(error_body(None, crate::mcp::jsonrpc::PARSE_ERROR, "Parse error")),
            }
            return;
        }
        self.on_message(Message::parse(line));
    }

    fn on_message(&mut self, message: Result<Message<'_>, super::wire::Invalid>) {
        match message {
            Err(invalid) => self.send(error_body(None, invalid.code, invalid.message)),
            // The stdio mock never asks (`Notify::ask` is not wired here), so
            // no answer is awaited.
            Ok(Message::Response(_)) => {}
            Ok(Message::Notification(call)) => {
                if call.method == "notifications/cancelled"
                    && let Some(id) = call.params.request_id
                    && let Some(task) = self.in_flight.remove(id.get())
                {
                    tracing::debug!(id = id.get(), "mock: request cancelled");
                    task.abort();
                }
            }
            Ok(Message::Request(call)) => self.on_request(&call),
        }
    }

    fn on_request(&mut self, call: &Call<'_>) {
        let Some(id) = call.id else { return };
        let era = match call.params.meta_version() {
            Some(STATELESS_VERSION) => Era::Stateless,
            _ => Era::Session,
        };
        // The core is pure, so the plan is decided here, borrowing the line,
        // and the task gets only owned data.
        let plan = tools::handle(&call.method, &call.params, era, &self.opts);
        let fails =
            call.method == "tools/call" && self.opts.error_rate > 0.0 && rand::random::<f64>() < self.opts.error_rate;
        let id: Box<RawValue> = id.to_owned();
        let key: Box<str> = id.get().into();
        let latency = self.opts.latency;
        let tx = self.tx.clone();
        let task = self.tasks.spawn(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let reply = match plan {
                _ if fails => error_body(Some(&id), INTERNAL_ERROR, "Internal error (injected)"),
                Err(e) => error_body(Some(&id), e.code, &e.message),
                Ok(plan) => {
                    let mut sink = LineSink(tx.clone());
                    match execute(plan, &mut sink).await {
                        Some(result) => result_body(&id, &result),
                        None => return id.get().into(),
                    }
                }
            };
            let _ = tx.send(reply).await;
            id.get().into()
        });
        self.in_flight.insert(key, task);
    }

    fn send(&self, line: Bytes) {
        // Only parse errors come through here; if the writer is that far
        // behind, dropping one beats blocking the reader.
        if self.tx.try_send(line).is_err() {
            tracing::warn!("mock: stdout is backed up, dropped an error reply");
        }
    }
}

/// Progress notifications as lines, before the result.
struct LineSink(mpsc::Sender<Bytes>);

impl Notify for LineSink {
    async fn notify(&mut self, message: Bytes) -> bool {
        self.0.send(message).await.is_ok()
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(output: W, mut rx: mpsc::Receiver<Bytes>) -> std::io::Result<()> {
    // A pipe is unbuffered: lines are gathered here and written once per burst.
    let mut output = tokio::io::BufWriter::with_capacity(64 * 1024, output);
    while let Some(line) = rx.recv().await {
        output.write_all(&line).await?;
        output.write_all(b"\n").await?;
        // Flush only when nothing else is queued: one syscall per burst.
        if rx.is_empty() {
            output.flush().await?;
        }
    }
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, duplex};

    async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::io::DuplexStream>>) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("stdout still open");
        serde_json::from_str(&line).unwrap()
    }

    #[tokio::test]
    async fn serves_lines_with_progress_before_result_and_cancels() {
        let (mut stdin, server_in) = duplex(1 << 16);
        let (server_out, stdout) = duplex(1 << 16);
        let server = tokio::spawn(serve(server_in, server_out, MockOptions::default()));
        let mut lines = BufReader::new(stdout).lines();

        stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"}}\n").await.unwrap();
        let init = next(&mut lines).await;
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");

        stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"progress\",\"arguments\":{\"steps\":2,\"interval_ms\":1},\"_meta\":{\"progressToken\":\"t\"}}}\n").await.unwrap();
        for step in 1..=2 {
            let n = next(&mut lines).await;
            assert_eq!(n["method"], "notifications/progress");
            assert_eq!(n["params"]["progressToken"], "t");
            assert_eq!(n["params"]["progress"], step);
        }
        assert_eq!(next(&mut lines).await["id"], 2);

        // A long sleep, cancelled; the ping after it is still answered.
        stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"sleep\",\"arguments\":{\"ms\":600000}}}\n").await.unwrap();
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3}}\n")
            .await
            .unwrap();
        stdin.write_all(b"not json\n{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\n").await.unwrap();
        assert_eq!(next(&mut lines).await["error"]["code"], -32700);
        let pong = next(&mut lines).await;
        assert_eq!(pong["id"], 4);
        assert_eq!(pong["result"], serde_json::json!({}));

        drop(stdin);
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("exits when stdin closes").unwrap().unwrap();
    }
}

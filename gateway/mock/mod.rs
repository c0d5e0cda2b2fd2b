//! `switchyard mock`: a small, strict MCP server for demos, tests and load tests.
//!
//! It is the backend the project's benchmarks and interop tests run against, so
//! it has two jobs that pull in different directions: behave like a *strict*
//! real server (so the gateway is tested against the rules, not against a
//! forgiving peer), and stay cheap on the hot path (so benchmarks measure the
//! gateway, not the mock).
//!
//! One endpoint, `/mcp`, speaks both protocol eras:
//!
//! - **Session era** (2025-03-26, 2025-06-18, 2025-11-25): `initialize` issues a
//!   random `Mcp-Session-Id`; later requests without it get 400, with an id the
//!   mock never issued (or has deleted) 404. `GET` opens a server-to-client SSE
//!   stream, `DELETE` ends the session. Batches only for 2025-03-26.
//! - **Stateless era** (2026-07-28): a request whose
//!   `params._meta["io.modelcontextprotocol/protocolVersion"]` is `2026-07-28`
//!   needs no session, but its mirrored headers (`MCP-Protocol-Version`,
//!   `Mcp-Method`, `Mcp-Name`) must match the body, or it gets 400 / -32020,
//!   and its `_meta` must carry the client's capabilities, or it gets 400 /
//!   -32602. `server/discover` describes the server; what the era removed
//!   (`ping`, `initialize`) is an unknown method there.
//!
//! Bound to a loopback address, it refuses a request whose `Origin` is not
//! localhost (403), the spec's guard against DNS rebinding.
//!
//! With [`MockOptions::era`] (`--era session|stateless`) it speaks one era
//! only, and refuses the other's requests as a one-era server does.
//!
//! With [`MockOptions::conformance`] (`--conformance`) it also serves the
//! official conformance suite's fixture (`fixture`): the `test_*` tools,
//! `test://` resources and `test_*` prompts the suite's server scenarios call,
//! so the suite can check the mock, and a gateway in front of it, in both eras.
//!
//! The tools (`echo`, `add`, `sleep`, `fail`, `big`, `progress`), the `mock://readme`
//! resource and the `greet` prompt live in one transport-free core (`tools`,
//! with the fixed lists in `catalog`), shared by [`serve_http`] and
//! [`serve_stdio`]. Two methods outside MCP help tests: `mock/calls` (requests
//! answered per method, also in [`MockOptions::calls`]) and `mock/changed`
//! (announces a `list_changed` or `resources/updated`). The HTTP side is `http` (accept loop, `GET`, `DELETE`) and
//! `post` (where the era rules are enforced).
//!
//! Worth knowing when reading test or benchmark results:
//!
//! - Requests are answered with one SSE event by default (like most real
//!   servers), or `application/json` with [`MockOptions::json_only`]. Only
//!   `progress` with a `progressToken` streams several events.
//! - [`MockOptions::latency`] is paid once per HTTP request (once per batch),
//!   [`MockOptions::error_rate`] applies to single `tools/call` requests.
//! - In the stateless era an unknown method gets HTTP 404; in the session era
//!   it stays a 200 with -32601, because a 404 there means "session gone".
//! - A `server/discover` without 2026 `_meta` and without a session gets
//!   400 / -32601, which rmcp's auto mode reads as "legacy, fall back".
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use switchyard::mock::{MockOptions, serve_http};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let opts = MockOptions { latency: std::time::Duration::from_millis(5), ..Default::default() };
//! serve_http(listener, opts, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

use std::time::Duration;

pub use calls::Calls;

mod asks;
mod body;
mod calls;
mod catalog;
mod checks;
mod fixture;
mod http;
mod post;
mod sessions;
mod stdio;
mod tools;
mod wire;

#[cfg(test)]
mod tests;

/// Knobs that make the mock misbehave on purpose.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Added before answering every request, to model a slow backend.
    pub latency: Duration,
    /// Fraction, in `[0, 1]`, of `tools/call` requests answered with HTTP 500
    /// and a JSON-RPC -32603 error, to exercise retries and outlier ejection.
    pub error_rate: f64,
    /// Answer every request with `application/json`, never SSE, like the
    /// servers that never stream (progress then returns only the result).
    pub json_only: bool,
    /// Counts the requests answered, per method (also answered to the
    /// `mock/calls` method).
    pub calls: Calls,
    /// Also serve the official conformance suite's fixture (tools
    /// `test_simple_text`, `test_input_required_result_*`…, resources
    /// `test://…`, prompts `test_*`), so the suite can check the mock, and a
    /// gateway in front of it, scenario by scenario. Off by default: it
    /// triples `tools/list`, which the benchmarks measure as it is.
    pub conformance: bool,
    /// Which protocol eras it speaks (`--era`): both, the default, or one
    /// only, like most servers deployed today (session era) or a server
    /// written for 2026-07-28 alone. A one-era mock refuses the other
    /// era's requests as such a server does, so that bridging is tested
    /// against the refusals real servers make.
    pub era: MockEra,
}

/// The eras a mock speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MockEra {
    /// Both, on one endpoint.
    #[default]
    Both,
    /// Only the session era: a 2026-07-28 request gets 400 (unsupported
    /// `MCP-Protocol-Version`), `server/discover` is an unknown method.
    Session,
    /// Only 2026-07-28: a request without its `_meta` version gets 400 /
    /// -32022 listing the one supported version; GET and DELETE get 405.
    Stateless,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            json_only: false,
            calls: Calls::default(),
            conformance: false,
            era: MockEra::Both,
        }
    }
}

/// Serves MCP Streamable HTTP at path `/mcp` on an already-bound listener until
/// `shutdown` resolves.
///
/// Both HTTP/1.1 (keep-alive) and HTTP/2 prior knowledge (h2c) are accepted.
/// On shutdown it stops accepting, ends the open SSE streams and waits up to
/// five seconds for requests in flight.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    opts: MockOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::serve(listener, opts, shutdown).await
}

/// Serves MCP over stdio (newline-delimited JSON on stdin/stdout, logs to
/// stderr) until stdin closes.
///
/// Requests run concurrently, so a `sleep` does not hold up a `ping`, and a
/// `notifications/cancelled` aborts the request it names. When stdin closes,
/// the requests in flight finish before it returns.
pub async fn serve_stdio(opts: MockOptions) -> std::io::Result<()> {
    // Both or neither: converting a pipe sets O_NONBLOCK on it, which tokio's
    // blocking-thread stdin and stdout could not read or write.
    if is_pipe(&std::io::stdin()) && is_pipe(&std::io::stdout()) {
        stdio::serve(stdin_pipe()?, stdout_pipe()?, opts).await
    } else {
        stdio::serve(tokio::io::stdin(), tokio::io::stdout(), opts).await
    }
}

// tokio's `stdin()` and `stdout()` hand every read and every write to a
// blocking thread. When they are pipes, as under a gateway, reading them
// through the reactor instead costs a fraction as much per line, and this
// mock is the backend of the stdio benchmarks: its cost is on the proxy's
// core. A terminal or a file is not a pipe; those keep tokio's types.
fn is_pipe(stream: &impl std::os::fd::AsFd) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = stream.as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.file_type().is_fifo())
}

fn stdin_pipe() -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    use std::os::fd::AsFd;
    tokio::net::unix::pipe::Receiver::from_owned_fd(std::io::stdin().as_fd().try_clone_to_owned()?)
}

fn stdout_pipe() -> std::io::Result<tokio::net::unix::pipe::Sender> {
    use std::os::fd::AsFd;
    tokio::net::unix::pipe::Sender::from_owned_fd(std::io::stdout().as_fd().try_clone_to_owned()?)
}

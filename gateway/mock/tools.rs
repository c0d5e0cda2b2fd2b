//! The transport-free core: what each MCP method answers.
//!
//! [`handle`] is pure: it turns a method and its params into a [`Plan`] (or a
//! JSON-RPC error), and never sleeps or writes. The transports then carry the
//! plan out with [`execute`], each with its own way to deliver progress
//! notifications (SSE events over HTTP, lines on stdio). Keeping the waiting
//! out of the core is what lets both transports share it, and lets these
//! tests check every answer without a clock.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::MockOptions;
use super::catalog::{capabilities, get_prompt, lists, read_resource, server_info};
use super::fixture;
use super::wire::Params;
use crate::mcp::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND};

/// Versions served with `initialize` and sessions, oldest first.
pub(crate) const SESSION_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// The one stateless-era version.
pub(crate) const STATELESS_VERSION: &str = "2026-07-28";
/// Every version, for `server/discover` and `-32022` errors.
pub(super) const ALL_VERSIONS: [&str; 4] = ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
/// MCP's "resource not found" (session era; 2026-07-28 uses -32602).
pub(super) const RESOURCE_NOT_FOUND: i32 = -32002;
/// 2026-07-28: the request needs a capability the client did not declare.
pub(crate) const MISSING_CAPABILITY: i32 = -32021;
/// Caps that keep a typo in a load test from exhausting memory or time.
const MAX_BIG: usize = 64 << 20;
const MAX_STEPS: u64 = 100_000;

/// Which era a request belongs to. Stateless results carry
/// `"resultType":"complete"`, which 2026-07-28 clients (rmcp) expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    Session,
    Stateless,
}

/// What answering a request takes, decided up front.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Answer with this serialised `result` now.
    Ready(Vec<u8>),
    /// Wait, then answer (the `sleep` tool).
    Sleep(Duration, Vec<u8>),
    /// Send progress notifications, then answer (the `progress` tool).
    Progress(Progress),
    /// Send one notification, then answer (`mock/changed`).
    Announce(Bytes, Vec<u8>),
    /// Send notifications, each after its delay, then answer (the
    /// conformance fixture's logging and progress tools).
    Notes(Vec<Note>, Vec<u8>),
    /// Ask the client something mid-call, then answer from its reply (the
    /// fixture's session-era sampling and elicitation tools).
    Ask(Ask),
}

/// One notification of a [`Plan::Notes`].
#[derive(Debug)]
pub(crate) struct Note {
    /// How long to wait before sending it.
    pub after: Duration,
    pub message: Bytes,
}

/// What a client replied to a request the server sent it: its `result`, or
/// its `error`.
pub(crate) type Reply = Result<serde_json::Value, serde_json::Value>;

/// A request to the client, and what to answer once it replies.
pub(crate) struct Ask {
    pub method: &'static str,
    pub params: serde_json::Value,
    /// Turns the reply into the serialised result; `None` when there was no
    /// way to ask or no reply came.
    pub finish: Box<dyn FnOnce(Option<Reply>) -> Vec<u8> + Send>,
}

/// The `progress` tool's schedule.
#[derive(Debug)]
pub(crate) struct Progress {
    /// From `params._meta.progressToken`; without one nothing is sent.
    token: Option<Box<RawValue>>,
    steps: u64,
    interval: Duration,
    result: Vec<u8>,
}

/// A JSON-RPC error the core answers with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RpcError {
    pub code: i32,
    pub message: Cow<'static, str>,
    pub data: Option<serde_json::Value>,
}

/// Where a plan's notifications and questions go.
pub(crate) trait Notify {
    /// Sends one serialised notification; `false` once the peer is gone.
    fn notify(&mut self, message: Bytes) -> impl Future<Output = bool> + Send;

    /// Sends the client a request and waits for its reply. By default there
    /// is no way to ask (a JSON-only answer, a batch, stdio): `None`.
    fn ask(&mut self, _method: &'static str, _params: serde_json::Value) -> impl Future<Output = Option<Reply>> + Send {
        std::future::ready(None)
    }
}

/// A [`Notify`] that drops everything (JSON-only responses).
pub(crate) struct Silent;

impl Notify for Silent {
    async fn notify(&mut self, _message: Bytes) -> bool {
        true
    }
}

/// Answers one request. `initialize` here serves stdio; HTTP intercepts it to
/// open a session with the negotiated version.
pub(crate) fn handle(method: &str, params: &Params<'_>, era: Era, opts: &MockOptions) -> Result<Plan, RpcError> {
    opts.calls.record(method);
    if let Some(plan) = super::calls::handle(method, params, &opts.calls) {
        return plan;
    }
    if opts.conformance
        && let Some(plan) = fixture::handle(method, params, era)
    {
        return plan;
    }
    let ready = |bytes: &[u8]| Ok(Plan::Ready(bytes.to_vec()));
    let stateless = era == Era::Stateless;
    let lists = lists(opts.conformance);
    match method {
        "tools/call" => call_tool(params, era),
        "tools/list" => ready(&lists.tools[stateless as usize]),
        "resources/list" => ready(&lists.resources[stateless as usize]),
        "resources/templates/list" => ready(&lists.templates[stateless as usize]),
        "prompts/list" => ready(&lists.prompts[stateless as usize]),
        "resources/read" => read_resource(params, era),
        "prompts/get" => get_prompt(params, era),
        // 2026-07-28 removed `ping` (and `initialize`): there it is unknown.
        "ping" if !stateless => ready(b"{}"),
        "initialize" if !stateless => ready(&initialize(params.protocol_version.as_deref(), opts.conformance).1),
        "server/discover" if stateless && opts.era == super::MockEra::Stateless => {
            ready(&lists.discover_stateless_only)
        }
        "server/discover" if stateless => ready(&lists.discover),
        _ => Err(error(METHOD_NOT_FOUND, "Method not found")),
    }
}

/// Negotiates `initialize`: the client's version if served, else the newest.
pub(crate) fn initialize(requested: Option<&str>, conformance: bool) -> (&'static str, Vec<u8>) {
    let version = SESSION_VERSIONS.into_iter().find(|v| Some(*v) == requested).unwrap_or(SESSION_VERSIONS[2]);
    let result = json!({
        "protocolVersion": version,
        "capabilities": capabilities(Era::Session, conformance),
        "serverInfo": server_info(),
    });
    (version, result.to_string().into_bytes())
}

/// `notifications/progress` for `token`.
pub(crate) fn progress_notification(token: &RawValue, progress: u64, total: u64) -> Bytes {
    let mut out = Vec::with_capacity(100 + token.get().len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":");
    out.extend_from_slice(token.get().as_bytes());
    out.extend_from_slice(format!(",\"progress\":{progress},\"total\":{total}}}}}").as_bytes());
    Bytes::from(out)
}

/// Carries out a plan; `None` when the peer went away before the result.
pub(crate) async fn execute(plan: Plan, out: &mut impl Notify) -> Option<Vec<u8>> {
    match plan {
        Plan::Ready(result) => Some(result),
        Plan::Sleep(wait, result) => {
            tokio::time::sleep(wait).await;
            Some(result)
        }
        Plan::Announce(notification, result) => out.notify(notification).await.then_some(result),
        Plan::Notes(notes, result) => {
            for note in notes {
                if !note.after.is_zero() {
                    tokio::time::sleep(note.after).await;
                }
                if !out.notify(note.message).await {
                    return None;
                }
            }
            Some(result)
        }
        Plan::Ask(ask) => {
            let reply = out.ask(ask.method, ask.params).await;
            Some((ask.finish)(reply))
        }
        Plan::Progress(p) => {
            for step in 1..=p.steps {
                tokio::time::sleep(p.interval).await;
                if let Some(token) = &p.token
                    && !out.notify(progress_notification(token, step, p.steps)).await
                {
                    return None;
                }
            }
            Some(p.result)
        }
    }
}

/// A -32022 error's `data`: the versions served, and the one asked for.
pub(crate) fn unsupported_version_data(requested: &str) -> serde_json::Value {
    json!({ "supported": [STATELESS_VERSION], "requested": requested })
}

// === tools ===

fn call_tool(params: &Params<'_>, era: Era) -> Result<Plan, RpcError> {
    let name = params.name.as_deref().ok_or_else(|| error(INVALID_PARAMS, "Invalid params: missing tool name"))?;
    let args = params.arguments.map_or("{}", RawValue::get);
    match name {
        "echo" => {
            let a: EchoArgs = parse_args(args)?;
            Ok(Plan::Ready(text_result(&a.text, era)))
        }
        "add" => {
            let a: AddArgs = parse_args(args)?;
            let sum = match (a.a.as_i64(), a.b.as_i64()) {
                (Some(x), Some(y)) if x.checked_add(y).is_some() => (x + y).to_string(),
                _ => (a.a.as_f64().unwrap_or(f64::NAN) + a.b.as_f64().unwrap_or(f64::NAN)).to_string(),
            };
            Ok(Plan::Ready(text_result(&sum, era)))
        }
        "sleep" => {
            let a: SleepArgs = parse_args(args)?;
            let text = format!("slept {} ms", a.ms);
            Ok(Plan::Sleep(Duration::from_millis(a.ms), text_result(&text, era)))
        }
        "fail" => {
            let a: FailArgs = parse_args(args)?;
            let message = a.message.map_or(Cow::Borrowed("fail tool called"), |m| Cow::Owned(m.into_owned()));
            Err(RpcError::new(a.code, message))
        }
        "big" => {
            let a: BigArgs = parse_args(args)?;
            if a.n > MAX_BIG {
                return Err(error(INVALID_PARAMS, "Invalid params: n is above 64 MiB"));
            }
            Ok(Plan::Ready(big_result(a.n, era)))
        }
        "progress" => {
            let a: ProgressArgs = parse_args(args)?;
            if a.steps > MAX_STEPS {
                return Err(error(INVALID_PARAMS, "Invalid params: too many steps"));
            }
            let token = params.meta.as_ref().and_then(|m| m.progress_token);
            Ok(Plan::Progress(Progress {
                token: token.map(ToOwned::to_owned),
                steps: a.steps,
                interval: Duration::from_millis(a.interval_ms),
                result: text_result(&format!("completed {} steps", a.steps), era),
            }))
        }
        other => Err(RpcError::new(INVALID_PARAMS, format!("Unknown tool: {other}"))),
    }
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Deserialize)]
struct AddArgs {
    a: serde_json::Number,
    b: serde_json::Number,
}

#[derive(Deserialize)]
struct SleepArgs {
    ms: u64,
}

#[derive(Deserialize)]
struct FailArgs<'a> {
    code: i32,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BigArgs {
    n: usize,
}

#[derive(Deserialize)]
struct ProgressArgs {
    steps: u64,
    #[serde(default = "ten")]
    interval_ms: u64,
}

fn ten() -> u64 {
    10
}

pub(super) fn parse_args<'a, T: Deserialize<'a>>(raw: &'a str) -> Result<T, RpcError> {
    serde_json::from_str(raw).map_err(|e| RpcError::new(INVALID_PARAMS, format!("Invalid params: {e}")))
}

/// `CallToolResult` with one text block.
#[derive(Serialize)]
struct TextResult<'a> {
    content: [Text<'a>; 1],
    #[serde(rename = "isError")]
    is_error: bool,
    #[serde(rename = "resultType", skip_serializing_if = "Option::is_none")]
    result_type: Option<&'static str>,
}

#[derive(Serialize)]
struct Text<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

pub(super) fn text_result(text: &str, era: Era) -> Vec<u8> {
    let result = TextResult {
        content: [Text { kind: "text", text }],
        is_error: false,
        result_type: (era == Era::Stateless).then_some("complete"),
    };
    // Serialising plain strings and bools cannot fail.
    serde_json::to_vec(&result).unwrap_or_default()
}

/// A text block of exactly `n` bytes, written without building the string.
fn big_result(n: usize, era: Era) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"content\":[{\"type\":\"text\",\"text\":\"";
    let tail: &[u8] = match era {
        Era::Session => b"\"}],\"isError\":false}",
        Era::Stateless => b"\"}],\"isError\":false,\"resultType\":\"complete\"}",
    };
    let mut out = Vec::with_capacity(HEAD.len() + n + tail.len());
    out.extend_from_slice(HEAD);
    out.resize(HEAD.len() + n, b'x');
    out.extend_from_slice(tail);
    out
}

pub(super) fn error(code: i32, message: &'static str) -> RpcError {
    RpcError::new(code, message)
}

// === impl RpcError ===

impl RpcError {
    pub(crate) fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    pub(crate) fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Debug for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask").field("method", &self.method).field("params", &self.params).finish_non_exhaustive()
    }
}

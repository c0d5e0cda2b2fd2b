//! `POST /mcp`: where both eras' rules are enforced.
//!
//! The order of checks follows what a strict server can know when: headers
//! (406, 415), then the body (-32700, -32600), then the era. A body whose
//! `params._meta` names a protocol version is stateless and must match its
//! mirrored headers; anything else is session era and needs a session,
//! except `initialize`, which opens one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::MockEra;
use super::body::MockBody;
use super::checks::{self, METHOD, NAME, PROTOCOL_VERSION, SESSION_ID};
use super::fixture;
use super::http::{
    Shared, check_session, is_stateless, json_response, rpc_error, rpc_error_data, sse_response, status_only,
};
use super::tools::{
    self, Era, MISSING_CAPABILITY, Notify, Plan, Reply, SESSION_VERSIONS, STATELESS_VERSION, Silent, execute,
};
use super::wire::{Call, Message};
use crate::mcp::jsonrpc::{
    HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
    UNSUPPORTED_VERSION, error_body, error_body_with_data, result_body,
};

/// Bodies above this get 413; nothing the mock serves needs more.
const MAX_BODY: usize = 4 << 20;
/// The only version whose sessions may send batches.
const BATCH_VERSION: &str = "2025-03-26";
/// How long a tool waits for the client to answer what it asked.
const ASK_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<MockBody> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    if !checks::accepts(headers, true, true) {
        let message = "Not Acceptable: client must accept both application/json and text/event-stream";
        return rpc_error(StatusCode::NOT_ACCEPTABLE, None, INVALID_REQUEST, message);
    }
    if !checks::is_json_content(headers) {
        let message = "Unsupported Media Type: Content-Type must be application/json";
        return rpc_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, INVALID_REQUEST, message);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return status_only(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(_) => return status_only(StatusCode::BAD_REQUEST),
    };
    let only = shared.opts.era;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        if only == MockEra::Stateless {
            return stateless_only(None);
        }
        return batch(shared, headers, &bytes).await;
    }
    match Message::parse(&bytes) {
        Err(invalid) => rpc_error(StatusCode::BAD_REQUEST, None, invalid.code, invalid.message),
        Ok(Message::Request(call)) => match call.params.meta_version() {
            Some(_) if only == MockEra::Session => session_only(call.id),
            None if only == MockEra::Session && is_stateless(headers) => session_only(call.id),
            None if only == MockEra::Stateless => stateless_only(call.id),
            Some(version) => stateless(shared, headers, &call, version).await,
            None => session_request(shared, headers, call).await,
        },
        Ok(_) if only == MockEra::Session && is_stateless(headers) => session_only(None),
        Ok(_) if only == MockEra::Stateless && !is_stateless(headers) => stateless_only(None),
        // Stateless notifications carry the version header and no session.
        Ok(_) if is_stateless(headers) => status_only(StatusCode::ACCEPTED),
        Ok(message) => match check_session(shared, headers) {
            Ok(_) => {
                if let Message::Response(answer) = &message
                    && !shared.asks.answer(checks::session_id(headers), answer)
                {
                    tracing::debug!(id = answer.id.get(), "mock: an answer to nothing this session asked");
                }
                status_only(StatusCode::ACCEPTED)
            }
            Err(refusal) => refusal.response(),
        },
    }
}

/// A session-era-only server's answer to a 2026-07-28 request: the version
/// is one it does not support.
fn session_only(id: Option<&RawValue>) -> Response<MockBody> {
    let message = format!("Bad Request: unsupported MCP-Protocol-Version (supported: {})", SESSION_VERSIONS.join(", "));
    rpc_error(StatusCode::BAD_REQUEST, id, INVALID_REQUEST, &message)
}

/// A 2026-07-28-only server's answer to a request that does not name that
/// version in its `_meta` (an `initialize`, a session-era call).
fn stateless_only(id: Option<&RawValue>) -> Response<MockBody> {
    let data = tools::unsupported_version_data("");
    rpc_error_data(StatusCode::BAD_REQUEST, id, UNSUPPORTED_VERSION, "Unsupported protocol version", &data)
}

async fn session_request(shared: &Arc<Shared>, headers: &HeaderMap, call: Call<'_>) -> Response<MockBody> {
    let Some(id) = call.id else {
        return status_only(StatusCode::ACCEPTED);
    };
    let bad = |code, message| rpc_error(StatusCode::BAD_REQUEST, Some(id), code, message);
    match headers.get(&PROTOCOL_VERSION).map(HeaderValue::as_bytes) {
        None => {}
        // 2026-07-28 makes `_meta`'s protocol version required: without it
        // the request is malformed.
        Some(v) if v == STATELESS_VERSION.as_bytes() => {
            let message = "Invalid params: MCP-Protocol-Version is 2026-07-28 but params._meta has no protocol version";
            return bad(INVALID_PARAMS, message);
        }
        Some(v) if SESSION_VERSIONS.iter().any(|s| s.as_bytes() == v) => {}
        Some(_) => return bad(INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version"),
    }
    if call.method == "initialize" {
        // A fresh session every time, even if the client sent an old id:
        // that is how clients recover from a 404.
        shared.opts.calls.record("initialize");
        let (version, result) = tools::initialize(call.params.protocol_version.as_deref(), shared.opts.conformance);
        let session = shared.sessions.open(version);
        shared.latency().await;
        let mut response = answer(shared, id, None, Ok(Plan::Ready(result))).await;
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert(SESSION_ID.clone(), value);
        }
        return response;
    }
    if call.method == "server/discover" && checks::session_id(headers).is_none() {
        // A discovery probe without 2026 `_meta`: answer as a legacy server
        // does, which rmcp's auto mode reads as "fall back to initialize".
        return bad(METHOD_NOT_FOUND, "Method not found");
    }
    if let Err(refusal) = check_session(shared, headers) {
        return refusal.response();
    }
    dispatch(shared, id, checks::session_id(headers), &call, Era::Session).await
}

async fn stateless(shared: &Arc<Shared>, headers: &HeaderMap, call: &Call<'_>, version: &str) -> Response<MockBody> {
    let Some(id) = call.id else {
        return status_only(StatusCode::ACCEPTED);
    };
    let mismatch = |message: &str| {
        let message = format!("Header mismatch: {message}");
        rpc_error(StatusCode::BAD_REQUEST, Some(id), HEADER_MISMATCH, &message)
    };
    match checks::mirrored(headers, &PROTOCOL_VERSION) {
        Ok(Some(v)) if v == version => {}
        Ok(Some(_)) => return mismatch("MCP-Protocol-Version does not match params._meta"),
        Ok(None) => return mismatch("missing MCP-Protocol-Version header"),
        Err(e) => return mismatch(e),
    }
    if version != STATELESS_VERSION {
        let data = tools::unsupported_version_data(version);
        let message = "Unsupported protocol version";
        return rpc_error_data(StatusCode::BAD_REQUEST, Some(id), UNSUPPORTED_VERSION, message, &data);
    }
    // 2026-07-28 requires the client's capabilities on every request (its
    // info is only a SHOULD): without them the request is malformed.
    if call.params.meta.as_ref().is_none_or(|m| m.client_capabilities.is_none()) {
        let message = "Invalid params: params._meta has no io.modelcontextprotocol/clientCapabilities";
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), INVALID_PARAMS, message);
    }
    match checks::mirrored(headers, &METHOD) {
        Ok(Some(m)) if m == call.method => {}
        Ok(Some(_)) => return mismatch("Mcp-Method does not match the body's method"),
        Ok(None) => return mismatch("missing Mcp-Method header"),
        Err(e) => return mismatch(e),
    }
    if let Some(expected) = call.params.mirrored_name(&call.method) {
        match checks::mirrored(headers, &NAME) {
            Ok(Some(n)) if n == expected => {}
            Ok(Some(_)) => return mismatch("Mcp-Name does not match the body"),
            Ok(None) => return mismatch("missing Mcp-Name header"),
            Err(e) => return mismatch(e),
        }
    }
    if shared.opts.conformance
        && call.method == "tools/call"
        && let Err(e) = fixture::check_param_headers(headers, &call.params)
    {
        return mismatch(&e);
    }
    if call.method == "subscriptions/listen" {
        return listen(shared, id);
    }
    dispatch(shared, id, None, call, Era::Stateless).await
}

/// `subscriptions/listen`: acknowledged, honouring nothing (the mock
/// announces no list changes and offers no subscriptions in this era), then
/// kept open.
fn listen(shared: &Arc<Shared>, id: &RawValue) -> Response<MockBody> {
    shared.opts.calls.record("subscriptions/listen");
    let ack = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{{"notifications":{{}},"_meta":{{"io.modelcontextprotocol/subscriptionId":{}}}}}}}"#,
        id.get()
    );
    super::http::long_lived_stream(shared, Bytes::from(format!("event: message\ndata: {ack}\n\n")))
}

/// Runs one validated request: latency, injected failures, then the core.
/// `session` is the session-era caller, whom a tool may ask mid-call.
async fn dispatch(
    shared: &Arc<Shared>,
    id: &RawValue,
    session: Option<&str>,
    call: &Call<'_>,
    era: Era,
) -> Response<MockBody> {
    shared.latency().await;
    if call.method == "tools/call" && injected_failure(shared.opts.error_rate) {
        let message = "Internal error (injected by --error-rate)";
        return rpc_error(StatusCode::INTERNAL_SERVER_ERROR, Some(id), INTERNAL_ERROR, message);
    }
    let plan = tools::handle(&call.method, &call.params, era, &shared.opts);
    let status = match &plan {
        // The stateless era answers an unknown method with 404, and a
        // request that needs an undeclared capability with 400; a session
        // era 404 would mean "session gone", so there errors stay a 200.
        Err(e) if era == Era::Stateless && e.code == METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        Err(e) if era == Era::Stateless && e.code == MISSING_CAPABILITY => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    match plan {
        Err(e) if status != StatusCode::OK => {
            json_response(status, error_body_with_data(Some(id), e.code, &e.message, e.data.as_ref()))
        }
        plan => answer(shared, id, session, plan).await,
    }
}

fn injected_failure(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

/// Answers with JSON or SSE. A plan that sends notifications or asks the
/// client streams from a task, so each message leaves as its own event as
/// soon as it is made.
async fn answer(
    shared: &Arc<Shared>,
    id: &RawValue,
    session: Option<&str>,
    plan: Result<Plan, tools::RpcError>,
) -> Response<MockBody> {
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            let body = error_body_with_data(Some(id), e.code, &e.message, e.data.as_ref());
            return match shared.opts.json_only {
                true => json_response(StatusCode::OK, body),
                false => sse_response(MockBody::full(shared.sse_event(&body))),
            };
        }
    };
    if shared.opts.json_only {
        let result = execute(plan, &mut Silent).await.unwrap_or_default();
        return json_response(StatusCode::OK, result_body(id, &result));
    }
    if let Plan::Progress(_) | Plan::Announce(..) | Plan::Notes(..) | Plan::Ask(_) = plan {
        let (tx, rx) = mpsc::channel(16);
        let mut sink = SseSink { shared: shared.clone(), tx, session: session.map(Into::into) };
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Some(result) = execute(plan, &mut sink).await {
                let event = sink.shared.sse_event(&result_body(&id, &result));
                let _ = sink.tx.send(event).await;
            }
        });
        return sse_response(MockBody::Stream(rx));
    }
    let result = execute(plan, &mut Silent).await.unwrap_or_default();
    sse_response(MockBody::full(shared.sse_event(&result_body(id, &result))))
}

/// Notifications, and requests to the client, as SSE events on the
/// request's stream.
struct SseSink {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Bytes>,
    /// Who may answer this stream's requests.
    session: Option<Box<str>>,
}

impl Notify for SseSink {
    async fn notify(&mut self, message: Bytes) -> bool {
        self.tx.send(self.shared.sse_event(&message)).await.is_ok()
    }

    async fn ask(&mut self, method: &'static str, params: serde_json::Value) -> Option<Reply> {
        // Only a session can answer: its reply comes back as a POST on it.
        let session = self.session.as_deref()?;
        let (id, reply) = self.shared.asks.open(Some(session));
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        if !self.notify(Bytes::from(request)).await {
            self.shared.asks.forget(&id);
            return None;
        }
        let answered = tokio::select! {
            answered = tokio::time::timeout(ASK_TIMEOUT, reply) => answered.ok().and_then(Result::ok),
            // The client hung up: nobody is left to answer.
            () = self.tx.closed() => None,
        };
        if answered.is_none() {
            self.shared.asks.forget(&id);
        }
        answered
    }
}

/// Progress notifications gathered for a batch's single answer.
struct Collect<'a>(&'a mut Vec<Bytes>);

impl Notify for Collect<'_> {
    async fn notify(&mut self, message: Bytes) -> bool {
        self.0.push(message);
        true
    }
}

/// A 2025-03-26 batch: each request answered in order, all in one response.
///
/// Batches are rare (one version allows them), so they are run one request
/// after another, latency once for the batch, and no injected failures.
async fn batch(shared: &Arc<Shared>, headers: &HeaderMap, bytes: &Bytes) -> Response<MockBody> {
    let items: Vec<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(items) => items,
        Err(e) => {
            let (code, message) = match e.is_data() {
                true => (INVALID_REQUEST, "Invalid request"),
                false => (PARSE_ERROR, "Parse error"),
            };
            return rpc_error(StatusCode::BAD_REQUEST, None, code, message);
        }
    };
    let version = match check_session(shared, headers) {
        Ok(version) => version,
        Err(refusal) => return refusal.response(),
    };
    if version != BATCH_VERSION || items.is_empty() {
        let message = "Invalid request: batches are allowed only in 2025-03-26, and not empty";
        return rpc_error(StatusCode::BAD_REQUEST, None, INVALID_REQUEST, message);
    }
    let mut replies = Vec::new();
    let mut latency_paid = false;
    for raw in items {
        let call = match Message::parse_raw(raw) {
            Ok(Message::Request(call)) => call,
            Ok(_) => continue,
            Err(invalid) => {
                replies.push(error_body(None, invalid.code, invalid.message));
                continue;
            }
        };
        let Some(id) = call.id else { continue };
        if !std::mem::replace(&mut latency_paid, true) {
            shared.latency().await;
        }
        let outcome = match call.method.as_ref() {
            "initialize" => Err((INVALID_REQUEST, "initialize must not be batched".into())),
            method => match tools::handle(method, &call.params, Era::Session, &shared.opts) {
                Ok(plan) if shared.opts.json_only => Ok(execute(plan, &mut Silent).await),
                Ok(plan) => Ok(execute(plan, &mut Collect(&mut replies)).await),
                Err(e) => Err((e.code, e.message)),
            },
        };
        replies.push(match outcome {
            Ok(result) => result_body(id, &result.unwrap_or_default()),
            Err((code, message)) => error_body(Some(id), code, &message),
        });
    }
    if replies.is_empty() {
        return status_only(StatusCode::ACCEPTED);
    }
    if shared.opts.json_only {
        let mut out = Vec::with_capacity(replies.iter().map(|r| r.len() + 1).sum::<usize>() + 1);
        out.push(b'[');
        for (i, reply) in replies.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(reply);
        }
        out.push(b']');
        return json_response(StatusCode::OK, Bytes::from(out));
    }
    let events: Vec<u8> = replies.iter().flat_map(|r| shared.sse_event(r)).collect();
    sse_response(MockBody::full(events))
}

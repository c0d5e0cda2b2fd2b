//! Input rounds the other way: a 2026-07-28 server asks a session-era
//! client.
//!
//! A 2026-07-28 server asks by answering `resultType: "input_required"`
//! with `inputRequests` (and a `requestState` to echo); a session-era
//! client expects the server's own requests on the call's stream, and
//! POSTs its answers in its session. The gateway plays the client's part
//! upstream: each input request goes to the client as a request with an id
//! of the gateway's (`sy-up:<nonce>:<key>`, the nonce unguessable, so that
//! only the client shown the question can answer it), the answers are
//! gathered, and the request is sent again with `inputResponses` and the
//! `requestState`, until the server answers for good. The client sees one
//! SSE stream: notifications, the questions, then the result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::relay::{Mapping, Outcome};
use crate::backend::UpstreamRequest;
use crate::front::answer::sse;
use crate::front::is_sse;
use crate::mcp::jsonrpc;
use crate::mcp::rewrite::Line;
use crate::stack::{ProxyBody, ResponseBody, Stack};

/// The prefix of the ids the gateway gives the questions it relays.
const ASK_PREFIX: &str = "sy-up:";

/// Most bytes of one upstream answer, or SSE event, read.
const MAX_ANSWER: usize = 64 << 20;

/// Questions sent to session-era clients, waiting for their answers.
#[derive(Default)]
pub struct Asked {
    waiting: DashMap<String, oneshot::Sender<Answer>>,
}

/// A client's answer to one question: its `result`, or its `error`.
pub type Answer = Result<Box<RawValue>, Box<RawValue>>;

impl Asked {
    /// Hands a client's answer (a JSON-RPC response it POSTed) to the call
    /// that asked; `false` when its id names no question waiting here.
    pub fn answer(&self, body: &[u8]) -> bool {
        let Ok(line) = serde_json::from_slice::<Line>(body) else { return false };
        let Some(id) = line.id.and_then(|id| serde_json::from_str::<String>(id.get()).ok()) else { return false };
        if !id.starts_with(ASK_PREFIX) {
            return false;
        }
        let Some((_, waiter)) = self.waiting.remove(&id) else { return false };
        let answer = match (line.result, line.error) {
            (Some(r), _) => Ok(r.to_owned()),
            (None, Some(e)) => Err(e.to_owned()),
            (None, None) => return false,
        };
        waiter.send(answer).is_ok()
    }
}

/// Everything a call needs to ask and send again.
pub struct Call {
    /// The backend's stack.
    pub stack: Stack,
    /// The request as first sent upstream (the gateway's id, `_meta`
    /// added), which each retry repeats with its answers.
    pub line: Bytes,
    /// A POST to the backend with no body: each retry is a copy.
    pub template: Request<Full<Bytes>>,
    /// The client's method, for the stack's policy.
    pub method: Box<str>,
    /// Maps the upstream's messages back to the client.
    pub mapping: Mapping,
    /// How long the client may take to answer a round's questions.
    pub deadline: Duration,
    /// Where the questions wait for answers.
    pub asked: Arc<Asked>,
}

/// The client's SSE stream for a call whose first answer is `resp`.
pub fn stream(resp: Response<ResponseBody>, call: Call) -> Response<ProxyBody> {
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(drive(resp, call, out));
    sse(ProxyBody::events(rx))
}

async fn drive(mut resp: Response<ResponseBody>, call: Call, out: mpsc::UnboundedSender<Bytes>) {
    loop {
        let reply = match relay_until_reply(resp, &call.mapping, &out).await {
            Some(reply) => reply,
            None => return,
        };
        let Some((requests, state)) = input_required(&reply) else {
            let _ = out.send(reply);
            return;
        };
        let answers = match ask(&call, requests, &out).await {
            Ok(answers) => answers,
            Err(why) => {
                let body = jsonrpc::error_body(Some(&call.mapping.client_id), jsonrpc::INTERNAL_ERROR, &why);
                let _ = out.send(body);
                return;
            }
        };
        // The same upstream id: each retry is a request of its own to a
        // stateless server, and the progress token in `line` is that id.
        let Some(body) = retry_body(&call.line, answers, state) else {
            let why = "the request could not be sent again with its answers";
            let _ = out.send(jsonrpc::error_body(Some(&call.mapping.client_id), jsonrpc::INTERNAL_ERROR, why));
            return;
        };
        let mut req = crate::backend::copy_http(&call.template);
        *req.body_mut() = Full::new(body);
        let policy = call.stack.policy(&call.method, None, true);
        resp = match call.stack.call(UpstreamRequest::new(req, None, policy)).await {
            Ok(resp) => resp,
            Err(e) => {
                let _ = out.send(e.into_response(Some(&call.mapping.client_id)).into_body());
                return;
            }
        };
    }
}

/// Passes the answer's notifications to the client, and returns its reply
/// (already in the client's terms); `None` when the client went away or
/// the answer had no reply (the client was told why).
async fn relay_until_reply(
    resp: Response<ResponseBody>,
    mapping: &Mapping,
    out: &mpsc::UnboundedSender<Bytes>,
) -> Option<Bytes> {
    let (parts, body) = resp.into_parts();
    let body = ProxyBody::stream(body, is_sse(&parts.headers));
    if !is_sse(&parts.headers) {
        let bytes = Limited::new(body, MAX_ANSWER).collect().await.ok()?.to_bytes();
        let line: Line = serde_json::from_slice(&bytes).ok()?;
        if let Outcome::Reply(reply) = mapping.outcome(&line, &bytes) {
            return Some(reply);
        }
        let why = format!("the server answered HTTP {} without a JSON-RPC reply", parts.status);
        let _ = out.send(jsonrpc::error_body(Some(&mapping.client_id), crate::error::codes::BAD_GATEWAY, &why));
        return None;
    }
    let (tx, mut messages) = mpsc::unbounded_channel();
    let each = |m: &str| Some(Bytes::copy_from_slice(m.as_bytes()));
    tokio::spawn(crate::front::reply::each_event(body, tx, MAX_ANSWER, "a bridged server", each));
    while let Some(message) = messages.recv().await {
        let Ok(line) = serde_json::from_slice::<Line>(&message) else { continue };
        match mapping.outcome(&line, &message) {
            Outcome::Reply(reply) => return Some(reply),
            Outcome::Pass(note) => {
                if out.send(note).is_err() {
                    return None;
                }
            }
            Outcome::Ask(..) | Outcome::Drop => {}
        }
    }
    let why = "the server's stream ended without an answer";
    let _ = out.send(jsonrpc::error_body(Some(&mapping.client_id), crate::error::codes::BAD_GATEWAY, why));
    None
}

/// A reply's `inputRequests` and `requestState`, when it is an
/// `input_required` result.
fn input_required(reply: &[u8]) -> Option<(serde_json::Map<String, Value>, Option<Value>)> {
    if !reply.windows(16).any(|w| w == b"\"input_required\"") {
        return None;
    }
    let mut reply: Value = serde_json::from_slice(reply).ok()?;
    let result = reply.get_mut("result")?;
    if result.get("resultType")? != "input_required" {
        return None;
    }
    let requests = result.get_mut("inputRequests")?.as_object_mut().map(std::mem::take)?;
    Some((requests, result.get_mut("requestState").map(Value::take)))
}

/// Sends each question to the client and waits for every answer.
async fn ask(
    call: &Call,
    requests: serde_json::Map<String, Value>,
    out: &mpsc::UnboundedSender<Bytes>,
) -> Result<HashMap<String, Box<RawValue>>, String> {
    let mut pending = Vec::with_capacity(requests.len());
    for (key, request) in requests {
        let nonce = crate::stdio::unguessable().ok_or("no entropy to name the question")?;
        let id = format!("{ASK_PREFIX}{nonce}:{key}");
        let (tx, rx) = oneshot::channel();
        call.asked.waiting.insert(id.clone(), tx);
        let mut message = serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": request.get("method").cloned().unwrap_or_default() });
        if let Some(params) = request.get("params") {
            message["params"] = params.clone();
        }
        if out.send(Bytes::from(serde_json::to_vec(&message).unwrap_or_default())).is_err() {
            call.asked.waiting.remove(&id);
            return Err("the client went away".into());
        }
        pending.push((key, id, rx));
    }
    let mut answers = HashMap::with_capacity(pending.len());
    for (key, id, rx) in pending {
        let answer = tokio::time::timeout(call.deadline, rx).await;
        call.asked.waiting.remove(&id);
        match answer {
            Ok(Ok(Ok(result))) => {
                answers.insert(key, result);
            }
            Ok(Ok(Err(error))) => return Err(format!("the client refused the server's request: {}", error.get())),
            Ok(Err(_)) => return Err("the question was dropped".into()),
            Err(_) => return Err(format!("the client did not answer within {:?}", call.deadline)),
        }
    }
    Ok(answers)
}

/// `line` again, with the answers and the state.
fn retry_body(line: &[u8], answers: HashMap<String, Box<RawValue>>, state: Option<Value>) -> Option<Bytes> {
    let mut body: Value = serde_json::from_slice(line).ok()?;
    let params = body.get_mut("params")?.as_object_mut()?;
    let answers: serde_json::Map<String, Value> =
        answers.into_iter().filter_map(|(k, v)| Some((k, serde_json::from_str(v.get()).ok()?))).collect();
    params.insert("inputResponses".into(), answers.into());
    match state {
        Some(state) => params.insert("requestState".into(), state),
        None => params.remove("requestState"),
    };
    serde_json::to_vec(&body).ok().map(Bytes::from)
}

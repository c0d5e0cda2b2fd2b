//! Input rounds across the bridge: a session-era server asks a 2026-07-28
//! client for input.
//!
//! A session-era server asks (sampling, elicitation, roots) with a request
//! of its own on the call's SSE stream, and waits for the answer POSTed in
//! its session. A 2026-07-28 client cannot be asked that way: its round
//! ends with an `input_required` result, and it sends the request again
//! with `inputResponses`. The gateway bridges the two as it does for stdio
//! children, with the same table of parked calls
//! ([`crate::stdio::Parked`]): the upstream stream is the call that waits,
//! read on by a task of its own, and the client's retry is answered with
//! what the server sends next (its result, or the next question).
//!
//! A parked call waits at most the backend's `timeout` (the stack's
//! deadline bounds the upstream stream anyway); then it is abandoned: the
//! stream is dropped and the server told `notifications/cancelled`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::relay::{Mapping, Outcome};
use crate::backend::UpstreamRequest;
use crate::error::GatewayError;
use crate::front::answer::sse;
use crate::mcp::jsonrpc;
use crate::mcp::rewrite::Line;
use crate::stack::{ProxyBody, ResponseBody, Stack};
use crate::stdio::{Parkable, Parked, server_request_for_client, unguessable};
use crate::table::Instance;

/// Most bytes of one SSE event of a bridged call read.
const MAX_EVENT: usize = 64 << 20;

/// Where a bridged call sends its answers and its cancellation: the
/// upstream session, as a request the gateway built for it.
#[derive(Clone)]
pub struct Upstream {
    /// The backend's stack.
    pub stack: Stack,
    /// The instance the session lives on.
    pub instance: Arc<Instance>,
    /// A POST in the session, body empty: each message is sent as a copy.
    pub template: Arc<Request<Full<Bytes>>>,
}

impl Upstream {
    /// POSTs `body` (a response to the server's request, a notification)
    /// in the session; its 202 says nothing worth reading.
    async fn send(&self, body: Bytes) -> Result<(), GatewayError> {
        let mut req = crate::backend::copy_http(&self.template);
        *req.body_mut() = Full::new(body);
        let policy = self.stack.policy("notifications/initialized", None, true);
        let resp = self.stack.call(UpstreamRequest::new(req, Some(self.instance.clone()), policy)).await?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(GatewayError::UpstreamFailed(format!("the server answered {} to the input", resp.status()))),
        }
    }
}

/// A bridged call waiting upstream: the messages of its stream, in order.
pub struct BridgedCall {
    messages: mpsc::UnboundedReceiver<Bytes>,
    reader: AbortHandle,
    mapping: Mapping,
    deadline: Duration,
    upstream: Upstream,
}

impl Parkable for BridgedCall {
    fn id(&self) -> &RawValue {
        &self.mapping.client_id
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn abandon(self, reason: &str) {
        self.reader.abort();
        let cancel = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{},"reason":{}}}}}"#,
            self.mapping.upstream_id,
            serde_json::Value::from(reason)
        );
        let upstream = self.upstream;
        tokio::spawn(async move {
            let _ = upstream.send(Bytes::from(cancel)).await;
        });
    }
}

/// What a round needs beside the call.
#[derive(Clone)]
pub struct Rounds {
    /// The parked bridged calls.
    pub parked: Arc<Parked<BridgedCall>>,
    /// The client's method, which a retry must repeat.
    pub method: Arc<str>,
}

/// The first round of a call whose upstream answered with a stream.
pub fn first(
    body: ResponseBody,
    mapping: Mapping,
    deadline: Duration,
    upstream: Upstream,
    rounds: Rounds,
) -> Response<ProxyBody> {
    let (tx, messages) = mpsc::unbounded_channel();
    let body = ProxyBody::stream(body, true);
    let reader = tokio::spawn(async move {
        let each = |m: &str| Some(Bytes::copy_from_slice(m.as_bytes()));
        crate::front::reply::each_event(body, tx, MAX_EVENT, "a bridged server", each).await;
    })
    .abort_handle();
    round(BridgedCall { messages, reader, mapping, deadline, upstream }, rounds)
}

/// A retry's round: the client's answer goes upstream, and the retry gets
/// what the server sends next.
pub async fn resume(
    mut call: BridgedCall,
    answer: Bytes,
    id: Box<RawValue>,
    rounds: Rounds,
) -> Result<Response<ProxyBody>, GatewayError> {
    call.mapping.client_id = id;
    if let Err(e) = call.upstream.send(answer).await {
        call.abandon("the client's input could not be delivered");
        return Err(e);
    }
    Ok(round(call, rounds))
}

/// Parks `call` again, its question `ask` unanswered by the retry.
pub fn ask_again(call: BridgedCall, ask: Bytes, rounds: &Rounds) -> Result<Bytes, GatewayError> {
    rounds.parked.park(call, &rounds.method, ask)
}

/// One round, as SSE: the server's notifications as they come, then its
/// result, or an `input_required` result when it asks.
fn round(call: BridgedCall, rounds: Rounds) -> Response<ProxyBody> {
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(drive(call, out, rounds));
    sse(ProxyBody::events(rx))
}

async fn drive(mut call: BridgedCall, out: mpsc::UnboundedSender<Bytes>, rounds: Rounds) {
    let expiry = tokio::time::sleep(call.deadline);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            message = call.messages.recv() => {
                let Some(message) = message else {
                    let why = "the server's stream ended without an answer";
                    let _ = out.send(jsonrpc::error_body(Some(&call.mapping.client_id), jsonrpc::INTERNAL_ERROR, why));
                    return;
                };
                let Ok(line) = serde_json::from_slice::<Line>(&message) else { continue };
                let ask = match call.mapping.outcome(&line, &message) {
                    Outcome::Reply(reply) => {
                        let _ = out.send(reply);
                        return;
                    }
                    Outcome::Pass(note) => {
                        if out.send(note).is_err() {
                            call.abandon("the client went away");
                            return;
                        }
                        continue;
                    }
                    Outcome::Drop => continue,
                    Outcome::Ask(id, method, params) => {
                        unguessable().map(|nonce| server_request_for_client(0, &nonce, id, method, params))
                    }
                };
                let id = call.mapping.client_id.clone();
                let body = match ask {
                    Some(ask) => ask_again(call, ask, &rounds).unwrap_or_else(|e| e.into_response(Some(&id)).into_body()),
                    None => {
                        call.abandon("the gateway could not ask the client");
                        jsonrpc::error_body(Some(&id), jsonrpc::INTERNAL_ERROR, "could not ask for input")
                    }
                };
                let _ = out.send(body);
                return;
            }
            _ = &mut expiry => {
                let msg = format!("upstream did not answer within {:?}", call.deadline);
                let _ = out.send(jsonrpc::error_body(Some(&call.mapping.client_id), crate::error::codes::GATEWAY_TIMEOUT, &msg));
                call.abandon("deadline exceeded");
                return;
            }
            _ = out.closed() => {
                call.abandon("the client went away");
                return;
            }
        }
    }
}

//! Input rounds: a 2026-07-28 client asked for input by a session-era child.
//!
//! A session-era child asks for sampling, elicitation or roots with a
//! request of its own, in the middle of a call. The 2026-07-28 era forbids
//! that on a response stream: a server answers `resultType:
//! "input_required"` with `inputRequests` instead, and the client sends the
//! request again with `inputResponses` and the `requestState` it was given
//! (multi round-trip requests). The gateway bridges the two:
//!
//! 1. the child's request ends the client's round with an `input_required`
//!    result that carries it, keyed by the id the gateway gives server
//!    requests (`sy:<slot>:<id>`), and a `requestState`;
//! 2. the child's call stays pending, parked here under that state;
//! 3. the client's retry names the state: its `inputResponses` entry goes to
//!    the child as the answer, and the retry is answered with the child's
//!    eventual result, or the next `input_required` if it asks again.
//!
//! The state is a random 128-bit handle, not a sealed record: the call it
//! names lives in this gateway's process, so a retry that reaches another
//! replica has nothing to resume anyway, and a handle nobody can guess
//! cannot be forged or tampered with. A retry must repeat the method of the
//! call it resumes. A parked call waits at most the backend's `timeout`,
//! kept by one timer that is stopped when the call is taken (a client that
//! retries without the answer parks again, with a fresh timer, not a second
//! one); then the child is told to cancel it, so a client that never
//! retries leaves nothing behind. Parked calls hold no HTTP request, so
//! `max_in_flight` does not see them: a backend parks at most its
//! `max_in_flight` (or [`MAX_PARKED`]) calls, and refuses more with the
//! same 503 admission error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::task::AbortHandle;

use super::answer::Call;
use super::wire::{self, Line};
use crate::error::GatewayError;
use crate::mcp::jsonrpc;

/// How many calls a backend without `max_in_flight` parks at most.
pub const MAX_PARKED: usize = 1024;

/// The client requests a server may answer with `input_required`.
pub const ROUND_METHODS: &[&str] = &["tools/call", "prompts/get", "resources/read"];

/// Where a call whose client is asked through `input_required` waits
/// between rounds.
#[derive(Clone)]
pub struct Rounds {
    /// The backend's parked calls.
    pub parked: Arc<Parked<Call>>,
    /// The client's method, which a retry must repeat.
    pub method: Arc<str>,
}

/// A call that can wait between rounds: a child's, or a bridged HTTP
/// call's upstream stream (`front::bridge`).
pub trait Parkable: Send + 'static {
    /// The id of the client request the round answers.
    fn id(&self) -> &RawValue;
    /// How long it may wait for the client's retry.
    fn deadline(&self) -> Duration;
    /// Ends it upstream: the client never came back (`reason` says why).
    fn abandon(self, reason: &str);
}

/// Calls waiting for their client's next round, by `requestState`.
pub struct Parked<C: Parkable = Call> {
    calls: Mutex<HashMap<String, Waiting<C>>>,
    /// The backend's name, for the refusal past `cap`.
    backend: Arc<str>,
    /// How many calls may wait at once.
    cap: usize,
}

/// A parked call and the question it waits on.
pub struct Waiting<C: Parkable = Call> {
    /// The call, still pending upstream.
    pub call: C,
    /// The client's method, which the retry must repeat.
    method: Box<str>,
    /// The server request as the client was shown it, to ask again.
    ask: Bytes,
    /// Its one timer, stopped when the call is taken.
    timer: AbortHandle,
}

/// What became of a retry's answer.
pub enum Answered<C: Parkable = Call> {
    /// The retry carries it: the answer for the server, which the caller
    /// delivers; the call then waits for what the server does next.
    Sent(C, wire::ClientAnswer),
    /// The retry lacks it; the spec asks a server to ask again, with this
    /// question.
    Missing(C, Bytes),
}

/// What a retry carries.
#[derive(Deserialize)]
pub struct Retry<'a> {
    #[serde(borrow)]
    params: RetryParams<'a>,
}

#[derive(Deserialize)]
struct RetryParams<'a> {
    #[serde(rename = "requestState")]
    state: std::borrow::Cow<'a, str>,
    #[serde(borrow, default, rename = "inputResponses")]
    responses: Option<HashMap<String, &'a RawValue>>,
}

// === impl Parked ===

impl<C: Parkable> Parked<C> {
    /// None yet, for `backend`, which parks at most `cap` calls.
    pub fn new(backend: Arc<str>, cap: usize) -> Self {
        Self { calls: Mutex::new(HashMap::new()), backend, cap }
    }

    /// Parks `call`, asked `ask` (a server request as a client would see
    /// it), and returns the `input_required` answer to the client's round;
    /// past the cap, the call ends and the client gets the admission error.
    pub fn park(self: &Arc<Self>, call: C, method: &str, ask: Bytes) -> Result<Bytes, GatewayError> {
        // `ask` was written by the reader, so it parses, and the OS has an
        // entropy source; if not, the call cannot be parked, and ends.
        let (Some(requests), Some(state)) = (input_requests(&ask), wire::unguessable()) else {
            let body = jsonrpc::error_body(Some(call.id()), jsonrpc::INTERNAL_ERROR, "could not ask for input");
            call.abandon("the gateway could not ask the client");
            return Ok(body);
        };
        let Ok(mut calls) = self.calls.lock() else {
            call.abandon("the gateway could not park the call");
            return Err(GatewayError::UpstreamFailed("the table of parked calls is poisoned".into()));
        };
        if calls.len() >= self.cap {
            drop(calls);
            call.abandon("too many calls wait for their clients' input");
            return Err(GatewayError::Shed { backend: self.backend.clone(), retry_after: Duration::from_secs(1) });
        }
        let body = input_required(call.id(), &requests, &state);
        let deadline = call.deadline();
        let parked = self.clone();
        let key = state.clone();
        // Spawned under the lock: the timer cannot look for the call before
        // it is in the table.
        let timer = tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            if let Some(waiting) = parked.calls.lock().ok().and_then(|mut c| c.remove(&key)) {
                waiting.call.abandon("the client never answered the input request");
            }
        })
        .abort_handle();
        calls.insert(state, Waiting { call, method: method.into(), ask, timer });
        Ok(body)
    }

    /// Takes the call a retry of `method` resumes.
    pub fn take(&self, state: &str, method: &str) -> Result<Waiting<C>, GatewayError> {
        let mut calls = self.calls.lock().map_err(|_| expired())?;
        match calls.get(state) {
            None => Err(expired()),
            Some(w) if &*w.method != method => Err(GatewayError::InvalidRequest(format!(
                "requestState belongs to a `{}` request, not `{method}`",
                w.method
            ))),
            Some(_) => {
                let waiting = calls.remove(state).ok_or_else(expired)?;
                waiting.timer.abort();
                Ok(waiting)
            }
        }
    }

    /// How many calls wait for a round of input, for `/health`.
    pub fn waiting(&self) -> usize {
        self.calls.lock().map_or(0, |c| c.len())
    }
}

// === impl Waiting ===

impl<C: Parkable> Waiting<C> {
    /// Reads the answer to the server's question from the retry's
    /// `inputResponses`.
    pub fn answer(self, retry: &Retry<'_>) -> Answered<C> {
        let key = serde_json::from_slice::<Line>(&self.ask)
            .ok()
            .and_then(|l| serde_json::from_str::<String>(l.id?.get()).ok());
        let found = key.as_deref().and_then(|k| Some((k, *retry.params.responses.as_ref()?.get(k)?)));
        let answer = found.and_then(|(k, result)| {
            let to = wire::server_request_id(k)?;
            let line = wire::answer_line(&to.server_id, Some(result), None)?;
            Some(wire::ClientAnswer { to, line })
        });
        match answer {
            Some(answer) => Answered::Sent(self.call, answer),
            None => Answered::Missing(self.call, self.ask),
        }
    }
}

/// Refuses a request whose `inputResponses` is there but not an object
/// (`null`, a number): a protocol error the server the gateway speaks for
/// would refuse, not a request to run afresh.
pub fn check_input_responses(body: &[u8]) -> Result<(), GatewayError> {
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, default, rename = "inputResponses", deserialize_with = "present")]
        responses: Option<&'a RawValue>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
        <&RawValue>::deserialize(d).map(Some)
    }
    if !body.windows(16).any(|w| w == b"\"inputResponses\"") {
        return Ok(());
    }
    let responses = serde_json::from_slice::<Body>(body).ok().and_then(|b| b.params?.responses);
    let Some(responses) = responses else { return Ok(()) };
    // An object of answers, each an object (a result).
    let answers = serde_json::from_str::<HashMap<String, &RawValue>>(responses.get()).ok();
    match answers {
        Some(answers) if answers.values().all(|a| a.get().trim_start().starts_with('{')) => Ok(()),
        _ => Err(GatewayError::InvalidParams(
            "inputResponses must be an object whose every answer is an object, by request key".into(),
        )),
    }
}

// === impl Retry ===

impl<'a> Retry<'a> {
    /// The retry in a request body, when it carries a `requestState`.
    pub fn of(body: &'a [u8]) -> Option<Retry<'a>> {
        if !body.windows(14).any(|w| w == b"\"requestState\"") {
            return None;
        }
        serde_json::from_slice(body).ok()
    }

    /// The state it names.
    pub fn state(&self) -> &str {
        &self.params.state
    }
}

fn expired() -> GatewayError {
    GatewayError::InvalidRequest(
        "requestState names no request waiting for input here: it expired, or was answered already; send the request again without it"
            .into(),
    )
}

/// `{"<id>": {"method": …, "params": …}}` from a server request as a client
/// would see it.
fn input_requests(ask: &[u8]) -> Option<Box<RawValue>> {
    let line: Line = serde_json::from_slice(ask).ok()?;
    let key: String = serde_json::from_str(line.id?.get()).ok()?;
    let mut request = serde_json::Map::new();
    request.insert("method".into(), serde_json::to_value(line.method?).ok()?);
    if let Some(params) = line.params {
        request.insert("params".into(), serde_json::from_str(params.get()).ok()?);
    }
    let mut requests = serde_json::Map::new();
    requests.insert(key, request.into());
    serde_json::value::to_raw_value(&requests).ok()
}

/// The client's answer for this round: input is required.
fn input_required(id: &RawValue, requests: &RawValue, state: &str) -> Bytes {
    let mut result = b"{\"resultType\":\"input_required\",\"inputRequests\":".to_vec();
    result.extend_from_slice(requests.get().as_bytes());
    result.extend_from_slice(b",\"requestState\":");
    serde_json::to_writer(&mut result, state).unwrap_or_default();
    result.push(b'}');
    jsonrpc::result_body(id, &result)
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;

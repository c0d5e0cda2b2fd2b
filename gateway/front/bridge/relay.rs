//! A bridged call's answer, on its way back to the client.
//!
//! The request went upstream under an id of the gateway's (and with its
//! `progressToken` replaced by the same id), so each message of the answer
//! is read: the response gets the client's id back and the fields of the
//! client's era, progress gets the client's token back, other
//! notifications pass as they are. An SSE answer is translated event by
//! event as it arrives, so progress is not held back until the end.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::error::GatewayError;
use crate::front::answer::{json, sse};
use crate::front::is_sse;
use crate::front::reply::each_event;
use crate::mcp::rewrite::{Line, Patch, progress_for_client, progress_token, reply_for_client};
use crate::stack::{ProxyBody, ResponseBody};

/// Most bytes of a JSON answer, or of one SSE event, read.
const MAX_MESSAGE: usize = 64 << 20;

/// What maps the upstream's messages back to the client's.
pub struct Mapping {
    /// The id the request went upstream with.
    pub upstream_id: u64,
    /// The client's own id.
    pub client_id: Box<RawValue>,
    /// The client's `progressToken`, when it sent one.
    pub token: Option<Box<RawValue>>,
    /// How the result is adjusted for the client's era.
    pub patch: Patch,
}

/// What one upstream message is to the client.
pub enum Outcome<'a> {
    /// The answer to the request, as the client gets it.
    Reply(Bytes),
    /// A notification for the client (progress with its own token).
    Pass(Bytes),
    /// A request of the server's own: its id, method and params.
    Ask(&'a RawValue, &'a str, Option<&'a RawValue>),
    /// Nothing for this client.
    Drop,
}

impl Mapping {
    /// What `message` is to the client.
    pub fn outcome<'a>(&self, line: &'a Line<'a>, message: &[u8]) -> Outcome<'a> {
        match (&line.method, line.id) {
            (None, Some(id)) if id.get().parse::<u64>().ok() == Some(self.upstream_id) => {
                Outcome::Reply(reply_for_client(&self.client_id, line.result, line.error, self.patch))
            }
            (Some(method), None) if method == "notifications/progress" => {
                let translated = line.params.and_then(|params| match (&self.token, progress_token(params)) {
                    (Some(token), Some(t)) if t == self.upstream_id => progress_for_client(params, token),
                    _ => None,
                });
                translated.map_or(Outcome::Drop, Outcome::Pass)
            }
            (Some(_), None) => Outcome::Pass(Bytes::copy_from_slice(message)),
            (Some(method), Some(id)) => Outcome::Ask(id, method, line.params),
            _ => Outcome::Drop,
        }
    }

    /// One upstream message as the client gets it, where no server request
    /// can be relayed; `None` for what the client must not see.
    fn translate(&self, message: &[u8]) -> Option<Bytes> {
        let line: Line = serde_json::from_slice(message).ok()?;
        match self.outcome(&line, message) {
            Outcome::Reply(b) | Outcome::Pass(b) => Some(b),
            Outcome::Ask(_, method, _) => {
                tracing::debug!(method, "a bridged server's own request is not relayed here");
                None
            }
            Outcome::Drop => None,
        }
    }
}

/// The client's answer from the upstream's. `found_is_ok`: a 404 is the
/// stateless era's "unknown method", which a session-era client would read
/// as "session gone", so it reaches that client as a 200 with its error.
pub async fn relay(
    resp: Response<ResponseBody>,
    mapping: Mapping,
    not_found_is_ok: bool,
) -> Result<Response<ProxyBody>, GatewayError> {
    let (parts, body) = resp.into_parts();
    let status = match parts.status {
        StatusCode::NOT_FOUND if not_found_is_ok => StatusCode::OK,
        s => s,
    };
    if is_sse(&parts.headers) {
        let (tx, rx) = mpsc::unbounded_channel();
        let body = ProxyBody::stream(body, true);
        tokio::spawn(async move {
            let each = |m: &str| mapping.translate(m.as_bytes());
            each_event(body, tx, MAX_MESSAGE, "a bridged server", each).await;
        });
        let mut out = sse(ProxyBody::events(rx));
        *out.status_mut() = status;
        return Ok(out);
    }
    let bytes = Limited::new(body, MAX_MESSAGE)
        .collect()
        .await
        .map_err(|e| GatewayError::UpstreamFailed(format!("reading a bridged answer: {e}")))?
        .to_bytes();
    let json_body =
        parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut out = match mapping.translate(&bytes) {
        Some(reply) if json_body => json(reply),
        // Not a JSON-RPC answer (an empty 202, a proxy's HTML error page):
        // passed on as it came.
        _ => {
            let mut out = Response::new(ProxyBody::full(bytes));
            if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
                out.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            out
        }
    };
    *out.status_mut() = status;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(token: Option<&str>) -> Mapping {
        Mapping {
            upstream_id: 41,
            client_id: RawValue::from_string("\"c-1\"".into()).unwrap(),
            token: token.map(|t| RawValue::from_string(t.into()).unwrap()),
            patch: Patch::Stateless,
        }
    }

    fn value(b: Bytes) -> serde_json::Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn the_answer_gets_the_clients_id_and_era() {
        let m = mapping(None);
        let reply = value(m.translate(br#"{"jsonrpc":"2.0","id":41,"result":{"content":[]}}"#).unwrap());
        assert_eq!(reply["id"], "c-1");
        assert_eq!(reply["result"]["resultType"], "complete");
        let error = value(m.translate(br#"{"jsonrpc":"2.0","id":41,"error":{"code":-32602,"message":"x"}}"#).unwrap());
        assert_eq!(error["error"]["code"], -32602);
        assert!(m.translate(br#"{"jsonrpc":"2.0","id":40,"result":{}}"#).is_none(), "another request's answer");
    }

    #[test]
    fn progress_gets_the_clients_token_and_server_requests_stay_upstream() {
        let m = mapping(Some("\"tok\""));
        let progress =
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":41,"progress":1}}"#;
        assert_eq!(value(m.translate(progress).unwrap())["params"]["progressToken"], "tok");
        let other = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}"#;
        assert!(m.translate(other).is_none());
        let log = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
        assert_eq!(value(m.translate(log).unwrap())["method"], "notifications/message");
        let ask = br#"{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}"#;
        assert!(m.translate(ask).is_none());
        assert!(m.translate(b"not json").is_none());
    }
}

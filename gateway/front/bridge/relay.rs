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
    /// For a 2026-07-28 client's `resources/read` across the bridge: its
    /// URI, which that era's "resource not found" (-32602, not the session
    /// era's -32002) carries in `data`.
    pub read_uri: Option<Box<str>>,
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
                let renamed = self.read_uri.as_deref().and_then(|uri| not_found_for_2026(line.error?, uri));
                let error = renamed.as_deref().or(line.error);
                Outcome::Reply(reply_for_client(&self.client_id, line.result, error, self.patch))
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

/// The session era's "resource not found" (-32002) as 2026-07-28 says it:
/// -32602, with the URI in `data`. `None` for any other error.
fn not_found_for_2026(error: &RawValue, uri: &str) -> Option<Box<RawValue>> {
    let mut e: serde_json::Value = serde_json::from_str(error.get()).ok()?;
    if e.get("code")?.as_i64()? != -32002 {
        return None;
    }
    e["code"] = crate::mcp::jsonrpc::INVALID_PARAMS.into();
    e["data"] = serde_json::json!({ "uri": uri });
    serde_json::value::to_raw_value(&e).ok()
}

/// Which way a bridged answer crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// A 2026-07-28 client: an unknown method is HTTP 404, as that era's
    /// servers answer it.
    Stateless,
    /// A session-era client: a 404 is "session gone" to it, so the
    /// stateless server's 404 for an unknown method reaches it as a 200.
    Session,
}

/// The client's answer from the upstream's: one JSON message when the
/// answer is the reply alone, else SSE, translated event by event.
pub async fn relay(
    resp: Response<ResponseBody>,
    mapping: Mapping,
    toward: Toward,
) -> Result<Response<ProxyBody>, GatewayError> {
    let (parts, body) = resp.into_parts();
    let status = match parts.status {
        StatusCode::NOT_FOUND if toward == Toward::Session => StatusCode::OK,
        s => s,
    };
    // The reply starts as `reply_for_client` writes it: read without parsing.
    let reply = ReplyShape::of(&mapping.client_id);
    if is_sse(&parts.headers) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let body = ProxyBody::stream(body, true);
        tokio::spawn(async move {
            let each = |m: &str| mapping.translate(m.as_bytes());
            each_event(body, tx, MAX_MESSAGE, "a bridged server", each).await;
        });
        // Headers wait for the first message: when it is the reply, the
        // answer is that one message, with the status its error calls for.
        let Some(first) = rx.recv().await else {
            return Err(GatewayError::UpstreamFailed("the bridged server's stream ended without an answer".into()));
        };
        if reply.is(&first) {
            let status = reply.status(status, &first, toward);
            let mut out = json(first);
            *out.status_mut() = status;
            return Ok(out);
        }
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let _ = out_tx.send(first);
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if out_tx.send(m).is_err() {
                    return;
                }
            }
        });
        let mut out = sse(ProxyBody::events(out_rx));
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
        Some(translated) if json_body => {
            let status = reply.status(status, &translated, toward);
            let mut out = json(translated);
            *out.status_mut() = status;
            return Ok(out);
        }
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

/// How the client's reply begins, as `reply_for_client` writes it.
struct ReplyShape(Vec<u8>);

impl ReplyShape {
    fn of(id: &RawValue) -> Self {
        Self(format!(r#"{{"jsonrpc":"2.0","id":{},"#, id.get()).into_bytes())
    }

    /// Whether a translated message is the reply (notifications have no id).
    fn is(&self, message: &[u8]) -> bool {
        message.starts_with(&self.0)
    }

    /// The status of a one-message answer: a 2026-07-28 client's unknown
    /// method is 404, as that era's servers answer it.
    fn status(&self, status: StatusCode, reply: &[u8], toward: Toward) -> StatusCode {
        let error = reply.get(self.0.len()..).is_some_and(|rest| rest.starts_with(b"\"error\""));
        if toward != Toward::Stateless || !error || !self.is(reply) {
            return status;
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            error: Code,
        }
        #[derive(serde::Deserialize)]
        struct Code {
            code: i64,
        }
        match serde_json::from_slice::<Reply>(reply) {
            Ok(r) if r.error.code == i64::from(crate::mcp::jsonrpc::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
            _ => status,
        }
    }
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
            read_uri: None,
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

//! The JSON-RPC lines exchanged with a child: the rewriting every shared
//! upstream needs (ids, progress tokens, `_meta`, results) is
//! [`crate::mcp::rewrite`]'s; the server's own requests, relayed to a
//! client and answered, are here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::value::RawValue;

pub use crate::mcp::rewrite::{Line, Meta, Patch, progress_for_client, progress_token, reply_for_client, request_line};

/// Prefix of the ids the gateway gives requests from a server.
const SERVER_REQUEST_PREFIX: &str = "sy:";

/// What the id the gateway gave a server request names.
#[derive(Debug)]
pub struct ServerRequestId {
    /// The pool slot (or `per_session` key) of the process that asked.
    pub slot: usize,
    /// The random part: only the client that was shown the question knows it.
    pub nonce: String,
    /// The server's own id, as JSON.
    pub server_id: Box<RawValue>,
}

/// A server's request as the client sees it: its id becomes
/// `"sy:<slot>:<nonce>:<the server's id as JSON>"`. The slot and the
/// server's id are easy to guess (0, 1, 2 …); the nonce, from
/// [`unguessable`], is not, so only the client shown the question can name it.
pub fn server_request_for_client(
    slot: usize,
    nonce: &str,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) -> Bytes {
    let mut out = b"{\"jsonrpc\":\"2.0\",\"id\":".to_vec();
    serde_json::to_writer(&mut out, &format!("{SERVER_REQUEST_PREFIX}{slot}:{nonce}:{}", id.get())).unwrap_or_default();
    out.extend_from_slice(b",\"method\":");
    serde_json::to_writer(&mut out, method).unwrap_or_default();
    if let Some(p) = params {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(p.get().as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
}

/// 128 random bits from the OS, URL-safe base64 (no `:`): a handle nobody
/// can guess. `None` only when the OS has no entropy source.
pub fn unguessable() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a message for a client is a server request the gateway relayed
/// (it wrote them, so the prefix is exact).
pub fn is_server_request(msg: &[u8]) -> bool {
    msg.starts_with(b"{\"jsonrpc\":\"2.0\",\"id\":\"sy:")
}

/// What an id the gateway gave a server request names. `None` when the id
/// is not one the gateway made.
pub fn server_request_id(id: &str) -> Option<ServerRequestId> {
    let (slot, rest) = id.strip_prefix(SERVER_REQUEST_PREFIX)?.split_once(':')?;
    let (nonce, server_id) = rest.split_once(':')?;
    Some(ServerRequestId {
        slot: slot.parse().ok()?,
        nonce: nonce.to_string(),
        server_id: RawValue::from_string(server_id.to_string()).ok()?,
    })
}

/// The line that answers the server's request `server_id` with `result`
/// or `error`; `None` with neither.
pub fn answer_line(server_id: &RawValue, result: Option<&RawValue>, error: Option<&RawValue>) -> Option<Bytes> {
    let mut line = b"{\"jsonrpc\":\"2.0\",\"id\":".to_vec();
    line.extend_from_slice(server_id.get().as_bytes());
    match (result, error) {
        (Some(r), _) => {
            line.extend_from_slice(b",\"result\":");
            line.extend_from_slice(r.get().as_bytes());
        }
        (None, Some(e)) => {
            line.extend_from_slice(b",\"error\":");
            line.extend_from_slice(e.get().as_bytes());
        }
        (None, None) => return None,
    }
    line.extend_from_slice(b"}\n");
    Some(Bytes::from(line))
}

/// A client's answer to a server request: which question it names, and the
/// line for the child.
pub struct ClientAnswer {
    /// The question, by the id the gateway gave it.
    pub to: ServerRequestId,
    /// The answer with the server's own id, ready for the child.
    pub line: Bytes,
}

/// Reads a client's answer to a server request. `None` when the id is not
/// one the gateway made, or it carries neither `result` nor `error`.
pub fn client_answer_for_server(body: &[u8]) -> Option<ClientAnswer> {
    let msg: Line = serde_json::from_slice(body).ok()?;
    let id: String = serde_json::from_str(msg.id?.get()).ok()?;
    let to = server_request_id(&id)?;
    let line = answer_line(&to.server_id, msg.result, msg.error)?;
    Some(ClientAnswer { to, line })
}

/// Finds a numeric `"id":N` near the start of a line too long to parse, so
/// that only its own request fails.
pub fn id_in_prefix(prefix: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(prefix);
    let at = text.find("\"id\":")? + 5;
    let digits: String = text[at..].trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_requests_round_trip_through_the_client() {
        let id = RawValue::from_string("\"s-1\"".into()).unwrap();
        let params = RawValue::from_string("{\"maxTokens\":5}".into()).unwrap();
        let nonce = unguessable().unwrap();
        let out: serde_json::Value =
            serde_json::from_slice(&server_request_for_client(3, &nonce, &id, "sampling/createMessage", Some(&params)))
                .unwrap();
        assert_eq!(out["id"], format!("sy:3:{nonce}:\"s-1\""));
        assert!(is_server_request(&server_request_for_client(3, &nonce, &id, "roots/list", None)));
        assert!(!is_server_request(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#));
        assert_eq!(out["params"]["maxTokens"], 5);
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant"}}}}"#, out["id"]);
        let ClientAnswer { to, line } = client_answer_for_server(answer.as_bytes()).unwrap();
        assert_eq!((to.slot, to.nonce.as_str(), to.server_id.get()), (3, nonce.as_str(), "\"s-1\""));
        let back: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(back["id"], "s-1");
        assert_eq!(back["result"]["role"], "assistant");
        assert!(client_answer_for_server(br#"{"jsonrpc":"2.0","id":"other","result":{}}"#).is_none());
        assert!(client_answer_for_server(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#).is_none());
        // The id of the previous format, without a nonce, names nothing.
        assert!(client_answer_for_server(br#"{"jsonrpc":"2.0","id":"sy:0:1","result":{}}"#).is_none());
    }

    #[test]
    fn nonces_are_long_distinct_and_colon_free() {
        let (a, b) = (unguessable().unwrap(), unguessable().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22, "128 bits in base64");
        assert!(!a.contains(':'));
    }

    #[test]
    fn id_from_a_long_line_prefix() {
        assert_eq!(id_in_prefix(br#"{"jsonrpc":"2.0","id": 42,"result":{"content":[{"text":"xxxx"#), Some(42));
        assert_eq!(id_in_prefix(b"garbage"), None);
    }
}

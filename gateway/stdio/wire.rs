//! Reading and rewriting the JSON-RPC lines exchanged with a child.
//!
//! Many clients share one process, so every request gets a process-unique
//! upstream id, and a `progressToken` is replaced by that same id; replies and
//! progress are mapped back before they reach the client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// One line from a child, envelope only.
#[derive(Deserialize)]
pub struct Line<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub error: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A client request, envelope plus what must be rewritten.
#[derive(Deserialize)]
pub struct ClientRequest<'a> {
    #[serde(borrow)]
    pub method: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
}

/// Builds the line sent to the child for a client request: the upstream id,
/// and a `progressToken`, when the client sent one, replaced by the same id.
/// `meta`, when given (a stateless child serving a session-era client), is
/// added to `params._meta` where the client did not set those keys.
/// Returns the line and the client's original token.
pub fn request_line(up_id: u64, body: &[u8], meta: Meta<'_>) -> Result<(Bytes, Option<Box<RawValue>>), String> {
    let req: ClientRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(up_id.to_string().as_bytes());
    out.extend_from_slice(b",\"method\":");
    serde_json::to_writer(&mut out, &req.method).map_err(|e| e.to_string())?;
    let mut original_token = None;
    let edited;
    let params = match (meta, req.params) {
        (Meta::Add(meta), params) => {
            edited = add_meta(params, meta)?;
            Some(edited.as_ref())
        }
        (Meta::Strip, Some(params)) if params.get().contains("io.modelcontextprotocol/") => {
            edited = strip_meta(params)?;
            Some(edited.as_ref())
        }
        (_, params) => params,
    };
    if let Some(params) = params {
        out.extend_from_slice(b",\"params\":");
        match swap_progress_token(params, up_id) {
            Some((rewritten, token)) => {
                out.extend_from_slice(&rewritten);
                original_token = Some(token);
            }
            None => out.extend_from_slice(params.get().as_bytes()),
        }
    }
    out.extend_from_slice(b"}\n");
    Ok((Bytes::from(out), original_token))
}

/// What to do with a request's `params._meta` on its way to the child.
#[derive(Clone, Copy, Debug)]
pub enum Meta<'a> {
    /// Leave it as the client sent it.
    Keep,
    /// Add these keys where the client did not set them (a session-era
    /// client of a stateless child).
    Add(&'a serde_json::Value),
    /// Remove the `io.modelcontextprotocol/` keys (a stateless client of a
    /// session-era child, which would refuse their protocol version).
    Strip,
}

/// `params` without the `io.modelcontextprotocol/` keys of its `_meta`.
fn strip_meta(params: &RawValue) -> Result<Box<RawValue>, String> {
    let mut value: serde_json::Value = serde_json::from_str(params.get()).map_err(|e| e.to_string())?;
    if let Some(meta) = value.get_mut("_meta").and_then(serde_json::Value::as_object_mut) {
        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
    }
    serde_json::value::to_raw_value(&value).map_err(|e| e.to_string())
}

/// `params` with `meta`'s keys added to its `_meta` (the client's own keys win).
fn add_meta(params: Option<&RawValue>, meta: &serde_json::Value) -> Result<Box<RawValue>, String> {
    let mut value: serde_json::Value = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| e.to_string())?,
        None => serde_json::json!({}),
    };
    let Some(obj) = value.as_object_mut() else { return Err("`params` must be an object".into()) };
    let slot = obj.entry("_meta").or_insert_with(|| serde_json::json!({}));
    if let (Some(slot), Some(meta)) = (slot.as_object_mut(), meta.as_object()) {
        for (k, v) in meta {
            slot.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::value::to_raw_value(&value).map_err(|e| e.to_string())
}

/// Replaces `params._meta.progressToken`, if present, with `token`.
fn swap_progress_token(params: &RawValue, token: u64) -> Option<(Vec<u8>, Box<RawValue>)> {
    if !params.get().contains("progressToken") {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(params.get()).ok()?;
    let slot = value.get_mut("_meta")?.get_mut("progressToken")?;
    let original = RawValue::from_string(slot.to_string()).ok()?;
    *slot = token.into();
    Some((serde_json::to_vec(&value).ok()?, original))
}

/// Rewrites a progress notification's token back to the client's.
pub fn progress_for_client(params: &RawValue, original: &RawValue) -> Option<Bytes> {
    let mut value: serde_json::Value = serde_json::from_str(params.get()).ok()?;
    *value.get_mut("progressToken")? = serde_json::from_str(original.get()).ok()?;
    let mut out = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":".to_vec();
    serde_json::to_writer(&mut out, &value).ok()?;
    out.push(b'}');
    Some(Bytes::from(out))
}

/// The `progressToken` of a progress notification, when it is one of ours.
pub fn progress_token(params: &RawValue) -> Option<u64> {
    #[derive(Deserialize)]
    struct P {
        #[serde(rename = "progressToken")]
        token: u64,
    }
    serde_json::from_str::<P>(params.get()).ok().map(|p| p.token)
}

/// A reply for the client: its own id, and the child's `result` or `error`.
/// For a stateless client of a session-era child, a result object gains the
/// fields the 2026-07-28 wire requires (`resultType`, and for cacheable
/// results `ttlMs` and `cacheScope`, as private and uncached: the child gave
/// no caching advice).
pub fn reply_for_client(id: &RawValue, result: Option<&RawValue>, error: Option<&RawValue>, patch: Patch) -> Bytes {
    let mut out = Vec::with_capacity(64 + result.map_or(0, |r| r.get().len()));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.get().as_bytes());
    match (result, error) {
        (Some(r), _) => {
            out.extend_from_slice(b",\"result\":");
            let raw = r.get().trim_start();
            let extra: &[u8] = match patch {
                Patch::None => b"",
                Patch::Stateless => b"\"resultType\":\"complete\"",
                Patch::StatelessCacheable => b"\"resultType\":\"complete\",\"ttlMs\":0,\"cacheScope\":\"private\"",
            };
            match raw.strip_prefix('{') {
                Some(rest) if !extra.is_empty() && !raw.contains("\"resultType\"") => {
                    out.push(b'{');
                    out.extend_from_slice(extra);
                    if !rest.trim_start().starts_with('}') {
                        out.push(b',');
                    }
                    out.extend_from_slice(rest.as_bytes());
                }
                _ => out.extend_from_slice(raw.as_bytes()),
            }
        }
        (None, Some(e)) => {
            out.extend_from_slice(b",\"error\":");
            out.extend_from_slice(e.get().as_bytes());
        }
        (None, None) => out.extend_from_slice(b",\"result\":{}"),
    }
    out.push(b'}');
    Bytes::from(out)
}

/// How a result is adjusted for the client's era.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patch {
    /// Sent as the child wrote it.
    None,
    /// A stateless client of a session-era child.
    Stateless,
    /// The same, for a list or read result.
    StatelessCacheable,
}

impl Patch {
    /// The patch for `method` when the client is stateless and the child is not.
    pub fn for_method(stateless_client: bool, child_stateless: bool, method: &str) -> Patch {
        if !stateless_client || child_stateless {
            Patch::None
        } else if method.ends_with("/list") || method == "resources/read" {
            Patch::StatelessCacheable
        } else {
            Patch::Stateless
        }
    }
}

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
    fn request_line_rewrites_id_and_token() {
        let body = br#"{"jsonrpc":"2.0","id":"client-1","method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok"}}}"#;
        let (line, token) = request_line(77, body, Meta::Keep).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["id"], 77);
        assert_eq!(v["params"]["_meta"]["progressToken"], 77);
        assert_eq!(v["params"]["name"], "progress");
        assert_eq!(token.unwrap().get(), "\"tok\"");
        assert!(line.ends_with(b"}\n"));
    }

    #[test]
    fn request_line_adds_meta_for_a_stateless_child() {
        let meta = serde_json::json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "keep": "gateway" });
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let v: serde_json::Value = serde_json::from_slice(&request_line(5, body, Meta::Add(&meta)).unwrap().0).unwrap();
        assert_eq!(v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"keep":"client","progressToken":"t"}}}"#;
        let (line, token) = request_line(5, body, Meta::Add(&meta)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["params"]["_meta"]["keep"], "client");
        assert_eq!(v["params"]["_meta"]["progressToken"], 5);
        assert_eq!(v["params"]["name"], "e");
        assert_eq!(token.unwrap().get(), "\"t\"");
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","other":1}}}"#;
        let v: serde_json::Value = serde_json::from_slice(&request_line(5, body, Meta::Strip).unwrap().0).unwrap();
        assert_eq!(v["params"]["_meta"], serde_json::json!({ "other": 1 }));
    }

    #[test]
    fn progress_maps_back() {
        let params = RawValue::from_string(r#"{"progressToken":77,"progress":2,"total":5}"#.into()).unwrap();
        assert_eq!(progress_token(&params), Some(77));
        let original = RawValue::from_string("\"tok\"".into()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&progress_for_client(&params, &original).unwrap()).unwrap();
        assert_eq!(v["params"]["progressToken"], "tok");
        assert_eq!(v["params"]["progress"], 2);
    }

    #[test]
    fn replies_carry_client_id_and_patches() {
        let id = RawValue::from_string("\"c\"".into()).unwrap();
        let result = RawValue::from_string(r#"{"tools":[]}"#.into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&reply_for_client(&id, Some(&result), None, Patch::StatelessCacheable)).unwrap();
        assert_eq!(v["id"], "c");
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["cacheScope"], "private");
        assert_eq!(v["result"]["tools"], serde_json::json!([]));
        let empty = RawValue::from_string("{}".into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&reply_for_client(&id, Some(&empty), None, Patch::Stateless)).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        let err = RawValue::from_string(r#"{"code":-1,"message":"x"}"#.into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&reply_for_client(&id, None, Some(&err), Patch::None)).unwrap();
        assert_eq!(v["error"]["code"], -1);
    }

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

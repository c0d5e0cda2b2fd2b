//! Rewriting a JSON-RPC request on its way to a server that several
//! clients share, and its answers on their way back.
//!
//! A shared upstream (a stdio process, an upstream session the gateway
//! holds for many callers) must never see two clients' ids or progress
//! tokens collide, so every request gets an upstream-unique id, and a
//! `progressToken` is replaced by that same id; replies and progress are
//! mapped back before they reach the client. Across eras, `params._meta`
//! gains or loses the 2026-07-28 keys, and results gain the fields that
//! era requires.

use bytes::Bytes;
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
/// Only the two object levels on the way are read; every other value
/// (a tool's arguments, above all) is copied as it came.
fn strip_meta(params: &RawValue) -> Result<Box<RawValue>, String> {
    type Object<'a> = Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>;
    fn object(raw: &str) -> Option<Object<'_>> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<std::borrow::Cow<'de, str>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        serde::Deserializer::deserialize_map(&mut de, Visit).ok()
    }
    fn key(out: &mut String, k: &str) {
        match k.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            true => {
                out.push('"');
                out.push_str(k);
                out.push('"');
            }
            false => out.push_str(&serde_json::to_string(k).unwrap_or_default()),
        }
    }
    let top = object(params.get()).ok_or("`params` must be an object")?;
    let mut out = String::with_capacity(params.get().len());
    out.push('{');
    for (i, (k, v)) in top.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        key(&mut out, k);
        out.push(':');
        match (k == "_meta").then(|| object(v.get())).flatten() {
            Some(meta) => {
                out.push('{');
                let kept = meta.iter().filter(|(mk, _)| !mk.starts_with("io.modelcontextprotocol/"));
                for (j, (mk, mv)) in kept.enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    key(&mut out, mk);
                    out.push(':');
                    out.push_str(mv.get());
                }
                out.push('}');
            }
            None => out.push_str(v.get()),
        }
    }
    out.push('}');
    RawValue::from_string(out).map_err(|e| e.to_string())
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
    fn stripping_meta_keeps_everything_else_as_it_came() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":{"_meta":{"io.modelcontextprotocol/x":1},"n":[1, 2]},"_meta":{"io.modelcontextprotocol/clientInfo":{},"progressToken":"t","we\"ird":true},"a\nb":null}}"#;
        let (line, token) = request_line(9, body, Meta::Strip).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["params"]["_meta"], serde_json::json!({ "progressToken": 9, "we\"ird": true }));
        assert_eq!(v["params"]["arguments"]["_meta"]["io.modelcontextprotocol/x"], 1, "arguments are not ours to edit");
        assert_eq!(v["params"]["a\nb"], serde_json::Value::Null);
        assert_eq!(token.unwrap().get(), "\"t\"");
        assert!(
            request_line(
                9,
                br#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1,"io.modelcontextprotocol/"]}"#,
                Meta::Strip
            )
            .is_err()
        );
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
}

//! Reading JSON-RPC messages without copying them.
//!
//! Everything borrows from the request body: the id stays raw (it is echoed
//! back byte for byte), strings are `Cow` (borrowed unless they hold escapes),
//! and tool arguments stay raw until the tool that wants them parses them.
//! That keeps a mock `echo` round trip to a handful of small allocations.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::mcp::jsonrpc::{INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR};

/// One JSON-RPC message, as sent by a client.
#[derive(Debug)]
pub(crate) enum Message<'a> {
    /// A request: it gets an answer.
    Request(Call<'a>),
    /// A notification: no id, no answer.
    Notification(Call<'a>),
    /// A response or error to something the server asked: no answer either.
    Response(Answer<'a>),
}

/// A client's answer to a request the server sent it.
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    /// The id the server gave its request, raw.
    pub id: &'a RawValue,
    /// `Ok(result)` or `Err(error)`, raw.
    pub outcome: Result<&'a RawValue, &'a RawValue>,
}

/// The parts of a request or notification the mock acts on.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// The raw id, echoed back unchanged. `None` for a notification.
    pub id: Option<&'a RawValue>,
    pub method: Cow<'a, str>,
    pub params: Params<'a>,
}

/// The union of the `params` members any mock method reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params<'a> {
    /// `tools/call` and `prompts/get`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub name: Option<Cow<'a, str>>,
    /// `resources/read`, `resources/subscribe`, `resources/unsubscribe`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub uri: Option<Cow<'a, str>>,
    /// Tool or prompt arguments, parsed by whoever needs them.
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
    /// `initialize`: the version the client asks for.
    #[serde(borrow, default, rename = "protocolVersion", deserialize_with = "opt_cow")]
    pub protocol_version: Option<Cow<'a, str>>,
    /// `notifications/cancelled` (stdio).
    #[serde(borrow, default, rename = "requestId")]
    pub request_id: Option<&'a RawValue>,
    /// 2026-07-28: the client's answers to an `input_required` result.
    /// A present `null` stays `Some`: it is malformed, not absent.
    #[serde(borrow, default, rename = "inputResponses", deserialize_with = "present")]
    pub input_responses: Option<&'a RawValue>,
    /// 2026-07-28: the opaque state an `input_required` result carried, echoed.
    #[serde(borrow, default, rename = "requestState", deserialize_with = "opt_cow")]
    pub request_state: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "_meta")]
    pub meta: Option<Meta<'a>>,
}

/// `params._meta`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Meta<'a> {
    /// Present (and `2026-07-28`) on every stateless-era request.
    #[serde(borrow, default, rename = "io.modelcontextprotocol/protocolVersion", deserialize_with = "opt_cow")]
    pub protocol_version: Option<Cow<'a, str>>,
    /// Required on every stateless-era request; what the client can answer.
    #[serde(borrow, default, rename = "io.modelcontextprotocol/clientCapabilities")]
    pub client_capabilities: Option<&'a RawValue>,
    /// 2026-07-28: without it, a request gets no `notifications/message`.
    #[serde(borrow, default, rename = "io.modelcontextprotocol/logLevel", deserialize_with = "opt_cow")]
    pub log_level: Option<Cow<'a, str>>,
    /// Where `progress` sends its notifications.
    #[serde(borrow, default, rename = "progressToken")]
    pub progress_token: Option<&'a RawValue>,
}

/// Why a message could not be read, as a JSON-RPC error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub code: i32,
    pub message: &'static str,
}

/// The raw envelope; `id` keeps an explicit `null` apart from a missing id.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// Like `Option<Cow<str>>`, but borrowing from the input when it can: serde
/// only borrows a `Cow` that is not wrapped in an `Option`.
fn opt_cow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Option::<Borrowed<'de>>::deserialize(d).map(|o| o.map(|b| b.0))
}

/// `Some` for any present value, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

// === impl Message ===

impl<'a> Message<'a> {
    /// Parses one message from a whole body or line.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, Invalid> {
        let envelope: Envelope<'a> = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                invalid_request("Invalid request: not a JSON-RPC object")
            } else {
                Invalid { code: PARSE_ERROR, message: "Parse error" }
            }
        })?;
        Self::from_envelope(envelope)
    }

    /// Parses one element of a batch, already split out as raw JSON.
    pub(crate) fn parse_raw(raw: &'a RawValue) -> Result<Self, Invalid> {
        let envelope: Envelope<'a> =
            serde_json::from_str(raw.get()).map_err(|_| invalid_request("Invalid request: not a JSON-RPC object"))?;
        Self::from_envelope(envelope)
    }

    fn from_envelope(e: Envelope<'a>) -> Result<Self, Invalid> {
        if e.jsonrpc.as_deref() != Some("2.0") {
            return Err(invalid_request("Invalid request: jsonrpc must be \"2.0\""));
        }
        if let Some(id) = e.id
            && !valid_id(id)
        {
            return Err(invalid_request("Invalid request: id must be a string or an integer"));
        }
        let Some(method) = e.method else {
            return match (e.id, e.result, e.error) {
                (Some(id), Some(result), None) => Ok(Message::Response(Answer { id, outcome: Ok(result) })),
                (Some(id), None, Some(error)) => Ok(Message::Response(Answer { id, outcome: Err(error) })),
                _ => Err(invalid_request("Invalid request: missing method")),
            };
        };
        let params = match e.params {
            None => Params::default(),
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|_| Invalid { code: INVALID_PARAMS, message: "Invalid params: params must be an object" })?,
        };
        let call = Call { id: e.id, method, params };
        Ok(match call.id {
            Some(_) => Message::Request(call),
            None => Message::Notification(call),
        })
    }
}

// === impl Params ===

impl Params<'_> {
    /// The stateless-era version from `_meta`, if the request carries one.
    pub(crate) fn meta_version(&self) -> Option<&str> {
        self.meta.as_ref()?.protocol_version.as_deref()
    }

    /// The value `Mcp-Name` must mirror for `method`, if it has one.
    pub(crate) fn mirrored_name(&self, method: &str) -> Option<&str> {
        match method {
            "tools/call" | "prompts/get" => self.name.as_deref(),
            // 2026-07-28 removed `resources/subscribe`: nothing else mirrors.
            "resources/read" => self.uri.as_deref(),
            _ => None,
        }
    }
}

/// Ids are strings or integers; never null, floats, objects or arrays.
fn valid_id(id: &RawValue) -> bool {
    let s = id.get();
    if s.starts_with('"') {
        return true;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn invalid_request(message: &'static str) -> Invalid {
    Invalid { code: INVALID_REQUEST, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_request_notification_and_response() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":7,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#).unwrap();
        let Message::Request(call) = m else { panic!("not a request") };
        assert_eq!(call.id.unwrap().get(), "\"a\"");
        assert_eq!(call.params.mirrored_name(&call.method), Some("echo"));
        assert_eq!(call.params.meta_version(), Some("2026-07-28"));
        // The hot path borrows from the body instead of copying.
        assert!(matches!(call.method, Cow::Borrowed("tools/call")));
        assert_eq!(call.params.meta.unwrap().progress_token.unwrap().get(), "7");

        let m = Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(matches!(m, Ok(Message::Notification(_))));
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        let Ok(Message::Response(answer)) = m else { panic!("not a response") };
        assert_eq!((answer.id.get(), answer.outcome.map(RawValue::get).ok()), ("1", Some("{}")));
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        let code = |b: &[u8]| Message::parse(b).unwrap_err().code;
        assert_eq!(code(b"{not json"), PARSE_ERROR);
        assert_eq!(code(b"42"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#), INVALID_PARAMS);
    }
}

//! The JSON-RPC envelope: the only part of a message the gateway reads.
//!
//! `id`, `method`, `params.name` / `params.uri` and
//! `params._meta["io.modelcontextprotocol/protocolVersion"]` are pulled out;
//! everything else stays in the original bytes, which are forwarded untouched,
//! so a large argument or result is never re-serialised.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The `_meta` key that carries a stateless-era request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// What one JSON-RPC message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Has a `method` and an `id`: expects an answer.
    Request,
    /// Has a `method` and no `id`.
    Notification,
    /// Has an `id` and a `result` or `error`: the client answering the server.
    Response,
}

/// The parsed envelope of one message.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// What the message is.
    pub kind: Kind,
    /// The raw id, echoed in gateway-made errors.
    pub id: Option<Box<RawValue>>,
    /// The method, for requests and notifications.
    pub method: Option<Box<str>>,
    /// `params.name` or `params.uri`, whichever the method names its target by.
    pub name: Option<Box<str>>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`.
    pub meta_version: Option<Box<str>>,
}

impl Envelope {
    /// The method, or `""` for a response.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("")
    }
}

/// A POST body: one message, or (2025-03-26 only) a batch.
#[derive(Debug)]
pub enum Message {
    /// One message.
    Single(Envelope),
    /// A JSON array of messages.
    Batch(Vec<Envelope>),
}

/// Why a body is not an acceptable JSON-RPC message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not JSON at all (-32700).
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 message (-32600).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

/// Methods whose `Mcp-Name` comes from `params.name`.
const NAME_FROM_NAME: &[&str] = &["tools/call", "prompts/get"];
/// Methods whose `Mcp-Name` comes from `params.uri`.
const NAME_FROM_URI: &[&str] = &["resources/read", "resources/subscribe", "resources/unsubscribe"];

/// Whether `method` mirrors a target into `Mcp-Name`, and from which param.
pub fn name_param(method: &str) -> Option<&'static str> {
    if NAME_FROM_NAME.contains(&method) {
        Some("name")
    } else if NAME_FROM_URI.contains(&method) {
        Some("uri")
    } else {
        None
    }
}

/// Parses a POST body.
pub fn parse(body: &[u8]) -> Result<Message, EnvelopeError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(parse_error)?;
        if items.is_empty() {
            return Err(EnvelopeError::Invalid("empty batch"));
        }
        let envelopes = items.iter().map(|raw| parse_one(raw.get().as_bytes())).collect::<Result<_, _>>()?;
        Ok(Message::Batch(envelopes))
    } else {
        parse_one(body).map(Message::Single)
    }
}

fn parse_error(e: serde_json::Error) -> EnvelopeError {
    if e.is_syntax() || e.is_eof() {
        EnvelopeError::Parse(e.to_string())
    } else {
        EnvelopeError::Invalid("not a JSON-RPC message object")
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<ParamsField<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` as `Some("null")`, so it can be told from absence.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// `params`, read in the same pass as the envelope: an object yields the
/// fields the gateway cares about, an array yields nothing, anything else is
/// an invalid request.
enum ParamsField<'a> {
    Object(Params<'a>),
    Array,
}

impl<'de: 'a, 'a> Deserialize<'de> for ParamsField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = ParamsField<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object or an array")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Params::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ParamsField::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                ignore_seq(seq).map(|()| ParamsField::Array)
            }
        }
        d.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

/// The params fields the gateway reads. Each is read leniently: a value of
/// another type counts as absent, because judging a method's params is the
/// upstream's job, and a client must get the upstream's answer (-32602 from
/// a conforming server) through the gateway as without it.
#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Lenient<Cow<'a, str>>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Lenient<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, default, rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Lenient<Cow<'a, str>>,
}

/// A `T`, or nothing when the value is of another JSON type.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

/// What a [`Lenient`] field takes: a string, or an object; any other value
/// is skipped.
trait Taken<'de>: Sized {
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        ignore_map(map).map(|()| None)
    }
}

impl<'de: 'a, 'a> Taken<'de> for Cow<'a, str> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(s)
    }
}

impl<'de: 'a, 'a> Taken<'de> for Meta<'a> {
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Meta::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

impl<'de, T: Taken<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Taken<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_str(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_str(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_str(Cow::Owned(v))))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_map(map).map(Lenient)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                ignore_seq(seq).map(|()| Lenient(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

fn ignore_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
    Ok(())
}

fn ignore_seq<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
    Ok(())
}

fn parse_one(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Valid JSON that is not an object is an invalid request; anything
        // else is a parse error.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(parse_error)?;
        return Err(EnvelopeError::Invalid("a message must be a JSON object"));
    }
    let wire: Wire = serde_json::from_slice(bytes).map_err(|e| match parse_error(e) {
        EnvelopeError::Invalid(_) => EnvelopeError::Invalid("a field of the message has the wrong type"),
        parse => parse,
    })?;
    if wire.jsonrpc.as_deref() != Some("2.0") {
        return Err(EnvelopeError::Invalid("`jsonrpc` must be \"2.0\""));
    }
    if let Some(id) = wire.id {
        let ok = match id.get().as_bytes().first() {
            Some(b'"') => true,
            Some(b'-' | b'0'..=b'9') => !id.get().contains(['.', 'e', 'E']),
            _ => false,
        };
        if !ok {
            return Err(EnvelopeError::Invalid("`id` must be a string or an integer"));
        }
    }
    let kind = match (&wire.method, wire.id, wire.result.is_some() || wire.error.is_some()) {
        (Some(_), _, true) => return Err(EnvelopeError::Invalid("a request cannot carry `result` or `error`")),
        (Some(_), Some(_), false) => Kind::Request,
        (Some(_), None, false) => Kind::Notification,
        (None, Some(_), true) if wire.result.is_some() != wire.error.is_some() => Kind::Response,
        (None, _, _) => {
            return Err(EnvelopeError::Invalid(
                "a message needs a `method`, or an `id` with one of `result` or `error`",
            ));
        }
    };
    let (mut name, mut meta_version) = (None, None);
    if let Some(ParamsField::Object(p)) = wire.params {
        name = match name_param(wire.method.as_deref().unwrap_or("")) {
            Some("name") => p.name.0.map(|n| n.into()),
            Some(_) => p.uri.0.map(|u| u.into()),
            None => None,
        };
        meta_version = p.meta.0.and_then(|m| m.protocol_version.0).map(|v| v.into());
    }
    Ok(Envelope { kind, id: wire.id.map(ToOwned::to_owned), method: wire.method.map(|m| m.into()), name, meta_version })
}

#[cfg(test)]
mod tests;

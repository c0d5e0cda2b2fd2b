//! What a client declared it can answer, as the server's own requests need it.
//!
//! A child behind a stdio backend may ask a client to sample, to elicit, or
//! to list its roots, and the spec lets it ask only a client that declared
//! the matching capability. The gateway answers `initialize` itself for stdio
//! backends (its own handshake with the child declared everything), so it
//! must remember what each client declared: in the session token for a
//! session-era client, one byte, since the gateway keeps no session state;
//! from each request's `_meta` for a 2026-07-28 client, which sends them
//! every time.

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A set of client capabilities, one bit each.
///
/// ```
/// use switchyard::session::ClientCaps;
/// let declared = ClientCaps::of_initialize(br#"{"params":{"capabilities":{"sampling":{}}}}"#);
/// assert!(declared.contains(ClientCaps::SAMPLING));
/// assert!(!declared.contains(ClientCaps::ROOTS));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCaps(u8);

/// A `capabilities` object as a client sends it. Only presence counts: the
/// sub-fields (`roots.listChanged`, elicitation modes) say how, not whether.
#[derive(Deserialize)]
struct Declared {
    #[serde(default)]
    sampling: Option<IgnoredAny>,
    #[serde(default)]
    elicitation: Option<IgnoredAny>,
    #[serde(default)]
    roots: Option<IgnoredAny>,
}

impl ClientCaps {
    /// Nothing declared.
    pub const NONE: ClientCaps = ClientCaps(0);
    /// `sampling`: the server may send `sampling/createMessage`.
    pub const SAMPLING: ClientCaps = ClientCaps(1);
    /// `elicitation`: the server may send `elicitation/create`.
    pub const ELICITATION: ClientCaps = ClientCaps(1 << 1);
    /// `roots`: the server may send `roots/list`.
    pub const ROOTS: ClientCaps = ClientCaps(1 << 2);
    const KNOWN: u8 = 0b111;

    /// The capabilities in an `initialize` request's `params.capabilities`.
    /// A body that does not parse declares nothing.
    pub fn of_initialize(body: &[u8]) -> ClientCaps {
        #[derive(Deserialize)]
        struct Init {
            #[serde(default)]
            params: Option<Params>,
        }
        #[derive(Deserialize)]
        struct Params {
            #[serde(default)]
            capabilities: Option<Declared>,
        }
        let declared = serde_json::from_slice::<Init>(body).ok().and_then(|i| i.params?.capabilities);
        declared.map_or(ClientCaps::NONE, |d| d.caps())
    }

    /// The capabilities a 2026-07-28 request carries in
    /// `params._meta["io.modelcontextprotocol/clientCapabilities"]`.
    pub fn of_stateless_request(body: &[u8]) -> ClientCaps {
        #[derive(Deserialize)]
        struct Request {
            #[serde(default)]
            params: Option<Params>,
        }
        #[derive(Deserialize)]
        struct Params {
            #[serde(default, rename = "_meta")]
            meta: Option<Meta>,
        }
        #[derive(Deserialize)]
        struct Meta {
            #[serde(default, rename = "io.modelcontextprotocol/clientCapabilities")]
            capabilities: Option<Declared>,
        }
        let declared = serde_json::from_slice::<Request>(body).ok().and_then(|r| r.params?.meta?.capabilities);
        declared.map_or(ClientCaps::NONE, |d| d.caps())
    }

    /// The capability a request from the server needs, or `None` for a
    /// method that needs none the gateway knows of.
    pub fn needed_by(method: &str) -> Option<ClientCaps> {
        match method {
            "sampling/createMessage" => Some(ClientCaps::SAMPLING),
            "elicitation/create" => Some(ClientCaps::ELICITATION),
            "roots/list" => Some(ClientCaps::ROOTS),
            _ => None,
        }
    }

    /// Whether every capability in `other` is in `self`.
    pub fn contains(self, other: ClientCaps) -> bool {
        self.0 & other.0 == other.0
    }

    /// The spec's name of a single capability, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ClientCaps::SAMPLING => "sampling",
            ClientCaps::ELICITATION => "elicitation",
            ClientCaps::ROOTS => "roots",
            _ => "(several capabilities)",
        }
    }

    /// The capabilities as a client declares them: `{"sampling":{}, …}`.
    pub fn to_json(self) -> serde_json::Value {
        let mut caps = serde_json::Map::new();
        for cap in [ClientCaps::SAMPLING, ClientCaps::ELICITATION, ClientCaps::ROOTS] {
            if self.contains(cap) {
                caps.insert(cap.name().into(), serde_json::json!({}));
            }
        }
        serde_json::Value::Object(caps)
    }

    /// The byte stored in a session token.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Reads the byte from a session token. Unknown bits mean the token was
    /// not written by this format, so they are refused rather than dropped.
    pub fn from_bits(bits: u8) -> Option<ClientCaps> {
        (bits & !Self::KNOWN == 0).then_some(ClientCaps(bits))
    }
}

impl std::ops::BitOr for ClientCaps {
    type Output = ClientCaps;

    fn bitor(self, other: ClientCaps) -> ClientCaps {
        ClientCaps(self.0 | other.0)
    }
}

// === impl Declared ===

impl Declared {
    /// The set this object declares.
    fn caps(&self) -> ClientCaps {
        let mut caps = ClientCaps::NONE;
        for (declared, cap) in [
            (self.sampling.is_some(), ClientCaps::SAMPLING),
            (self.elicitation.is_some(), ClientCaps::ELICITATION),
            (self.roots.is_some(), ClientCaps::ROOTS),
        ] {
            if declared {
                caps = caps | cap;
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_capabilities() {
        let all = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",
            "capabilities":{"sampling":{},"elicitation":{"form":{}},"roots":{"listChanged":true},"experimental":{}},
            "clientInfo":{"name":"c","version":"1"}}}"#;
        let caps = ClientCaps::of_initialize(all);
        assert!(caps.contains(ClientCaps::SAMPLING | ClientCaps::ELICITATION | ClientCaps::ROOTS));
        let none = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
        assert_eq!(ClientCaps::of_initialize(none), ClientCaps::NONE);
        // `null` is not a declaration; a missing or broken body declares nothing.
        let null = br#"{"params":{"capabilities":{"sampling":null,"roots":{}}}}"#;
        assert_eq!(ClientCaps::of_initialize(null), ClientCaps::ROOTS);
        assert_eq!(ClientCaps::of_initialize(br#"{"params":{}}"#), ClientCaps::NONE);
        assert_eq!(ClientCaps::of_initialize(b"not json"), ClientCaps::NONE);
        assert_eq!(ClientCaps::of_initialize(br#"{"params":{"capabilities":[]}}"#), ClientCaps::NONE);
    }

    #[test]
    fn stateless_capabilities_come_from_meta() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}"#;
        assert_eq!(ClientCaps::of_stateless_request(body), ClientCaps::ELICITATION);
        let bare = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(ClientCaps::of_stateless_request(bare), ClientCaps::NONE);
    }

    #[test]
    fn methods_and_bits() {
        assert_eq!(ClientCaps::needed_by("sampling/createMessage"), Some(ClientCaps::SAMPLING));
        assert_eq!(ClientCaps::needed_by("elicitation/create"), Some(ClientCaps::ELICITATION));
        assert_eq!(ClientCaps::needed_by("roots/list"), Some(ClientCaps::ROOTS));
        assert_eq!(ClientCaps::needed_by("ping"), None);
        assert_eq!(ClientCaps::SAMPLING.name(), "sampling");
        let caps = ClientCaps::SAMPLING | ClientCaps::ROOTS;
        assert_eq!(ClientCaps::from_bits(caps.bits()), Some(caps));
        assert_eq!(ClientCaps::from_bits(0), Some(ClientCaps::NONE));
        assert_eq!(ClientCaps::from_bits(0b1000), None);
        assert_eq!(ClientCaps::from_bits(0xff), None);
    }
}

//! The gateway's own `initialize` with each child.
//!
//! Clients never initialize a shared process: the gateway does, once per
//! child, declaring the client capabilities (sampling, elicitation, roots)
//! that real clients may have, and then serves clients of both eras from
//! what the child answered.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::process::{Pending, Process};
use super::wire::Patch;
use crate::mcp::describe;
use crate::mcp::era::{FIRST_STATELESS_VERSION, LATEST_SESSION_VERSION as OFFERED_VERSION, META_PROTOCOL_VERSION};

/// What a child said about itself.
#[derive(Debug)]
pub struct Handshake {
    /// The version the child agreed to.
    pub protocol_version: String,
    /// The child's `initialize` result, as it sent it.
    pub result: serde_json::Value,
}

impl Handshake {
    /// Whether the child itself speaks the stateless era.
    pub fn is_stateless(&self) -> bool {
        self.protocol_version.as_str() >= FIRST_STATELESS_VERSION
    }

    /// The `initialize` result for a session-era client asking for `requested`:
    /// the child's result, with the version the client gets.
    pub fn initialize_result(&self, requested: Option<&str>) -> Vec<u8> {
        describe::initialize_for(&self.result, requested)
    }

    /// The `server/discover` result for a stateless client.
    pub fn discover_result(&self) -> Vec<u8> {
        serde_json::to_vec(&describe::discover_from_initialize(&self.result)).unwrap_or_default()
    }
}

/// The client capabilities the gateway declares to a child: everything a
/// real client behind it may answer.
fn capabilities() -> serde_json::Value {
    json!({ "sampling": {}, "elicitation": {}, "roots": { "listChanged": true } })
}

fn client_info() -> serde_json::Value {
    json!({ "name": "switchyard", "version": env!("CARGO_PKG_VERSION") })
}

/// The `_meta` every request to a stateless child carries.
pub fn request_meta() -> serde_json::Value {
    json!({
        META_PROTOCOL_VERSION: FIRST_STATELESS_VERSION,
        "io.modelcontextprotocol/clientInfo": client_info(),
        "io.modelcontextprotocol/clientCapabilities": capabilities(),
    })
}

/// Which handshake to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `initialize`: the default, because a session-era upstream session
    /// serves clients of both eras (see `wire::Patch`), and because some
    /// servers let the first request fix a connection's era for good, so a
    /// `server/discover` probe first would lock them out of `initialize`.
    Initialize,
    /// `server/discover`: for a child that refused `initialize`, on a fresh
    /// process.
    Discover,
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum Failed {
    /// The child answered `initialize` with an error: it may speak only the
    /// stateless era, so the next process should be discovered instead.
    Refused(String),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Refused(why) | Failed::Other(why) => f.write_str(why),
        }
    }
}

/// Learns what the child speaks, by `initialize` (then
/// `notifications/initialized`) or by `server/discover`.
pub async fn run(process: &Process, timeout: Duration, mode: Mode) -> Result<Handshake, Failed> {
    if mode == Mode::Discover {
        let discover = json!({ "_meta": request_meta() });
        let result =
            ask(process, "server/discover", &discover, timeout).await.map_err(|e| Failed::Other(e.to_string()))?;
        // Shaped like an initialize result, which is what session-era
        // clients are answered from.
        let init = describe::initialize_from_discover(&result);
        return Ok(Handshake { protocol_version: FIRST_STATELESS_VERSION.into(), result: init });
    }
    let params =
        json!({ "protocolVersion": OFFERED_VERSION, "capabilities": capabilities(), "clientInfo": client_info() });
    let result = match ask(process, "initialize", &params, timeout).await {
        Ok(result) => result,
        Err(Unanswered::Refused(why)) => return Err(Failed::Refused(why)),
        Err(why) => return Err(Failed::Other(why.to_string())),
    };
    let protocol_version =
        result.get("protocolVersion").and_then(|v| v.as_str()).unwrap_or(OFFERED_VERSION).to_string();
    process.notify(Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"));
    Ok(Handshake { protocol_version, result })
}

/// Why a request of the gateway's own got no result.
#[derive(Debug)]
pub enum Unanswered {
    /// No answer within the timeout; the child was told to cancel it.
    TimedOut(String),
    /// The child answered with a JSON-RPC error.
    Refused(String),
    /// Anything else (the process is gone, the answer is malformed).
    Other(String),
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::TimedOut(why) | Unanswered::Refused(why) | Unanswered::Other(why) => f.write_str(why),
        }
    }
}

/// Sends one request of the gateway's own (the handshake, a health probe)
/// through the process like any other, and returns its result.
pub async fn ask(
    process: &Process,
    method: &str,
    params: &serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value, Unanswered> {
    let id = process.next_id();
    let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{params}}}\n");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let original = RawValue::from_string("0".into()).map_err(|e| Unanswered::Other(e.to_string()))?;
    let waiter = Pending {
        sink: tx,
        original_id: original,
        original_token: None,
        patch: Patch::None,
        // No client's `notifications/cancelled` can name it (client owners
        // are hashes of session tokens, or 0), and it makes no server
        // request ambiguous.
        owner: super::server_request::GATEWAY,
        caps: crate::session::ClientCaps::NONE,
        askable: false,
        rounds: false,
    };
    process.send(id, Bytes::from(line), waiter).map_err(|e| Unanswered::Other(e.into()))?;
    let reply = match tokio::time::timeout(timeout, rx.recv()).await {
        Ok(Some((reply, _))) => reply,
        Ok(None) => return Err(Unanswered::Other(format!("the process closed before answering {method}"))),
        Err(_) => {
            process.cancel(id, "timed out");
            return Err(Unanswered::TimedOut(format!("no answer to {method} within {timeout:?}")));
        }
    };
    let mut reply: serde_json::Value = serde_json::from_slice(&reply).map_err(|e| Unanswered::Other(e.to_string()))?;
    if let Some(error) = reply.get("error") {
        return Err(Unanswered::Refused(format!("{method} failed: {error}")));
    }
    reply
        .get_mut("result")
        .map(serde_json::Value::take)
        .ok_or_else(|| Unanswered::Other(format!("{method} reply has no result")))
}

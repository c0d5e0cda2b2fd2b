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
use crate::front::stateless::FIRST_STATELESS_VERSION;

/// The newest session-era version the gateway offers a child.
pub const OFFERED_VERSION: &str = "2025-11-25";

/// Session-era versions a client may negotiate through the gateway.
pub const SESSION_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// What a child said about itself.
#[derive(Debug)]
pub struct Upstream {
    /// The version the child agreed to.
    pub protocol_version: String,
    /// The child's `initialize` result, as it sent it.
    pub result: serde_json::Value,
}

impl Upstream {
    /// Whether the child itself speaks the stateless era.
    pub fn is_stateless(&self) -> bool {
        self.protocol_version.as_str() >= FIRST_STATELESS_VERSION
    }

    /// The `initialize` result for a session-era client asking for `requested`:
    /// the child's result, with the version the client gets.
    pub fn initialize_result(&self, requested: Option<&str>) -> Vec<u8> {
        let version = requested.filter(|v| SESSION_VERSIONS.contains(v)).unwrap_or(OFFERED_VERSION);
        let mut result = self.result.clone();
        if let Some(obj) = result.as_object_mut() {
            obj.insert("protocolVersion".into(), version.into());
        }
        serde_json::to_vec(&result).unwrap_or_default()
    }

    /// The `server/discover` result for a stateless client: the gateway
    /// speaks every version to the client whatever the child speaks.
    pub fn discover_result(&self) -> Vec<u8> {
        let mut supported: Vec<&str> = SESSION_VERSIONS.to_vec();
        supported.push(FIRST_STATELESS_VERSION);
        let mut out = json!({
            "resultType": "complete",
            "supportedVersions": supported,
            "capabilities": self.result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "ttlMs": 0,
            "cacheScope": "private",
        });
        if let Some(info) = self.result.get("serverInfo") {
            out["_meta"] = json!({ "io.modelcontextprotocol/serverInfo": info });
        }
        if let Some(instructions) = self.result.get("instructions") {
            out["instructions"] = instructions.clone();
        }
        serde_json::to_vec(&out).unwrap_or_default()
    }
}

/// Initializes `process` and sends `notifications/initialized`.
pub async fn run(process: &Process, timeout: Duration) -> Result<Upstream, String> {
    let id = process.next_id();
    let params = json!({
        "protocolVersion": OFFERED_VERSION,
        "capabilities": { "sampling": {}, "elicitation": {}, "roots": { "listChanged": true } },
        "clientInfo": { "name": "switchyard", "version": env!("CARGO_PKG_VERSION") },
    });
    let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"initialize\",\"params\":{params}}}\n");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let original = RawValue::from_string("0".into()).map_err(|e| e.to_string())?;
    let waiter = Pending {
        sink: tx,
        original_id: original,
        original_token: None,
        patch: Patch::None,
        owner: 0,
        streaming: false,
    };
    process.send(id, Bytes::from(line), waiter).map_err(str::to_string)?;
    let reply = match tokio::time::timeout(timeout, rx.recv()).await {
        Ok(Some((reply, _))) => reply,
        Ok(None) => return Err("the process closed before answering initialize".into()),
        Err(_) => {
            process.cancel(id, "initialize timed out");
            return Err(format!("no answer to initialize within {timeout:?}"));
        }
    };
    let reply: serde_json::Value = serde_json::from_slice(&reply).map_err(|e| e.to_string())?;
    if let Some(error) = reply.get("error") {
        return Err(format!("initialize failed: {error}"));
    }
    let result = reply.get("result").cloned().ok_or("initialize reply has no result")?;
    let protocol_version =
        result.get("protocolVersion").and_then(|v| v.as_str()).unwrap_or(OFFERED_VERSION).to_string();
    process.notify(Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"));
    Ok(Upstream { protocol_version, result })
}

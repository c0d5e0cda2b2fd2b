//! A server's self-description in either era's shape.
//!
//! A session-era server describes itself in its `initialize` result; a
//! 2026-07-28 server in its `server/discover` result. Whenever the gateway
//! speaks for a server of the other era (a stdio child, a bridged HTTP
//! instance), it answers a client from one shape turned into the other.

use serde_json::{Value, json};

use super::era::{FIRST_STATELESS_VERSION, LATEST_SESSION_VERSION, SESSION_VERSIONS};

/// The `server/discover` result for a 2026-07-28 client, from a server's
/// `initialize` result. The gateway speaks every version to the client,
/// whatever the server speaks; the result is private and uncached, since
/// the server gave no caching advice.
pub fn discover_from_initialize(result: &Value) -> Value {
    let mut supported: Vec<&str> = SESSION_VERSIONS.to_vec();
    supported.push(FIRST_STATELESS_VERSION);
    let mut out = json!({
        "resultType": "complete",
        "supportedVersions": supported,
        "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "ttlMs": 0,
        "cacheScope": "private",
    });
    if let Some(info) = result.get("serverInfo") {
        out["_meta"] = json!({ "io.modelcontextprotocol/serverInfo": info });
    }
    if let Some(instructions) = result.get("instructions") {
        out["instructions"] = instructions.clone();
    }
    out
}

/// An `initialize` result, at the stateless version, from a server's
/// `server/discover` result.
pub fn initialize_from_discover(result: &Value) -> Value {
    let mut init = json!({
        "protocolVersion": FIRST_STATELESS_VERSION,
        "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(info) = result.pointer("/_meta/io.modelcontextprotocol~1serverInfo") {
        init["serverInfo"] = info.clone();
    }
    if let Some(instructions) = result.get("instructions") {
        init["instructions"] = instructions.clone();
    }
    init
}

/// The version a session-era client asking for `requested` gets: its own
/// when the gateway speaks it, else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    SESSION_VERSIONS.iter().find(|v| Some(**v) == requested).copied().unwrap_or(LATEST_SESSION_VERSION)
}

/// `result` (an `initialize` result) with the version the client gets.
pub fn initialize_for(result: &Value, requested: Option<&str>) -> Vec<u8> {
    let mut result = result.clone();
    if let Some(obj) = result.as_object_mut() {
        obj.insert("protocolVersion".into(), negotiate(requested).into());
    }
    serde_json::to_vec(&result).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_shapes_carry_the_same_description() {
        let init = json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "s", "version": "1" },
            "instructions": "use it well",
        });
        let discover = discover_from_initialize(&init);
        assert_eq!(discover["resultType"], "complete");
        assert_eq!(discover["supportedVersions"].as_array().unwrap().len(), 4);
        assert_eq!(discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "s");
        let back = initialize_from_discover(&discover);
        assert_eq!(back["capabilities"], init["capabilities"]);
        assert_eq!(back["serverInfo"], init["serverInfo"]);
        assert_eq!(back["instructions"], "use it well");
        let answered: Value = serde_json::from_slice(&initialize_for(&back, Some("2025-03-26"))).unwrap();
        assert_eq!(answered["protocolVersion"], "2025-03-26");
        let answered: Value = serde_json::from_slice(&initialize_for(&back, Some("1999-01-01"))).unwrap();
        assert_eq!(answered["protocolVersion"], LATEST_SESSION_VERSION);
    }
}

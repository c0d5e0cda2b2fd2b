//! One server made of several: the merged answer to `initialize` and
//! `server/discover`.
//!
//! Capabilities are the union of the members' (a flag set by any member is
//! set), so a client asks for a list any member serves. `instructions` are
//! kept, each member's under a heading with its prefix, because a server's
//! instructions are how it tells a model when to use it, and dropping them
//! is one of the faults users report of other gateways.

use serde_json::{Map, Value, json};

/// What one member answered, in member order.
pub struct Answer<'a> {
    /// Its label: the prefix, or the key of an unprefixed member.
    pub label: &'a str,
    /// Its result object.
    pub result: &'a Value,
}

/// The union of capability objects: keys from every member; where two
/// members give a key, objects merge again and `true` wins over `false`.
pub fn union(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => union(existing, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Bool(a), Value::Bool(b)) => *a |= *b,
        _ => {}
    }
}

/// The members' capabilities, merged.
pub fn capabilities(answers: &[Answer<'_>]) -> Value {
    let mut out = Value::Object(Map::new());
    for a in answers {
        if let Some(caps) = a.result.get("capabilities") {
            union(&mut out, caps);
        }
    }
    out
}

/// The members' instructions, each under its label; none when no member
/// gave any.
pub fn instructions(answers: &[Answer<'_>]) -> Option<String> {
    let parts: Vec<String> = answers
        .iter()
        .filter_map(|a| {
            let text = a.result.get("instructions")?.as_str()?.trim();
            (!text.is_empty()).then(|| format!("## {}\n{text}", a.label))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// The version to answer a session-era `initialize` with: the one every
/// member agreed on, or else the oldest any member chose, since a client
/// that speaks it can speak to all of them.
pub fn version<'v>(chosen: impl Iterator<Item = &'v str>, requested: &'v str) -> &'v str {
    chosen.min().unwrap_or(requested)
}

/// The merged `initialize` result.
pub fn initialize_result(route: &str, version: &str, answers: &[Answer<'_>]) -> Value {
    let mut out = json!({
        "protocolVersion": version,
        "capabilities": capabilities(answers),
        "serverInfo": server_info(route, answers),
    });
    if let Some(text) = instructions(answers) {
        out["instructions"] = Value::String(text);
    }
    out
}

/// The merged `server/discover` result: the versions every member supports,
/// the union of capabilities, and the instructions.
pub fn discover_result(route: &str, answers: &[Answer<'_>]) -> Value {
    let mut versions: Option<Vec<Value>> = None;
    for a in answers {
        let Some(theirs) = a.result.get("supportedVersions").and_then(Value::as_array) else { continue };
        versions = Some(match versions {
            None => theirs.clone(),
            Some(v) => v.into_iter().filter(|x| theirs.contains(x)).collect(),
        });
    }
    let mut out = json!({
        "resultType": "complete",
        "supportedVersions": versions.unwrap_or_default(),
        "capabilities": capabilities(answers),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": { "io.modelcontextprotocol/serverInfo": server_info(route, answers) },
    });
    if let Some(text) = instructions(answers) {
        out["instructions"] = Value::String(text);
    }
    out
}

/// The gateway speaks for the route: its name, and the members it merges.
fn server_info(route: &str, answers: &[Answer<'_>]) -> Value {
    let members: Vec<&str> = answers.iter().map(|a| a.label).collect();
    json!({
        "name": format!("switchyard/{route}"),
        "title": format!("{route} (Switchyard: {})", members.join(", ")),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_a_union_and_instructions_are_labelled() {
        let a = json!({ "capabilities": { "tools": { "listChanged": false } }, "instructions": "Search docs." });
        let b = json!({ "capabilities": { "tools": { "listChanged": true }, "resources": { "subscribe": true } } });
        let c = json!({ "capabilities": { "prompts": {} }, "instructions": "  Ask the wiki.  " });
        let answers = [
            Answer { label: "docs", result: &a },
            Answer { label: "x", result: &b },
            Answer { label: "wiki", result: &c },
        ];
        let r = initialize_result("mcp", "2025-06-18", &answers);
        assert_eq!(
            r["capabilities"],
            json!({ "tools": { "listChanged": true }, "resources": { "subscribe": true }, "prompts": {} })
        );
        assert_eq!(r["instructions"], "## docs\nSearch docs.\n\n## wiki\nAsk the wiki.");
        assert_eq!(r["protocolVersion"], "2025-06-18");
        assert_eq!(r["serverInfo"]["name"], "switchyard/mcp");
        assert!(instructions(&answers[1..2]).is_none());
    }

    #[test]
    fn discover_keeps_the_versions_every_member_supports() {
        let a = json!({ "supportedVersions": ["2025-06-18", "2026-07-28"] });
        let b = json!({ "supportedVersions": ["2026-07-28"] });
        let r = discover_result("mcp", &[Answer { label: "a", result: &a }, Answer { label: "b", result: &b }]);
        assert_eq!(r["supportedVersions"], json!(["2026-07-28"]));
        assert_eq!(version(["2025-11-25", "2025-06-18"].into_iter(), "2025-11-25"), "2025-06-18");
        assert_eq!(version(std::iter::empty(), "2025-11-25"), "2025-11-25");
    }
}

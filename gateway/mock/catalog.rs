//! What the mock offers: its tools' schemas, the `mock://readme` resource,
//! the `greet` prompt, and the answers that never change.
//!
//! The lists are serialised once, in both era shapes, so `tools/list` in a
//! load test costs a copy, not a serialisation. With `--conformance` they
//! also hold the conformance suite's fixture (see `fixture`), as a second,
//! equally precomputed set.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::fixture;
use super::tools::{ALL_VERSIONS, Era, Plan, RESOURCE_NOT_FOUND, RpcError, STATELESS_VERSION, error, parse_args};
use super::wire::Params;
use crate::mcp::jsonrpc::INVALID_PARAMS;

// === resources and prompts ===

const README_URI: &str = "mock://readme";
const README_TEXT: &str = "switchyard-mock: a strict MCP server for demos, tests and load tests. \
Tools: echo, add, sleep, fail, big, progress.";

pub(super) fn read_resource(params: &Params<'_>, era: Era) -> Result<Plan, RpcError> {
    match params.uri.as_deref() {
        Some(README_URI) => Ok(Plan::Ready(cacheable(
            json!({
                "contents": [{ "uri": README_URI, "mimeType": "text/plain", "text": README_TEXT }]
            }),
            era,
        ))),
        Some(uri) => Err(resource_not_found(uri, era)),
        None => Err(error(INVALID_PARAMS, "Invalid params: missing uri")),
    }
}

/// "Resource not found": -32002 in the session era; 2026-07-28 made it
/// invalid params (-32602), with the uri in `data`.
pub(super) fn resource_not_found(uri: &str, era: Era) -> RpcError {
    let message = format!("Resource not found: {uri}");
    match era {
        Era::Session => RpcError::new(RESOURCE_NOT_FOUND, message),
        Era::Stateless => RpcError::new(INVALID_PARAMS, message).with_data(json!({ "uri": uri })),
    }
}

#[derive(Deserialize)]
struct GreetArgs<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

pub(super) fn get_prompt(params: &Params<'_>, era: Era) -> Result<Plan, RpcError> {
    match params.name.as_deref() {
        Some("greet") => {
            let args: GreetArgs = parse_args(params.arguments.map_or("{}", RawValue::get))?;
            Ok(Plan::Ready(complete(
                json!({
                    "description": "A friendly greeting",
                    "messages": [{
                        "role": "user",
                        "content": { "type": "text", "text": format!("Hello, {}!", args.name) }
                    }]
                }),
                era,
            )))
        }
        Some(other) => Err(RpcError::new(INVALID_PARAMS, format!("Unknown prompt: {other}"))),
        None => Err(error(INVALID_PARAMS, "Invalid params: missing prompt name")),
    }
}

// === static answers ===

/// The answers that never change, serialised once: `[session, stateless]`.
pub(super) struct Lists {
    pub tools: [Vec<u8>; 2],
    pub resources: [Vec<u8>; 2],
    pub templates: [Vec<u8>; 2],
    pub prompts: [Vec<u8>; 2],
    pub discover: Vec<u8>,
    /// `server/discover` of a mock that speaks 2026-07-28 only.
    pub discover_stateless_only: Vec<u8>,
}

/// The lists to serve: the mock's own, or with the conformance fixture's.
pub(super) fn lists(conformance: bool) -> &'static Lists {
    static PLAIN: LazyLock<Lists> = LazyLock::new(|| Lists::build(false));
    static FIXTURE: LazyLock<Lists> = LazyLock::new(|| Lists::build(true));
    if conformance { &FIXTURE } else { &PLAIN }
}

impl Lists {
    fn build(conformance: bool) -> Lists {
        let both = |v: serde_json::Value| [cacheable(v.clone(), Era::Session), cacheable(v, Era::Stateless)];
        let with = |mut own: Vec<serde_json::Value>, extra: fn() -> Vec<serde_json::Value>| {
            if conformance {
                own.extend(extra());
            }
            own
        };
        let resources = vec![json!({
            "uri": README_URI, "name": "readme", "mimeType": "text/plain",
            "description": "What this mock server is",
        })];
        let prompts = vec![json!({
            "name": "greet", "description": "A friendly greeting",
            "arguments": [{ "name": "name", "description": "Who to greet", "required": true }],
        })];
        Lists {
            tools: both(json!({ "tools": with(tool_list(), fixture::tools) })),
            resources: both(json!({ "resources": with(resources, fixture::resources) })),
            templates: both(json!({ "resourceTemplates": with(Vec::new(), fixture::templates) })),
            prompts: both(json!({ "prompts": with(prompts, fixture::prompts) })),
            discover: discover(&ALL_VERSIONS, conformance),
            discover_stateless_only: discover(&[STATELESS_VERSION], conformance),
        }
    }
}

fn discover(versions: &[&str], conformance: bool) -> Vec<u8> {
    json!({
        "resultType": "complete",
        "supportedVersions": versions,
        "capabilities": capabilities(Era::Stateless, conformance),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": { "io.modelcontextprotocol/serverInfo": server_info() },
    })
    .to_string()
    .into_bytes()
}

fn tool_list() -> Vec<serde_json::Value> {
    let schema = |props: serde_json::Value, required: &[&str]| json!({ "type": "object", "properties": props, "required": required });
    vec![
        json!({ "name": "echo", "description": "Returns `text` unchanged",
          "inputSchema": schema(json!({ "text": { "type": "string" } }), &["text"]) }),
        json!({ "name": "add", "description": "Returns a + b",
          "inputSchema": schema(json!({ "a": { "type": "number" }, "b": { "type": "number" } }), &["a", "b"]) }),
        json!({ "name": "sleep", "description": "Waits `ms` milliseconds",
          "inputSchema": schema(json!({ "ms": { "type": "integer", "minimum": 0 } }), &["ms"]) }),
        json!({ "name": "fail", "description": "Answers with JSON-RPC error `code`",
          "inputSchema": schema(json!({ "code": { "type": "integer" }, "message": { "type": "string" } }), &["code"]) }),
        json!({ "name": "big", "description": "Returns a text block of exactly `n` bytes",
          "inputSchema": schema(json!({ "n": { "type": "integer", "minimum": 0 } }), &["n"]) }),
        json!({ "name": "progress", "description": "Sends `steps` progress notifications, `interval_ms` apart",
          "inputSchema": schema(json!({ "steps": { "type": "integer", "minimum": 0 },
                                        "interval_ms": { "type": "integer", "minimum": 0, "default": 10 } }), &["steps"]) }),
    ]
}

/// What the mock declares. The fixture adds logging, completions and (in
/// the session era, which still has `resources/subscribe`) subscriptions.
pub(super) fn capabilities(era: Era, conformance: bool) -> serde_json::Value {
    let mut caps = json!({ "tools": { "listChanged": false }, "resources": {}, "prompts": {} });
    if conformance {
        caps["logging"] = json!({});
        caps["completions"] = json!({});
        if era == Era::Session {
            caps["resources"]["subscribe"] = true.into();
        }
    }
    caps
}

pub(super) fn server_info() -> serde_json::Value {
    json!({ "name": "switchyard-mock", "version": env!("CARGO_PKG_VERSION") })
}

/// How long the mock's unchanging answers may be cached, in milliseconds.
const CACHE_TTL_MS: u64 = 60_000;

/// Serialises a list or read result. In the stateless era these are
/// cacheable results, which must carry `ttlMs` and `cacheScope` (the Python
/// SDK refuses them otherwise); the mock's answers are the same for every
/// caller, so they are public.
pub(super) fn cacheable(mut result: serde_json::Value, era: Era) -> Vec<u8> {
    if era == Era::Stateless
        && let Some(object) = result.as_object_mut()
    {
        object.insert("ttlMs".into(), CACHE_TTL_MS.into());
        object.insert("cacheScope".into(), "public".into());
    }
    complete(result, era)
}

/// Serialises a result object, marked complete for the stateless era.
pub(super) fn complete(mut result: serde_json::Value, era: Era) -> Vec<u8> {
    if era == Era::Stateless
        && let Some(object) = result.as_object_mut()
    {
        object.insert("resultType".into(), "complete".into());
    }
    result.to_string().into_bytes()
}

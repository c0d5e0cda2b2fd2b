//! Two methods outside MCP that let tests see into the mock through any
//! gateway in front of it, over HTTP or stdio alike:
//!
//! - `mock/calls` answers how many requests of each method this mock has
//!   answered (`{"tools/list": 3, …}`), so a test can tell how many reached
//!   the backend (the cache's coalescing test counts this way); over HTTP it
//!   also counts requests that carried `Authorization` or `X-Api-Key`, as
//!   `header:authorization` and `header:x-api-key`;
//! - `mock/changed` announces a change on the request's own stream before
//!   answering `{}`: `notifications/{name}/list_changed` for
//!   `params.name` (`tools`, `prompts` or `resources`), or
//!   `notifications/resources/updated` for `params.uri`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::json;

use super::tools::{Plan, RpcError, error};
use super::wire::Params;
use crate::mcp::jsonrpc::INVALID_PARAMS;

/// Requests answered, per method; clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Calls(Arc<Mutex<BTreeMap<String, u64>>>);

impl Calls {
    /// Counts one request of `method`.
    pub fn record(&self, method: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(method.to_string()).or_default() += 1;
        }
    }

    /// How many requests of `method` were answered.
    pub fn get(&self, method: &str) -> u64 {
        self.0.lock().map_or(0, |c| c.get(method).copied().unwrap_or(0))
    }

    fn json(&self) -> Vec<u8> {
        self.0.lock().map(|c| json!(*c).to_string().into_bytes()).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// Answers the mock's own methods; `None` for any other method.
pub(super) fn handle(method: &str, params: &Params<'_>, calls: &Calls) -> Option<Result<Plan, RpcError>> {
    match method {
        "mock/calls" => Some(Ok(Plan::Ready(calls.json()))),
        "mock/changed" => Some(changed(params)),
        _ => None,
    }
}

fn changed(params: &Params<'_>) -> Result<Plan, RpcError> {
    let notification = match (params.uri.as_deref(), params.name.as_deref()) {
        (Some(uri), _) => {
            json!({ "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": { "uri": uri } })
        }
        (None, Some(kind @ ("tools" | "prompts" | "resources"))) => {
            json!({ "jsonrpc": "2.0", "method": format!("notifications/{kind}/list_changed") })
        }
        (None, Some(other)) => {
            return Err(RpcError::new(INVALID_PARAMS, format!("no list named `{other}`")));
        }
        (None, None) => return Err(error(INVALID_PARAMS, "mock/changed needs `name` or `uri`")),
    };
    Ok(Plan::Announce(Bytes::from(notification.to_string()), b"{}".to_vec()))
}

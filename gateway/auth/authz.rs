//! `[[authz]]`: which tools, prompts and resources each caller may use on a
//! route.
//!
//! The rule language is small on purpose: a rule names who (a principal, a
//! scope, claims; every condition given must hold, and a rule with none
//! holds for every authenticated caller) and what (globs on tool names,
//! prompt names and resource URIs, as the route exposes them, so on an
//! aggregated route the prefixed names). A request is allowed when any rule
//! allows it. Once a route has rules, what no rule opens is closed.
//!
//! Only the methods that use a tool, prompt or resource are gated. The
//! handshake and housekeeping (`initialize`, `server/discover`, `ping`,
//! notifications, the client's answers) always pass, and so do the list
//! methods, whose answers are filtered instead ([`Policy::filter`]), after
//! the cache: one principal's tokens with different scopes, and answers the
//! server marked `public`, share cache entries, so the filtering has to
//! happen per request.
//!
//! A refused use gets the answer a server gives for a name it does not
//! have, so that a caller cannot tell a tool it may not use from one that
//! does not exist; the log says why.

use serde_json::Value;

use crate::catalog::Kind;
use crate::client::Identity;
use crate::config::glob_matches;
use crate::mcp::jsonrpc;

/// A route's rules.
pub struct Policy {
    rules: Vec<Rule>,
}

struct Rule {
    principal: Option<String>,
    scope: Option<String>,
    claims: Vec<(String, String)>,
    tools: Vec<String>,
    prompts: Vec<String>,
    resources: Vec<String>,
}

/// What a request uses, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// A tool, by name.
    Tool,
    /// A prompt, by name.
    Prompt,
    /// A resource, by URI.
    Resource,
}

// === impl Policy ===

impl Policy {
    /// The rules of one `[[authz]]` block.
    pub fn new(cfg: &crate::config::Authz) -> Self {
        let rules = cfg
            .allow
            .iter()
            .map(|r| Rule {
                principal: r.principal.clone(),
                scope: r.scope.clone(),
                claims: r.claim.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                tools: r.tools.clone(),
                prompts: r.prompts.clone(),
                resources: r.resources.clone(),
            })
            .collect();
        Self { rules }
    }

    /// Whether `identity` may use `name` (a tool or prompt name, or a
    /// resource URI).
    pub fn allows(&self, identity: Option<&Identity>, gate: Gate, name: &str) -> bool {
        let Some(identity) = identity else { return false };
        self.rules.iter().any(|r| r.holds_for(identity) && r.names(gate).iter().any(|g| glob_matches(g, name)))
    }

    /// Leaves in a list result only the items `identity` may use; returns
    /// how many it took out.
    pub fn filter(&self, identity: Option<&Identity>, kind: Kind, result: &mut Value) -> usize {
        let (gate, key) = match kind {
            Kind::Tools => (Gate::Tool, "name"),
            Kind::Prompts => (Gate::Prompt, "name"),
            Kind::Resources => (Gate::Resource, "uri"),
            Kind::ResourceTemplates => (Gate::Resource, "uriTemplate"),
        };
        let Some(Value::Array(items)) = result.get_mut(kind.field()) else { return 0 };
        let before = items.len();
        items.retain(|item| item.get(key).and_then(Value::as_str).is_some_and(|n| self.allows(identity, gate, n)));
        before - items.len()
    }
}

// === impl Rule ===

impl Rule {
    fn holds_for(&self, identity: &Identity) -> bool {
        self.principal.as_deref().is_none_or(|p| *identity.name == *p)
            && self.scope.as_deref().is_none_or(|s| identity.has_scope(s))
            && self.claims.iter().all(|(k, v)| identity.claim_is(k, v))
    }

    fn names(&self, gate: Gate) -> &[String] {
        match gate {
            Gate::Tool => &self.tools,
            Gate::Prompt => &self.prompts,
            Gate::Resource => &self.resources,
        }
    }
}

// === impl Gate ===

impl Gate {
    /// What a request of `method` uses, and its name: `name` is the
    /// envelope's `params.name` or `params.uri`; a completion's reference
    /// is read from `body`. `None` for methods that use nothing gated.
    pub fn of(method: &str, name: Option<&str>, body: &[u8]) -> Option<(Gate, Option<String>)> {
        let gate = match method {
            "tools/call" => Gate::Tool,
            "prompts/get" => Gate::Prompt,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Gate::Resource,
            "completion/complete" => return Some(completion_ref(body)),
            _ => return None,
        };
        Some((gate, name.map(str::to_string)))
    }

    /// A short stable name, for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Gate::Tool => "tool",
            Gate::Prompt => "prompt",
            Gate::Resource => "resource",
        }
    }

    /// The error a server gives for a name it does not have: what a
    /// refused caller gets.
    pub fn unknown(self, name: &str) -> (i32, String) {
        match self {
            Gate::Tool => (jsonrpc::INVALID_PARAMS, format!("Unknown tool: {name}")),
            Gate::Prompt => (jsonrpc::INVALID_PARAMS, format!("Unknown prompt: {name}")),
            // The spec's code for a resource that is not there.
            Gate::Resource => (RESOURCE_NOT_FOUND, format!("Resource not found: {name}")),
        }
    }
}

/// The spec's JSON-RPC code for an unknown resource.
pub const RESOURCE_NOT_FOUND: i32 = -32002;

fn completion_ref(body: &[u8]) -> (Gate, Option<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let reference = parsed.as_ref().map(|b| &b["params"]["ref"]);
    match reference {
        Some(r) if r["type"] == "ref/prompt" => (Gate::Prompt, r["name"].as_str().map(str::to_string)),
        Some(r) => (Gate::Resource, r["uri"].as_str().map(str::to_string)),
        None => (Gate::Resource, None),
    }
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;

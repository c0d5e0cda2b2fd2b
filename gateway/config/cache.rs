//! A backend's response cache: `cache = { … }`.
//!
//! Absent, the backend has no cache and pays nothing for one. Present (even
//! as `cache = {}`), the four list methods are cached for `ttl`, in at most
//! `max_bytes` of memory.
//!
//! ```toml
//! [[backends]]
//! name = "search"
//! instances = [{ url = "http://10.0.0.5:3001/mcp" }]
//! cache = { ttl = "60s", max_bytes = "64MiB", methods = ["tools/list", "resources/read"], tools = ["lookup"] }
//! ```
//!
//! What may be cached is a protocol decision, written next to the code that
//! makes it (`cache` in the gateway); this file only holds the operator's
//! choices.

use serde::{Deserialize, Serialize};

use super::units::{ByteSize, Duration};

/// `cache = { … }`: which answers of a backend are kept, and for how long.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cache {
    /// How long an answer is served from memory. A stateless-era answer's
    /// own `ttlMs` can shorten it, never lengthen it. 60 s: list results
    /// change rarely, and a `list_changed` notification drops them sooner.
    pub ttl: Duration,
    /// Most bytes of cached answers kept; the least useful are evicted
    /// first. 64 MiB holds thousands of tool lists.
    pub max_bytes: ByteSize,
    /// Methods whose answers are cached. The default is the four list
    /// methods; `resources/read` and `prompts/get` are cached only when
    /// listed. `tools/call` is never listed here: see `tools`.
    pub methods: Vec<CacheMethod>,
    /// Tools whose `tools/call` answers are cached, because the operator
    /// knows they are read-only and idempotent.
    pub tools: Vec<String>,
    /// Also cache calls to tools the backend annotates with both
    /// `readOnlyHint` and `idempotentHint`. Annotations come from the
    /// server and are untrusted, so this is off unless the operator opts in.
    pub trust_annotations: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            ttl: Duration::secs(60),
            max_bytes: ByteSize(64 << 20),
            methods: CacheMethod::LISTS.to_vec(),
            tools: Vec::new(),
            trust_annotations: false,
        }
    }
}

/// A method whose answer may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum CacheMethod {
    /// `tools/list`.
    #[serde(rename = "tools/list")]
    ToolsList,
    /// `prompts/list`.
    #[serde(rename = "prompts/list")]
    PromptsList,
    /// `resources/list`.
    #[serde(rename = "resources/list")]
    ResourcesList,
    /// `resources/templates/list`.
    #[serde(rename = "resources/templates/list")]
    ResourceTemplatesList,
    /// `resources/read`.
    #[serde(rename = "resources/read")]
    ResourcesRead,
    /// `prompts/get`.
    #[serde(rename = "prompts/get")]
    PromptsGet,
}

// === impl CacheMethod ===

impl CacheMethod {
    /// The list methods, cached by default.
    pub const LISTS: [CacheMethod; 4] =
        [Self::ToolsList, Self::PromptsList, Self::ResourcesList, Self::ResourceTemplatesList];

    /// The JSON-RPC method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolsList => "tools/list",
            Self::PromptsList => "prompts/list",
            Self::ResourcesList => "resources/list",
            Self::ResourceTemplatesList => "resources/templates/list",
            Self::ResourcesRead => "resources/read",
            Self::PromptsGet => "prompts/get",
        }
    }
}

/// Checks that serde cannot make field by field: `(key under cache, message)`.
pub(super) fn check(cache: &Cache) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    if cache.max_bytes.0 < 1024 {
        issues.push(("cache.max_bytes".into(), "must be at least 1KiB".into()));
    }
    for (i, tool) in cache.tools.iter().enumerate() {
        let valid = (1..=128).contains(&tool.len())
            && tool.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid {
            issues.push((
                format!("cache.tools.{i}"),
                format!("`{tool}` is not a tool name (1 to 128 characters from A-Z a-z 0-9 _ . -)"),
            ));
        }
    }
    if cache.trust_annotations && !cache.methods.contains(&CacheMethod::ToolsList) {
        issues.push((
            "cache.trust_annotations".into(),
            "learns annotations from cached tools/list answers, so `methods` must include \"tools/list\"".into(),
        ));
    }
    issues
}

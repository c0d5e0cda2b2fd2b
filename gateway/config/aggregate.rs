//! Aggregated routes: one URL in front of several MCP servers.
//!
//! ```toml
//! [[routes]]
//! path = "/mcp"
//! members = [
//!   { backend = "context7" },                         # prefix defaults to the backend name
//!   { backend = "confluence", prefix = "wiki", tools = { deny = ["*delete*"] } },
//!   { backend = "standards", prefix = "" },           # names exposed as they are
//!   { prefix = "docs", split = [{ backend = "docs-v1", weight = 90 }, { backend = "docs-v2", weight = 10 }] },
//! ]
//! separator = "__"            # wiki__search
//! failure_mode = "open"       # a failed member is left out and named in `_meta`
//! member_timeout = "3s"       # per member, for initialize and the lists
//! collisions = "error"        # or "first"
//! pin_tools = true            # a changed tool definition waits for approval
//! pins = "pins.json"
//! ```
//!
//! A member is canaried with a `split` of its own, in place of `backend`:
//! a session stays on the side its member session opened on, as on a plain
//! route. Such a member names its `prefix`, since no one backend names it.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::side::{SplitSide, valid_name};
use super::units::Duration;

/// One member of an aggregated route.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The backend, when the member is not split.
    #[serde(default)]
    pub backend: Option<Spanned<String>>,
    /// Weighted backends, in place of `backend`: a canary of this member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<SplitSide>,
    /// Put before each of the member's names with the route's separator;
    /// `""` exposes the names as they are. Defaults to the backend's name.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The start every URI of this member's resources has, when it is known
    /// beforehand; otherwise URIs are learned from its lists.
    #[serde(default)]
    pub uri_prefix: Option<String>,
    /// Which tools are exposed, by their original names.
    #[serde(default)]
    pub tools: Filter,
    /// Which prompts are exposed, by their original names.
    #[serde(default)]
    pub prompts: Filter,
    /// Which resources (and resource templates) are exposed, by URI.
    #[serde(default)]
    pub resources: Filter,
}

/// Globs (`*` any run, `?` one character) on original names: a name is
/// exposed when `allow` is empty or one of its globs matches, and none of
/// `deny`'s does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Exposed names; empty for all.
    pub allow: Vec<String>,
    /// Names never exposed.
    pub deny: Vec<String>,
}

/// What a failed or slow member does to a fanned-out request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// It is left out, and `_meta["io.switchyard/degraded"]` names it.
    #[default]
    Open,
    /// The request fails with its error.
    Closed,
}

/// What happens when two members expose the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Collisions {
    /// Neither is exposed; the rest of the list is answered.
    #[default]
    Error,
    /// The earlier member in `members` keeps the name.
    First,
}

/// The aggregation settings of a route, with their defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Aggregation {
    /// Between a prefix and a name.
    pub separator: String,
    /// See [`FailureMode`].
    pub failure_mode: FailureMode,
    /// Each member's deadline in a fan-out (initialize, discover, the lists),
    /// its whole answer included.
    pub member_timeout: Duration,
    /// See [`Collisions`].
    pub collisions: Collisions,
    /// Withhold a tool whose definition changed until it is approved.
    pub pin_tools: bool,
    /// Where tool pins are kept; none: in memory only.
    pub pins: Option<std::path::PathBuf>,
    /// Most items on one page of a merged list.
    pub page_size: usize,
}

impl Default for Aggregation {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            failure_mode: FailureMode::Open,
            member_timeout: Duration::secs(3),
            collisions: Collisions::Error,
            pin_tools: false,
            pins: None,
            page_size: 500,
        }
    }
}

// === impl Member ===

impl Member {
    /// The member's key: its prefix, or for an unprefixed member its
    /// backend's name (or the first side's). Unique within a route.
    pub fn key(&self) -> String {
        match self.prefix.as_deref() {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => self.first_backend().to_string(),
        }
    }

    /// The prefix names are exposed under; `""` for none.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or_else(|| self.first_backend())
    }

    /// The sides as `(backend, weight)`.
    pub fn sides(&self) -> Vec<(&str, u32)> {
        match &self.backend {
            Some(b) => vec![(b.get_ref().as_str(), 1)],
            None => self.split.iter().map(|s| (s.backend.get_ref().as_str(), s.weight)).collect(),
        }
    }

    fn first_backend(&self) -> &str {
        match (&self.backend, self.split.first()) {
            (Some(b), _) => b.get_ref(),
            (None, Some(s)) => s.backend.get_ref(),
            (None, None) => "",
        }
    }
}

/// Whether `glob` (`*`, `?`) matches all of `name`.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n) = (glob.as_bytes(), name.as_bytes());
    let (mut gi, mut ni) = (0, 0);
    // The last `*` seen, and where in `name` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match g.get(gi) {
            Some(b'*') => {
                star = Some((gi, ni));
                gi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                gi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    gi = sg + 1;
                    ni = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

// === impl Filter ===

impl Filter {
    /// Whether `name` is exposed.
    pub fn admits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| glob_matches(g, name)))
            && !self.deny.iter().any(|g| glob_matches(g, name))
    }

    /// The names `allow` lists literally (no glob), which are known to be
    /// exposed if the member has them.
    fn literal_names(&self) -> impl Iterator<Item = &str> {
        self.allow.iter().map(String::as_str).filter(|g| !g.contains(['*', '?'])).filter(|n| self.admits(n))
    }
}

/// Checks of an aggregated route's members and settings, reported at
/// `at` (the route's path) when no member span is closer;
/// `(key, span start, message)`.
pub(super) fn check(
    members: &[Member],
    agg: &Aggregation,
    at: usize,
    backends: &std::collections::HashSet<&str>,
) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    if agg.separator.is_empty() || agg.separator.chars().any(|c| c.is_whitespace() || c == '/') {
        out.push(("separator".into(), at, "a separator is one or more characters, no spaces or `/`".into()));
    }
    if agg.page_size == 0 {
        out.push(("page_size".into(), at, "must be at least 1".into()));
    }
    // The session token counts members in one byte.
    if members.len() > usize::from(u8::MAX) {
        out.push(("members".into(), at, format!("at most {} members", u8::MAX)));
    }
    let mut keys = std::collections::HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let here = m.backend.as_ref().map(|b| b.span().start).or(m.split.first().map(|s| s.backend.span().start));
        let here = here.unwrap_or(at);
        match (&m.backend, m.split.is_empty()) {
            (Some(_), false) => out.push((format!("members.{i}.split"), here, "give `backend` or `split`".into())),
            (None, true) => out.push((format!("members.{i}.backend"), here, "a member needs `backend`".into())),
            (None, false) if m.prefix.is_none() => {
                out.push((format!("members.{i}.prefix"), here, "a split member needs a `prefix`".into()));
            }
            _ => {}
        }
        for (j, (backend, _)) in m.sides().into_iter().enumerate() {
            if !backends.contains(backend) {
                let key = if m.backend.is_some() {
                    format!("members.{i}.backend")
                } else {
                    format!("members.{i}.split.{j}.backend")
                };
                out.push((key, here, format!("no backend is named `{backend}`")));
            }
        }
        if !m.split.is_empty() && m.split.iter().all(|s| s.weight == 0) {
            out.push((format!("members.{i}.split"), here, "at least one side needs a weight above 0".into()));
        }
        let prefix = m.prefix();
        if !agg.separator.is_empty() && prefix.contains(agg.separator.as_str()) {
            out.push((
                format!("members.{i}.prefix"),
                here,
                format!("`{prefix}` contains the separator `{}`, so its names could not be told apart", agg.separator),
            ));
        }
        if !valid_name(&m.key()) {
            out.push((
                format!("members.{i}.prefix"),
                here,
                "a prefix uses only letters, digits, `-`, `_` and `.`".into(),
            ));
        }
        if !keys.insert(m.key()) {
            out.push((format!("members.{i}.prefix"), here, format!("two members are both `{}`", m.key())));
        }
        // Two members claiming the same URIs: a collision the file shows. A
        // longer prefix inside a shorter one is a choice (the longest wins).
        if let Some(uri) = &m.uri_prefix
            && let Some(first) = members[..i].iter().position(|o| o.uri_prefix.as_ref() == Some(uri))
        {
            out.push((
                format!("members.{i}.uri_prefix"),
                here,
                format!("`{uri}` is also member {first}'s uri_prefix; their resources would collide"),
            ));
        }
    }
    out.extend(static_collisions(members, &agg.separator, at));
    out
}

/// Names two members are known to expose alike: literal `allow` entries
/// that come out the same once prefixed.
fn static_collisions(members: &[Member], sep: &str, at: usize) -> Vec<(String, usize, String)> {
    let mut seen: std::collections::HashMap<(usize, String), usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let lists = [(0, "tools", &m.tools), (1, "prompts", &m.prompts)];
        for (kind, field, filter) in lists {
            for name in filter.literal_names() {
                let exposed =
                    if m.prefix().is_empty() { name.to_string() } else { format!("{}{sep}{name}", m.prefix()) };
                if let Some(first) = seen.insert((kind, exposed.clone()), i)
                    && first != i
                {
                    out.push((
                        format!("members.{i}.{field}.allow"),
                        at,
                        format!("`{exposed}` would be exposed by members {first} and {i}; give one a prefix"),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("search*", "search_pages"));
        assert!(glob_matches("*delete*", "bulk_delete_all"));
        assert!(glob_matches("a?c", "abc"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("search*", "research"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*a*b", "xaxxb"));
        assert!(!glob_matches("*a*b", "xaxxbc"));
    }

    #[test]
    fn filters_allow_then_deny() {
        let f = Filter { allow: vec!["search*".into()], deny: vec!["*_admin".into()] };
        assert!(f.admits("search_pages"));
        assert!(!f.admits("search_admin"));
        assert!(!f.admits("delete"));
        assert!(Filter::default().admits("anything"));
    }
}

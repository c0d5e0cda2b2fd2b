//! Routes: a path, and the backend (or weighted split of backends) behind it.
//!
//! ```toml
//! [[routes]]
//! path = "/mcp"
//! split = [{ backend = "blue", weight = 90 }, { backend = "green", weight = 10 }]
//! sticky_header = "x-user-id"   # one user stays on one side (stateless requests)
//! allow_override = true         # honour `x-switchyard-backend` (testing a canary)
//! ```
//!
//! `backend = "x"` is shorthand for a split with one side. A route's `name`,
//! which the admin API uses, defaults to its path without the leading slash
//! and with every other slash turned into `-`: `/mcp` is `mcp`,
//! `/files/mcp` is `files-mcp`.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::aggregate::{Aggregation, Collisions, FailureMode, Member};
pub use super::side::{MAX_WEIGHT, SplitSide, valid_name};
use super::units::Duration;
use super::values::{HeaderKey, RoutePath};

/// One `[[routes]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The path clients post to; also the session token's associated data.
    pub path: Spanned<RoutePath>,
    /// The admin API's name for the route; see [`Route::name`].
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// The one backend, when there is no split.
    #[serde(default)]
    pub backend: Option<Spanned<String>>,
    /// Weighted backends, in place of `backend`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<SplitSide>,
    /// A request header whose value picks the side of a stateless request by
    /// a stable hash, so one user stays on one side.
    #[serde(default)]
    pub sticky_header: Option<HeaderKey>,
    /// Whether `x-switchyard-backend` may name the side directly.
    #[serde(default)]
    pub allow_override: bool,
    /// The servers an aggregated route puts behind one URL, in place of
    /// `backend` or `split` (see `config::aggregate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// Between a member's prefix and a name.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// What a failed member does to a fanned-out request.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Each member's deadline in a fan-out, its whole answer included.
    #[serde(default = "default_member_timeout")]
    pub member_timeout: Duration,
    /// What happens when two members expose the same name.
    #[serde(default)]
    pub collisions: Collisions,
    /// Withhold a tool whose definition changed until an operator approves it.
    #[serde(default)]
    pub pin_tools: bool,
    /// The file tool pins persist in.
    #[serde(default)]
    pub pins: Option<std::path::PathBuf>,
    /// Most items on one page of a merged list.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The `[[auth]]` block whose credentials the route requires; without
    /// one the route is open to anyone who can reach it.
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
}

fn default_separator() -> String {
    Aggregation::default().separator
}

fn default_member_timeout() -> Duration {
    Aggregation::default().member_timeout
}

fn default_page_size() -> usize {
    Aggregation::default().page_size
}

// === impl Route ===

impl Route {
    /// The route's name: the configured one, or one derived from the path.
    pub fn name(&self) -> String {
        match &self.name {
            Some(n) => n.get_ref().clone(),
            None => name_from_path(self.path.get_ref().as_str()),
        }
    }

    /// The sides as `(backend, weight)`, whichever way the file wrote them.
    /// An aggregated route's are its members' backends, once each, weight 1:
    /// what its metrics and the admin API list.
    pub fn sides(&self) -> Vec<(&str, u32)> {
        if !self.members.is_empty() {
            let mut sides: Vec<(&str, u32)> = Vec::new();
            for (backend, _) in self.members.iter().flat_map(Member::sides) {
                if !sides.iter().any(|(b, _)| *b == backend) {
                    sides.push((backend, 1));
                }
            }
            return sides;
        }
        match &self.backend {
            Some(b) => vec![(b.get_ref().as_str(), 1)],
            None => self.split.iter().map(|s| (s.backend.get_ref().as_str(), s.weight)).collect(),
        }
    }
}

impl Route {
    /// The aggregation settings, whether or not the route has members.
    pub fn aggregation(&self) -> Aggregation {
        Aggregation {
            separator: self.separator.clone(),
            failure_mode: self.failure_mode,
            member_timeout: self.member_timeout,
            collisions: self.collisions,
            pin_tools: self.pin_tools,
            pins: self.pins.clone(),
            page_size: self.page_size,
        }
    }
}

/// `/mcp` → `mcp`, `/files/mcp` → `files-mcp`, `/` → `root`.
pub fn name_from_path(path: &str) -> String {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() { "root".to_string() } else { trimmed.replace('/', "-") }
}

/// Checks of one route against the backend names; `(key, span start, message)`.
pub fn check(route: &Route, backends: &std::collections::HashSet<&str>) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let path_at = route.path.span().start;
    if let Some(n) = &route.name
        && !valid_name(n.get_ref())
    {
        out.push(("name".into(), n.span().start, "a route name uses only letters, digits, `-`, `_` and `.`".into()));
    }
    if !route.members.is_empty() {
        if route.backend.is_some() || !route.split.is_empty() {
            out.push(("members".into(), path_at, "give `members`, or `backend` / `split`, not both".into()));
        }
        if route.allow_override || route.sticky_header.is_some() {
            out.push((
                "members".into(),
                path_at,
                "`allow_override` and `sticky_header` pick a side of a split; give a member a `split` instead".into(),
            ));
        }
        out.extend(super::aggregate::check(&route.members, &route.aggregation(), path_at, backends));
        return out;
    }
    match (&route.backend, route.split.is_empty()) {
        (Some(_), false) => {
            out.push(("split".into(), path_at, "give either `backend` or `split`, not both".into()));
        }
        (None, true) => {
            out.push(("backend".into(), path_at, "a route needs `backend`, `split` or `members`".into()));
        }
        _ => {}
    }
    if let Some(b) = &route.backend
        && !backends.contains(b.get_ref().as_str())
    {
        out.push(("backend".into(), b.span().start, format!("no backend is named `{}`", b.get_ref())));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, side) in route.split.iter().enumerate() {
        let name = side.backend.get_ref().as_str();
        if !backends.contains(name) {
            out.push((
                format!("split.{i}.backend"),
                side.backend.span().start,
                format!("no backend is named `{name}`"),
            ));
        }
        if !seen.insert(name) {
            out.push((format!("split.{i}.backend"), side.backend.span().start, format!("`{name}` is listed twice")));
        }
        if side.weight > MAX_WEIGHT {
            out.push((
                format!("split.{i}.weight"),
                side.backend.span().start,
                format!("weight {} is above the maximum of {}", side.weight, MAX_WEIGHT),
            ));
        }
    }
    if let Some(first) = route.split.first()
        && route.backend.is_none()
        && route.split.iter().all(|s| s.weight == 0)
    {
        out.push(("split".into(), first.backend.span().start, "at least one side needs a weight above 0".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_paths() {
        assert_eq!(name_from_path("/mcp"), "mcp");
        assert_eq!(name_from_path("/files/mcp"), "files-mcp");
        assert_eq!(name_from_path("/"), "root");
        assert!(valid_name("files-mcp"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}

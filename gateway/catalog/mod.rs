//! The catalog of an aggregated route: its members' lists in, one list out.
//!
//! Pure functions over the members' JSON, so that every rule of the merge
//! is tested here without a socket:
//! - a tool or prompt is exposed as `prefix + separator + name` (just `name`
//!   for an unprefixed member); resources keep their URIs, which are
//!   already global;
//! - a member's filter (globs on the original name or URI) decides what it
//!   exposes at all;
//! - two members exposing the same name (or URI) is a collision, resolved by
//!   the route's rule and always reported, never dropped in silence;
//! - the merged list is in member order, then by name, so that two lists of
//!   the same catalog are byte-for-byte the same (the 2026-07-28 caching
//!   rules ask for a stable order), and the gateway pages it itself.
//!
//! [`server`] merges `initialize` and `server/discover` results; [`pins`]
//! guards tool definitions against change.

mod cursor;
pub mod pins;
pub mod server;

use serde_json::{Map, Value};

pub use cursor::{Page, page};

use crate::config::{Collisions, Filter};

/// One of the lists an MCP server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `tools/list`.
    Tools,
    /// `prompts/list`.
    Prompts,
    /// `resources/list`.
    Resources,
    /// `resources/templates/list`.
    ResourceTemplates,
}

// === impl Kind ===

impl Kind {
    /// The list a method asks for.
    pub fn of_method(method: &str) -> Option<Kind> {
        Some(match method {
            "tools/list" => Kind::Tools,
            "prompts/list" => Kind::Prompts,
            "resources/list" => Kind::Resources,
            "resources/templates/list" => Kind::ResourceTemplates,
            _ => return None,
        })
    }

    /// The method that lists it.
    pub fn method(self) -> &'static str {
        match self {
            Kind::Tools => "tools/list",
            Kind::Prompts => "prompts/list",
            Kind::Resources => "resources/list",
            Kind::ResourceTemplates => "resources/templates/list",
        }
    }

    /// The field of the result that holds the items.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Tools => "tools",
            Kind::Prompts => "prompts",
            Kind::Resources => "resources",
            Kind::ResourceTemplates => "resourceTemplates",
        }
    }

    /// The field of an item that names it.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Tools | Kind::Prompts => "name",
            Kind::Resources => "uri",
            Kind::ResourceTemplates => "uriTemplate",
        }
    }

    /// Whether items are renamed with the member's prefix (URIs are not).
    pub fn prefixed(self) -> bool {
        matches!(self, Kind::Tools | Kind::Prompts)
    }

    /// The capability a server declares when it serves this list.
    pub fn capability(self) -> &'static str {
        match self {
            Kind::Tools => "tools",
            Kind::Prompts => "prompts",
            Kind::Resources | Kind::ResourceTemplates => "resources",
        }
    }
}

/// How one member's names are exposed.
#[derive(Clone, Copy, Debug)]
pub struct Naming<'a> {
    /// The member's prefix; `""` for none.
    pub prefix: &'a str,
    /// The route's separator.
    pub separator: &'a str,
}

// === impl Naming ===

impl Naming<'_> {
    /// The name a client sees for `name`.
    pub fn expose(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            let mut out = String::with_capacity(self.prefix.len() + self.separator.len() + name.len());
            out.push_str(self.prefix);
            out.push_str(self.separator);
            out.push_str(name);
            out
        }
    }

    /// The member's own name for `exposed`, when it is one of this prefix's.
    /// An unprefixed member claims nothing here: only its list can tell.
    pub fn strip<'n>(&self, exposed: &'n str) -> Option<&'n str> {
        if self.prefix.is_empty() {
            return None;
        }
        exposed.strip_prefix(self.prefix)?.strip_prefix(self.separator).filter(|rest| !rest.is_empty())
    }
}

/// What one member listed, in full (every page).
pub struct MemberList<'a> {
    /// How its names are exposed.
    pub naming: Naming<'a>,
    /// What it may expose.
    pub filter: &'a Filter,
    /// The items, as the member sent them.
    pub items: Vec<Value>,
}

/// A name more than one member exposes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Collision {
    /// The list.
    pub list: &'static str,
    /// The exposed name or URI.
    pub name: String,
    /// The members exposing it, in member order.
    pub members: Vec<String>,
    /// The member that keeps it (`collisions = "first"`), or none.
    pub kept: Option<String>,
}

/// Where an exposed item comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The member's index in the route.
    pub member: usize,
    /// The member's own name (or URI) for it.
    pub original: String,
}

/// The merged list.
#[derive(Debug, Default)]
pub struct Merged {
    /// The items, renamed, in order.
    pub items: Vec<Value>,
    /// The exposed name (or URI) and owner of each item, in the same order.
    pub owners: Vec<(String, Owner)>,
    /// The collisions found.
    pub collisions: Vec<Collision>,
}

// === impl Merged ===

impl Merged {
    /// The owner of an exposed name (or URI).
    pub fn owner(&self, exposed: &str) -> Option<&Owner> {
        self.owners.iter().find(|(name, _)| name == exposed).map(|(_, o)| o)
    }
}

/// Merges the members' lists of `kind`, in member order (`lists[i]` is
/// member `i`, or `None` when it is left out), under `rule`. Collisions
/// name members by index; [`name_members`] puts in their keys.
pub fn merge(kind: Kind, lists: Vec<Option<MemberList<'_>>>, rule: Collisions) -> Merged {
    struct Entry {
        exposed: String,
        member: usize,
        original: String,
        item: Value,
    }
    let mut all: Vec<Entry> = Vec::new();
    for (member, list) in lists.into_iter().enumerate() {
        let Some(list) = list else { continue };
        let mut mine: Vec<Entry> = list
            .items
            .into_iter()
            .filter_map(|item| {
                let original = item.get(kind.key())?.as_str()?.to_string();
                if !list.filter.admits(&original) {
                    return None;
                }
                let exposed = if kind.prefixed() { list.naming.expose(&original) } else { original.clone() };
                Some(Entry { exposed, member, original, item })
            })
            .collect();
        mine.sort_by(|a, b| a.original.cmp(&b.original));
        // A member listing one name twice (over two pages) keeps the first.
        mine.dedup_by(|b, a| a.original == b.original);
        all.extend(mine);
    }
    let mut holders: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for e in &all {
        holders.entry(e.exposed.as_str()).or_default().push(e.member);
    }
    let mut out = Merged::default();
    let mut reported = std::collections::HashSet::new();
    let mut keep = Vec::with_capacity(all.len());
    for e in &all {
        let members = &holders[e.exposed.as_str()];
        let shared = members.len() > 1;
        if shared && reported.insert(e.exposed.clone()) {
            out.collisions.push(Collision {
                list: kind.field(),
                name: e.exposed.clone(),
                members: members.iter().map(usize::to_string).collect(),
                kept: (rule == Collisions::First).then(|| members[0].to_string()),
            });
        }
        keep.push(!shared || (rule == Collisions::First && members[0] == e.member));
    }
    for (e, keep) in all.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        let Entry { exposed, member, original, mut item } = e;
        if kind.prefixed()
            && let Some(obj) = item.as_object_mut()
        {
            obj.insert(kind.key().into(), Value::String(exposed.clone()));
        }
        out.items.push(item);
        out.owners.push((exposed, Owner { member, original }));
    }
    out
}

/// Names the members of each collision by key, in place of their indexes.
pub fn name_members(collisions: &mut [Collision], keys: &[&str]) {
    let key = |s: &str| s.parse::<usize>().ok().and_then(|i| keys.get(i)).map_or(s.to_string(), |k| k.to_string());
    for c in collisions {
        c.members = c.members.iter().map(|m| key(m)).collect();
        c.kept = c.kept.as_deref().map(key);
    }
}

/// Sets `result._meta[key] = value`, making `_meta` when it is missing.
pub fn set_meta(result: &mut Value, key: &str, value: Value) {
    let Some(obj) = result.as_object_mut() else { return };
    let meta = obj.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(key.to_string(), value);
    }
}

/// The `_meta` key that names the members left out of a result.
pub const DEGRADED: &str = "io.switchyard/degraded";

#[cfg(test)]
mod tests;

//! An aggregated route's members, and what the route learns about them.
//!
//! Each member is a backend (or a weighted split of backends) with its own
//! pool, balancing, health, deadlines, retries, cache and limits: its sides
//! are sides of the route's split, so they share its metrics and limits.
//! The front door's `aggregate` folder does the fanning out; this is the
//! state it keeps between requests:
//!
//! - **replica-local member sessions.** A session token is sealed at
//!   `initialize` and cannot change. When a member's upstream session
//!   expires, or a member left out at `initialize` comes back, the replica
//!   that notices opens a new upstream session with that member alone and
//!   keeps it here, keyed by (client session, member). Another replica that
//!   meets the same expiry does the same on its own: the member's state for
//!   that session was lost with the expiry anyway. The map is bounded
//!   ([`MAX_LOCAL_SESSIONS`]); an entry pushed out only costs one more
//!   re-initialize.
//! - **what the lists showed**: which member owns an unprefixed name or a
//!   URI, and the collisions of the last merge, for `/admin/routes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::split::{Side, Split};
use crate::catalog::pins::Pins;
use crate::catalog::{Collision, Kind, Naming};
use crate::config::{self, Aggregation, Filter};
use crate::session::MemberSession;

/// Most replica-local member sessions an aggregated route keeps.
pub const MAX_LOCAL_SESSIONS: usize = 100_000;

/// How long a member that failed to initialize for a session is left out of
/// it before the next try, so that a member that is down costs each request
/// nothing rather than a `member_timeout`.
pub const RETRY_MEMBER_AFTER: Duration = Duration::from_secs(5);

/// The members of an aggregated route and its settings.
pub struct Aggregate {
    /// Separator, failure mode, timeouts, collisions rule.
    pub settings: Aggregation,
    /// The members, in the file's order.
    pub members: Vec<Member>,
    /// What the route has learned (carried over by a reload that keeps the
    /// same members).
    pub state: Arc<State>,
    /// The route's tool pins.
    pub pins: Arc<Pins>,
}

/// One member.
pub struct Member {
    /// Its key: the prefix, or the backend's name when unprefixed.
    pub key: Arc<str>,
    /// The prefix names are exposed under; empty for none.
    pub prefix: Arc<str>,
    /// The start of every URI it serves, when configured.
    pub uri_prefix: Option<String>,
    /// Its filters.
    tools: Filter,
    prompts: Filter,
    resources: Filter,
    /// Its backends.
    split: Split,
}

/// A member session as the route knows it on this replica.
#[derive(Clone, Debug)]
pub enum Local {
    /// Opened here, replacing (or standing in for) the token's.
    Session(MemberSession),
    /// Could not be opened at this time; tried again after
    /// [`RETRY_MEMBER_AFTER`].
    Failed(Instant),
}

/// What the route learns as it serves.
#[derive(Default)]
pub struct State {
    sessions: Mutex<HashMap<(u64, usize), Local>>,
    /// Client sessions deleted here, so that their token gets 404 rather
    /// than new member sessions (bounded like the map).
    deleted: Mutex<std::collections::HashSet<u64>>,
    owners: Mutex<HashMap<(Kind, String), usize>>,
    collisions: Mutex<HashMap<Kind, Vec<Collision>>>,
}

// === impl Aggregate ===

impl Aggregate {
    /// The members of `cfg` over `route_split` (the route's split of every
    /// member backend). `previous` is the aggregate this one replaces on
    /// reload: its state carries over when the members are the same.
    pub fn build(cfg: &config::Route, route_split: &Split, previous: Option<&Aggregate>) -> Result<Aggregate, String> {
        let members = cfg
            .members
            .iter()
            .map(|m| {
                let split =
                    route_split.subset(&m.sides()).ok_or_else(|| format!("member `{}` has no usable side", m.key()))?;
                Ok(Member {
                    key: m.key().into(),
                    prefix: m.prefix().into(),
                    uri_prefix: m.uri_prefix.clone(),
                    tools: m.tools.clone(),
                    prompts: m.prompts.clone(),
                    resources: m.resources.clone(),
                    split,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let settings = cfg.aggregation();
        let same_members = previous.is_some_and(|p| {
            p.members.iter().map(|m| &m.key).eq(members.iter().map(|m| &m.key)) && p.settings.pins == settings.pins
        });
        let (state, pins) = match previous {
            Some(p) if same_members => {
                if let Err(e) = p.pins.reload() {
                    tracing::warn!(route = cfg.path.get_ref().as_str(), "tool pins not read again: {e}");
                }
                (p.state.clone(), p.pins.clone())
            }
            _ => (Arc::default(), Arc::new(Pins::load(settings.pins.as_deref())?)),
        };
        Ok(Aggregate { settings, members, state, pins })
    }

    /// The member whose prefix `exposed` carries, and its own name.
    pub fn by_prefix<'n>(&self, exposed: &'n str) -> Option<(usize, &'n str)> {
        self.members.iter().enumerate().find_map(|(i, m)| Some((i, self.naming(m).strip(exposed)?)))
    }

    /// The members without a prefix.
    pub fn unprefixed(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().enumerate().filter(|(_, m)| m.prefix.is_empty()).map(|(i, _)| i)
    }

    /// The member whose `uri_prefix` is the longest start of `uri`.
    pub fn by_uri_prefix(&self, uri: &str) -> Option<usize> {
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, m.uri_prefix.as_deref().filter(|p| uri.starts_with(p))?.len())))
            .max_by_key(|(_, len)| *len)
            .map(|(i, _)| i)
    }

    /// How a member's names are exposed.
    pub fn naming<'a>(&'a self, m: &'a Member) -> Naming<'a> {
        Naming { prefix: &m.prefix, separator: &self.settings.separator }
    }

    /// The prefixes, for the message of an unknown name.
    pub fn prefixes(&self) -> String {
        let named: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                if m.prefix.is_empty() {
                    format!("{} (unprefixed)", m.key)
                } else {
                    format!("{}{}", m.prefix, self.settings.separator)
                }
            })
            .collect();
        named.join(", ")
    }
}

// === impl Member ===

impl Member {
    /// Its filter for a list.
    pub fn filter(&self, kind: Kind) -> &Filter {
        match kind {
            Kind::Tools => &self.tools,
            Kind::Prompts => &self.prompts,
            Kind::Resources | Kind::ResourceTemplates => &self.resources,
        }
    }

    /// A side for a new member session, by weight.
    pub fn pick(&self) -> Option<Arc<Side>> {
        self.split.choose(rand::random()).cloned()
    }

    /// The side a member session names.
    pub fn side(&self, backend: &str) -> Option<Arc<Side>> {
        self.split.named(backend).cloned()
    }

    /// Its sides.
    pub fn sides(&self) -> &[Arc<Side>] {
        self.split.sides()
    }
}

// === impl State ===

impl State {
    /// The member session this replica holds for (`session`, `member`).
    pub fn local(&self, session: u64, member: usize) -> Option<Local> {
        self.sessions.lock().ok()?.get(&(session, member)).cloned()
    }

    /// Keeps a member session (or a failure) for (`session`, `member`).
    pub fn keep(&self, session: u64, member: usize, local: Local) {
        let Ok(mut map) = self.sessions.lock() else { return };
        if map.len() >= MAX_LOCAL_SESSIONS && !map.contains_key(&(session, member)) {
            // Bounded: drop some entry; its session re-initializes that
            // member once more if it comes back.
            if let Some(k) = map.keys().next().copied() {
                map.remove(&k);
            }
        }
        map.insert((session, member), local);
    }

    /// Forgets a client session's member sessions: it was deleted, and its
    /// token is refused from now on, on this replica.
    pub fn forget(&self, session: u64) {
        if let Ok(mut map) = self.sessions.lock() {
            map.retain(|(s, _), _| *s != session);
        }
        if let Ok(mut deleted) = self.deleted.lock() {
            if deleted.len() >= MAX_LOCAL_SESSIONS {
                deleted.clear();
            }
            deleted.insert(session);
        }
    }

    /// Whether the client session was deleted here.
    pub fn deleted(&self, session: u64) -> bool {
        self.deleted.lock().is_ok_and(|d| d.contains(&session))
    }

    /// Records which member owns each exposed name of a merged list, and the
    /// collisions it had.
    pub fn learn(&self, kind: Kind, owners: impl Iterator<Item = (String, usize)>, collisions: Vec<Collision>) {
        if let Ok(mut map) = self.owners.lock() {
            map.retain(|(k, _), _| *k != kind);
            map.extend(owners.map(|(name, m)| ((kind, name), m)));
        }
        if let Ok(mut map) = self.collisions.lock() {
            map.insert(kind, collisions);
        }
    }

    /// The member that owns an exposed name, as the last list showed.
    pub fn owner(&self, kind: Kind, exposed: &str) -> Option<usize> {
        self.owners.lock().ok()?.get(&(kind, exposed.to_string())).copied()
    }

    /// The member owning the first exposed name of `kind` that `matches`.
    pub fn owner_where(&self, kind: Kind, matches: impl Fn(&str) -> bool) -> Option<usize> {
        let map = self.owners.lock().ok()?;
        map.iter().find(|((k, name), _)| *k == kind && matches(name)).map(|(_, m)| *m)
    }

    /// The collisions of the last merge of every list.
    pub fn collisions(&self) -> Vec<Collision> {
        let Ok(map) = self.collisions.lock() else { return Vec::new() };
        let mut all: Vec<Collision> = map.values().flatten().cloned().collect();
        all.sort_by(|a, b| (a.list, &a.name).cmp(&(b.list, &b.name)));
        all
    }
}

//! The runtime tables a config builds, and their replacement on reload.
//!
//! ```text
//! config file ─▶ validated Config ─▶ Runtime (routes, backends, front) ─▶ ArcSwap in Live
//! ```
//!
//! A request loads the current [`Runtime`] once and uses it to the end, so
//! a reload never changes a request halfway. A reload builds a new runtime
//! next to the old one and swaps it in whole:
//!
//! - A backend whose config did not change is **carried over**: the same
//!   object, with its instances' live records (health, ejection, drain,
//!   weight, load), its probe tasks, its connection pool, its retry budget,
//!   and, for stdio, its running processes and their sessions. Sessions and
//!   SSE streams on it do not notice the reload.
//! - A backend that changed, or left the file, is rebuilt or dropped. Its
//!   requests in flight hold their own references and finish; it gets no
//!   new ones. A rebuilt HTTP backend keeps the live records of the
//!   instances that did not change (same URL, weight and position), so a
//!   new timeout does not forget which instance is down. stdio processes of such a backend are stopped once
//!   `shutdown_grace` has passed, which is how long their streams may run on.
//! - A rate-limit rule whose own settings did not change keeps its buckets,
//!   so a throttled client stays throttled; a backend whose `max_in_flight`
//!   did not change keeps its count of requests in flight. What changed
//!   starts fresh (see [`crate::limit`]).
//! - A route's split is rebuilt from the file. Sides that sessions may still
//!   be on (the old split's backends that carried over) stay with weight 0,
//!   so that those sessions keep working.
//! - Splits changed through the admin API survive a reload when the file
//!   did not change that route's split since it was last loaded; when it
//!   did, the file wins. Either way the reload logs the split it kept or
//!   dropped, with the old and new values: nothing is lost silently.
//!
//! What a reload cannot change, because it belongs to a socket or task
//! already running, is logged as needing a restart: `listen`, `tls`,
//! `admin_listen`, `watch_config`, `shutdown_grace` (of the listeners),
//! `max_connections`, `max_connections_per_ip`, `header_read_timeout`,
//! `max_headers`, `h2_max_concurrent_streams`. Admin tokens do
//! change on reload, so that a leaked one is revoked by editing the file.

pub mod reload;

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::{Authenticator, Policy};
use crate::backend::{Backend, BuildError, HttpClient};
use crate::cache::Cache;
use crate::config::{Config, Transport};
use crate::front::{Front, Settings};
use crate::health::Checker;
use crate::limit::Limits;
use crate::route::Target;
use crate::route::split::{Targets, Weight};
use crate::route::{self, Route};
use crate::session::SessionKey;
use crate::stack;
use crate::stdio::StdioBackend;
use crate::table::Pool;

/// Everything one config builds that requests use.
pub struct Runtime {
    /// Routes, session key and front-door settings.
    pub front: Front,
    /// Every backend by name, as routes and the admin API reach them.
    pub targets: Targets,
    /// The rate-limit rules and admission caps.
    pub limits: Arc<Limits>,
    /// The backends with what made them, to tell on reload which carry over.
    backends: HashMap<String, Built>,
    /// The `[[auth]]` blocks by name, each with its config as JSON, so that
    /// an unchanged block keeps its fetched keys and verified tokens.
    auth: HashMap<String, (String, Arc<Authenticator>)>,
    /// The config it was built from.
    pub config: Config,
}

/// The `[[auth]]` blocks, carried over from `previous` when unchanged.
fn build_auth(
    config: &Config,
    previous: Option<&Runtime>,
) -> Result<HashMap<String, (String, Arc<Authenticator>)>, BuildError> {
    let mut built = HashMap::new();
    for a in &config.auth {
        let name = a.name.get_ref().clone();
        // A JWKS file's contents too, as with a backend's `ca`: an operator
        // who removes a compromised key from the file and reloads must see
        // it stop working now, not at the next unknown `kid`.
        let jwks_file = a.jwt.as_ref().map(|j| j.jwks.get_ref()).filter(|s| !s.starts_with("http"));
        let contents = jwks_file.and_then(|path| std::fs::read(path).ok()).unwrap_or_default();
        let fingerprint = format!("{}{}", serde_json::to_string(a).unwrap_or_default(), ring_digest(&contents));
        let old = previous.and_then(|p| p.auth.get(&name)).filter(|(f, _)| *f == fingerprint);
        let authenticator = match old {
            Some((_, old)) => old.clone(),
            None => Arc::new(Authenticator::build(a, || HttpClient::new(JWKS_CONNECT_TIMEOUT, None, None))?),
        };
        built.insert(name, (fingerprint, authenticator));
    }
    Ok(built)
}

/// How long connecting to an issuer's JWKS may take.
const JWKS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A backend, its config's fingerprint, and what runs for it.
#[derive(Clone)]
struct Built {
    /// The backend's config as JSON: equal text, equal backend.
    fingerprint: String,
    /// The runtime object.
    target: Arc<Target>,
    /// The HTTP backend's probe tasks (stopped when the last holder drops).
    _probes: Option<Arc<Checker>>,
}

/// What a new runtime left behind from the old one.
#[derive(Default)]
pub struct Leftovers {
    /// stdio backends no longer served, to stop after the grace period.
    pub stdio: Vec<Arc<StdioBackend>>,
    /// Names of backends carried over unchanged.
    pub kept: Vec<String>,
    /// Names of backends built anew (new or changed).
    pub built: Vec<String>,
    /// Names of backends dropped (removed or changed).
    pub dropped: Vec<String>,
    /// Paths of routes whose admin-API split was put back on the new route.
    pub api_kept: Vec<String>,
}

// === impl Runtime ===

impl Runtime {
    /// Builds the runtime for `config`, carrying over from `previous` what
    /// did not change. `api_splits` are the splits the admin API set on the
    /// previous runtime, by route path. Must run inside a tokio runtime.
    pub fn build(
        config: Config,
        previous: Option<&Runtime>,
        api_splits: &HashMap<String, Vec<Weight>>,
    ) -> Result<(Runtime, Leftovers), BuildError> {
        let mut left = Leftovers::default();
        let mut backends = HashMap::new();
        for b in &config.backends {
            let name = b.name.get_ref().clone();
            // The contents of the CA and client certificate files too: a
            // rotated file at the same path is a change.
            let files = [b.ca.as_deref(), b.client_identity().map(|(c, _)| c), b.client_identity().map(|(_, k)| k)];
            let contents: Vec<u8> =
                files.into_iter().flatten().flat_map(|p| std::fs::read(p).unwrap_or_default()).collect();
            let fingerprint = format!("{}{}", serde_json::to_string(b).unwrap_or_default(), ring_digest(&contents));
            let old = previous.and_then(|p| p.backends.get(&name)).filter(|o| o.fingerprint == fingerprint);
            let built = match old {
                Some(old) => {
                    left.kept.push(name.clone());
                    old.clone()
                }
                None => {
                    left.built.push(name.clone());
                    let before = previous.and_then(|p| p.backends.get(&name)).and_then(|o| o.target.http().cloned());
                    build_backend(b, fingerprint, before.as_deref())?
                }
            };
            backends.insert(name, built);
        }
        if let Some(p) = previous {
            for (name, old) in &p.backends {
                let carried = backends.get(name).is_some_and(|b| Arc::ptr_eq(&b.target, &old.target));
                if !carried {
                    left.dropped.push(name.clone());
                    if let Some(s) = old.target.stdio() {
                        left.stdio.push(s.clone());
                    }
                    zero_gone_gauges(&old.target, backends.get(name).map(|b| &*b.target));
                }
            }
        }
        let targets: Targets = backends.iter().map(|(n, b)| (Arc::from(n.as_str()), b.target.clone())).collect();
        // Each rule's buckets, and each cap's count, carry over unless its
        // own settings changed.
        let limits = Arc::new(Limits::rebuild(&config, previous.map(|p| &*p.limits)));
        let auth = build_auth(&config, previous)?;
        let policies: HashMap<&str, Arc<Policy>> =
            config.authz.iter().map(|z| (z.route.get_ref().as_str(), Arc::new(Policy::new(z)))).collect();
        let mut routes = Vec::new();
        for r in &config.routes {
            let path = r.path.get_ref().as_str();
            let before = previous.and_then(|p| p.front.route(path));
            let Some(route) = route::build(r, &targets, &limits, before.map(|b| &**b)) else {
                continue;
            };
            if let Some(api) = api_splits.get(path) {
                // Whether the operator edited this route's split in the file.
                let file_unchanged = previous.and_then(|p| p.file_sides(path)) == Some(r.sides());
                if keep_api_split(&route, api, file_unchanged, &targets, &limits) {
                    left.api_kept.push(path.to_string());
                }
            }
            let mut route = route;
            route.auth = r.auth.as_ref().and_then(|name| auth.get(name.get_ref())).map(|(_, a)| a.clone());
            route.authz = policies.get(path).cloned();
            routes.push(route);
        }
        // The same secret keeps the same key; without a secret, the random key
        // carries over too, or every reload would end every session. A new
        // `session_ttl` applies to the tokens already out, too.
        let ttl = config.gateway.session_ttl.0;
        let key = match previous {
            Some(p) if p.config.gateway.session_key == config.gateway.session_key => match p.front.key() {
                old if old.ttl() == ttl => old.clone(),
                old => Arc::new(old.with_ttl(ttl)),
            },
            _ => Arc::new(session_key(&config).with_ttl(ttl)),
        };
        let front = Front::new(routes, key, settings(&config));
        Ok((Runtime { front, targets, limits, backends, auth, config }, left))
    }

    /// The split the file gave the route at `path`.
    pub fn file_sides(&self, path: &str) -> Option<Vec<(&str, u32)>> {
        self.config.routes.iter().find(|r| r.path.get_ref().as_str() == path).map(|r| r.sides())
    }

    /// Every backend's pool of instances, for the live table.
    pub fn pools(&self) -> Vec<Arc<dyn Pool>> {
        self.targets.values().map(|t| t.pool()).collect()
    }

    /// The stdio backends, for shutdown.
    pub fn stdio_backends(&self) -> Vec<Arc<StdioBackend>> {
        self.targets.values().filter_map(|t| t.stdio().cloned()).collect()
    }

    /// Every backend's response cache, for the admin API.
    pub fn caches(&self) -> crate::cache::Caches {
        let caches = self.targets.iter().filter_map(|(name, t)| Some((name.to_string(), t.cache()?.clone()))).collect();
        crate::cache::Caches::new(caches)
    }

    /// The route with this admin name.
    pub fn route_named(&self, name: &str) -> Option<&Arc<Route>> {
        self.front.routes().find(|r| &*r.name == name)
    }
}

/// Sets `switchyard_backend_up` to 0 for the instances of a dropped backend
/// that the new config no longer has (the registry cannot remove a series,
/// and a stale 1 would show a ghost instance as up). Instances the new
/// backend still lists share the series, which its own records keep right.
fn zero_gone_gauges(old: &Target, new: Option<&Target>) {
    let instances = |t: &Target| t.pool().instances();
    let still: Vec<String> = new.map(|t| instances(t).iter().map(|i| i.display_url()).collect()).unwrap_or_default();
    for instance in instances(old) {
        if !still.contains(&instance.display_url()) {
            instance.record.metrics().set_up(false);
        }
    }
}

/// Builds a backend; `before` is the HTTP backend of that name it replaces,
/// whose unchanged instances carry over.
fn build_backend(
    b: &crate::config::Backend,
    fingerprint: String,
    before: Option<&Backend>,
) -> Result<Built, BuildError> {
    Ok(match b.transport {
        Transport::Http => {
            let backend = Arc::new(Backend::rebuild(b, before)?);
            let checker = Arc::new(Checker::start(std::slice::from_ref(&backend)));
            let target = Target::Http { stack: stack::build(backend, b), cache: Cache::for_backend(b) };
            Built { fingerprint, target: Arc::new(target), _probes: Some(checker) }
        }
        Transport::Stdio => {
            let stdio = StdioBackend::start(b);
            // The stdio feed of change notifications invalidates the cache;
            // an HTTP backend's are tapped from its streams by the front.
            let cache = Cache::for_backend(b);
            if let Some(cache) = &cache {
                crate::cache::watch(cache.clone(), stdio.subscribe());
            }
            Built { fingerprint, target: Arc::new(Target::Stdio { stdio, cache }), _probes: None }
        }
    })
}

/// Puts an API-set split back on a freshly built route, or logs why the
/// file's split applies instead; returns whether it was put back.
fn keep_api_split(route: &Route, api: &[Weight], file_unchanged: bool, targets: &Targets, limits: &Limits) -> bool {
    let from_file = route.split();
    if !file_unchanged {
        tracing::warn!(route = &*route.name, api = ?api, file = ?from_file.weights(),
            "reload: the file changed this route's split, so it replaces the split set through the admin API");
        return false;
    }
    match crate::route::Split::build(&route.path, api, targets, limits, Some(&from_file)) {
        Ok(split) => {
            tracing::info!(route = &*route.name, split = ?api, file = ?from_file.weights(),
                "reload: kept the split set through the admin API (the file did not change this route)");
            route.set_split(split);
            true
        }
        Err(e) => {
            tracing::warn!(route = &*route.name, api = ?api,
                "reload: dropped the split set through the admin API ({e}); the file's split applies");
            false
        }
    }
}

fn ring_digest(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn session_key(config: &Config) -> SessionKey {
    match &config.gateway.session_key {
        Some(secret) => SessionKey::from_secret(secret),
        None => {
            tracing::warn!(
                "no gateway.session_key is set: using a random key, so every restart ends every session \
                 and replicas cannot serve each other's sessions"
            );
            SessionKey::random()
        }
    }
}

fn settings(config: &Config) -> Settings {
    Settings {
        max_body_bytes: config.gateway.max_body_bytes.0,
        allowed_origins: config.gateway.allowed_origins.clone(),
        loopback: config.gateway.listen.ip().is_loopback(),
        tls: config.gateway.tls.is_some(),
    }
}

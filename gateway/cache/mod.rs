//! The response cache: answers of a backend kept in memory, keyed per
//! principal, with concurrent misses coalesced into one upstream call.
//!
//! The front door asks [`Cache::call`] whether a request may be served from
//! the cache, after the envelope is parsed and the era, version and session
//! are known; if so it hands [`Cache::serve`] the upstream call as a future,
//! which runs only on a miss, and only once per key however many clients
//! miss at the same time. The same seam serves HTTP and stdio backends,
//! which is why the cache sits in the front door rather than as a layer of
//! the HTTP-only tower stack; and a hit there costs no upstream request to
//! build.
//!
//! What is cacheable (the protocol decision, made here and nowhere else):
//!
//! - `tools/list`, `prompts/list`, `resources/list`,
//!   `resources/templates/list` by default; `resources/read` and
//!   `prompts/get` when the operator lists them. They read state and change
//!   nothing, and a server says when they change (`list_changed`,
//!   `resources/updated`).
//! - `tools/call` only for tools the operator names, or, when the operator
//!   opts in to trusting annotations, tools the backend marks both
//!   `readOnlyHint` and `idempotentHint` (learnt from the `tools/list`
//!   answers passing through). Annotations are the server's claims, so by
//!   default they decide nothing.
//! - Only results. Errors, non-2xx answers and incomplete stateless results
//!   (`resultType` other than `complete`) are never kept.
//! - Stateless era (2026-07-28, SEP-2549): a result may carry `cacheScope`
//!   (`"public"` or `"private"`) and `ttlMs`. `public` answers are stored
//!   without the principal, so every client shares them; anything else is
//!   private to its principal. `ttlMs` shortens the configured `ttl`, and
//!   `0` means not at all. Session-era results carry neither and are private.
//!
//! Sessions: the key leaves the session out, so all sessions of a principal
//! share answers. A session-era HTTP request is pinned to its instance and
//! upstream session, so a list could in principle differ per upstream
//! session (a server that shows tools by client capabilities, or per-session
//! dynamic tools). We accept that: instances of one backend are
//! interchangeable by definition, servers announce per-session changes with
//! `list_changed` (which drops the entries), and a backend whose lists vary
//! per session should simply not enable `cache`.
//!
//! The one exception is a stdio backend in `per_session` mode: there each
//! session *is* a process of its own, with state of its own (a resource it
//! was told to remember, tools it registered), so two sessions of one
//! principal are two different servers. Its cache keys every answer by
//! session, `public` ones too, and a request without a session bypasses it.
//! An entry of an ended session is never served (its process is gone, so
//! the request gets 404 first) and ages out with `ttl` or is evicted.
//!
//! Invalidation: a `notifications/{tools,prompts,resources}/list_changed`
//! from the backend drops that kind of entry, `notifications/resources/updated`
//! drops reads of that URI, and `DELETE /admin/cache[/{backend}]` drops them by
//! hand. HTTP notifications are seen on the SSE streams passing through
//! ([`tap`]), stdio ones on the process pool's change feed ([`watch`]);
//! backends without a cache pay for neither. An invalidation also covers
//! the fetches in flight when it comes: their answers reach the callers
//! waiting on them but are not kept ([`invalidations`]).

mod invalidations;
mod key;
mod load;
mod store;
mod tap;

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

pub use key::{BadParams, Key, canonical_params};
pub use load::{CACHE_HEADER, Hints, prefers_sse};
pub use tap::{tap, watch};

use crate::client::Principal;
use crate::config;
use crate::error::GatewayError;
use crate::mcp::envelope::{Kind, Message};
use crate::mcp::era::UNSTATED_VERSION;
use crate::session::Ticket;
use crate::stack::ProxyBody;
use invalidations::{Invalidations, Kept, Scope};
use load::Miss;
use store::{Entry, Store};

/// One backend's cache.
pub struct Cache {
    /// The backend's name, for logs.
    backend: Arc<str>,
    /// The longest an answer is kept.
    ttl: Duration,
    /// Methods cached, besides `tools/call`.
    methods: Vec<&'static str>,
    /// Tools whose calls the operator declared cacheable.
    tools: HashSet<String>,
    /// Whether annotated tools are cacheable too.
    trust_annotations: bool,
    /// Tools the backend annotates read-only and idempotent, learnt from
    /// its `tools/list` answers.
    annotated: RwLock<HashSet<Box<str>>>,
    /// Whether answers are per session: each session has a process, and
    /// state, of its own (stdio `per_session`).
    per_session: bool,
    /// Whether any answer was stored as public; until then a hit costs one
    /// lookup, not two.
    any_public: AtomicBool,
    store: Store,
    /// Recent invalidations, for the fetches they overtake.
    invalidations: Invalidations,
}

/// Every backend's cache, by backend name, for the admin API.
#[derive(Clone, Default)]
pub struct Caches(Arc<HashMap<String, Arc<Cache>>>);

/// A request the cache may answer.
pub struct Call {
    key: Key,
    id: Box<RawValue>,
}

// === impl Cache ===

impl Cache {
    /// The cache of a backend, when its config asks for one; keyed per
    /// session where each session has a process of its own.
    pub fn for_backend(cfg: &config::Backend) -> Option<Arc<Self>> {
        let per_session = cfg.transport == config::Transport::Stdio && cfg.mode == config::StdioMode::PerSession;
        cfg.cache.as_ref().map(|c| Self::build(cfg.name.get_ref(), c, per_session))
    }

    /// The cache of backend `backend`, as configured, shared by the sessions
    /// of a principal.
    pub fn new(backend: &str, config: &config::Cache) -> Arc<Self> {
        Self::build(backend, config, false)
    }

    fn build(backend: &str, config: &config::Cache, per_session: bool) -> Arc<Self> {
        Arc::new(Self {
            backend: backend.into(),
            ttl: config.ttl.0,
            methods: config.methods.iter().map(|m| m.as_str()).collect(),
            tools: config.tools.iter().cloned().collect(),
            trust_annotations: config.trust_annotations,
            annotated: RwLock::new(HashSet::new()),
            per_session,
            any_public: AtomicBool::new(false),
            store: Store::new(backend, config.max_bytes.0, config.ttl.0),
            invalidations: Invalidations::default(),
        })
    }

    /// Whether answers to `method` (with `name` for `tools/call`) are kept.
    pub fn caches(&self, method: &str, name: Option<&str>) -> bool {
        if method == "tools/call" {
            let Some(name) = name else { return false };
            self.tools.contains(name)
                || (self.trust_annotations && self.annotated.read().is_ok_and(|set| set.contains(name)))
        } else {
            self.methods.contains(&method)
        }
    }

    /// The cache call for a request, or `None` when it bypasses the cache.
    /// `principal` is asked for only when the request is cacheable.
    pub fn call(
        &self,
        message: &Message,
        body: &[u8],
        ticket: Option<&Ticket>,
        version_header: Option<&str>,
        principal: impl FnOnce() -> Principal,
    ) -> Option<Call> {
        let Message::Single(env) = message else { return None };
        if env.kind != Kind::Request || !self.caches(env.method(), env.name.as_deref()) {
            return None;
        }
        let id = env.id.clone()?;
        let session = match (self.per_session, ticket) {
            (false, _) => None,
            (true, Some(ticket)) => Some(ticket.upstream_session.as_str()),
            // No session, no process of its own to answer for.
            (true, None) => return None,
        };
        let params = match canonical_params(body) {
            Ok(params) => params,
            Err(e) => {
                tracing::debug!(backend = &*self.backend, error = %e, "cache: bypassed");
                return None;
            }
        };
        let version = env
            .meta_version
            .as_deref()
            .or(ticket.map(|t| t.protocol_version.as_str()).filter(|v| !v.is_empty()))
            .or(version_header)
            .unwrap_or(UNSTATED_VERSION);
        let key = Key::new(version, principal(), session, env.method(), env.name.as_deref(), params);
        Some(Call { key, id })
    }

    /// A fresh answer to `call`, replayed with the client's id, or `None`
    /// on a miss. Kept apart from [`Cache::serve`] so that a hit never
    /// builds the miss path's future: moka's loading future makes that one
    /// about 30 KB, and creating it alone cost more than the rest of a hit.
    pub async fn hit(
        &self,
        call: &Call,
        accept: Option<&HeaderValue>,
        request_id: &HeaderValue,
    ) -> Option<Response<ProxyBody>> {
        let public = self.any_public.load(Ordering::Relaxed).then(|| call.key.public());
        for key in public.iter().chain([&call.key]) {
            if let Some(entry) = self.store.fresh(key).await {
                self.store.metrics.hits.increment(1);
                let resp = load::replay_result(&call.id, &entry.result, prefers_sse(accept));
                return Some(load::mark(resp, "hit", request_id));
            }
        }
        None
    }

    /// Answers `call`, after [`Cache::hit`] missed, by awaiting `forward`
    /// (the upstream call). Concurrent misses for one key await one
    /// `forward`; the others are dropped unpolled. An entry stored since
    /// the miss is served without a fetch, counted as a coalesced wait.
    pub fn serve<'a, F>(
        &'a self,
        call: Call,
        accept: Option<&'a HeaderValue>,
        request_id: &'a HeaderValue,
        forward: F,
    ) -> Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, GatewayError>> + Send + 'a>>
    where
        F: Future<Output = Result<Response<ProxyBody>, GatewayError>> + Send + 'a,
    {
        // Boxed here, in a plain function, so the caller's future holds a
        // pointer and not the loading future's storage.
        Box::pin(self.load(call, accept, request_id, forward))
    }

    async fn load<F>(
        &self,
        call: Call,
        accept: Option<&HeaderValue>,
        request_id: &HeaderValue,
        forward: F,
    ) -> Result<Response<ProxyBody>, GatewayError>
    where
        F: Future<Output = Result<Response<ProxyBody>, GatewayError>>,
    {
        let sse = prefers_sse(accept);
        let fetched_here = AtomicBool::new(false);
        let own_error: Mutex<Option<GatewayError>> = Mutex::new(None);
        let kept = Kept::new(&self.invalidations, &self.store, &call.key);
        let fetch = async {
            fetched_here.store(true, Ordering::Relaxed);
            let mark = self.invalidations.mark();
            let resp = forward.await.map_err(|e| {
                let reason = e.to_string();
                if let Ok(mut slot) = own_error.lock() {
                    *slot = Some(e);
                }
                Miss::Gateway(reason)
            })?;
            let fetched = load::take_apart(resp).await?;
            if self.trust_annotations && call.key.method() == "tools/list" {
                self.learn(&fetched.result);
            }
            // Asked here, before moka stores what this returns, and again by
            // `kept` after it did.
            if self.invalidations.overtaken(mark, &call.key) {
                return Err(Miss::Overtaken(fetched.result));
            }
            let entry = Arc::new(self.entry(fetched.result, &fetched.hints));
            kept.storing(mark, entry.clone());
            Ok(entry)
        };
        let outcome = self.store.get_or_load(&call.key, fetch).await;
        let fetched_here = fetched_here.load(Ordering::Relaxed);
        let verdict = if fetched_here {
            self.store.metrics.misses.increment(1);
            "miss"
        } else {
            self.store.metrics.coalesced.increment(1);
            "hit"
        };
        let miss = match outcome {
            Ok(entry) => {
                if fetched_here && (entry.public || !entry.fresh(Instant::now())) {
                    // Waiters already have it; later callers look under the
                    // public key, or not at all for an answer not to keep.
                    self.store.remove(&call.key).await;
                    if entry.public && entry.fresh(Instant::now()) {
                        self.any_public.store(true, Ordering::Relaxed);
                        self.store.insert(call.key.public(), entry.clone()).await;
                    }
                }
                return Ok(load::mark(load::replay_result(&call.id, &entry.result, sse), verdict, request_id));
            }
            Err(miss) => miss,
        };
        answer_miss(&miss, fetched_here, &call, sse, verdict, request_id, &own_error)
    }

    /// Drops the entries a backend notification says are out of date.
    /// Returns whether `message` was such a notification.
    pub fn observe(&self, message: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Notification {
            method: String,
            #[serde(default)]
            params: Option<Params>,
        }
        #[derive(Deserialize)]
        struct Params {
            #[serde(default)]
            uri: Option<String>,
        }
        let Ok(n) = serde_json::from_slice::<Notification>(message) else { return false };
        let methods: &'static [&'static str] = match n.method.as_str() {
            "notifications/tools/list_changed" => &["tools/list"],
            // A changed prompt list may mean changed prompts.
            "notifications/prompts/list_changed" => &["prompts/list", "prompts/get"],
            "notifications/resources/list_changed" => &["resources/list", "resources/templates/list"],
            "notifications/resources/updated" => {
                let Some(uri) = n.params.and_then(|p| p.uri) else { return false };
                tracing::debug!(backend = &*self.backend, uri = %uri, "cache: resource updated");
                self.invalidate(Scope::Read(uri.into()));
                return true;
            }
            _ => return false,
        };
        tracing::debug!(backend = &*self.backend, notification = %n.method, "cache: dropping entries");
        self.invalidate(Scope::Methods(methods));
        true
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.invalidate(Scope::All);
    }

    /// Drops what `scope` covers: stored entries, and the answers of the
    /// fetches in flight. Recorded first, so that a fetch storing meanwhile
    /// either sees the record or is stored in time to be dropped.
    fn invalidate(&self, scope: Scope) {
        self.invalidations.record(scope.clone());
        match scope {
            Scope::All => self.store.clear(),
            scope => self.store.remove_if(move |k| scope.covers(k)),
        }
    }

    fn entry(&self, result: Bytes, hints: &Hints) -> Entry {
        let ttl = hints.ttl_ms.map_or(self.ttl, |ms| self.ttl.min(Duration::from_millis(ms)));
        Entry { result, expires: Instant::now() + ttl, public: hints.public }
    }

    /// Learns which tools say they are read-only and idempotent from a page
    /// of `tools/list`.
    fn learn(&self, result: &[u8]) {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tools: Vec<Tool>,
        }
        #[derive(Deserialize)]
        struct Tool {
            name: String,
            #[serde(default)]
            annotations: Option<Annotations>,
        }
        #[derive(Deserialize)]
        struct Annotations {
            #[serde(default, rename = "readOnlyHint")]
            read_only: Option<bool>,
            #[serde(default, rename = "idempotentHint")]
            idempotent: Option<bool>,
        }
        let Ok(page) = serde_json::from_slice::<Page>(result) else { return };
        let Ok(mut set) = self.annotated.write() else { return };
        for tool in page.tools {
            let safe = tool.annotations.is_some_and(|a| a.read_only == Some(true) && a.idempotent == Some(true));
            if safe {
                set.insert(tool.name.into());
            } else {
                set.remove(tool.name.as_str());
            }
        }
    }
}

// === impl Caches ===

impl Caches {
    /// The registry of `caches`, by backend name.
    pub fn new(caches: HashMap<String, Arc<Cache>>) -> Self {
        Self(Arc::new(caches))
    }

    /// The cache of `backend`.
    pub fn get(&self, backend: &str) -> Option<&Arc<Cache>> {
        self.0.get(backend)
    }

    /// Empties one backend's cache, or every cache; the admin API's
    /// `DELETE /admin/cache[/{backend}]`.
    pub fn clear(&self, backend: Option<&str>) -> Result<serde_json::Value, GatewayError> {
        match backend {
            None => {
                self.0.values().for_each(|c| c.clear());
                let mut names: Vec<&String> = self.0.keys().collect();
                names.sort();
                Ok(serde_json::json!({ "cleared": names }))
            }
            Some(name) => {
                let cache =
                    self.0.get(name).ok_or_else(|| GatewayError::NotFound(format!("backend `{name}` has no cache")))?;
                cache.clear();
                Ok(serde_json::json!({ "cleared": [name] }))
            }
        }
    }
}

/// Marks a response the cache did not answer, on a backend that has one.
pub fn bypassed(cache: Option<&Arc<Cache>>, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    if cache.is_some() {
        resp.headers_mut().insert(CACHE_HEADER, HeaderValue::from_static("bypass"));
    }
    resp
}

/// The answer to a request whose load did not leave an entry: what the
/// upstream said (replayed, as a waiter gets it too), or the error. Only the
/// request that fetched gets its own gateway error; a waiter learns that the
/// call it waited on failed.
fn answer_miss(
    miss: &Miss,
    fetched_here: bool,
    call: &Call,
    sse: bool,
    verdict: &'static str,
    request_id: &HeaderValue,
    own_error: &Mutex<Option<GatewayError>>,
) -> Result<Response<ProxyBody>, GatewayError> {
    match (miss, fetched_here) {
        (Miss::Overtaken(result), _) => Ok(load::mark(load::replay_result(&call.id, result, sse), verdict, request_id)),
        (Miss::Rpc { status, error }, _) => {
            Ok(load::mark(load::replay_error(*status, &call.id, error, sse), verdict, request_id))
        }
        (Miss::Other { status, content_type, body, .. }, true) => {
            Ok(load::mark(load::replay_other(*status, content_type.as_ref(), body.clone()), verdict, request_id))
        }
        (Miss::Gateway(reason), true) => Err(own_error
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| GatewayError::UpstreamFailed(reason.clone()))),
        (Miss::Other { reason, .. } | Miss::Gateway(reason), false) => {
            Err(GatewayError::UpstreamFailed(format!("the upstream call this request waited on failed: {reason}")))
        }
    }
}

#[cfg(test)]
mod tests;

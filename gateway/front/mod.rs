//! The MCP front door: everything between the listener and a backend's stack.
//!
//! For each request at a route's path it checks the transport rules (method,
//! `Accept`, `Content-Type`, `Origin`, `Host`, body size), parses the JSON-RPC
//! envelope, tells the two protocol eras apart, opens or mints the session
//! token, and sends the request down the backend's stack. The answer comes back
//! as the upstream sent it: JSON, SSE streamed event by event, or 202.
//!
//! What the front door refuses, and why. The gateway refuses only what the
//! spec tells an intermediary to refuse, or what it must refuse to protect
//! itself; every other message reaches the upstream, so that a client gets
//! the same answer through Switchyard as without it (an unknown method, a
//! missing tool name, bad arguments: the upstream's 404 / -32601 or -32602,
//! not ours). The refusals, each with its reason, are the README's error
//! table; a new one needs a row there and a reason here:
//! - transport rules the spec sets for every endpoint: `Origin` and `Host`
//!   (403, DNS rebinding), the HTTP method (405), `Accept` (406, the
//!   server may answer either form), `Content-Type` (415);
//! - protection: `max_body_bytes` (413); a body that is not a JSON-RPC
//!   envelope (-32700, -32600), since the gateway must read `id` and
//!   `method` to route, limit, cache and match answers; a session token
//!   that does not open (404, sessions are bound to route and principal);
//! - era rules the gateway must apply itself, because it speaks for the
//!   upstream: batches outside 2025-03-26, mirrored headers (-32020), a
//!   stateless request without its `_meta` version (-32602), and
//!   `per_session` stdio backends for stateless clients.
//!
//! Era rules, in one place:
//! - A body whose `_meta` protocol version, or whose `MCP-Protocol-Version`
//!   header, is 2026-07-28 or later is stateless: its mirrored headers are
//!   checked (-32020), a request without a `_meta` version is malformed
//!   (-32602), and any `Mcp-Session-Id` is ignored. `Mcp-Name` is checked
//!   only for the methods that version mirrors (see
//!   [`stateless::mirrored_name`]).
//! - Otherwise it is session era: `initialize` starts a session, and later
//!   requests carry the gateway's token.
//! - A JSON-RPC batch is accepted only when the negotiated version is
//!   2025-03-26, the one version that allowed batches: the version in the
//!   session token, or else the `MCP-Protocol-Version` header, whose absence
//!   means 2025-03-26. Anything else gets 400 / -32600, because forwarding a
//!   batch to a server of a later version would get an answer the client
//!   cannot match to its requests.

mod aggregate;
mod answer;
mod auth;
pub(crate) mod bridge;
pub(crate) mod checks;
pub mod headers;
mod initialize;
pub(crate) mod reply;
pub mod stateless;
mod stdio;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::value::RawValue;

use crate::backend::Backend;

use crate::backend::{Tried, UpstreamRequest};
use crate::client::Client;
use crate::error::GatewayError;
use crate::mcp::envelope::{self, Kind, Message};
use crate::mcp::era::{self, BATCH_VERSION, UNSTATED_VERSION};
use crate::mcp::headers::{PROTOCOL_VERSION, SESSION_ID};
pub use crate::route::Route;
use crate::route::Side;
use crate::route::Target;
use crate::session::{SessionKey, Ticket};
use crate::stack::ProxyBody;
use crate::stack::ResponseBody;
use crate::table::Instance;
use bridge::Path;

/// Most bytes of an `initialize` response the gateway will buffer.
const MAX_INITIALIZE_RESPONSE: usize = 1 << 20;

/// Front-door settings, from `[gateway]`.
pub struct Settings {
    /// Largest body accepted.
    pub max_body_bytes: u64,
    /// Allowed `Origin` patterns.
    pub allowed_origins: Vec<String>,
    /// Whether the listener is on a loopback address (enables the Host check).
    pub loopback: bool,
    /// Whether clients connect over TLS.
    pub tls: bool,
}

/// The front door for all routes.
pub struct Front {
    routes: HashMap<String, Arc<Route>>,
    key: Arc<SessionKey>,
    settings: Settings,
    /// Bridged calls waiting for their 2026-07-28 client's next round.
    bridged_rounds: Arc<crate::stdio::Parked<bridge::rounds::BridgedCall>>,
    /// Sessions the gateway kept itself (before a 2026-07-28 server) that
    /// their clients DELETEd, by token hash, for as long as a token lives.
    ended_bridged: moka::sync::Cache<u64, ()>,
    /// Questions of 2026-07-28 servers put to session-era clients.
    bridged_asks: Arc<bridge::asks::Asked>,
}

/// A parsed POST on its way to the backend.
pub(crate) struct Outbound {
    parts: http::request::Parts,
    bytes: Bytes,
    message: Message,
    ticket: Option<Ticket>,
    /// The instance the session is pinned to, for an HTTP backend.
    pinned: Option<Arc<Instance>>,
    /// Whether it opens a session.
    initialize: bool,
    /// Whether the client speaks the stateless era.
    stateless: bool,
}

/// A request on its way across the eras.
struct Bridging {
    headers: HeaderMap,
    uri: http::Uri,
    bytes: Bytes,
    env: envelope::Envelope,
    ticket: Option<Ticket>,
}

/// What the era rules made of a POST.
pub(crate) struct Opened {
    /// The session, when the request carries a token that opened.
    ticket: Option<Ticket>,
    /// Whether it opens a session.
    initialize: bool,
    /// Whether the client speaks the stateless era.
    stateless: bool,
}

/// Per-request facts, filled in as they are learned, for the log line,
/// metrics and error bodies.
#[derive(Default)]
pub struct Info {
    /// JSON-RPC method, or the HTTP method for GET and DELETE.
    pub method: Option<Box<str>>,
    /// Tool name or resource URI.
    pub name: Option<Box<str>>,
    /// The request's JSON-RPC id, echoed in gateway-made errors.
    pub id: Option<Box<RawValue>>,
    /// Set when the exchange opened (+1) or closed (-1) a session.
    pub session_delta: i8,
    /// The side of the route's split the request went to.
    pub side: Option<Arc<Side>>,
    /// The admission slot, held until the response body ends.
    pub permit: Option<crate::limit::Permit>,
    /// The authenticated principal's name, on a route with `auth`.
    pub principal: Option<Arc<str>>,
}

impl Front {
    /// Builds the front door.
    pub fn new(routes: Vec<Route>, key: Arc<SessionKey>, settings: Settings) -> Self {
        let routes = routes.into_iter().map(|r| (r.path.to_string(), Arc::new(r))).collect();
        let bridged_rounds = Arc::new(crate::stdio::Parked::new("bridged".into(), crate::stdio::MAX_PARKED));
        let ended_bridged = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(key.ttl()).build();
        let bridged_asks = Arc::default();
        Self { routes, key, settings, bridged_rounds, ended_bridged, bridged_asks }
    }

    /// The key session tokens are sealed with.
    pub fn key(&self) -> &Arc<SessionKey> {
        &self.key
    }

    /// The route at `path`.
    pub fn route(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.get(path)
    }

    /// Every route.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }

    /// Serves one request at `route`.
    pub async fn serve(
        &self,
        route: &Route,
        req: Request<Incoming>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        if self.settings.loopback {
            let host = req.uri().host().or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()));
            checks::loopback_host(host)?;
        }
        checks::origin(req.headers(), &self.settings.allowed_origins)?;
        // Before anything else: an unproven caller reaches no backend, no
        // rate-limit bucket, and not even the body parser.
        let authenticated;
        let client = match &route.auth {
            None => client,
            Some(auth) => {
                authenticated = self.authenticate(route, auth, req.headers(), req.uri(), client, info).await?;
                &authenticated
            }
        };
        match *req.method() {
            Method::POST => self.post(route, req, client, info).await,
            Method::GET | Method::DELETE => self.get_or_delete(route, req, client, info).await,
            _ => Err(GatewayError::MethodNotAllowed("GET, POST, DELETE")),
        }
    }

    async fn post(
        &self,
        route: &Route,
        req: Request<Incoming>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        checks::content_type(req.headers())?;
        checks::accept_post(req.headers())?;
        let (mut parts, body) = req.into_parts();
        let bytes = self.read_body(&parts.headers, body).await?;
        let message = envelope::parse(&bytes).map_err(|e| match e {
            envelope::EnvelopeError::Parse(m) => GatewayError::Parse(m),
            envelope::EnvelopeError::Invalid(m) => GatewayError::InvalidRequest(m.to_string()),
        })?;
        let version_header = header_str(&parts.headers, &PROTOCOL_VERSION);

        let Opened { ticket, initialize, stateless: stateless_client } =
            self.open(route, &message, &parts.headers, version_header, client, info)?;
        if let Some(policy) = &route.authz
            && let Some(answer) = auth::refused(route, policy, client, &message, &bytes)
        {
            return Ok(answer);
        }
        let filter = auth::filtered_list(route, &message);
        if filter.is_some() {
            // The gateway must read the answer to filter it: no compression.
            parts.headers.remove(header::ACCEPT_ENCODING);
        }
        let resp = if let Some(agg) = route.aggregate() {
            let opened = Opened { ticket, initialize, stateless: stateless_client };
            self.post_aggregate(route, agg, parts, bytes, message, opened, client, info).await?
        } else {
            let side = route.side(ticket.as_ref().map(|t| t.backend.as_str()), &parts.headers)?;
            info.side = Some(side.clone());
            let upstream =
                Outbound { parts, bytes, message, ticket, pinned: None, initialize, stateless: stateless_client };
            self.dispatch(route, &side, upstream, client, info).await?
        };
        match filter {
            // After the cache, whose entries callers of other scopes share.
            Some((policy, kind)) => auth::filter_list(&policy, client.identity.as_deref(), kind, resp).await,
            None => Ok(resp),
        }
    }

    /// Sends a parsed POST to one side: its rate limits and admission, its
    /// session's instance, its cache, then its backend.
    pub(crate) async fn dispatch(
        &self,
        route: &Route,
        side: &Arc<Side>,
        upstream: Outbound,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let Outbound { parts, bytes, message, ticket, initialize, stateless: stateless_client, .. } = upstream;
        let version_header = header_str(&parts.headers, &PROTOCOL_VERSION);
        // Boxed (see `admit`), and only when the side has limits.
        if !side.limit.is_empty() {
            info.permit = admit(side, &message, client, &parts.headers).await?;
        }
        // Before the cache: a session whose instance is down (or whose
        // per-session process is gone) gets 404 from a hit as from a
        // forward, so that its client re-initializes now rather than at its
        // first uncached request. One lookup.
        let pinned = match &*side.target {
            Target::Http { stack, .. } => self.pinned_instance(&stack.backend, ticket.as_ref())?,
            Target::Stdio { stdio, .. } => {
                stdio.check_session(stdio::session_key(ticket.as_ref()))?;
                None
            }
        };
        let cache = side.target.cache();
        let cached = cache.and_then(|cache| {
            let principal = || client.principal(&parts.headers);
            Some((cache, cache.call(&message, &bytes, ticket.as_ref(), version_header, principal)?))
        });
        if let Some((cache, call)) = cached {
            let accept = parts.headers.get(header::ACCEPT).cloned();
            let upstream = Outbound { parts, bytes, message, ticket, pinned, initialize, stateless: stateless_client };
            if let Some(resp) = cache.hit(&call, accept.as_ref(), &client.request_id).await {
                return Ok(resp);
            }
            let forward = self.forward(route, side, upstream, client, info);
            return cache.serve(call, accept.as_ref(), &client.request_id, forward).await;
        }
        let upstream = Outbound { parts, bytes, message, ticket, pinned, initialize, stateless: stateless_client };
        let resp = self.forward(route, side, upstream, client, info).await?;
        Ok(crate::cache::bypassed(cache, resp))
    }

    /// Applies the era rules to a parsed POST: a stateless request's
    /// mirrored headers are checked, a session-era request's token is opened
    /// (`initialize` starts afresh), and a batch is let through only in
    /// 2025-03-26.
    fn open(
        &self,
        route: &Route,
        message: &Message,
        headers: &HeaderMap,
        version_header: Option<&str>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Opened, GatewayError> {
        let opened = match message {
            Message::Single(env) => {
                info.method = env.method.clone();
                info.name = env.name.clone();
                info.id = env.id.clone();
                let meta_stateless = env.meta_version.as_deref().is_some_and(era::is_stateless);
                let header_stateless = version_header.is_some_and(era::is_stateless);
                if meta_stateless || header_stateless {
                    stateless::validate(headers, env, version_header).map_err(|r| match r {
                        stateless::Refusal::Malformed(m) => GatewayError::InvalidParams(m),
                        stateless::Refusal::Mismatch(m) => GatewayError::HeaderMismatch(m),
                    })?;
                    Opened { ticket: None, initialize: false, stateless: true }
                } else if env.method() == "initialize" && env.kind == Kind::Request {
                    // A new session: any token the client still sends is stale.
                    Opened { ticket: None, initialize: true, stateless: false }
                } else {
                    Opened { ticket: self.open_session(route, headers, client)?, initialize: false, stateless: false }
                }
            }
            Message::Batch(envs) => {
                info.method = Some("batch".into());
                let ticket = self.open_session(route, headers, client)?;
                let negotiated = ticket
                    .as_ref()
                    .map(|t| t.protocol_version.as_str())
                    .filter(|v| !v.is_empty())
                    .or(version_header)
                    .unwrap_or(UNSTATED_VERSION);
                if negotiated != BATCH_VERSION || envs.iter().any(|e| e.meta_version.is_some()) {
                    return Err(GatewayError::InvalidRequest(format!(
                        "JSON-RPC batches are allowed only in protocol version {BATCH_VERSION}; this session uses {negotiated}"
                    )));
                }
                if envs.iter().any(|e| e.method() == "initialize") {
                    return Err(GatewayError::InvalidRequest("initialize must not be part of a batch".into()));
                }
                Opened { ticket, initialize: false, stateless: false }
            }
        };
        Ok(opened)
    }

    /// Sends a POST on to the chosen side's backend and returns its answer.
    async fn forward(
        &self,
        route: &Route,
        side: &Side,
        upstream: Outbound,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let Outbound { mut parts, bytes, mut message, ticket, pinned, initialize, stateless: stateless_client } =
            upstream;
        let stack = match &*side.target {
            Target::Http { stack, .. } => stack,
            Target::Stdio { stdio: stdio_backend, .. } => {
                let post =
                    stdio::Post { headers: &parts.headers, body: bytes, message, stateless: stateless_client, ticket };
                return self.post_stdio(route, stdio_backend, post, client, info).await;
            }
        };
        let backend = &stack.backend;
        let path = match &message {
            Message::Single(_) => bridge::path(backend, stateless_client, ticket.as_ref(), initialize),
            Message::Batch(_) => Path::Direct,
        };
        // Until the backend's eras are known, what a bridge would need if
        // the server refuses the client's era.
        let mut unlearned = None;
        match (path, message) {
            (Path::Down | Path::Up, Message::Single(env)) => {
                let bridged = Bridging { headers: parts.headers, uri: parts.uri, bytes, env, ticket };
                return self.bridged(route, side, stack, path, bridged, client, info).await;
            }
            (Path::Unlearned, Message::Single(env)) => {
                unlearned = Some(Bridging {
                    headers: parts.headers.clone(),
                    uri: parts.uri.clone(),
                    bytes: bytes.clone(),
                    env: env.clone(),
                    ticket: ticket.clone(),
                });
                message = Message::Single(env);
            }
            (_, m) => message = m,
        }
        let policy = match &message {
            Message::Single(env) => stack.policy(env.method(), env.name.as_deref(), true),
            Message::Batch(_) => stack.policy("batch", None, true),
        };
        let headers = std::mem::take(&mut parts.headers);
        let upstream_req =
            self.upstream_request(Method::POST, headers, parts.uri, bytes, client, ticket.as_ref(), backend);
        let mut upstream = UpstreamRequest::new(upstream_req, pinned, policy);
        // A new session is pinned to the instance that answers its
        // `initialize`, which the balancer (and maybe a retry) chooses.
        let tried = initialize.then(|| Arc::new(Tried::default()));
        upstream.tried = tried.clone();
        let resp = stack.call(upstream).await?;
        if let Some(bridging) = unlearned
            && bridge::maybe_refused(resp.status())
        {
            let path = bridge::learn(stack, stateless_client, bridging.ticket.as_ref(), initialize).await;
            if matches!(path, Path::Down | Path::Up) {
                return self.bridged(route, side, stack, path, bridging, client, info).await;
            }
        }
        let landed = tried.and_then(|t| t.last()).and_then(|i| backend.instances.get(i));
        if let Some(instance) = landed
            && resp.status().is_success()
            && resp.headers().contains_key(SESSION_ID)
        {
            return self.mint_session(route, &backend.name, instance, resp, client, info).await;
        }
        Ok(crate::cache::tap(side.target.cache(), self.downstream(resp, client)))
    }

    /// Sends a request across the eras, and lets the cache see the answer.
    #[allow(clippy::too_many_arguments)]
    async fn bridged(
        &self,
        route: &Route,
        side: &Side,
        stack: &crate::stack::Stack,
        path: Path,
        b: Bridging,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let resp = match path {
            Path::Down => self.bridge_down(stack, b.headers, b.uri, b.bytes, b.env, client).await?,
            _ => {
                let ticket = b.ticket.as_ref();
                self.bridge_up(route, stack, b.headers, b.uri, b.bytes, b.env, ticket, client, info).await?
            }
        };
        // Made by the gateway, not the upstream's: nothing to strip, and the
        // session id on it is the gateway's own token.
        let mut resp = crate::cache::tap(side.target.cache(), resp);
        resp.headers_mut().insert(crate::mcp::headers::REQUEST_ID, client.request_id.clone());
        Ok(resp)
    }

    async fn get_or_delete(
        &self,
        route: &Route,
        req: Request<Incoming>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let is_get = req.method() == Method::GET;
        info.method = Some(if is_get { "GET".into() } else { "DELETE".into() });
        if header_str(req.headers(), &PROTOCOL_VERSION).is_some_and(era::is_stateless) {
            // The stateless era has no server stream and no session to end.
            return Err(GatewayError::MethodNotAllowed("POST"));
        }
        if is_get {
            checks::accept_get(req.headers())?;
        }
        let ticket = self.open_session(route, req.headers(), client)?;
        if let Some(agg) = route.aggregate() {
            return self.get_or_delete_aggregate(route, agg, req, ticket, client, info).await;
        }
        let side = route.side(ticket.as_ref().map(|t| t.backend.as_str()), req.headers())?;
        info.side = Some(side.clone());
        let stack = match &*side.target {
            Target::Http { stack, .. } => stack,
            Target::Stdio { stdio, .. } => return Ok(self.get_or_delete_stdio(stdio, is_get, ticket, info).await),
        };
        let backend = &stack.backend;
        if let Some(t) = ticket.as_ref().filter(|t| t.upstream_session == bridge::BRIDGED_STATELESS) {
            return self.bridged_get_or_delete(stack, is_get, req.headers(), req.uri(), t, client, info).await;
        }
        let pinned = self.pinned_instance(backend, ticket.as_ref())?;
        let (parts, _) = req.into_parts();
        let upstream_req = self.upstream_request(
            parts.method,
            parts.headers,
            parts.uri,
            Bytes::new(),
            client,
            ticket.as_ref(),
            backend,
        );
        let policy = stack.policy(if is_get { "GET" } else { "DELETE" }, None, false);
        let resp = stack.call(UpstreamRequest::new(upstream_req, pinned, policy)).await?;
        if !is_get && ticket.is_some() && resp.status().is_success() {
            info.session_delta = -1;
        }
        Ok(crate::cache::tap(side.target.cache(), self.downstream(resp, client)))
    }

    /// Reads the body, refusing it early when `Content-Length` is already too big.
    async fn read_body(&self, headers: &HeaderMap, body: Incoming) -> Result<Bytes, GatewayError> {
        let limit = self.settings.max_body_bytes;
        let declared = header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(GatewayError::PayloadTooLarge(limit));
        }
        let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        match limited.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::PayloadTooLarge(limit)),
            Err(e) => Err(GatewayError::InvalidRequest(format!("could not read the request body: {e}"))),
        }
    }

    /// Opens the session token, if the request carries one.
    fn open_session(
        &self,
        route: &Route,
        headers: &HeaderMap,
        client: &Client,
    ) -> Result<Option<Ticket>, GatewayError> {
        let Some(token) = headers.get(SESSION_ID) else { return Ok(None) };
        let token = token.to_str().map_err(|_| GatewayError::SessionNotFound)?;
        let ticket = client
            .connection
            .last_ticket
            .open(&self.key, &route.path, token)
            .map_err(|_| GatewayError::SessionNotFound)?;
        // On a route with `auth`, a session is its caller's: another
        // caller's credential, or a token from before tokens carried the
        // caller (or from before the route had `auth`), is no session.
        if route.auth.is_some() && ticket.principal != client.session_principal() {
            return Err(GatewayError::SessionNotFound);
        }
        Ok(Some(ticket))
    }

    /// The instance a session is pinned to. A session whose instance is gone
    /// or down gets 404, so that the client starts a new one.
    fn pinned_instance(
        &self,
        backend: &Backend,
        ticket: Option<&Ticket>,
    ) -> Result<Option<Arc<Instance>>, GatewayError> {
        match ticket {
            None => Ok(None),
            // A session the gateway keeps itself is served by any instance.
            Some(t) if t.upstream_session == bridge::BRIDGED_STATELESS => Ok(None),
            // A session whose instance the probes mark down is over too: the
            // client re-initializes onto a live one rather than waiting on a
            // dead one (drained instances keep their sessions).
            Some(t) => match backend.find(&t.instance) {
                Some(i) if i.health() != crate::table::Health::Down => Ok(Some(i.clone())),
                _ => Err(GatewayError::SessionNotFound),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upstream_request(
        &self,
        method: Method,
        headers: HeaderMap,
        uri: http::Uri,
        body: Bytes,
        client: &Client,
        ticket: Option<&Ticket>,
        backend: &Backend,
    ) -> Request<Full<Bytes>> {
        let forwarding = headers::Forwarding {
            configured: &backend.headers,
            peer: &client.connection,
            tls: self.settings.tls,
            request_id: &client.request_id,
            upstream_session: ticket.map(|t| t.upstream_session.as_str()),
            passthrough_auth: backend.passthrough_auth,
        };
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        // The stack replaces the URI with the instance's, keeping the query.
        *req.uri_mut() = uri;
        *req.headers_mut() = headers::upstream(headers, &forwarding);
        req
    }

    /// Replaces the upstream's session id with a sealed gateway token.
    async fn mint_session(
        &self,
        route: &Route,
        backend_name: &str,
        instance: &Instance,
        resp: Response<ResponseBody>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let (mut parts, body) = resp.into_parts();
        let upstream_session = header_str(&parts.headers, &SESSION_ID).unwrap_or("").to_string();
        let sse = is_sse(&parts.headers);
        let bytes = Limited::new(body, MAX_INITIALIZE_RESPONSE)
            .collect()
            .await
            .map_err(|e| GatewayError::UpstreamFailed(format!("reading the initialize response: {e}")))?
            .to_bytes();
        let ticket = Ticket {
            backend: backend_name.to_string(),
            instance: instance.url_str().to_string(),
            upstream_session,
            protocol_version: initialize::negotiated_version(&bytes, sse).unwrap_or_default(),
            // The upstream saw the client's own `initialize`.
            client_caps: crate::session::ClientCaps::NONE,
            issued_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            members: Default::default(),
            principal: client.session_principal(),
        };
        let token = self.key.seal(&route.path, &ticket);
        headers::downstream(&mut parts.headers, &client.request_id);
        let token = HeaderValue::from_str(&token)
            .map_err(|_| GatewayError::UpstreamFailed("session token is not a header value".into()))?;
        parts.headers.insert(SESSION_ID, token);
        info.session_delta = 1;
        Ok(Response::from_parts(parts, ProxyBody::full(bytes)))
    }

    fn downstream(&self, resp: Response<ResponseBody>, client: &Client) -> Response<ProxyBody> {
        let (mut parts, body) = resp.into_parts();
        let sse = is_sse(&parts.headers);
        headers::downstream(&mut parts.headers, &client.request_id);
        Response::from_parts(parts, ProxyBody::stream(body, sse))
    }
}

pub(crate) fn is_sse(headers: &HeaderMap) -> bool {
    header_str(headers, &header::CONTENT_TYPE).is_some_and(|v| v.starts_with("text/event-stream"))
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The side's rate limits and admission, boxed in a plain function: the
/// rate-limit future (a Redis round trip inside) would otherwise grow every
/// request's state, and with it the memory of every request in flight. A
/// `Box::pin(..)` written inside `post` would not do: its temporary keeps
/// its storage in `post`'s future across the await.
fn admit<'a>(
    side: &'a Side,
    message: &'a Message,
    client: &'a Client,
    headers: &'a HeaderMap,
) -> Pin<Box<dyn Future<Output = Result<Option<crate::limit::Permit>, GatewayError>> + Send + 'a>> {
    Box::pin(side.limit.admit(message, client, headers))
}

//! The front door for stdio backends.
//!
//! A shared stdio process has one upstream session, the gateway's own, so the
//! client-facing lifecycle is the gateway's: it answers `initialize` and
//! `server/discover` from the child's handshake, mints the session token, and
//! forwards everything else through the pool.

use std::hash::{Hash, Hasher};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::Deserialize;

use super::answer::{accepted, json, sse};
use super::{Front, Info, Route};
use crate::client::Client;
use crate::error::GatewayError;
use crate::mcp::envelope::{Envelope, Kind, Message};
use crate::mcp::headers::{REQUEST_ID, SESSION_ID};
use crate::mcp::jsonrpc;
use crate::session::{ClientCaps, Ticket};
use crate::stack::ProxyBody;
use crate::stdio::{Caller, Reply, StdioBackend};

/// What the front learned about a POST before handing it to a stdio backend.
pub struct Post<'a> {
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body as sent.
    pub body: Bytes,
    /// The parsed envelope.
    pub message: Message,
    /// Whether the client speaks the stateless era.
    pub stateless: bool,
    /// The client's session, when it sent a token.
    pub ticket: Option<Ticket>,
}

/// The per-session process a token names.
pub(super) fn session_key(ticket: Option<&Ticket>) -> Option<u64> {
    ticket.and_then(|t| t.upstream_session.parse().ok())
}

impl Front {
    pub(super) async fn post_stdio(
        &self,
        route: &Route,
        stdio: &StdioBackend,
        post: Post<'_>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let env = match post.message {
            Message::Single(env) => env,
            Message::Batch(_) => {
                return Err(GatewayError::InvalidRequest(
                    "JSON-RPC batches are not supported on stdio backends".into(),
                ));
            }
        };
        // The 2026-07-28 era ignores `Mcp-Session-Id`, so a stateless
        // client's header says nothing of who it is: its owner is unknown.
        let owner = if post.stateless { 0 } else { owner_of(post.headers) };
        match env.kind {
            // The client answering a server request made on its stream.
            Kind::Response => {
                stdio.respond(&post.body, owner)?;
                Ok(accepted())
            }
            Kind::Notification if env.method() == "notifications/initialized" => Ok(accepted()),
            Kind::Notification => {
                stdio.notify(&post.body, env.method(), owner);
                Ok(accepted())
            }
            Kind::Request => match env.method() {
                "initialize" => self.stdio_initialize(route, stdio, &env, &post.body, client, info).await,
                _ if stdio.per_session() && post.stateless => Err(GatewayError::InvalidRequest(format!(
                    "backend `{}` gives each session its own process, and the 2026-07-28 era has no sessions",
                    stdio.name
                ))),
                "server/discover" => {
                    let upstream = stdio.upstream().ok_or_else(|| not_ready(stdio))?;
                    Ok(json(jsonrpc::result_body(id(&env)?, &upstream.discover_result())))
                }
                method => {
                    // Progress, and the server's own requests during a tool
                    // call, need a stream; anything else is one JSON answer.
                    let stream = method == "tools/call" || memchr_contains(&post.body, b"\"progressToken\"");
                    let session = session_key(post.ticket.as_ref());
                    // What the child may ask the client during this request.
                    let caps = match &post.ticket {
                        Some(ticket) => ticket.client_caps,
                        // 2026-07-28 clients declare them on every request;
                        // read them only where the child could ask.
                        None if post.stateless && (stream || crate::stdio::ROUND_METHODS.contains(&method)) => {
                            ClientCaps::of_stateless_request(&post.body)
                        }
                        None => ClientCaps::NONE,
                    };
                    let caller = Caller { owner, stateless: post.stateless, caps };
                    match stdio.request(session, &post.body, id(&env)?, method, caller, stream).await? {
                        Reply::Json(reply) => Ok(json(reply)),
                        Reply::Stream(rx) => Ok(sse(ProxyBody::events(rx))),
                    }
                }
            },
        }
        .map(|mut resp| {
            resp.headers_mut().insert(REQUEST_ID, client.request_id.clone());
            resp
        })
    }

    async fn stdio_initialize(
        &self,
        route: &Route,
        stdio: &StdioBackend,
        env: &Envelope,
        body: &[u8],
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        #[derive(Deserialize)]
        struct Init<'a> {
            #[serde(borrow)]
            params: Option<InitParams<'a>>,
        }
        #[derive(Deserialize)]
        struct InitParams<'a> {
            #[serde(borrow, rename = "protocolVersion")]
            protocol_version: Option<&'a str>,
        }
        let (session, upstream) = if stdio.per_session() {
            let (key, upstream) = stdio.open_session().await?;
            (key.to_string(), upstream)
        } else {
            (String::new(), stdio.upstream().ok_or_else(|| not_ready(stdio))?)
        };
        let requested = serde_json::from_slice::<Init>(body).ok().and_then(|i| i.params?.protocol_version);
        let result = upstream.initialize_result(requested);
        let version = crate::mcp::era::SESSION_VERSIONS
            .iter()
            .find(|v| Some(**v) == requested)
            .copied()
            .unwrap_or(crate::mcp::era::LATEST_SESSION_VERSION);
        let ticket = Ticket {
            backend: stdio.name.to_string(),
            instance: format!("stdio:{}", stdio.name),
            upstream_session: session,
            protocol_version: version.to_string(),
            client_caps: ClientCaps::of_initialize(body),
            issued_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            members: Default::default(),
            principal: client.session_principal(),
        };
        let token = HeaderValue::from_str(&self.key.seal(&route.path, &ticket))
            .map_err(|_| GatewayError::UpstreamFailed("session token is not a header value".into()))?;
        let mut resp = json(jsonrpc::result_body(id(env)?, &result));
        resp.headers_mut().insert(SESSION_ID, token);
        info.session_delta = 1;
        Ok(resp)
    }

    pub(super) async fn get_or_delete_stdio(
        &self,
        stdio: &StdioBackend,
        is_get: bool,
        ticket: Option<Ticket>,
        info: &mut Info,
    ) -> Response<ProxyBody> {
        if !is_get {
            if let Some(key) = session_key(ticket.as_ref()) {
                stdio.close_session(key).await;
            }
            if ticket.is_some() {
                info.session_delta = -1;
            }
            let mut resp = Response::new(ProxyBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::OK;
            return resp;
        }
        // The server stream carries the child's change notifications.
        let mut changes = stdio.subscribe();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = changes.recv() => match msg {
                        Ok(msg) => if tx.send(msg).is_err() { return },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        sse(ProxyBody::events(rx))
    }
}

fn id(env: &Envelope) -> Result<&serde_json::value::RawValue, GatewayError> {
    env.id.as_deref().ok_or_else(|| GatewayError::InvalidRequest("a request needs an id".into()))
}

fn not_ready(stdio: &StdioBackend) -> GatewayError {
    GatewayError::UpstreamConnect(format!("stdio backend `{}` has no process running yet", stdio.name))
}

/// Who sent a session-era request, so that a client's cancellation and
/// answers reach only its own requests: a hash of its session token, or 0
/// (unknown) without one. Never 0 or `u64::MAX` (the gateway's own
/// requests) for a token.
pub(super) fn owner_of(headers: &HeaderMap) -> u64 {
    headers.get(SESSION_ID).map_or(0, |v| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        v.as_bytes().hash(&mut h);
        (h.finish() >> 1) | 1
    })
}

fn memchr_contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

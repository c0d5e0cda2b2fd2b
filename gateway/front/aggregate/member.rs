//! Talking to one member of an aggregated route: its session, its answer,
//! and a new upstream session when its old one is gone.
//!
//! A member request goes through [`Front::dispatch`], the same path a plain
//! route's request takes, so the member's limits, pinned instance, cache
//! and stack (deadlines, retries, balancing) apply as they would to the
//! backend alone. What the member sees is what a client of its own would
//! send: its own session id, its own names.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, Name};
use crate::backend::{Tried, UpstreamRequest};
use crate::error::GatewayError;
use crate::front::reply::{read_reply, result_of};
use crate::front::{Front, Info, Outbound, bridge, header_str, is_sse};
use crate::mcp::envelope::{self, Message};
use crate::mcp::headers::SESSION_ID;
use crate::route::Target;
use crate::route::aggregate::{Local, RETRY_MEMBER_AFTER};
use crate::session::{ClientCaps, MemberSession, Ticket};
use crate::stack::ProxyBody;

/// Where a member stands for the session of a request.
enum Standing {
    /// It has an upstream session (from the token, or opened here).
    Open(MemberSession),
    /// It has none yet: left out at `initialize`, or pushed out of the map.
    Missing,
    /// It failed to open one a moment ago; left out until it is retried.
    Resting,
}

impl Front {
    /// Sends `body` to member `i`, in the session's member session. A
    /// session the member no longer knows (404), or one it never had, is
    /// opened anew once, and the request sent again.
    /// `message` is `body`'s envelope when the caller has it already.
    pub(super) async fn member_call(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        body: Bytes,
        message: Option<Message>,
        name: Name<'_>,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        if ctx.stateless || ctx.ticket.is_none() {
            return self.member_send(ctx, i, None, body, message, name, info).await;
        }
        let session = match self.standing(ctx, i) {
            Standing::Open(s) => s,
            Standing::Resting => return Err(left_out(ctx, i)),
            Standing::Missing => self.reopen(ctx, i).await?,
        };
        match self.member_send(ctx, i, Some(&session), body.clone(), message, name, info).await {
            Err(GatewayError::SessionNotFound) => {}
            Ok(resp) if resp.status() != StatusCode::NOT_FOUND => return Ok(resp),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        tracing::info!(
            route = &*ctx.route.name,
            member = &*ctx.agg.members[i].key,
            "member session gone (404); opening a new one for this session"
        );
        let session = self.reopen(ctx, i).await?;
        self.member_send(ctx, i, Some(&session), body, None, name, info).await
    }

    /// Member `i`'s session for this client session, when it has one.
    pub(super) fn member_session(&self, ctx: &Ctx<'_>, i: usize) -> Option<MemberSession> {
        match self.standing(ctx, i) {
            Standing::Open(s) => Some(s),
            Standing::Missing | Standing::Resting => None,
        }
    }

    fn standing(&self, ctx: &Ctx<'_>, i: usize) -> Standing {
        match ctx.agg.state.local(ctx.session, i) {
            Some(Local::Session(s)) => return Standing::Open(s),
            Some(Local::Failed(at)) if at.elapsed() < RETRY_MEMBER_AFTER => return Standing::Resting,
            Some(Local::Failed(_)) => return Standing::Missing,
            None => {}
        }
        let key = &*ctx.agg.members[i].key;
        match ctx.ticket.and_then(|t| t.members.iter().find(|m| m.member == key)) {
            Some(m) => Standing::Open(m.clone()),
            None => Standing::Missing,
        }
    }

    /// Opens a new upstream session with member `i` for this client
    /// session, from what its token recorded of the client's `initialize`,
    /// and keeps it in the route's replica-local map.
    async fn reopen(&self, ctx: &Ctx<'_>, i: usize) -> Result<MemberSession, GatewayError> {
        let ticket = ctx.ticket.ok_or(GatewayError::SessionNotFound)?;
        let body = synthesized_initialize(ticket);
        let deadline = ctx.agg.settings.member_timeout.0;
        let opened = match tokio::time::timeout(deadline, self.member_initialize(ctx, i, body)).await {
            Ok(r) => r,
            Err(_) => Err(GatewayError::UpstreamTimeout(deadline)),
        };
        match opened {
            Ok((session, _)) => {
                ctx.agg.state.keep(ctx.session, i, Local::Session(session.clone()));
                self.initialized(ctx, i, &session).await;
                Ok(session)
            }
            Err(e) => {
                ctx.agg.state.keep(ctx.session, i, Local::Failed(tokio::time::Instant::now()));
                crate::telemetry::aggregate::member_failed(&ctx.route.name, &ctx.agg.members[i].key);
                Err(e)
            }
        }
    }

    /// Tells a member its new session is ready, as the client's own
    /// `notifications/initialized` would.
    async fn initialized(&self, ctx: &Ctx<'_>, i: usize, session: &MemberSession) {
        let body = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let mut info = Info::default();
        let _ = self.member_send(ctx, i, Some(session), body, None, Name::Without, &mut info).await;
    }

    /// One request to member `i` through the member's side, as the session's
    /// member session (or none, for a stateless request).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn member_send(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        session: Option<&MemberSession>,
        body: Bytes,
        message: Option<Message>,
        name: Name<'_>,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let member = &ctx.agg.members[i];
        let side = match session {
            Some(s) => member.side(&s.backend).ok_or(GatewayError::SessionNotFound)?,
            None => member.pick().ok_or(GatewayError::NoInstance)?,
        };
        let ticket = session.map(|s| member_ticket(ctx.ticket, s));
        // The request's metrics are the member side's.
        info.side = Some(side.clone());
        let message = match message {
            Some(m) => m,
            None => envelope::parse(&body).map_err(|e| GatewayError::InvalidRequest(e.to_string()))?,
        };
        let mut req = Request::new(());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = ctx.uri.clone();
        *req.headers_mut() = ctx.headers_for(name)?;
        let (parts, ()) = req.into_parts();
        let upstream =
            Outbound { parts, bytes: body, message, ticket, pinned: None, initialize: false, stateless: ctx.stateless };
        self.dispatch(ctx.route, &side, upstream, ctx.client, info).await
    }

    /// `initialize` with member `i` on a side picked for a new session:
    /// the member session and the member's result.
    pub(super) async fn member_initialize(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        body: Bytes,
    ) -> Result<(MemberSession, Value), GatewayError> {
        let member = &ctx.agg.members[i];
        let side = member.pick().ok_or(GatewayError::NoInstance)?;
        let (instance, upstream_session, result) = match &*side.target {
            Target::Http { stack, .. } if bridge::path(&stack.backend, false, None, true) == bridge::Path::Up => {
                self.member_bridged_initialize(ctx, stack, &body).await?
            }
            Target::Http { stack, .. } => {
                let backend = &stack.backend;
                let sent = body.clone();
                let req = self.upstream_request(
                    Method::POST,
                    ctx.headers_without_name(),
                    ctx.uri.clone(),
                    body,
                    ctx.client,
                    None,
                    backend,
                );
                let tried = Arc::new(Tried::default());
                let mut upstream = UpstreamRequest::new(req, None, stack.policy("initialize", None, true));
                upstream.tried = Some(tried.clone());
                let resp = stack.call(upstream).await?;
                let instance = tried.last().and_then(|at| backend.instances.get(at)).map(|i| i.url_str().to_string());
                let upstream_session = header_str(resp.headers(), &SESSION_ID).unwrap_or("").to_string();
                let (parts, body) = resp.into_parts();
                let refused = bridge::maybe_refused(parts.status);
                let reply = read_reply(parts.status, is_sse(&parts.headers), ProxyBody::stream(body, false)).await;
                match reply.and_then(result_of) {
                    Ok(result) => (instance.unwrap_or_default(), upstream_session, result),
                    // An unlearned member that refused the era: learned
                    // now, and bridged if it speaks only 2026-07-28.
                    Err(_) if refused && bridge::learn(stack, false, None, true).await == bridge::Path::Up => {
                        self.member_bridged_initialize(ctx, stack, &sent).await?
                    }
                    Err(e) => return Err(e),
                }
            }
            Target::Stdio { stdio, .. } => {
                let requested = serde_json::from_slice::<Value>(&body).ok();
                let requested = requested.as_ref().and_then(|b| b["params"]["protocolVersion"].as_str());
                let (key, handshake) = if stdio.per_session() {
                    let (key, handshake) = stdio.open_session().await?;
                    (key.to_string(), handshake)
                } else {
                    let handshake = stdio.upstream().ok_or_else(|| {
                        GatewayError::UpstreamConnect(format!(
                            "stdio backend `{}` has no process running yet",
                            stdio.name
                        ))
                    })?;
                    (String::new(), handshake)
                };
                let result = serde_json::from_slice(&handshake.initialize_result(requested))
                    .map_err(|e| GatewayError::UpstreamFailed(format!("stdio handshake result: {e}")))?;
                (format!("stdio:{}", stdio.name), key, result)
            }
        };
        let session = MemberSession {
            member: member.key.to_string(),
            backend: side.backend.to_string(),
            instance,
            upstream_session,
        };
        Ok((session, result))
    }
}

impl Front {
    /// A member that speaks only 2026-07-28: its session is the gateway's
    /// own, answered from its `server/discover`.
    async fn member_bridged_initialize(
        &self,
        ctx: &Ctx<'_>,
        stack: &crate::stack::Stack,
        body: &Bytes,
    ) -> Result<(String, String, Value), GatewayError> {
        let headers = ctx.headers_without_name();
        let result = self.initialize_from_discover(stack, &headers, &ctx.uri, body, ctx.client).await?;
        Ok((String::new(), bridge::BRIDGED_STATELESS.to_string(), result))
    }
}

fn left_out(ctx: &Ctx<'_>, i: usize) -> GatewayError {
    GatewayError::UpstreamConnect(format!(
        "member `{}` could not open a session a moment ago; it is tried again within {} s",
        ctx.agg.members[i].key,
        RETRY_MEMBER_AFTER.as_secs()
    ))
}

/// The ticket a member request carries: the member session, with what the
/// client's token says of the client.
pub(super) fn member_ticket(client: Option<&Ticket>, s: &MemberSession) -> Ticket {
    Ticket {
        backend: s.backend.clone(),
        instance: s.instance.clone(),
        upstream_session: s.upstream_session.clone(),
        protocol_version: client.map(|t| t.protocol_version.clone()).unwrap_or_default(),
        client_caps: client.map_or(ClientCaps::NONE, |t| t.client_caps),
        issued_at: client.map_or(0, |t| t.issued_at),
        members: Default::default(),
        principal: client.and_then(|t| t.principal),
    }
}

/// The `initialize` the gateway sends for a client when it opens a member
/// session after the client's own: its version and capabilities, as the
/// token recorded them.
fn synthesized_initialize(ticket: &Ticket) -> Bytes {
    let caps = ticket.client_caps.to_json();
    let version = if ticket.protocol_version.is_empty() {
        crate::mcp::era::LATEST_SESSION_VERSION
    } else {
        ticket.protocol_version.as_str()
    };
    let body = json!({
        "jsonrpc": "2.0",
        "id": "switchyard-reinitialize",
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": caps,
            "clientInfo": { "name": "switchyard", "version": env!("CARGO_PKG_VERSION") },
        },
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

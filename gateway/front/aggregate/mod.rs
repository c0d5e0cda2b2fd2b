//! The front door of an aggregated route: one MCP server made of several.
//!
//! A request is answered by method:
//! - `initialize` and `server/discover` go to every member at once, each
//!   bounded by `member_timeout`; the answer merges their capabilities,
//!   instructions and versions ([`crate::catalog::server`]). `initialize`
//!   seals every member session that opened into the token.
//! - the lists go to every member, each read in full; the merged list is
//!   paged by the gateway ([`lists`]).
//! - `tools/call`, `prompts/get`, `resources/read` and the rest go to the
//!   one member that owns the name, URI or reference ([`routing`]).
//! - `ping` is answered here; `logging/setLevel` and notifications go to
//!   every member.
//!
//! A member that fails or runs out of time is left out under
//! `failure_mode = "open"`, and named in the result's
//! `_meta["io.switchyard/degraded"]`; under `"closed"` the request fails
//! with its error.

mod lists;
mod member;
mod routing;
mod stream;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use serde_json::{Value, json};

use super::answer::{accepted, json};
use super::{Front, Info, Opened, Route};
use crate::client::Client;
use crate::config::FailureMode;
use crate::error::GatewayError;
use crate::mcp::envelope::{Envelope, Kind, Message};
use crate::mcp::headers::{REQUEST_ID, SESSION_ID};
use crate::mcp::jsonrpc;
use crate::route::Aggregate;
use crate::session::{ClientCaps, Ticket};
use crate::stack::ProxyBody;

/// What every member request of one client request shares.
pub(super) struct Ctx<'a> {
    route: &'a Route,
    agg: &'a Aggregate,
    /// The client's session, in the session era.
    ticket: Option<&'a Ticket>,
    /// The key of the client's session in the route's replica-local map.
    session: u64,
    /// Whether the client speaks 2026-07-28.
    stateless: bool,
    client: &'a Client,
    uri: http::Uri,
    headers: &'a HeaderMap,
}

/// What a member request's `Mcp-Name` header is, from the client's.
#[derive(Clone, Copy)]
pub(super) enum Name<'a> {
    /// Left out: a fan-out, whose target is no one member's.
    Without,
    /// As the client sent it: the member's own name already.
    Kept,
    /// The member's own name for the target.
    Renamed(&'a str),
    /// A request the gateway makes itself (a list read for a lookup): its
    /// own `Mcp-Method`, and none of the client's `Mcp-Name` or
    /// `Mcp-Param-*`.
    Made(&'a str),
}

impl Ctx<'_> {
    /// The client's headers, to send on to a member.
    fn headers_without_name(&self) -> HeaderMap {
        self.headers_for(Name::Without).unwrap_or_else(|_| self.headers.clone())
    }

    /// The client's headers with `Mcp-Name` as `name` says: one copy.
    fn headers_for(&self, name: Name<'_>) -> Result<HeaderMap, GatewayError> {
        let mut h = self.headers.clone();
        match name {
            Name::Without => {
                h.remove(crate::mcp::headers::NAME);
            }
            Name::Kept => {}
            Name::Renamed(n) if h.contains_key(crate::mcp::headers::NAME) => {
                // Mirrored as the 2026-07-28 rules write a name that is not
                // plain ASCII.
                let value = if n.is_ascii() {
                    HeaderValue::from_str(n)
                } else {
                    use base64::Engine;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(n);
                    HeaderValue::from_str(&format!("=?base64?{encoded}?="))
                };
                let value =
                    value.map_err(|_| GatewayError::InvalidParams("the member's name is not a header value".into()))?;
                h.insert(crate::mcp::headers::NAME, value);
            }
            Name::Renamed(_) => {}
            Name::Made(method) => {
                h.remove(crate::mcp::headers::NAME);
                let params: Vec<http::HeaderName> =
                    h.keys().filter(|k| k.as_str().starts_with("mcp-param-")).cloned().collect();
                for p in params {
                    h.remove(p);
                }
                if h.contains_key(crate::mcp::headers::METHOD)
                    && let Ok(v) = HeaderValue::from_str(method)
                {
                    h.insert(crate::mcp::headers::METHOD, v);
                }
            }
        }
        Ok(h)
    }

    /// Every member index.
    fn all(&self) -> Vec<usize> {
        (0..self.agg.members.len()).collect()
    }
}

/// What a fan-out got from each member: its reply, or why it has none.
type Replies = Vec<(usize, Result<Value, GatewayError>)>;

/// The members that answered, with their results, and the keys of those
/// left out.
type Settled = (Vec<(usize, Value)>, Vec<String>);

impl Front {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn post_aggregate(
        &self,
        route: &Route,
        agg: &Aggregate,
        parts: http::request::Parts,
        bytes: Bytes,
        message: Message,
        opened: Opened,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let env = match message {
            Message::Single(env) => env,
            // Each message of a batch could belong to another member, and
            // the answers would have to be put back together in order.
            Message::Batch(_) => {
                return Err(GatewayError::InvalidRequest(
                    "JSON-RPC batches are not supported on aggregated routes".into(),
                ));
            }
        };
        let ctx = Ctx {
            route,
            agg,
            ticket: opened.ticket.as_ref(),
            session: if opened.stateless { 0 } else { session_key(&parts.headers) },
            stateless: opened.stateless,
            client,
            uri: parts.uri.clone(),
            headers: &parts.headers,
        };
        if ctx.session != 0 && !opened.initialize && agg.state.deleted(ctx.session) {
            return Err(GatewayError::SessionNotFound);
        }
        let resp = match env.kind {
            Kind::Request if env.method() == "initialize" => self.aggregate_initialize(&ctx, &env, bytes, info).await?,
            Kind::Request => self.aggregate_request(&ctx, &env, bytes, info).await?,
            // Notifications and the client's answers to member requests go
            // to every member in the session: a member ignores a
            // cancellation or an answer for a request that is not its own.
            Kind::Notification | Kind::Response => {
                self.fan_out_quiet(&ctx, bytes).await;
                accepted()
            }
        };
        Ok(with_request_id(resp, client))
    }

    async fn aggregate_request(
        &self,
        ctx: &Ctx<'_>,
        env: &Envelope,
        bytes: Bytes,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let id = env.id.as_deref().ok_or_else(|| GatewayError::InvalidRequest("a request needs an id".into()))?;
        let method = env.method();
        if let Some(kind) = crate::catalog::Kind::of_method(method) {
            return self.aggregate_list(ctx, kind, id, &bytes).await;
        }
        match method {
            "ping" => Ok(json(jsonrpc::result_body(id, b"{}"))),
            "subscriptions/listen" => Ok(self.aggregate_listen(ctx, bytes).await),
            "server/discover" => {
                let replies = self.fan_out(ctx, ctx.all(), |_| bytes.clone()).await;
                let (answers, degraded) = self.settle(ctx, replies)?;
                let labelled: Vec<_> = answers.iter().map(|(i, r)| (self.label(ctx, *i), r)).collect();
                let answers: Vec<_> =
                    labelled.iter().map(|(l, r)| crate::catalog::server::Answer { label: l, result: r }).collect();
                let mut result = crate::catalog::server::discover_result(&ctx.route.name, &answers);
                mark_degraded(&mut result, &degraded);
                Ok(json(jsonrpc::result_body(id, &serde_json::to_vec(&result).unwrap_or_default())))
            }
            "logging/setLevel" => {
                let mut replies = self.fan_out(ctx, ctx.all(), |_| bytes.clone()).await;
                // A member without logging has nothing to set.
                for (_, reply) in &mut replies {
                    if let Ok(r) = reply
                        && r["error"]["code"].as_i64() == Some(i64::from(jsonrpc::METHOD_NOT_FOUND))
                    {
                        *r = json!({ "result": {} });
                    }
                }
                let (_, degraded) = self.settle(ctx, replies)?;
                let mut result = json!({});
                mark_degraded(&mut result, &degraded);
                Ok(json(jsonrpc::result_body(id, &serde_json::to_vec(&result).unwrap_or_default())))
            }
            _ => self.aggregate_routed(ctx, env, id, bytes, info).await,
        }
    }

    /// `initialize` with every member at once; the session token records
    /// each member session that opened.
    async fn aggregate_initialize(
        &self,
        ctx: &Ctx<'_>,
        env: &Envelope,
        bytes: Bytes,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let id = env.id.as_deref().ok_or_else(|| GatewayError::InvalidRequest("a request needs an id".into()))?;
        let deadline = ctx.agg.settings.member_timeout.0;
        let opening = ctx.all().into_iter().map(|i| {
            let body = bytes.clone();
            async move {
                let r = match tokio::time::timeout(deadline, self.member_initialize(ctx, i, body)).await {
                    Ok(r) => r,
                    Err(_) => Err(GatewayError::UpstreamTimeout(deadline)),
                };
                (i, r)
            }
        });
        let opened = futures_util::future::join_all(opening).await;
        let mut members = Vec::new();
        let mut replies: Replies = Vec::new();
        for (i, r) in opened {
            match r {
                Ok((session, result)) => {
                    members.push(session);
                    replies.push((i, Ok(json!({ "result": result }))));
                }
                Err(e) => replies.push((i, Err(e))),
            }
        }
        let (answers, degraded) = self.settle(ctx, replies)?;
        let requested = serde_json::from_slice::<Value>(&bytes).ok();
        let requested = requested.as_ref().and_then(|b| b["params"]["protocolVersion"].as_str()).unwrap_or("");
        let requested = if requested.is_empty() { crate::mcp::era::LATEST_SESSION_VERSION } else { requested };
        let chosen = answers.iter().filter_map(|(_, r)| r["protocolVersion"].as_str());
        let version = crate::catalog::server::version(chosen, requested).to_string();
        let labelled: Vec<_> = answers.iter().map(|(i, r)| (self.label(ctx, *i), r)).collect();
        let merged: Vec<_> =
            labelled.iter().map(|(l, r)| crate::catalog::server::Answer { label: l, result: r }).collect();
        let mut result = crate::catalog::server::initialize_result(&ctx.route.name, &version, &merged);
        mark_degraded(&mut result, &degraded);
        let ticket = Ticket {
            backend: String::new(),
            instance: String::new(),
            upstream_session: String::new(),
            protocol_version: version,
            client_caps: ClientCaps::of_initialize(&bytes),
            issued_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            members: members.into(),
            principal: ctx.client.session_principal(),
        };
        let token = HeaderValue::from_str(&self.key.seal(&ctx.route.path, &ticket))
            .map_err(|_| GatewayError::UpstreamFailed("session token is not a header value".into()))?;
        let mut resp = json(jsonrpc::result_body(id, &serde_json::to_vec(&result).unwrap_or_default()));
        resp.headers_mut().insert(SESSION_ID, token);
        info.session_delta = 1;
        Ok(resp)
    }

    /// Sends a body to each of `members` at once, each bounded by
    /// `member_timeout` (its whole answer included), and reads each reply.
    async fn fan_out(&self, ctx: &Ctx<'_>, members: Vec<usize>, body: impl Fn(usize) -> Bytes) -> Replies {
        let deadline = ctx.agg.settings.member_timeout.0;
        let calls = members.into_iter().map(|i| {
            let body = body(i);
            async move {
                let call = async {
                    let mut info = Info::default();
                    let resp = self.member_call(ctx, i, body, None, Name::Without, &mut info).await?;
                    crate::front::reply::reply_of(resp).await
                };
                let r = match tokio::time::timeout(deadline, call).await {
                    Ok(r) => r,
                    Err(_) => Err(GatewayError::UpstreamTimeout(deadline)),
                };
                (i, r)
            }
        });
        futures_util::future::join_all(calls).await
    }

    /// A notification (or a client's answer) to every member, each bounded
    /// by `member_timeout`; what they say back is not the client's concern.
    async fn fan_out_quiet(&self, ctx: &Ctx<'_>, bytes: Bytes) {
        let deadline = ctx.agg.settings.member_timeout.0;
        let sends = ctx.all().into_iter().map(|i| {
            let body = bytes.clone();
            async move {
                let mut info = Info::default();
                let _ = tokio::time::timeout(deadline, self.member_call(ctx, i, body, None, Name::Without, &mut info))
                    .await;
            }
        });
        futures_util::future::join_all(sends).await;
    }

    /// Splits replies into results and the members left out, under the
    /// route's failure mode: open leaves failed members out (logged and
    /// counted), closed fails with the first member's error.
    fn settle(&self, ctx: &Ctx<'_>, replies: Replies) -> Result<Settled, GatewayError> {
        let mut ok = Vec::new();
        let mut degraded = Vec::new();
        let mut first_error = None;
        for (i, reply) in replies {
            let key = &ctx.agg.members[i].key;
            match reply.and_then(crate::front::reply::result_of) {
                Ok(result) => ok.push((i, result)),
                Err(e) => {
                    tracing::warn!(route = &*ctx.route.name, member = &**key, "member left out: {e}");
                    crate::telemetry::aggregate::member_failed(&ctx.route.name, key);
                    degraded.push(key.to_string());
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if ctx.agg.settings.failure_mode == FailureMode::Closed => Err(e),
            // Open, but nobody answered: there is nothing to merge.
            Some(e) if ok.is_empty() => Err(e),
            _ => Ok((ok, degraded)),
        }
    }

    /// A member's label in merged instructions.
    fn label(&self, ctx: &Ctx<'_>, i: usize) -> String {
        let m = &ctx.agg.members[i];
        if m.prefix.is_empty() { m.key.to_string() } else { m.prefix.to_string() }
    }
}

/// The key of a client session in the route's replica-local map: a hash of
/// its token's last bytes, which are the AEAD tag, unique to the token and
/// unforgeable; hashing them rather than the whole token (a kilobyte with
/// ten members) keeps it cheap on every request.
fn session_key(headers: &HeaderMap) -> u64 {
    let Some(token) = headers.get(SESSION_ID) else { return 0 };
    let bytes = token.as_bytes();
    crate::route::split::stable_hash(&bytes[bytes.len().saturating_sub(24)..]) | 1
}

/// Names the members left out of a result.
fn mark_degraded(result: &mut Value, degraded: &[String]) {
    if !degraded.is_empty() {
        crate::catalog::set_meta(result, crate::catalog::DEGRADED, json!(degraded));
    }
}

/// A JSON-RPC error, as a server would answer it (HTTP 200).
fn rpc_error(id: &serde_json::value::RawValue, code: i32, message: &str) -> Response<ProxyBody> {
    json(jsonrpc::error_body(Some(id), code, message))
}

fn with_request_id(mut resp: Response<ProxyBody>, client: &Client) -> Response<ProxyBody> {
    resp.headers_mut().insert(REQUEST_ID, client.request_id.clone());
    resp
}

//! A 2026-07-28 client in front of a session-era server.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::json;

use super::next_upstream_id;
use super::relay::{Mapping, Toward, relay};
use super::rounds::{self, Rounds, Upstream};
use crate::client::Client;
use crate::error::GatewayError;
use crate::front::answer::{accepted, json};
use crate::front::reply::{read_reply, result_of};
use crate::front::{Front, is_sse};
use crate::mcp::envelope::{Envelope, Kind};
use crate::mcp::era::{FIRST_STATELESS_VERSION, LATEST_SESSION_VERSION};
use crate::mcp::headers::{METHOD, NAME, PROTOCOL_VERSION, SESSION_ID};
use crate::mcp::rewrite::{Meta, Patch, request_line};
use crate::mcp::{describe, jsonrpc};
use crate::session::ClientCaps;
use crate::stack::{ProxyBody, Stack};
use crate::stdio::{Answered, ROUND_METHODS, Retry, check_input_responses};
use crate::table::{Bridged, BridgedKey, Instance};

impl Front {
    /// Serves a 2026-07-28 request from a session-era backend, in an
    /// upstream session of the gateway's.
    pub(in crate::front) async fn bridge_down(
        &self,
        stack: &Stack,
        headers: HeaderMap,
        uri: http::Uri,
        bytes: Bytes,
        env: Envelope,
        client: &Client,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        if env.kind != Kind::Request {
            // The 2026-07-28 era has no client notification a session-era
            // server needs (cancelling is closing the stream).
            return Ok(accepted());
        }
        let id = env.id.clone().ok_or_else(|| GatewayError::InvalidRequest("a request needs an id".into()))?;
        // The gateway answers for a 2026-07-28 server here, so it refuses
        // what such a server must.
        check_meta(&env, &bytes)?;
        check_input_responses(&bytes)?;
        if REMOVED_METHODS.contains(&env.method()) {
            // The session-era server would run them; the era the client
            // speaks has none of them.
            return Err(GatewayError::NotFound(format!("Method not found: {} (removed in 2026-07-28)", env.method())));
        }
        let rounds = Rounds { parked: self.bridged_rounds.clone(), method: env.method().into() };
        if let Some(retry) = Retry::of(&bytes) {
            // A retry after a round of input: it resumes a call parked here.
            let waiting = self.bridged_rounds.take(retry.state(), env.method())?;
            return match waiting.answer(&retry) {
                Answered::Sent(call, answer) => rounds::resume(call, answer.line, id, rounds).await,
                Answered::Missing(call, ask) => Ok(json(rounds::ask_again(call, ask, &rounds)?)),
            };
        }
        // The capabilities the client declares are declared upstream, so
        // the server asks what this client can answer; sessions are keyed
        // by them, and never mix callers that declare different ones.
        let caps = ClientCaps::of_stateless_request(&bytes);
        if env.method() == "subscriptions/listen" {
            return self.bridged_listen(stack, &headers, &uri, &bytes, &id, caps, client).await;
        }
        let instance = stack.pick().ok_or(GatewayError::NoInstance)?;
        let key: BridgedKey = (caps.bits(), client.principal(&headers));
        let mut session = self.bridged_session(stack, &instance, &key, caps, &headers, client).await?;
        if env.method() == "server/discover" {
            let result = describe::discover_from_initialize(&session.result);
            let result = serde_json::to_vec(&result).unwrap_or_default();
            return Ok(json(jsonrpc::result_body(&id, &result)));
        }
        let patch = Patch::for_method(true, false, env.method());
        let policy = stack.policy(env.method(), env.name.as_deref(), true);
        for attempt in 0..2 {
            let upstream_id = next_upstream_id();
            let (line, token) = request_line(upstream_id, &bytes, Meta::Strip).map_err(GatewayError::InvalidRequest)?;
            let req = self.in_session(stack, &session, &headers, uri.clone(), line, client);
            let upstream = crate::backend::UpstreamRequest::new(req, Some(instance.clone()), policy);
            let resp = stack.call(upstream).await?;
            if resp.status() == StatusCode::NOT_FOUND && attempt == 0 {
                // The server forgot the session (it restarted, or expired
                // it): a new one, and the request once more.
                tracing::info!(backend = &*stack.backend.name, "bridged session gone (404); opening a new one");
                instance.era.drop_session(&key, &session);
                session = self.bridged_session(stack, &instance, &key, caps, &headers, client).await?;
                continue;
            }
            let read_uri = (env.method() == "resources/read").then(|| env.name.clone()).flatten();
            let mapping = Mapping { upstream_id, client_id: id.clone(), token, patch, read_uri };
            let asks = caps != ClientCaps::NONE && ROUND_METHODS.contains(&env.method());
            if asks && is_sse(resp.headers()) {
                let template = self.in_session(stack, &session, &headers, uri.clone(), Bytes::new(), client);
                let upstream =
                    Upstream { stack: stack.clone(), instance: instance.clone(), template: Arc::new(template) };
                let deadline = stack.backend.timeout_for(env.method(), true);
                return Ok(rounds::first(resp.into_body(), mapping, deadline, upstream, rounds));
            }
            return relay(resp, mapping, Toward::Stateless).await;
        }
        Err(GatewayError::SessionNotFound)
    }

    /// The upstream session for `key` on `instance`, opened if none is held.
    async fn bridged_session(
        &self,
        stack: &Stack,
        instance: &Arc<Instance>,
        key: &BridgedKey,
        caps: ClientCaps,
        headers: &HeaderMap,
        client: &Client,
    ) -> Result<Arc<Bridged>, GatewayError> {
        if let Some(session) = instance.era.session(key) {
            return Ok(session);
        }
        let session = Arc::new(self.open_bridged(stack, instance, caps, headers, client).await?);
        instance.era.keep(*key, session.clone());
        Ok(session)
    }

    /// `initialize`, then `notifications/initialized`, on `instance`.
    pub(super) async fn open_bridged(
        &self,
        stack: &Stack,
        instance: &Arc<Instance>,
        caps: ClientCaps,
        headers: &HeaderMap,
        client: &Client,
    ) -> Result<Bridged, GatewayError> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": next_upstream_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": LATEST_SESSION_VERSION,
                "capabilities": caps.to_json(),
                "clientInfo": { "name": "switchyard", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let headers = stateless_headers_removed(headers.clone());
        let req = self.upstream_request(
            Method::POST,
            headers.clone(),
            instance.url().clone(),
            body,
            client,
            None,
            &stack.backend,
        );
        let policy = stack.policy("initialize", None, true);
        let resp = stack.call(crate::backend::UpstreamRequest::new(req, Some(instance.clone()), policy)).await?;
        let id = resp.headers().get(SESSION_ID).cloned();
        let (parts, body) = resp.into_parts();
        let reply = read_reply(parts.status, is_sse(&parts.headers), ProxyBody::stream(body, false)).await;
        let result = result_of(reply.map_err(|e| match e {
            // A 404 to `initialize` is no session gone: the server refused.
            GatewayError::SessionNotFound => GatewayError::UpstreamFailed("initialize answered 404".into()),
            e => e,
        })?)?;
        let version = result
            .get("protocolVersion")
            .and_then(|v| v.as_str())
            .and_then(|v| HeaderValue::from_str(v).ok())
            .unwrap_or(HeaderValue::from_static(LATEST_SESSION_VERSION));
        let session = Bridged { id, version, result: Arc::new(result) };
        let initialized = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let req = self.in_session(stack, &session, &headers, instance.url().clone(), initialized, client);
        let policy = stack.policy("notifications/initialized", None, true);
        // Its 202 changes nothing; a failure shows on the request that follows.
        let _ = stack.call(crate::backend::UpstreamRequest::new(req, Some(instance.clone()), policy)).await;
        tracing::debug!(backend = &*stack.backend.name, instance = %instance.display_url(), "opened a bridged session");
        Ok(session)
    }
}

impl Front {
    /// A POST of `body` in `session`: the client's headers as any upstream
    /// request gets them, the session's id and version, and none of the
    /// 2026-07-28 headers, which describe the client's request, not this one.
    pub(super) fn in_session(
        &self,
        stack: &Stack,
        session: &Bridged,
        headers: &HeaderMap,
        uri: http::Uri,
        body: Bytes,
        client: &Client,
    ) -> http::Request<http_body_util::Full<Bytes>> {
        let headers = stateless_headers_removed(headers.clone());
        let mut req = self.upstream_request(Method::POST, headers, uri, body, client, None, &stack.backend);
        req.headers_mut().insert(PROTOCOL_VERSION, session.version.clone());
        if let Some(id) = &session.id {
            req.headers_mut().insert(SESSION_ID, id.clone());
        }
        req
    }
}

fn stateless_headers_removed(mut headers: HeaderMap) -> HeaderMap {
    headers.remove(PROTOCOL_VERSION);
    headers.remove(METHOD);
    headers.remove(NAME);
    headers
}

/// Session-era methods 2026-07-28 removed: a server of that era answers
/// them 404 / -32601.
const REMOVED_METHODS: &[&str] =
    &["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

/// What a 2026-07-28 server refuses in a request's `_meta`: a version it
/// does not speak (-32022, with the versions it does), and capabilities or
/// client info that are missing or not objects (-32602).
fn check_meta(env: &Envelope, bytes: &[u8]) -> Result<(), GatewayError> {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "io.modelcontextprotocol/clientCapabilities")]
        capabilities: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, rename = "io.modelcontextprotocol/clientInfo")]
        info: Option<&'a serde_json::value::RawValue>,
    }
    let version = env.meta_version.as_deref().unwrap_or_default();
    if version != FIRST_STATELESS_VERSION {
        return Err(GatewayError::UnsupportedVersion(version.to_string()));
    }
    let meta = serde_json::from_slice::<Body>(bytes).ok().and_then(|b| b.params?.meta);
    let is_object = |v: Option<&serde_json::value::RawValue>| v.is_some_and(|v| v.get().trim_start().starts_with('{'));
    let Some(meta) = meta else {
        return Err(GatewayError::InvalidParams("params._meta must be an object".into()));
    };
    if !is_object(meta.capabilities) {
        return Err(GatewayError::InvalidParams(
            "params._meta[\"io.modelcontextprotocol/clientCapabilities\"] is required, an object".into(),
        ));
    }
    if meta.info.is_some() && !is_object(meta.info) {
        return Err(GatewayError::InvalidParams(
            "params._meta[\"io.modelcontextprotocol/clientInfo\"] must be an object".into(),
        ));
    }
    Ok(())
}

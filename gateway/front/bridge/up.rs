//! A session-era client in front of a 2026-07-28 server.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::next_upstream_id;
use super::relay::{Mapping, Toward, relay};
use crate::backend::UpstreamRequest;
use crate::client::Client;
use crate::error::GatewayError;
use crate::front::answer::{accepted, json, sse};
use crate::front::reply::{read_reply, result_of};
use crate::front::{Front, Info, Route, is_sse, stateless};
use crate::mcp::envelope::{Envelope, Kind};
use crate::mcp::era::{FIRST_STATELESS_VERSION, META_PROTOCOL_VERSION};
use crate::mcp::headers::{METHOD, NAME, PROTOCOL_VERSION, SESSION_ID};
use crate::mcp::rewrite::{Meta, Patch, request_line};
use crate::mcp::{describe, jsonrpc};
use crate::session::{ClientCaps, Ticket};
use crate::stack::{ProxyBody, Stack};

/// Session-era methods 2026-07-28 removed, which the gateway answers itself
/// for a session it keeps: `ping`, and the per-session settings such a
/// server has no place for (acknowledged; the level and subscriptions are
/// not carried over, see the README).
const ANSWERED_HERE: &[&str] = &["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

/// The upstream session of a session the gateway keeps itself, in front
/// of a stateless server. A real `Mcp-Session-Id` is visible ASCII
/// (0x21–0x7E), so one with a space can never be mistaken for it.
pub const BRIDGED_STATELESS: &str = " stateless";

impl Front {
    /// Serves a session-era request from a 2026-07-28 backend.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::front) async fn bridge_up(
        &self,
        route: &Route,
        stack: &Stack,
        headers: HeaderMap,
        uri: http::Uri,
        bytes: Bytes,
        env: Envelope,
        ticket: Option<&Ticket>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        if env.kind == Kind::Response {
            // An answer to a question the gateway relayed for a server;
            // anything else answers nothing the server can hear.
            self.bridged_asks.answer(&bytes);
            return Ok(accepted());
        }
        if env.kind != Kind::Request {
            // `notifications/initialized` and `cancelled` have no
            // 2026-07-28 counterpart on HTTP.
            return Ok(accepted());
        }
        let id = env.id.clone().ok_or_else(|| GatewayError::InvalidRequest("a request needs an id".into()))?;
        if env.method() == "initialize" {
            return self.bridged_initialize(route, stack, &headers, &uri, &bytes, &id, client, info).await;
        }
        let ticket = ticket.ok_or(GatewayError::SessionNotFound)?;
        if self.bridged_ended(&headers) {
            return Err(GatewayError::SessionNotFound);
        }
        if ANSWERED_HERE.contains(&env.method()) {
            // 2026-07-28 removed these; the gateway answers for the session.
            return Ok(json(jsonrpc::result_body(&id, b"{}")));
        }
        let meta = request_meta(None, ticket.client_caps.to_json());
        let upstream_id = next_upstream_id();
        let (line, token) =
            request_line(upstream_id, &bytes, Meta::Add(&meta)).map_err(GatewayError::InvalidRequest)?;
        let mut headers = headers.clone();
        mirrored(&mut headers, env.method(), env.name.as_deref());
        let template =
            self.upstream_request(Method::POST, headers, uri.clone(), Bytes::new(), client, None, &stack.backend);
        let mut req = crate::backend::copy_http(&template);
        *req.body_mut() = http_body_util::Full::new(line.clone());
        let policy = stack.policy(env.method(), env.name.as_deref(), true);
        let resp = stack.call(UpstreamRequest::new(req, None, policy)).await?;
        let mapping = Mapping { upstream_id, client_id: id, token, patch: Patch::None, read_uri: None };
        if ticket.client_caps != ClientCaps::NONE && crate::stdio::ROUND_METHODS.contains(&env.method()) {
            // The server may ask, with what the client declared: its
            // questions go to the client on this call's stream.
            let call = super::asks::Call {
                stack: stack.clone(),
                line,
                template,
                method: env.method().into(),
                mapping,
                deadline: stack.backend.timeout_for(env.method(), true),
                asked: self.bridged_asks.clone(),
            };
            return Ok(super::asks::stream(resp, call));
        }
        relay(resp, mapping, Toward::Session).await
    }

    /// Answers `initialize` from the server's `server/discover`, and mints
    /// the session.
    #[allow(clippy::too_many_arguments)]
    async fn bridged_initialize(
        &self,
        route: &Route,
        stack: &Stack,
        headers: &HeaderMap,
        uri: &http::Uri,
        bytes: &[u8],
        id: &serde_json::value::RawValue,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let requested = serde_json::from_slice::<Init>(bytes).ok().and_then(|i| i.params?.protocol_version);
        let version = describe::negotiate(requested.as_deref());
        let result = self.initialize_from_discover(stack, headers, uri, bytes, client).await?;
        let result = describe::initialize_for(&result, Some(version));
        let caps = ClientCaps::of_initialize(bytes);
        let ticket = Ticket {
            backend: stack.backend.name.to_string(),
            // Not pinned: any instance of a stateless backend serves it.
            instance: String::new(),
            upstream_session: BRIDGED_STATELESS.to_string(),
            protocol_version: version.to_string(),
            client_caps: caps,
            issued_at: crate::session::unix_now(),
            members: Default::default(),
            principal: client.session_principal(),
        };
        let token = HeaderValue::from_str(&self.key().seal(&route.path, &ticket))
            .map_err(|_| GatewayError::UpstreamFailed("session token is not a header value".into()))?;
        let mut resp = json(jsonrpc::result_body(id, &result));
        resp.headers_mut().insert(SESSION_ID, token);
        info.session_delta = 1;
        Ok(resp)
    }

    /// The `initialize` result a client's `initialize` (`bytes`) gets from
    /// a 2026-07-28 backend: its `server/discover`, asked with the client's
    /// info and capabilities, in the shape of an `initialize` result.
    pub(in crate::front) async fn initialize_from_discover(
        &self,
        stack: &Stack,
        headers: &HeaderMap,
        uri: &http::Uri,
        bytes: &[u8],
        client: &Client,
    ) -> Result<Value, GatewayError> {
        let init = serde_json::from_slice::<Init>(bytes).ok().and_then(|i| i.params);
        let declared = init
            .as_ref()
            .and_then(|p| p.capabilities.clone())
            .unwrap_or_else(|| ClientCaps::of_initialize(bytes).to_json());
        let meta = request_meta(init.and_then(|p| p.client_info), declared);
        let body = json!({ "jsonrpc": "2.0", "id": next_upstream_id(), "method": "server/discover", "params": { "_meta": meta } });
        let mut headers = headers.clone();
        mirrored(&mut headers, "server/discover", None);
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let req = self.upstream_request(Method::POST, headers, uri.clone(), body, client, None, &stack.backend);
        let resp = stack.call(UpstreamRequest::new(req, None, stack.policy("server/discover", None, true))).await?;
        let (head, body) = resp.into_parts();
        let reply = read_reply(head.status, is_sse(&head.headers), ProxyBody::stream(body, false)).await;
        let discovered = result_of(reply.map_err(|e| match e {
            GatewayError::SessionNotFound => GatewayError::UpstreamFailed("server/discover answered 404".into()),
            e => e,
        })?)?;
        Ok(describe::initialize_from_discover(&discovered))
    }

    /// GET and DELETE in a session the gateway keeps. DELETE: the 2026-07-28
    /// server has no session to end, so a DELETEd session is remembered on
    /// this replica (a sealed token cannot be revoked), and its token gets
    /// 404 from then on, as a server's ended session would. GET: the
    /// server's change notifications, from a `subscriptions/listen` opting
    /// in to every list change; 405 when the server has no such stream.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::front) async fn bridged_get_or_delete(
        &self,
        stack: &Stack,
        is_get: bool,
        headers: &HeaderMap,
        uri: &http::Uri,
        ticket: &Ticket,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        if self.bridged_ended(headers) {
            return Err(GatewayError::SessionNotFound);
        }
        if !is_get {
            self.ended_bridged.insert(crate::front::stdio::owner_of(headers), ());
            info.session_delta = -1;
            return Ok(Response::new(ProxyBody::full(Bytes::new())));
        }
        let meta = request_meta(None, ticket.client_caps.to_json());
        let every = json!({ "toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true });
        let body = json!({ "jsonrpc": "2.0", "id": next_upstream_id(), "method": "subscriptions/listen",
            "params": { "_meta": meta, "notifications": every } });
        let mut headers = headers.clone();
        mirrored(&mut headers, "subscriptions/listen", None);
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = Bytes::from(body.to_string());
        let req = self.upstream_request(Method::POST, headers, uri.clone(), body, client, None, &stack.backend);
        let policy = stack.policy("subscriptions/listen", None, true);
        let resp = stack.call(UpstreamRequest::new(req, None, policy)).await;
        let resp = match resp {
            Ok(resp) if resp.status().is_success() && is_sse(resp.headers()) => resp,
            _ => {
                let mut none = Response::new(ProxyBody::full(Bytes::new()));
                *none.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                return Ok(none);
            }
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let body = ProxyBody::stream(resp.into_body(), true);
        tokio::spawn(async move {
            // The acknowledgement is the 2026-07-28 stream's own business.
            let each = |m: &str| {
                let ack = m.contains("\"notifications/subscriptions/acknowledged\"");
                (!ack).then(|| Bytes::copy_from_slice(m.as_bytes()))
            };
            crate::front::reply::each_event(body, tx, 16 << 20, "a bridged listen stream", each).await;
        });
        Ok(sse(ProxyBody::events(rx)))
    }

    /// Whether the session these headers name was DELETEd here.
    fn bridged_ended(&self, headers: &HeaderMap) -> bool {
        self.ended_bridged.contains_key(&crate::front::stdio::owner_of(headers))
    }
}

#[derive(Deserialize)]
struct Init {
    params: Option<InitParams>,
}

#[derive(Deserialize)]
struct InitParams {
    #[serde(rename = "protocolVersion")]
    protocol_version: Option<String>,
    #[serde(rename = "clientInfo")]
    client_info: Option<Value>,
    capabilities: Option<Value>,
}

/// The `_meta` a 2026-07-28 request carries: the version, the client's
/// info (the gateway's when the session did not record the client's) and
/// its capabilities.
fn request_meta(client_info: Option<Value>, capabilities: Value) -> Value {
    let info = client_info.unwrap_or_else(|| json!({ "name": "switchyard", "version": env!("CARGO_PKG_VERSION") }));
    json!({
        META_PROTOCOL_VERSION: FIRST_STATELESS_VERSION,
        "io.modelcontextprotocol/clientInfo": info,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    })
}

/// The mirrored headers of a 2026-07-28 request for `method` (naming
/// `name`, for the methods that mirror one).
fn mirrored(headers: &mut HeaderMap, method: &str, name: Option<&str>) {
    headers.insert(PROTOCOL_VERSION, HeaderValue::from_static(FIRST_STATELESS_VERSION));
    if let Ok(m) = HeaderValue::from_str(method) {
        headers.insert(METHOD, m);
    }
    headers.remove(NAME);
    if stateless::mirrored_name(FIRST_STATELESS_VERSION, method).is_some()
        && let Some(value) = name.and_then(stateless::encode)
    {
        headers.insert(NAME, value);
    }
}

//! The front door's part in identity: a route's `auth` runs first, its
//! `[[authz]]` rules before the request is sent anywhere, and the rules
//! filter list answers on their way back (see [`crate::auth`] for why each
//! is where it is).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use super::answer::json;
use super::{Front, Info, Route, header_str, is_sse};
use crate::auth::authz::Gate;
use crate::auth::metadata::{self, Seen};
use crate::auth::{Authenticator, Policy, Refusal};
use crate::catalog::Kind;
use crate::client::{Client, Identity};
use crate::error::GatewayError;
use crate::mcp::envelope::{Envelope, Message};
use crate::mcp::jsonrpc;
use crate::stack::ProxyBody;

/// Most bytes of a list answer the gateway reads to filter it.
const MAX_LIST_ANSWER: usize = 16 << 20;

impl Front {
    /// The client of a request at a route with `auth`, with its identity;
    /// or the 401 / 403 that refuses it.
    pub(super) async fn authenticate(
        &self,
        route: &Route,
        auth: &Authenticator,
        headers: &HeaderMap,
        uri: &http::Uri,
        client: &Client,
        info: &mut Info,
    ) -> Result<Client, GatewayError> {
        match auth.authenticate(headers).await {
            Ok(identity) => {
                info.principal = Some(identity.name.clone());
                Ok(Client { identity: Some(identity), ..client.clone() })
            }
            Err(refusal) => {
                crate::telemetry::auth::refused_because(&route.path, refusal.kind());
                let url = auth.metadata.as_ref().map(|m| {
                    let host = uri.authority().map(|a| a.as_str()).or_else(|| header_str(headers, &header::HOST));
                    let seen = Seen { scheme: self.scheme(), host: host.unwrap_or("localhost"), path: &route.path };
                    metadata::document_url(&metadata::resource(m, &seen))
                });
                let challenge = metadata::www_authenticate(&refusal.challenge(), url.as_deref());
                let reason = refusal.reason();
                Err(match refusal {
                    Refusal::Scope(_) => GatewayError::InsufficientScope { reason, challenge },
                    _ => GatewayError::Unauthenticated { reason, challenge },
                })
            }
        }
    }

    /// The protected resource metadata document at `path` (under
    /// [`metadata::WELL_KNOWN`]): the route's whose path follows the
    /// prefix, or, at the bare prefix, the one document this gateway
    /// serves, when it serves exactly one.
    pub fn resource_metadata(&self, path: &str, headers: &HeaderMap) -> Option<Bytes> {
        let suffix = path.strip_prefix(metadata::WELL_KNOWN)?;
        let with_metadata = |r: &&Arc<Route>| r.auth.as_ref().is_some_and(|a| a.metadata.is_some());
        let route = if suffix.is_empty() || suffix == "/" {
            let mut routes = self.routes().filter(with_metadata);
            let only = routes.next()?;
            if routes.next().is_some() {
                return None;
            }
            only
        } else {
            self.route(suffix).filter(with_metadata)?
        };
        let cfg = route.auth.as_ref()?.metadata.as_ref()?;
        let host = header_str(headers, &header::HOST).unwrap_or("localhost");
        Some(metadata::document(cfg, &Seen { scheme: self.scheme(), host, path: &route.path }))
    }

    /// `http` or `https`, as clients reach this listener.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.settings.tls { "https" } else { "http" }
    }
}

/// The answer to a message that uses what the caller may not, made as the
/// server would for a name it does not have; `None` when all of it may go.
pub(super) fn refused(
    route: &Route,
    policy: &Policy,
    client: &Client,
    message: &Message,
    bytes: &Bytes,
) -> Option<Response<ProxyBody>> {
    let identity = client.identity.as_deref();
    let denial = |env: &Envelope| denied(route, policy, identity, env, bytes);
    match message {
        Message::Single(env) => {
            let (code, text) = denial(env)?;
            Some(json(jsonrpc::error_body(env.id.as_deref(), code, &text)))
        }
        Message::Batch(envs) => {
            // A list in a batch would come back unfiltered (the answers are
            // not read apart), so it is refused rather than sent.
            let in_batch = |env: &Envelope| match Kind::of_method(env.method()) {
                Some(_) if env.id.is_some() => Some((
                    jsonrpc::INVALID_REQUEST,
                    "on this route a list is filtered for its caller and must be sent on its own, not in a batch"
                        .to_string(),
                )),
                _ => denial(env),
            };
            let denials: Vec<_> = envs.iter().map(in_batch).collect();
            if denials.iter().all(Option::is_none) {
                return None;
            }
            // A batch is sent whole or not at all: answering the refused
            // part here and forwarding the rest would need the answers
            // merged. Each refused request gets its unknown-name error, and
            // the others say they were not sent.
            let answers: Vec<Value> = envs
                .iter()
                .zip(denials)
                .filter(|(env, _)| env.id.is_some())
                .map(|(env, denial)| {
                    let (code, text) = denial.unwrap_or_else(|| {
                        (jsonrpc::INVALID_REQUEST, "not sent: the batch holds a request that was refused".into())
                    });
                    let id: Value =
                        env.id.as_deref().and_then(|i| serde_json::from_str(i.get()).ok()).unwrap_or(Value::Null);
                    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": text}})
                })
                .collect();
            Some(json(Bytes::from(Value::Array(answers).to_string())))
        }
    }
}

/// The error for one refused request, logged with its reason.
fn denied(
    route: &Route,
    policy: &Policy,
    identity: Option<&Identity>,
    env: &Envelope,
    bytes: &[u8],
) -> Option<(i32, String)> {
    // Only requests use anything; a notification or an answer passes.
    env.id.as_ref()?;
    let (gate, name) = Gate::of(env.method(), env.name.as_deref(), bytes)?;
    let name = match name {
        Some(name) => name,
        // A completion whose reference cannot be read (in a batch, whose
        // body is the whole array, or malformed) cannot be checked, so it is
        // refused: failing open would let it reach a refused prompt.
        None if env.method() == "completion/complete" => {
            tracing::info!(target: "switchyard::authz", route = &*route.path, "refused: a completion without a readable reference");
            return Some((jsonrpc::INVALID_PARAMS, "Unknown reference".into()));
        }
        // Any other request that names nothing is the server's to refuse
        // (-32602): there is nothing it could reach.
        None => return None,
    };
    if policy.allows(identity, gate, &name) {
        return None;
    }
    let principal = identity.map_or("", |i| &*i.name);
    tracing::info!(target: "switchyard::authz", route = &*route.path, principal, method = env.method(), name = %name,
        "refused: no [[authz]] rule allows it");
    crate::telemetry::auth::denied_kind(&route.path, gate.label());
    Some(gate.unknown(&name))
}

/// Which list a message asks for, when the route's rules filter it.
pub(super) fn filtered_list(route: &Route, message: &Message) -> Option<(Arc<Policy>, Kind)> {
    let policy = route.authz.clone()?;
    match message {
        Message::Single(env) if env.id.is_some() => Some((policy, Kind::of_method(env.method())?)),
        _ => None,
    }
}

/// A list answer with only what the caller may use. The answer is read
/// whole (it is one JSON-RPC response, as JSON or in an SSE stream) and
/// sent on as JSON, which every client accepts for a POST.
pub(super) async fn filter_list(
    policy: &Policy,
    identity: Option<&Identity>,
    kind: Kind,
    resp: Response<ProxyBody>,
) -> Result<Response<ProxyBody>, GatewayError> {
    if resp.status() != StatusCode::OK {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let sse = is_sse(&parts.headers);
    let bytes = Limited::new(body, MAX_LIST_ANSWER)
        .collect()
        .await
        .map_err(|e| GatewayError::UpstreamFailed(format!("reading a list answer to filter it: {e}")))?
        .to_bytes();
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).ok().filter(|v| v.get("result").is_some());
    let reply =
        if sse { crate::mcp::sse::event_data(&bytes).iter().find_map(|d| parse(d.as_bytes())) } else { parse(&bytes) };
    let Some(mut reply) = reply else {
        // A JSON-RPC error holds no list and goes on as it came; anything
        // else the gateway cannot read might, so it fails closed.
        let is_error = |b: &[u8]| serde_json::from_slice::<Value>(b).ok().is_some_and(|v| v.get("error").is_some());
        let error = if sse {
            crate::mcp::sse::event_data(&bytes).iter().any(|d| is_error(d.as_bytes()))
        } else {
            is_error(&bytes)
        };
        if error {
            return Ok(Response::from_parts(parts, ProxyBody::full(bytes)));
        }
        return Err(GatewayError::UpstreamFailed("the list answer could not be read to filter it".into()));
    };
    policy.filter(identity, kind, &mut reply["result"]);
    let body = Bytes::from(serde_json::to_vec(&reply).unwrap_or_default());
    parts.headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, ProxyBody::full(body)))
}

//! `subscriptions/listen` across the bridge: a 2026-07-28 client's change
//! notifications from a session-era server's GET stream.
//!
//! Each listen gets an upstream session of its own (a session-era server
//! may allow one GET stream per session, and a listen lives as long as its
//! client keeps it): `initialize`, then `resources/subscribe` for each URI
//! the client asks for, then the GET stream. The client's stream starts
//! with `notifications/subscriptions/acknowledged`, naming what will be
//! honoured (what the client asked for and the server's capabilities
//! offer); after it come only the change notifications of those kinds, each
//! tagged with the subscription's id (the listen request's id). When the
//! client goes away, the GET stream is dropped and the session DELETEd.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::backend::UpstreamRequest;
use crate::client::Client;
use crate::error::GatewayError;
use crate::front::Front;
use crate::front::answer::sse;
use crate::session::ClientCaps;
use crate::stack::{ProxyBody, Stack};
use crate::table::Bridged;

/// The `_meta` key that tags each notification of a subscription.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// Most bytes of one event of the GET stream.
const MAX_EVENT: usize = 16 << 20;

/// What a listen asked for, as far as the server can honour it.
#[derive(Debug, Default, PartialEq)]
pub struct Filter {
    tools: bool,
    prompts: bool,
    resources: bool,
    uris: Vec<String>,
}

impl Filter {
    /// The client's `params.notifications`, cut to what `capabilities` (the
    /// server's, from its `initialize`) offers.
    pub fn honoured(request: &Value, capabilities: &Value) -> Filter {
        let asked = &request["params"]["notifications"];
        let on = |k: &str| asked[k].as_bool() == Some(true);
        let offers = |kind: &str, what: &str| capabilities[kind][what].as_bool() == Some(true);
        let uris = match offers("resources", "subscribe") {
            true => asked["resourceSubscriptions"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            false => Vec::new(),
        };
        Filter {
            tools: on("toolsListChanged") && offers("tools", "listChanged"),
            prompts: on("promptsListChanged") && offers("prompts", "listChanged"),
            resources: on("resourcesListChanged") && offers("resources", "listChanged"),
            uris,
        }
    }

    /// As the acknowledgement states it.
    fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (on, key) in [
            (self.tools, "toolsListChanged"),
            (self.prompts, "promptsListChanged"),
            (self.resources, "resourcesListChanged"),
        ] {
            if on {
                out.insert(key.into(), true.into());
            }
        }
        if !self.uris.is_empty() {
            out.insert("resourceSubscriptions".into(), self.uris.clone().into());
        }
        out.into()
    }

    /// Whether a notification from the server passes.
    fn passes(&self, notification: &Value) -> bool {
        match notification["method"].as_str() {
            Some("notifications/tools/list_changed") => self.tools,
            Some("notifications/prompts/list_changed") => self.prompts,
            Some("notifications/resources/list_changed") => self.resources,
            Some("notifications/resources/updated") => {
                notification["params"]["uri"].as_str().is_some_and(|u| self.uris.iter().any(|x| x == u))
            }
            _ => false,
        }
    }
}

impl Front {
    /// Serves a 2026-07-28 `subscriptions/listen` from a session-era backend.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::front) async fn bridged_listen(
        &self,
        stack: &Stack,
        headers: &HeaderMap,
        uri: &http::Uri,
        bytes: &[u8],
        id: &serde_json::value::RawValue,
        caps: ClientCaps,
        client: &Client,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let request: Value = serde_json::from_slice(bytes).map_err(|e| GatewayError::InvalidRequest(e.to_string()))?;
        let instance = stack.pick().ok_or(GatewayError::NoInstance)?;
        let session = Arc::new(self.open_bridged(stack, &instance, caps, headers, client).await?);
        let mut filter = Filter::honoured(&request, &session.result["capabilities"]);
        let template = self.in_session(stack, &session, headers, uri.clone(), Bytes::new(), client);
        let send = |method: Method, body: Bytes| {
            let mut req = crate::backend::copy_http(&template);
            *req.method_mut() = method;
            *req.body_mut() = http_body_util::Full::new(body);
            req
        };
        let mut kept = Vec::with_capacity(filter.uris.len());
        for (n, resource) in filter.uris.iter().enumerate() {
            let body = json!({ "jsonrpc": "2.0", "id": format!("sy-subscribe-{n}"), "method": "resources/subscribe", "params": { "uri": resource } });
            let req = send(Method::POST, Bytes::from(body.to_string()));
            let policy = stack.policy("resources/subscribe", None, true);
            let subscribed = stack.call(UpstreamRequest::new(req, Some(instance.clone()), policy)).await;
            if subscribed.is_ok_and(|r| r.status().is_success()) {
                kept.push(resource.clone());
            }
        }
        filter.uris = kept;
        let mut get = send(Method::GET, Bytes::new());
        get.headers_mut().insert(http::header::ACCEPT, http::HeaderValue::from_static("text/event-stream"));
        get.headers_mut().remove(http::header::CONTENT_TYPE);
        let stream =
            stack.call(UpstreamRequest::new(get, Some(instance.clone()), stack.policy("GET", None, false))).await;
        let subscription: Value = serde_json::from_str(id.get()).unwrap_or(Value::Null);
        let ack = json!({ "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": { "notifications": filter.to_json(), "_meta": { SUBSCRIPTION_ID: subscription } } });
        let (out, rx) = mpsc::unbounded_channel();
        let _ = out.send(Bytes::from(ack.to_string()));
        let end = send(Method::DELETE, Bytes::new());
        let stack = stack.clone();
        tokio::spawn(async move {
            match stream {
                Ok(resp) if resp.status().is_success() && crate::front::is_sse(resp.headers()) => {
                    let body = ProxyBody::stream(resp.into_body(), true);
                    let each = |m: &str| {
                        let mut note: Value = serde_json::from_str(m).ok()?;
                        if !filter.passes(&note) {
                            return None;
                        }
                        note["params"]["_meta"][SUBSCRIPTION_ID] = subscription.clone();
                        Some(Bytes::from(note.to_string()))
                    };
                    crate::front::reply::each_event(body, out, MAX_EVENT, "a bridged GET stream", each).await;
                }
                // No stream to read (the server offers none): the client
                // keeps its acknowledged, quiet subscription until it leaves.
                _ => out.closed().await,
            }
            end_session(&stack, instance, end, &session).await;
        });
        Ok(sse(ProxyBody::events(rx)))
    }
}

/// DELETEs a listen's own session once its client is gone.
async fn end_session(
    stack: &Stack,
    instance: Arc<crate::table::Instance>,
    req: http::Request<http_body_util::Full<Bytes>>,
    _session: &Bridged,
) {
    let _ = stack.call(UpstreamRequest::new(req, Some(instance), stack.policy("DELETE", None, false))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_asked_and_is_offered_is_honoured() {
        let request = json!({ "params": { "notifications": {
            "toolsListChanged": true, "promptsListChanged": false, "resourceSubscriptions": ["a://1", "a://2"] } } });
        let caps = json!({ "tools": { "listChanged": true }, "prompts": { "listChanged": true }, "resources": { "subscribe": true } });
        let f = Filter::honoured(&request, &caps);
        assert_eq!(f.to_json(), json!({ "toolsListChanged": true, "resourceSubscriptions": ["a://1", "a://2"] }));
        assert!(f.passes(&json!({ "method": "notifications/tools/list_changed" })));
        assert!(!f.passes(&json!({ "method": "notifications/prompts/list_changed" })), "not asked for");
        assert!(f.passes(&json!({ "method": "notifications/resources/updated", "params": { "uri": "a://2" } })));
        assert!(!f.passes(&json!({ "method": "notifications/resources/updated", "params": { "uri": "a://3" } })));
        assert!(!f.passes(&json!({ "method": "notifications/message" })), "request-scoped, never on a listen");
        let none = Filter::honoured(&request, &json!({ "tools": { "listChanged": false } }));
        assert_eq!(none.to_json(), json!({}), "nothing the server does not offer");
    }
}

//! The probes themselves.
//!
//! MCP probes on a session-era server need a session: the prober opens its
//! own with `initialize` (and `notifications/initialized`) on first use,
//! keeps it, and opens a new one when the server answers 404 (it restarted,
//! or expired the session). A server that issues no session id is probed
//! without one. Probes carry the backend's configured headers and its OAuth
//! token, so a server behind a credential can be probed (an instance whose
//! token cannot be had is probed as down: it cannot serve), and
//! `User-Agent: switchyard-health`, so that they are easy to tell apart in
//! the server's logs.
//!
//! An instance that speaks only 2026-07-28 (configured so, or learned when
//! its session-era probe fails) has no `ping` and no session: it is probed
//! with `server/discover` instead.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::Full;
use serde_json::Value;

use crate::backend::Backend;

use crate::config::{Probe, ServerEra};
use crate::mcp::era::LATEST_SESSION_VERSION as SESSION_VERSION;
use crate::mcp::headers::{PROTOCOL_VERSION, SESSION_ID};
use crate::table::Instance;

#[cfg(test)]
use super::own::messages;
use super::own::{Failure, USER_AGENT, discover, initialize_body, request, rpc};

/// Sends one instance's probes, keeping its MCP session between them.
pub struct Prober {
    probe: Probe,
    session: Option<Session>,
    next_id: u64,
}

/// The prober's own MCP session with the instance.
struct Session {
    /// `Mcp-Session-Id`, when the server issued one.
    id: Option<HeaderValue>,
    /// The negotiated version, sent as `MCP-Protocol-Version`.
    version: HeaderValue,
}

impl Prober {
    /// A prober for `probe`, with no session yet.
    pub fn new(probe: Probe) -> Self {
        Self { probe, session: None, next_id: 0 }
    }

    /// Probes `instance` once; `Err` says why it failed.
    pub async fn probe(&mut self, backend: &Backend, instance: &Instance) -> Result<(), String> {
        match &self.probe {
            Probe::Ping | Probe::ToolsList => {
                let method = if self.probe == Probe::Ping { "ping" } else { "tools/list" };
                if stateless_only(backend, instance) {
                    return self.discover(backend, instance).await;
                }
                let outcome = self.in_session(backend, instance, method).await;
                // A 2026-07-28-only server refuses the session a session-era
                // probe needs: learn what it speaks, and probe it as it
                // speaks rather than marking it down.
                if outcome.is_err()
                    && backend.era == ServerEra::Auto
                    && instance.era.speaks().is_none()
                    && let Ok(speaks) = super::era::learn(backend, instance).await
                {
                    instance.era.learned(speaks);
                    if stateless_only(backend, instance) {
                        return self.discover(backend, instance).await;
                    }
                }
                outcome
            }
            Probe::Discover => self.discover(backend, instance).await,
            Probe::HttpGet { path, expect } => http_get(backend, instance, path, *expect).await,
            Probe::None => Ok(()),
        }
    }

    async fn discover(&mut self, backend: &Backend, instance: &Instance) -> Result<(), String> {
        let id = self.id();
        discover(backend, instance, id).await.map(drop).map_err(Failure::into_message)
    }

    /// `method` in the prober's session, opening (or reopening) it as needed.
    async fn in_session(&mut self, backend: &Backend, instance: &Instance, method: &str) -> Result<(), String> {
        if self.session.is_none() {
            self.session = Some(self.initialize(backend, instance).await?);
        }
        match self.call(backend, instance, method).await {
            Err(Failure::SessionGone) => {
                self.session = Some(self.initialize(backend, instance).await?);
                self.call(backend, instance, method).await.map_err(Failure::into_message)
            }
            other => other.map_err(Failure::into_message),
        }
    }

    async fn call(&mut self, backend: &Backend, instance: &Instance, method: &str) -> Result<(), Failure> {
        let id = self.id();
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#);
        let headers = self.session_headers();
        rpc(backend, instance, body, &headers, id).await.map(drop)
    }

    async fn initialize(&mut self, backend: &Backend, instance: &Instance) -> Result<Session, String> {
        let id = self.id();
        let (headers, result) = rpc(backend, instance, initialize_body(id), &[], id)
            .await
            .map_err(|f| format!("initialize: {}", f.into_message()))?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok())
            .unwrap_or(HeaderValue::from_static(SESSION_VERSION));
        let session = Session { id: headers.get(SESSION_ID).cloned(), version };
        self.session = Some(session);
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string();
        let req = request(backend, instance, initialized, &self.session_headers());
        // The server's answer (202) changes nothing; a failure shows on the
        // probe that follows.
        let _ = backend.send_own(req).await;
        self.session.take().ok_or_else(|| "initialize: lost the session".to_string())
    }

    fn session_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let Some(s) = &self.session else { return Vec::new() };
        let mut headers = vec![(PROTOCOL_VERSION, s.version.clone())];
        if let Some(id) = &s.id {
            headers.push((SESSION_ID, id.clone()));
        }
        headers
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Whether the instance speaks 2026-07-28 alone, so that only
/// `server/discover` can probe it (that era has no `ping` and no session).
fn stateless_only(backend: &Backend, instance: &Instance) -> bool {
    match backend.era {
        ServerEra::Stateless => true,
        ServerEra::Session => false,
        ServerEra::Auto => instance.era.speaks().is_some_and(|s| s.stateless && !s.session),
    }
}

/// `GET path` on the instance's host, expecting `expect`.
async fn http_get(backend: &Backend, instance: &Instance, path: &str, expect: u16) -> Result<(), String> {
    let url = instance.url();
    let uri = Uri::builder()
        .scheme(url.scheme_str().unwrap_or("http"))
        .authority(url.authority().map_or("", |a| a.as_str()))
        .path_and_query(path)
        .build()
        .map_err(|e| format!("bad probe URL: {e}"))?;
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = uri;
    for (name, value) in &backend.headers {
        req.headers_mut().insert(name.clone(), value.clone());
    }
    req.headers_mut().insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    let resp = backend.send_own(req).await.map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        s if s == expect => Ok(()),
        s => Err(format!("HTTP {s}, expected {expect}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    /// The built-in mock on an ephemeral port, and a backend pointing at it.
    async fn mock_backend() -> (Backend, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap()).parse().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(crate::mock::serve_http(listener, Default::default(), async {
            let _ = stopped.await;
        }));
        let cfg = config::Backend {
            instances: vec![config::Instance { url: config::InstanceUrl(url), weight: 1 }],
            ..Default::default()
        };
        (Backend::build(&cfg).unwrap(), stop)
    }

    #[tokio::test]
    async fn mcp_probes_keep_their_session_and_reopen_it_on_404() {
        let (b, _stop) = mock_backend().await;
        let i = b.instances[0].clone();
        let mut p = Prober::new(Probe::Ping);
        p.probe(&b, &i).await.unwrap();
        let first = p.session.as_ref().and_then(|s| s.id.clone()).expect("the mock issues a session id");
        p.probe(&b, &i).await.unwrap();
        assert_eq!(p.session.as_ref().and_then(|s| s.id.clone()), Some(first.clone()), "one session, kept");
        // The server forgets the session (a restart): 404, then a new one.
        p.session.as_mut().unwrap().id = Some(HeaderValue::from_static("forgotten"));
        p.probe(&b, &i).await.unwrap();
        let reopened = p.session.as_ref().and_then(|s| s.id.clone()).unwrap();
        assert!(reopened != first && reopened != "forgotten");

        Prober::new(Probe::ToolsList).probe(&b, &i).await.unwrap();
        Prober::new(Probe::Discover).probe(&b, &i).await.unwrap();
        let err = Prober::new(Probe::HttpGet { path: "/health".into(), expect: 200 }).probe(&b, &i).await.unwrap_err();
        assert!(err.contains("HTTP 404, expected 200"), "{err}");
        Prober::new(Probe::HttpGet { path: "/health".into(), expect: 404 }).probe(&b, &i).await.unwrap();
    }

    #[tokio::test]
    async fn a_dead_instance_fails_its_probe() {
        let (b, stop) = mock_backend().await;
        let i = b.instances[0].clone();
        let _ = stop.send(());
        // The mock stops accepting once told; wait for the refusal itself.
        let refused = async {
            loop {
                if let Err(e) = Prober::new(Probe::Ping).probe(&b, &i).await {
                    return e;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let err = tokio::time::timeout(std::time::Duration::from_secs(10), refused).await.unwrap();
        assert!(err.contains("initialize"), "{err}");
    }

    #[test]
    fn messages_from_json_and_sse() {
        assert_eq!(messages(br#"{"id":1,"result":{}}"#, false).len(), 1);
        let sse = b"id: 1\ndata: \n\nevent: message\ndata: {\"id\":2,\ndata: \"result\":{}}\n\n";
        let m = messages(sse, true);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["id"], 2);
        assert!(messages(b"nope", false).is_empty());
    }
}

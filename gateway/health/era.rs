//! Learning which protocol eras an instance speaks (`era = "auto"`).
//!
//! `server/discover` first: a 2026-07-28 server answers it with the
//! versions it supports, session-era ones included when it speaks both. A
//! server that does not answer it (an unknown method, a 400 for the
//! version) is tried with `initialize`; the session that opens is ended at
//! once with DELETE, since the bridge opens its own, per caller. An
//! instance that answers neither is not recorded, and is asked again at
//! the next need: it may be starting.

use http::{HeaderValue, Method, Request};
use http_body_util::Full;
use serde_json::Value;

use super::own::{discover, initialize_body, request, rpc};
use crate::backend::Backend;
use crate::mcp::era::{FIRST_STATELESS_VERSION, SESSION_VERSIONS, is_stateless};
use crate::mcp::headers::{PROTOCOL_VERSION, SESSION_ID};
use crate::table::{Instance, Speaks};

/// Asks `instance` which eras it speaks.
pub async fn learn(backend: &Backend, instance: &Instance) -> Result<Speaks, String> {
    let discovered = discover(backend, instance, 1).await;
    if let Ok((_, result)) = discovered {
        return Ok(from_discover(&result));
    }
    let (headers, result) = rpc(backend, instance, initialize_body(2), &[], 2)
        .await
        .map_err(|f| format!("neither server/discover nor initialize was answered: {}", f.into_message()))?;
    let version = result.get("protocolVersion").and_then(Value::as_str).unwrap_or(SESSION_VERSIONS[0]).to_string();
    if let Some(id) = headers.get(SESSION_ID) {
        end_session(backend, instance, id, &version).await;
    }
    Ok(Speaks { session: true, stateless: false, versions: vec![version] })
}

/// What a `server/discover` result says the server speaks. A result
/// without `supportedVersions` is taken as 2026-07-28 alone.
pub fn from_discover(result: &Value) -> Speaks {
    let mut versions: Vec<String> = result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if versions.is_empty() {
        versions.push(FIRST_STATELESS_VERSION.to_string());
    }
    Speaks {
        session: versions.iter().any(|v| SESSION_VERSIONS.contains(&v.as_str())),
        stateless: versions.iter().any(|v| is_stateless(v)),
        versions,
    }
}

async fn end_session(backend: &Backend, instance: &Instance, id: &HeaderValue, version: &str) {
    let mut req: Request<Full<_>> = request(backend, instance, String::new(), &[(SESSION_ID, id.clone())]);
    *req.method_mut() = Method::DELETE;
    if let Ok(v) = HeaderValue::from_str(version) {
        req.headers_mut().insert(PROTOCOL_VERSION, v);
    }
    // Best effort: a server that keeps it expires it on its own.
    let _ = backend.send_own(req).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::mock::{MockEra, MockOptions};

    async fn backend_for(era: MockEra) -> (Backend, tokio::sync::oneshot::Sender<()>, crate::mock::Calls) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap()).parse().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let opts = MockOptions { era, ..Default::default() };
        let calls = opts.calls.clone();
        tokio::spawn(crate::mock::serve_http(listener, opts, async {
            let _ = stopped.await;
        }));
        let cfg = config::Backend {
            instances: vec![config::Instance { url: config::InstanceUrl(url), weight: 1 }],
            ..Default::default()
        };
        (Backend::build(&cfg).unwrap(), stop, calls)
    }

    #[tokio::test]
    async fn each_mock_era_is_learned() {
        let (b, _stop, _) = backend_for(MockEra::Both).await;
        let both = learn(&b, &b.instances[0]).await.unwrap();
        assert!(both.session && both.stateless, "{both:?}");
        assert_eq!(both.versions.len(), 4);

        let (b, _stop, calls) = backend_for(MockEra::Session).await;
        let session = learn(&b, &b.instances[0]).await.unwrap();
        assert_eq!(session, Speaks { session: true, stateless: false, versions: vec!["2025-11-25".into()] });
        assert_eq!(calls.get("initialize"), 1, "the fallback");

        let (b, _stop, calls) = backend_for(MockEra::Stateless).await;
        let stateless = learn(&b, &b.instances[0]).await.unwrap();
        assert_eq!(stateless, Speaks { session: false, stateless: true, versions: vec!["2026-07-28".into()] });
        assert_eq!(calls.get("initialize"), 0, "no fallback once discover answered");
    }

    #[tokio::test]
    async fn a_dead_instance_teaches_nothing() {
        let (b, stop, _) = backend_for(MockEra::Both).await;
        let _ = stop.send(());
        let refused = async {
            loop {
                if let Err(e) = learn(&b, &b.instances[0]).await {
                    return e;
                }
                tokio::task::yield_now().await;
            }
        };
        let err = tokio::time::timeout(std::time::Duration::from_secs(10), refused).await.unwrap();
        assert!(err.contains("neither"), "{err}");
    }

    #[test]
    fn discover_results_name_the_eras() {
        let s = from_discover(&serde_json::json!({ "supportedVersions": ["2025-06-18", "2026-07-28"] }));
        assert!(s.session && s.stateless);
        let s = from_discover(&serde_json::json!({}));
        assert!(!s.session && s.stateless);
    }
}

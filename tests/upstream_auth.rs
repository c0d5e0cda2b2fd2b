//! OAuth client-credentials tokens the gateway fetches for a backend: a
//! token endpoint and an upstream served by the test itself, on port 0.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const SECRET: &str = "s3cret-value";

/// One request as a test server saw it.
#[derive(Clone, Debug)]
struct Seen {
    headers: http::HeaderMap,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `answer(n, request)` to the n-th request (from 1), recording each.
async fn serve(answer: impl Fn(usize, &Seen) -> (u16, String) + Send + Sync + 'static) -> (String, Log) {
    let log: Log = Arc::default();
    let answer = Arc::new(answer);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (log, answer) = (log2.clone(), answer.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (log, answer) = (log.clone(), answer.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let seen = Seen { headers: parts.headers, body: String::from_utf8_lossy(&body).into() };
                        let (status, text) = {
                            let mut log = log.lock().unwrap();
                            log.push(seen.clone());
                            answer(log.len(), &seen)
                        };
                        let mut resp = http::Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (url, log)
}

/// A token endpoint that issues `tok-{n}` for an hour.
async fn token_endpoint() -> (String, Log) {
    let (url, log) = serve(|n, _| {
        (200, format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600,"scope":"wiki:read"}}"#))
    })
    .await;
    (format!("{url}/oauth/token"), log)
}

/// An MCP upstream that answers `ping`, refusing the tokens in `refused`
/// with 401.
async fn upstream(refused: &'static [&'static str]) -> (String, Log) {
    let (url, log) = serve(move |_, seen| {
        let auth = seen.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if refused.iter().any(|r| auth == format!("Bearer {r}")) {
            (401, r#"{"error":"invalid_token"}"#.into())
        } else {
            let id = serde_json::from_str::<serde_json::Value>(&seen.body).ok().and_then(|v| v.get("id").cloned());
            (200, serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": {} }).to_string())
        }
    })
    .await;
    (format!("{url}/mcp"), log)
}

/// A gateway in front of `upstream_url` whose backend `b0` gets its tokens
/// from `token_url`; `health` is the backend's probe setting.
async fn gateway_with(upstream_url: &str, token_url: &str, health: &str) -> Running {
    let oauth = format!(
        r#"oauth = {{ token_url = "{token_url}", client_id = "switchyard", client_secret = "{SECRET}", scopes = ["wiki:read"], audience = "https://wiki.internal/mcp" }}"#
    );
    let cfg = config_for(&[("/mcp", upstream_url)], "")
        .replace("timeout = \"5s\"", &format!("timeout = \"5s\"\n{oauth}\nhealth = {health}"));
    gateway(parse(&cfg)).await
}

fn is_probe(seen: &Seen) -> bool {
    seen.headers.get("user-agent").is_some_and(|v| v.as_bytes().starts_with(b"switchyard-health"))
}

fn bearers(log: &Log, probes: bool) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| is_probe(s) == probes)
        .map(|s| s.headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_upstream_gets_the_gateways_token_fetched_once_never_the_clients() {
    let (token_url, tokens) = token_endpoint().await;
    let (url, seen) = upstream(&[]).await;
    let gw = gateway_with(&url, &token_url, r#"{ probe = "none" }"#).await;
    for _ in 0..20 {
        let (status, msgs) = call(&gw.url("/mcp"), PING, &[("authorization", "Bearer client-token")]).await;
        assert_eq!(status, 200, "{msgs:?}");
    }
    assert_eq!(bearers(&seen, false), vec!["Bearer tok-1"; 20]);
    let tokens = tokens.lock().unwrap();
    assert_eq!(tokens.len(), 1, "the token is cached");

    // The exchange: a form post with HTTP Basic client authentication.
    let ask = &tokens[0];
    assert_eq!(ask.headers["content-type"], "application/x-www-form-urlencoded");
    let basic = ask.headers["authorization"].to_str().unwrap().strip_prefix("Basic ").unwrap();
    let pair = base64::engine::general_purpose::STANDARD.decode(basic).unwrap();
    assert_eq!(pair, format!("switchyard:{SECRET}").as_bytes());
    let form: Vec<&str> = ask.body.split('&').collect();
    assert_eq!(
        form,
        [
            "grant_type=client_credentials",
            "scope=wiki%3Aread",
            "audience=https%3A%2F%2Fwiki.internal%2Fmcp",
            "resource=https%3A%2F%2Fwiki.internal%2Fmcp",
        ]
    );
}

#[tokio::test]
async fn health_probes_carry_the_token_too() {
    let (token_url, tokens) = token_endpoint().await;
    let (url, seen) = upstream(&[]).await;
    let gw = gateway_with(&url, &token_url, r#"{ probe = "ping", interval = "100ms", timeout = "50ms" }"#).await;
    wait_for_health(&gw, |h| h["backends"][0]["instances"][0]["status"] == "up").await;
    let probes = bearers(&seen, true);
    assert!(!probes.is_empty() && probes.iter().all(|b| b == "Bearer tok-1"), "{probes:?}");
    assert_eq!(tokens.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_401_from_the_upstream_fetches_a_new_token_and_sends_once_more() {
    let (token_url, tokens) = token_endpoint().await;
    let (url, seen) = upstream(&["tok-1"]).await;
    let gw = gateway_with(&url, &token_url, r#"{ probe = "none" }"#).await;
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[]).await;
    assert_eq!(status, 200, "{msgs:?}");
    assert_eq!(bearers(&seen, false), ["Bearer tok-1", "Bearer tok-2"]);
    let (status, _) = call(&gw.url("/mcp"), PING, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(bearers(&seen, false).last().unwrap(), "Bearer tok-2");
    assert_eq!(tokens.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_upstream_that_refuses_every_token_is_a_502_not_a_401() {
    let (token_url, tokens) = token_endpoint().await;
    let (url, _seen) = upstream(&["tok-1", "tok-2", "tok-3"]).await;
    let gw = gateway_with(&url, &token_url, r#"{ probe = "none" }"#).await;
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[]).await;
    assert_eq!(status, 502, "{msgs:?}");
    // (The retry of this replay-safe ping, held off, may be what answers.)
    assert!(msgs[0]["error"]["message"].as_str().unwrap().contains("refused"), "{msgs:?}");
    // Two tokens refused in a row: the next request is held off, not a third fetch.
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[]).await;
    assert_eq!(status, 502, "{msgs:?}");
    assert_eq!(tokens.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_prompt_502_naming_it_not_the_secret() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/oauth/token", closed.local_addr().unwrap());
    drop(closed);
    let (url, seen) = upstream(&[]).await;
    let gw = gateway_with(&url, &token_url, r#"{ probe = "none" }"#).await;
    let started = tokio::time::Instant::now();
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[]).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(status, 502, "{msgs:?}");
    assert_eq!(msgs[0]["error"]["code"], -32010);
    let message = msgs[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("backend `b0`") && message.contains(&token_url), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the upstream without a token");
}

#[tokio::test]
async fn a_token_endpoint_that_refuses_the_client_is_a_502_with_its_error() {
    let (base, _) =
        serve(|_, _| (401, r#"{"error":"invalid_client","error_description":"unknown client"}"#.into())).await;
    let (url, seen) = upstream(&[]).await;
    let gw = gateway_with(&url, &format!("{base}/token"), r#"{ probe = "none" }"#).await;
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[]).await;
    assert_eq!(status, 502, "{msgs:?}");
    let message = msgs[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("answered 401: invalid_client (unknown client)"), "{message}");
    assert!(seen.lock().unwrap().is_empty());
}

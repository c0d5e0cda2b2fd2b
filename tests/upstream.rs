//! What the gateway does with what it sends upstream and with upstreams that
//! fail: refused connections, silence, streams cut mid-way.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":"req-42","method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#;

/// An address nothing listens on: bind, learn the port, close.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/mcp")
}

#[tokio::test]
async fn refused_connection_is_502_with_the_request_id() {
    let gw = gateway(parse(&config_for(&[("/mcp", &closed_port().await)], ""))).await;
    let (status, msgs) = call(&gw.url("/mcp"), CALL, &[]).await;
    assert_eq!(status, 502);
    assert_eq!(msgs[0]["id"], "req-42");
    assert_eq!(msgs[0]["error"]["code"], -32010);
    // The first probe finds the instance down, and readiness says so.
    let health = wait_for_health(&gw, |h| h["status"] == "unhealthy").await;
    assert_eq!(health["backends"][0]["instances"][0]["status"], "down");
    let ready = http().get(gw.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test(start_paused = true)]
async fn silent_upstream_is_504_at_the_deadline() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let cfg = config_for(&[("/mcp", &url)], "").replace("timeout = \"5s\"", "timeout = \"2s\"");
    let gw = gateway(parse(&cfg)).await;
    let started = tokio::time::Instant::now();
    let (status, msgs) = call(&gw.url("/mcp"), CALL, &[]).await;
    assert_eq!(status, 504);
    assert_eq!(msgs[0]["id"], "req-42");
    assert_eq!(msgs[0]["error"]["code"], -32011);
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_secs(2) && waited < std::time::Duration::from_secs(3), "{waited:?}");
}

/// A backend that answers one SSE event, then drops the connection without
/// ending the chunked body.
async fn cutting_backend() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n";
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                let _ = s.write_all(format!("{head}{chunk}").as_bytes()).await;
                let _ = s.flush().await;
                // Dropping `s` cuts the stream mid-body.
            });
        }
    });
    url
}

#[tokio::test]
async fn sse_cut_upstream_ends_cleanly_downstream() {
    let gw = gateway(parse(&config_for(&[("/mcp", &cutting_backend().await)], ""))).await;
    let resp = post(&gw.url("/mcp"), CALL, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    // The body ends without a transport error, and holds the event sent.
    let text = tokio::time::timeout(DEADLINE, resp.text()).await.expect("stream hung").expect("stream errored");
    assert!(text.contains("notifications/progress"), "{text}");
}

/// A backend that records the headers of each request and answers JSON.
async fn recording_backend() -> (String, Arc<Mutex<Vec<http::HeaderMap>>>) {
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let seen = seen2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    // Health probes are not what these tests look at.
                    let probe =
                        req.headers().get("user-agent").is_some_and(|v| v.as_bytes().starts_with(b"switchyard-health"));
                    if !probe {
                        seen.lock().unwrap().push(req.headers().clone());
                    }
                    async move {
                        let mut resp = http::Response::new(Full::new(bytes::Bytes::from_static(
                            br#"{"jsonrpc":"2.0","id":"req-42","result":{"content":[]}}"#,
                        )));
                        resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        resp.headers_mut().insert("mcp-session-id", "upstream-secret".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn headers_upstream_and_back() {
    let (url, seen) = recording_backend().await;
    let cfg = config_for(&[("/mcp", &url)], "")
        .replace("timeout = \"5s\"", "timeout = \"5s\"\nheaders = { authorization = \"Bearer upstream-cred\" }");
    let gw = gateway(parse(&cfg)).await;
    let resp = post(
        &gw.url("/mcp"),
        CALL,
        &[
            ("authorization", "Bearer client-token"),
            ("cookie", "session=abc"),
            ("mcp-param-region", "=?base64?ZXU=?="),
            ("x-request-id", "trace-123"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-123");
    assert!(resp.headers().get("mcp-session-id").is_none(), "upstream session id leaked to the client");
    let h = seen.lock().unwrap().pop().unwrap();
    assert_eq!(h["authorization"], "Bearer upstream-cred");
    assert!(h.get("cookie").is_none());
    assert!(h.get("x-hop").is_none());
    assert_eq!(h["mcp-param-region"], "=?base64?ZXU=?=");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-request-id"], "trace-123");

    // Without a client id, one is generated and sent both ways.
    let resp = post(&gw.url("/mcp"), CALL, &[]).await;
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(rid.len() >= 16);
    assert_eq!(seen.lock().unwrap().pop().unwrap()["x-request-id"], rid.as_str());
}

//! Invalidations that arrive while a miss is being fetched: the answer that
//! was read before the change reaches the client that asked, and is not
//! kept. A backend of the test's own holds its `tools/list` and
//! `resources/read` answers until the test lets them go, so the order of
//! events is fixed, not raced.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

const TOKEN: &str = "cache-races-admin-token-0123456789";
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
const READ: &str = r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}"#;

/// What the backend and the test share.
#[derive(Default)]
struct Shared {
    /// Whether list and read answers wait for [`Shared::release`].
    hold: AtomicBool,
    /// Lets one held answer go.
    release: Notify,
    /// Answers given so far: each list and read says its number, so an old
    /// answer and a new one differ.
    served: AtomicU32,
}

/// The gated backend: its URL, the shared state, and the methods of held
/// requests as they arrive.
struct Gated {
    url: String,
    shared: Arc<Shared>,
    received: mpsc::UnboundedReceiver<String>,
}

async fn gated() -> Gated {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let shared = Arc::new(Shared::default());
    let (tx, received) = mpsc::unbounded_channel();
    let state = shared.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (state, tx) = (state.clone(), tx.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(state.clone(), tx.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Gated { url, shared, received }
}

async fn answer(
    state: Arc<Shared>,
    received: mpsc::UnboundedSender<String>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
    let method = msg["method"].as_str().unwrap_or_default().to_string();
    let Some(id) = msg.get("id").cloned() else {
        return Ok(reply(202, "application/json", Bytes::new()));
    };
    let result = match method.as_str() {
        "initialize" => json!({
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": { "tools": { "listChanged": true }, "resources": { "subscribe": true } },
            "serverInfo": { "name": "gated", "version": "1" },
        }),
        "tools/list" | "resources/read" => {
            if state.hold.load(Ordering::SeqCst) {
                let _ = received.send(method.clone());
                state.release.notified().await;
            }
            let n = state.served.fetch_add(1, Ordering::SeqCst) + 1;
            if method == "tools/list" {
                json!({ "tools": [{ "name": format!("v{n}"), "inputSchema": { "type": "object" } }] })
            } else {
                json!({ "contents": [{ "uri": msg["params"]["uri"], "text": format!("v{n}") }] })
            }
        }
        // The test asks the backend to announce a change: the notification
        // goes out on this answer's SSE stream, as a real server's would.
        "test/announce" => {
            let note = &msg["params"]["notification"];
            let done = json!({ "jsonrpc": "2.0", "id": id, "result": {} });
            let sse = format!("event: message\ndata: {note}\n\nevent: message\ndata: {done}\n\n");
            return Ok(reply(200, "text/event-stream", Bytes::from(sse)));
        }
        _ => json!({}),
    };
    let body = json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string();
    let mut resp = reply(200, "application/json", Bytes::from(body));
    if method == "initialize" {
        resp.headers_mut().insert("mcp-session-id", http::HeaderValue::from_static("upstream-1"));
    }
    Ok(resp)
}

fn reply(status: u16, content_type: &'static str, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
    resp.headers_mut().insert("content-type", http::HeaderValue::from_static(content_type));
    resp
}

/// A gateway caching `tools/list` and `resources/read` of the gated backend,
/// and a session through it.
async fn setup() -> (Running, Gated, String) {
    let backend = gated().await;
    let text = config_for(&[("/mcp", &backend.url)], &format!("admin_token = \"{TOKEN}\"")).replace(
        "timeout = \"5s\"\n",
        "timeout = \"5s\"\nhealth = { probe = \"none\" }\ncache = { methods = [\"tools/list\", \"resources/read\"] }\n",
    );
    let gw = gateway(parse(&text)).await;
    let sid = initialize(&gw.url("/mcp"), "2025-06-18").await;
    (gw, backend, sid)
}

/// POSTs `body` in the session; the cache verdict and the answer's text
/// (the tool name of a list, the contents of a read).
async fn ask(url: &str, sid: &str, body: &str) -> (String, String) {
    let resp = post(url, body, &[("mcp-session-id", sid)]).await;
    assert_eq!(resp.status(), 200, "{body}");
    let verdict = resp.headers().get("x-switchyard-cache").map_or("", |v| v.to_str().unwrap()).to_string();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let msgs = messages(&ct, &resp.text().await.unwrap());
    let result = &msgs.last().expect("no answer")["result"];
    let text = result["tools"][0]["name"].as_str().or(result["contents"][0]["text"].as_str());
    (verdict, text.expect("neither a list nor a read").to_string())
}

/// Sends `body` with the backend holding its answer; once the backend has
/// it, runs `invalidate`, then lets the answer go. The client that asked
/// gets that (old) answer; the next ask must go upstream again and get a
/// new one, which is then kept.
async fn overtake(gw: &Running, backend: &mut Gated, sid: &str, body: &str, invalidate: impl AsyncFnOnce()) {
    let url = gw.url("/mcp");
    backend.shared.hold.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let (url, sid, body) = (url.clone(), sid.to_string(), body.to_string());
        async move { ask(&url, &sid, &body).await }
    });
    tokio::time::timeout(DEADLINE, backend.received.recv()).await.expect("the backend never got the request");
    invalidate().await;
    backend.shared.hold.store(false, Ordering::SeqCst);
    backend.shared.release.notify_one();
    let (verdict, old) = tokio::time::timeout(DEADLINE, first).await.expect("the held request never ended").unwrap();
    assert_eq!(verdict, "miss");
    let (verdict, new) = ask(&url, sid, body).await;
    assert_eq!(verdict, "miss", "the answer read before the invalidation was kept ({old})");
    assert_ne!(new, old, "the new answer is not the old one");
    assert_eq!(ask(&url, sid, body).await, ("hit".to_string(), new), "the new answer is kept");
}

/// Has the backend announce `notification` on an SSE answer passing through
/// the gateway.
async fn announce(gw: &Running, sid: &str, notification: Value) {
    let body =
        json!({ "jsonrpc": "2.0", "id": 9, "method": "test/announce", "params": { "notification": notification } });
    let (status, msgs) = call(&gw.url("/mcp"), &body.to_string(), &[("mcp-session-id", sid)]).await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0], notification, "the notification did not pass through");
}

#[tokio::test]
async fn a_list_changed_during_a_fetch_keeps_the_old_list_out_of_the_cache() {
    let (gw, mut backend, sid) = setup().await;
    let changed = json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed" });
    overtake(&gw, &mut backend, &sid, LIST, async || announce(&gw, &sid, changed).await).await;
}

#[tokio::test]
async fn a_resource_update_during_a_fetch_keeps_the_old_read_out_of_the_cache() {
    let (gw, mut backend, sid) = setup().await;
    let updated =
        json!({ "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": { "uri": "file:///a" } });
    overtake(&gw, &mut backend, &sid, READ, async || announce(&gw, &sid, updated).await).await;
}

#[tokio::test]
async fn an_admin_clear_during_a_fetch_keeps_the_old_answer_out_of_the_cache() {
    let (gw, mut backend, sid) = setup().await;
    for (path, body) in [("/admin/cache/b0", LIST), ("/admin/cache", READ)] {
        let clear = async || {
            let resp = http().delete(gw.url(path)).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
        };
        overtake(&gw, &mut backend, &sid, body, clear).await;
    }
}

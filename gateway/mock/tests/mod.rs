//! Tests of the mock over real sockets, plus the pure core.
//!
//! Each test starts its own server on `127.0.0.1:0` and drives it with
//! reqwest. Waiting is always on the event itself, under a deadline.

mod core;
mod fixture;
mod session;
mod stateless;

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{MockOptions, serve_http};

/// Upper bound on any single wait in these tests.
const DEADLINE: Duration = Duration::from_secs(10);

/// A running mock and a client for it.
struct Mock {
    url: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Mock {
    async fn start(opts: MockOptions) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_http(listener, opts, async {
            let _ = stopped.await;
        }));
        Mock { url, client: reqwest::Client::new(), stop: Some(stop), server }
    }

    /// A POST with the headers a well-behaved client sends.
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// Initializes a session at `version` and returns its id.
    async fn session(&self, version: &str) -> String {
        let response = self
            .post(&request(0, "initialize", json!({ "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } })))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = messages(response).await;
        id
    }

    /// One request on a session, answered with its single message.
    async fn call(&self, session: &str, method: &str, params: Value) -> Value {
        let response = self.post(&request(1, method, params)).header("mcp-session-id", session).send().await.unwrap();
        assert_eq!(response.status(), 200, "{method}");
        let mut all = messages(response).await;
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, self.server).await.expect("server stops in time").unwrap().unwrap();
    }
}

const V: &str = "2026-07-28";

/// A 2026-07-28 request: `_meta` in the body.
fn modern(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    request(id, method, params)
}

impl Mock {
    /// A POST with version and method headers; `Mcp-Name` is the caller's.
    fn post_modern(&self, body: &Value) -> reqwest::RequestBuilder {
        self.post(body).header("mcp-protocol-version", V).header("mcp-method", body["method"].as_str().unwrap())
    }
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

fn tool(name: &str, arguments: Value) -> Value {
    json!({ "name": name, "arguments": arguments })
}

/// The JSON messages of a whole response, SSE or JSON.
async fn messages(response: reqwest::Response) -> Vec<Value> {
    let sse = content_type(&response).starts_with("text/event-stream");
    let text = tokio::time::timeout(DEADLINE, response.text()).await.expect("body in time").unwrap();
    if !sse {
        return match serde_json::from_str(&text).unwrap() {
            Value::Array(all) => all,
            one => vec![one],
        };
    }
    sse_data(&text)
}

/// The `data:` payloads of complete SSE events in `text`, as JSON.
fn sse_data(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|data| !data.is_empty())
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The text of a tool result's only content block.
fn text(message: &Value) -> &str {
    message["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{message}"))
}

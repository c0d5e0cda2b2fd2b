//! Shared test fixtures: a gateway and a mock backend on real sockets bound
//! to `127.0.0.1:0`, shut down when dropped.
#![allow(dead_code)]

pub mod issuer;
pub mod redis;
pub mod rmcp_client;

use std::net::SocketAddr;
use std::time::Duration;

use switchyard::Config;
use switchyard::mock::{self, MockOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single step of a test may take before it is a failure.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running server task and the means to stop it.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops it and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task).await.expect("server did not stop").expect("server task panicked");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the built-in mock on an ephemeral port.
pub async fn mock(opts: MockOptions) -> Running {
    mock_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), opts).await
}

/// Starts the built-in mock on a listener the caller bound (to come back on
/// an address).
pub async fn mock_on(listener: TcpListener, opts: MockOptions) -> Running {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        mock::serve_http(listener, opts, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop: Some(tx), task: Some(task) }
}

/// A gateway config with one route per `(path, backend url)`, the backend
/// named `b{i}`, and a fixed session key.
pub fn config_for(routes: &[(&str, &str)], extra_gateway: &str) -> String {
    let mut text = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"5s\"\n{extra_gateway}\n"
    );
    for (i, (path, url)) in routes.iter().enumerate() {
        text.push_str(&format!(
            "[[backends]]\nname = \"b{i}\"\ninstances = [{{ url = \"{url}\" }}]\ntimeout = \"5s\"\n\n[[routes]]\npath = \"{path}\"\nbackend = \"b{i}\"\n\n"
        ));
    }
    text
}

/// Parses config text (with the process environment for `${VAR}`).
pub fn parse(text: &str) -> Config {
    Config::parse(text, "test", &|v| std::env::var(v).ok()).unwrap_or_else(|e| panic!("{e}"))
}

/// Starts a gateway for `config` on an ephemeral port.
pub async fn gateway(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway_on(config, listener).await
}

/// Starts a gateway on a listener the caller bound (to reuse an address).
pub async fn gateway_on(config: Config, listener: TcpListener) -> Running {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        switchyard::run(&config, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop: Some(tx), task: Some(task) }
}

/// Starts a gateway that reloads from the config file at `path`.
pub async fn gateway_from_file(path: &std::path::Path) -> Running {
    let config = Config::load(path).unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let source = Some(path.to_path_buf());
    let task = tokio::spawn(async move {
        switchyard::serve(config, source, listener, None, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop: Some(tx), task: Some(task) }
}

/// The gateway binary, started on the config file at `path` with
/// `extra` arguments: the child, the first route's URL it logged (the
/// kernel chose the port), and the rest of its log, which the caller must
/// keep reading so that the child never blocks on a full pipe.
pub async fn start_binary(
    path: &std::path::Path,
    extra: &[&str],
) -> (tokio::process::Child, String, tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>) {
    start_binary_with_env(path, extra, &[]).await
}

/// [`start_binary`], with `env` added to the gateway's environment.
pub async fn start_binary_with_env(
    path: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--config"])
        .arg(path)
        .args(extra)
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("serving MCP at ") {
                return line[at + 15..].split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("gateway exited before serving");
    })
    .await
    .expect("gateway did not start");
    (child, url, lines)
}

/// Writes `bytes` to `writer` a byte every `every` (over and over), while
/// waiting up to 3 s for the gateway to close `reader`; panics if it answers
/// anything or stays open. For head deadlines, where every read is fast.
pub async fn trickle_until_closed<R, W>(mut reader: R, mut writer: W, bytes: &'static [u8], every: Duration)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let trickle = tokio::spawn(async move {
        for byte in bytes.iter().cycle().take(10 * bytes.len()) {
            if writer.write_all(std::slice::from_ref(byte)).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), reader.read(&mut buf)).await;
    trickle.abort();
    match read {
        Err(_) => panic!("a trickling client was still connected after 3 s"),
        Ok(Ok(n)) => assert_eq!(n, 0, "answered: {:?}", String::from_utf8_lossy(&buf[..n])),
        Ok(Err(_)) => {} // reset: closed as well
    }
}

/// Polls `/health` until `done` holds, failing after [`DEADLINE`].
pub async fn wait_for_health(gw: &Running, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let url = gw.url("/health");
    let poll = async {
        loop {
            let health: serde_json::Value = http().get(&url).send().await.unwrap().json().await.unwrap();
            if done(&health) {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("/health never reached the expected state")
}

/// The `Accept` every MCP POST must carry.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// A plain HTTP client for raw exchanges.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs a JSON-RPC body with the usual MCP headers plus `extra`.
pub async fn post(url: &str, body: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(body.to_string());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    tokio::time::timeout(DEADLINE, req.send()).await.expect("request timed out").expect("request failed")
}

/// The body of an initialize request.
pub fn initialize_body(version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"test","version":"1"}}}}}}"#
    )
}

/// Initializes a session through `url` and returns the session id the client sees.
pub async fn initialize(url: &str, version: &str) -> String {
    let resp = post(url, &initialize_body(version), &[]).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers().get("mcp-session-id").expect("no session id").to_str().unwrap().to_string();
    let _ = resp.bytes().await;
    sid
}

/// The JSON-RPC messages in a response body, whether JSON or SSE.
pub fn messages(content_type: &str, body: &str) -> Vec<serde_json::Value> {
    if content_type.starts_with("text/event-stream") {
        body.split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> =
                    event.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.trim_start()).collect();
                let data = data.join("\n");
                serde_json::from_str(&data).ok()
            })
            .collect()
    } else {
        serde_json::from_str(body).into_iter().collect()
    }
}

/// Sends a POST and returns status and the JSON-RPC messages of the answer.
pub async fn call(url: &str, body: &str, extra: &[(&str, &str)]) -> (u16, Vec<serde_json::Value>) {
    let resp = post(url, body, extra).await;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = tokio::time::timeout(DEADLINE, resp.text()).await.unwrap().unwrap();
    (status, messages(&ct, &text))
}

/// A config with one stdio backend behind `/mcp`.
pub fn stdio_config(command: &str, args: &[&str], extra_backend: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"1s\"\n\n\
         [[backends]]\nname = \"kids\"\ntransport = \"stdio\"\ncommand = {command:?}\nargs = [{}]\ntimeout = \"10s\"\n{extra_backend}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"kids\"\n",
        args.join(", ")
    )
}

/// The stateless-era headers for a request.
pub fn stateless_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    h
}

/// A 2026-07-28 request body: `params` with the `_meta` that era requires.
pub fn stateless_body(id: u32, method: &str, params: serde_json::Value) -> String {
    let mut params = params;
    params["_meta"] = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "raw", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
}

/// Polls `/health` until `pred` holds for it, within [`DEADLINE`].
pub async fn wait_health(gw: &Running, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let url = gw.url("/health");
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(resp) = http().get(&url).send().await
                && let Ok(v) = resp.json::<serde_json::Value>().await
                && pred(&v)
            {
                return v;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("health never reached the expected state")
}

/// The path of example `name` as `cargo test` builds it: next to the gateway
/// binary, in `<target dir>/<profile>/examples/`. `cargo test` builds every
/// example, but `cargo test --test X` does not, hence the hint.
pub fn example_bin(name: &str) -> String {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_switchyard"));
    let path = bin.parent().expect("the gateway binary has a folder").join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test` (which builds examples) or `cargo build --example {name}` first",
        path.display()
    );
    path.to_str().expect("a UTF-8 path").to_string()
}

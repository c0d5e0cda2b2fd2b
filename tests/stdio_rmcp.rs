//! The rmcp SDK on both sides of a stdio backend: an rmcp streamable-HTTP
//! client talks through Switchyard to `examples/rmcp_stdio_server.rs`, which
//! the gateway runs as a child process.
//!
//! The child comes in two kinds: [`Child::Modern`] speaks 2026-07-28 too (the
//! gateway discovers that and uses it statelessly), [`Child::SessionEra`]
//! (`--session-era`) only up to 2025-11-25 (the gateway initializes it). Each
//! is driven by clients of both eras: [`session_era`] (`initialize`) and
//! [`discover`] (2026-07-28).
//!
//! Real processes and sockets (`127.0.0.1:0`); every wait is bounded by
//! [`common::DEADLINE`]. The example binary is the one `cargo test` builds
//! next to the gateway's (see [`common::example_bin`]).

// These measure real elapsed time, which tokio's paused clock cannot.
#![allow(clippy::disallowed_types)]
// Sampling is deprecated by SEP-2577 in rmcp, but it is what these tests check.
#![allow(deprecated)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::rmcp_client::{args, connect};
use common::{DEADLINE, Running, call, example_bin, gateway, http, initialize, parse, stdio_config, wait_health};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, Implementation, ProgressNotificationParam, ProtocolVersion, SamplingMessage,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::{ClientHandler, ClientLifecycleMode, ErrorData, RoleClient};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const STATELESS: &str = "2026-07-28";
const TOOLS: &[&str] = &["add", "echo", "progress", "sample"];

/// Which versions the child process speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Child {
    /// Every version rmcp knows, 2026-07-28 included.
    Modern,
    /// Only up to 2025-11-25 (`--session-era`).
    SessionEra,
}

/// A gateway with the rmcp example server as its only stdio backend, on `/mcp`,
/// once the child has finished the gateway's handshake.
async fn gateway_to(child: Child) -> Running {
    let args: &[&str] = match child {
        Child::Modern => &[],
        Child::SessionEra => &["--session-era"],
    };
    let gw = gateway(parse(&stdio_config(&example_bin("rmcp_stdio_server"), args, ""))).await;
    wait_health(&gw, |h| h["backends"][0]["processes"][0]["status"] == "up").await;
    gw
}

fn session_era() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn discover() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
}

fn tool(name: &str, a: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args(a))
}

/// `tools/call` through the client's own driver, which also fulfils
/// `input_required` rounds (MRTR) with the client's handler.
async fn call_tool<H: ClientHandler>(client: &RunningService<RoleClient, H>, name: &str, a: Value) -> CallToolResult {
    timeout(DEADLINE, client.call_tool(tool(name, a)))
        .await
        .unwrap_or_else(|_| panic!("tools/call {name} timed out"))
        .unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
}

/// The result's `isError`, and the text of its only content block.
fn text_of(result: &CallToolResult) -> (bool, String) {
    let v = serde_json::to_value(result).unwrap();
    let content = v["content"].as_array().unwrap_or_else(|| panic!("no content in {v}"));
    assert_eq!(content.len(), 1, "expected one content block: {v}");
    let text = content[0]["text"].as_str().unwrap_or_else(|| panic!("no text in {v}")).to_string();
    (v["isError"] == json!(true), text)
}

fn ok_text(result: &CallToolResult) -> String {
    let (is_error, text) = text_of(result);
    assert!(!is_error, "tool reported an error: {text}");
    text
}

async fn active_sessions(gw: &Running) -> i64 {
    let resp = timeout(DEADLINE, http().get(gw.url("/health")).send()).await.unwrap().unwrap();
    let body: Value = timeout(DEADLINE, resp.json()).await.unwrap().unwrap();
    body["activeSessions"].as_i64().unwrap_or_else(|| panic!("no activeSessions in {body}"))
}

/// Connects, checks what the client learned, lists tools, calls `echo` and
/// `add`, and hands the still-open client back.
async fn exercise(url: &str, mode: ClientLifecycleMode, want_version: &str) -> RunningService<RoleClient, ()> {
    let client = connect((), url, mode.clone()).await;
    let info = client.peer_info().expect("no server info after startup");
    assert_eq!(info.protocol_version.as_str(), want_version, "{mode:?}: negotiated version");
    let server = info.server_info.as_ref().map(|i| i.name.as_str());
    assert_eq!(server, Some("rmcp-stdio-server"), "{mode:?}: the child's serverInfo");

    let tools = timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS, "{mode:?}: tools/list through the gateway");

    let text = "héllo through a stdio child ✓";
    assert_eq!(ok_text(&call_tool(&client, "echo", json!({ "text": text })).await), text, "{mode:?}: echo");
    assert_eq!(ok_text(&call_tool(&client, "add", json!({ "a": 2, "b": 40 })).await), "42", "{mode:?}: add");
    client
}

// === tools through the gateway ===

async fn session_era_client_lists_and_calls(child: Child) {
    let gw = gateway_to(child).await;
    let client = exercise(&gw.url("/mcp"), session_era(), "2025-11-25").await;
    assert_eq!(active_sessions(&gw).await, 1, "initialize should have minted one gateway session");
    // Closing sends DELETE with the token; the gateway counts the session ended.
    timeout(DEADLINE, client.cancel()).await.expect("client close timed out").expect("client task panicked");
    assert_eq!(active_sessions(&gw).await, 0, "DELETE should have ended the session");
}

async fn stateless_client_lists_and_calls(child: Child) {
    let gw = gateway_to(child).await;
    let client = exercise(&gw.url("/mcp"), discover(), STATELESS).await;
    assert_eq!(active_sessions(&gw).await, 0, "a stateless exchange must not mint a session");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn session_era_client_to_modern_child() {
    session_era_client_lists_and_calls(Child::Modern).await;
}

#[tokio::test]
async fn session_era_client_to_session_era_child() {
    session_era_client_lists_and_calls(Child::SessionEra).await;
}

#[tokio::test]
async fn stateless_client_to_modern_child() {
    stateless_client_lists_and_calls(Child::Modern).await;
}

#[tokio::test]
async fn stateless_client_to_session_era_child() {
    stateless_client_lists_and_calls(Child::SessionEra).await;
}

/// Many rmcp clients of both eras share the one child; each gets its own answers.
#[tokio::test]
async fn clients_of_both_eras_share_one_modern_child() {
    let gw = gateway_to(Child::Modern).await;
    let url = gw.url("/mcp");
    let mut tasks = Vec::new();
    for c in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mode = if c % 2 == 0 { session_era() } else { discover() };
            let client = connect((), &url, mode).await;
            for r in 0..10 {
                let text = format!("client {c} call {r}");
                assert_eq!(ok_text(&call_tool(&client, "echo", json!({ "text": text })).await), text);
                let sum = ok_text(&call_tool(&client, "add", json!({ "a": c, "b": r })).await);
                assert_eq!(sum, (c + r).to_string());
            }
            let _ = client.cancel().await;
        }));
    }
    for t in tasks {
        timeout(DEADLINE * 3, t).await.expect("clients did not finish").unwrap();
    }
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(h["backends"][0]["processes"][0]["restarts"], 0, "{h}");
}

// === progress ===

/// Timestamps every progress notification.
struct ProgressRecorder {
    tx: mpsc::UnboundedSender<(Instant, ProgressNotificationParam)>,
}

impl ClientHandler for ProgressRecorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        let _ = self.tx.send((Instant::now(), params));
    }
}

const STEPS: u32 = 4;
const INTERVAL: Duration = Duration::from_millis(200);

async fn progress_reaches_the_rmcp_client(child: Child, mode: ClientLifecycleMode) {
    let gw = gateway_to(child).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = connect(ProgressRecorder { tx }, &gw.url("/mcp"), mode.clone()).await;
    let peer = client.peer().clone();
    let params = tool("progress", json!({ "steps": STEPS, "interval_ms": INTERVAL.as_millis() as u64 }));
    let call = tokio::spawn(async move { peer.call_tool(params).await });

    let (first_at, first) = timeout(DEADLINE, rx.recv()).await.expect("no progress notification arrived").unwrap();
    assert!(!call.is_finished(), "{mode:?}: the call finished before its first progress was seen");
    assert_eq!((first.progress, first.total), (1.0, Some(f64::from(STEPS))), "{mode:?}: {first:?}");
    assert_eq!(first.message.as_deref(), Some("step 1 of 4"), "{mode:?}");

    let result = timeout(DEADLINE, call).await.expect("tools/call progress timed out").unwrap().unwrap();
    let done_at = Instant::now();
    assert_eq!(ok_text(&result), format!("completed {STEPS} steps"));
    let mut values = vec![first.progress];
    while values.len() < STEPS as usize {
        let (_, p) = timeout(DEADLINE, rx.recv()).await.expect("missing progress notifications").unwrap();
        values.push(p.progress);
    }
    assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0], "{mode:?}: progress values in order");
    // Buffered-then-flushed delivery would put the first event at the end.
    assert!(
        done_at - first_at >= INTERVAL * 2,
        "{mode:?}: first progress only {:?} before the result",
        done_at - first_at
    );
    let _ = client.cancel().await;
}

#[tokio::test]
async fn progress_reaches_a_session_era_client_from_a_modern_child() {
    progress_reaches_the_rmcp_client(Child::Modern, session_era()).await;
}

#[tokio::test]
async fn progress_reaches_a_stateless_client_from_a_modern_child() {
    progress_reaches_the_rmcp_client(Child::Modern, discover()).await;
}

#[tokio::test]
async fn progress_reaches_a_session_era_client_from_a_session_era_child() {
    progress_reaches_the_rmcp_client(Child::SessionEra, session_era()).await;
}

// === sampling: the child asks the client ===
//
// A session-era child sends `sampling/createMessage`; the gateway puts it on
// the SSE stream of the client's `tools/call` with id `sy:<slot>:<id>`, and
// the client's POSTed answer goes back to the child.
// A 2026-07-28 client is never sent a request (that era forbids them on a
// response stream): its call is answered `input_required` (MRTR) with the
// child's question, the child's call stays pending, and the rmcp client's
// retry with `inputResponses` carries the answer back to the child.

/// Declares sampling and answers every `sampling/createMessage` with
/// `<name> says: <the prompt reversed>` from model `<name>-model`, recording
/// each prompt it was asked.
#[derive(Clone)]
struct Sampler {
    name: &'static str,
    asked: Arc<Mutex<Vec<String>>>,
    /// Whether it declares the sampling capability. One that does not still
    /// answers if asked, so that a test sees a request it should never get.
    declares: bool,
}

impl Sampler {
    fn new(name: &'static str) -> Self {
        Self { name, asked: Arc::default(), declares: true }
    }

    /// A client that can sample but does not say so.
    fn undeclared(name: &'static str) -> Self {
        Self { declares: false, ..Self::new(name) }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// What the `sample` tool returns when `name`'s [`Sampler`] answered `prompt`.
fn answer_for(name: &str, prompt: &str) -> String {
    format!("{name}-model: {name} says: {}", prompt.chars().rev().collect::<String>())
}

impl ClientHandler for Sampler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let v = serde_json::to_value(&params.messages).unwrap();
        let prompt = v[0]["content"]["text"].as_str().unwrap_or_default().to_string();
        self.asked.lock().unwrap().push(prompt.clone());
        let reply = format!("{} says: {}", self.name, prompt.chars().rev().collect::<String>());
        Ok(CreateMessageResult::new(SamplingMessage::assistant_text(reply), format!("{}-model", self.name)))
    }

    fn get_info(&self) -> ClientConfig {
        let caps = match self.declares {
            true => ClientCapabilities::builder().enable_sampling().build(),
            false => ClientCapabilities::default(),
        };
        ClientConfig::new(caps, Implementation::new(format!("sampler-{}", self.name), "1.0.0"))
    }
}

async fn sampling_round_trip(child: Child, mode: ClientLifecycleMode) {
    let gw = gateway_to(child).await;
    let sampler = Sampler::new("alice");
    let client = connect(sampler.clone(), &gw.url("/mcp"), mode.clone()).await;
    let started = Instant::now();
    let result = call_tool(&client, "sample", json!({ "prompt": "stdio round trip" })).await;
    let (is_error, text) = text_of(&result);
    assert!(!is_error, "{child:?} child, {mode:?}: the sampling round trip did not complete: {text}");
    assert_eq!(text, answer_for("alice", "stdio round trip"), "{child:?} child, {mode:?}");
    assert_eq!(sampler.asked(), vec!["stdio round trip".to_string()], "{child:?} child, {mode:?}: what was asked");
    eprintln!("{child:?} child, {mode:?}: sampling round trip in {:?}", started.elapsed());
    // The gateway is still good for plain calls afterwards.
    assert_eq!(ok_text(&call_tool(&client, "echo", json!({ "text": "after" })).await), "after");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn sampling_round_trip_session_era_client_session_era_child() {
    sampling_round_trip(Child::SessionEra, session_era()).await;
}

/// The gateway initializes a child that speaks both eras (session era), so
/// the child asks with a request of its own; the 2026-07-28 client gets it
/// as an `input_required` round and retries with its answer.
#[tokio::test]
async fn sampling_round_trip_stateless_client_modern_child() {
    sampling_round_trip(Child::Modern, discover()).await;
}

#[tokio::test]
async fn sampling_round_trip_stateless_client_session_era_child() {
    sampling_round_trip(Child::SessionEra, discover()).await;
}

/// Passes only because rmcp's client drives `input_required` rounds even on a
/// 2025-11-25 session; see [`a_session_era_client_never_sees_input_required`].
#[tokio::test]
async fn sampling_round_trip_session_era_client_modern_child() {
    sampling_round_trip(Child::Modern, session_era()).await;
}

/// What the wire shows a 2025-11-25 session: `input_required` results belong
/// to 2026-07-28 only, so a session-era client must get a `sampling/createMessage`
/// request on its stream (or the gateway must do the rounds itself), never such a result.
#[tokio::test]
#[ignore = "limitation: a child that speaks both eras is initialized (session era), so this scenario needs a stateless-only child, which the example server is not"]
async fn a_session_era_client_never_sees_input_required() {
    let gw = gateway_to(Child::Modern).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-11-25").await;
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-11-25")];
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": { "name": "sample", "arguments": { "prompt": "hi" } } });
    let (status, msgs) = call(&url, &body.to_string(), &session).await;
    assert_eq!(status, 200);
    let answer = msgs.iter().find(|m| m["id"] == json!(7)).cloned();
    assert!(
        answer.as_ref().is_none_or(|a| a["result"]["resultType"] != "input_required"),
        "a 2025-11-25 session got a 2026-07-28 input_required result: {msgs:?}"
    );
    let asked = msgs.iter().find(|m| m["method"] == "sampling/createMessage");
    assert!(asked.is_some(), "no sampling/createMessage on the session-era client's stream: {msgs:?}");
}

/// A client that did not declare sampling is never asked: the gateway
/// answers the child itself (-32601, saying why), and the call fails promptly
/// instead of hanging.
#[tokio::test]
async fn a_client_that_did_not_declare_sampling_is_never_asked() {
    let gw = gateway_to(Child::SessionEra).await;
    let bob = Sampler::undeclared("bob");
    let client = connect(bob.clone(), &gw.url("/mcp"), session_era()).await;
    let started = Instant::now();
    let refused = timeout(DEADLINE, client.call_tool(tool("sample", json!({ "prompt": "nobody answers" }))))
        .await
        .expect("tools/call sample timed out");
    let refused = format!("{:?}", refused.expect_err("sampling without a sampling client succeeded"));
    assert!(refused.contains("sampling failed") && refused.contains("-32601"), "{refused}");
    assert!(refused.contains("declared the `sampling` capability"), "{refused}");
    assert!(bob.asked().is_empty(), "bob was asked {:?}", bob.asked());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(ok_text(&call_tool(&client, "add", json!({ "a": 1, "b": 1 })).await), "2");
    let _ = client.cancel().await;
}

/// Starts a `progress` call (two steps of 1.5 s) on `client` and waits until
/// the child has `in_flight` requests, so that it is in flight for whatever
/// the test does next.
async fn hold<H: ClientHandler>(
    gw: &Running,
    client: &RunningService<RoleClient, H>,
    in_flight: u64,
) -> tokio::task::JoinHandle<Result<CallToolResult, rmcp::ServiceError>> {
    let peer = client.peer().clone();
    let held =
        tokio::spawn(async move { peer.call_tool(tool("progress", json!({ "steps": 2, "interval_ms": 1500 }))).await });
    wait_health(gw, |h| h["backends"][0]["processes"][0]["inFlight"] == in_flight).await;
    held
}

/// The held call was still in flight through the test's exchange, and then
/// completed untouched.
async fn released(held: tokio::task::JoinHandle<Result<CallToolResult, rmcp::ServiceError>>, who: &str) {
    assert!(!held.is_finished(), "{who}'s held call ended before the exchange did: the test proved nothing");
    let result = timeout(DEADLINE, held).await.expect("the held call did not finish").unwrap();
    assert_eq!(ok_text(&result.unwrap_or_else(|e| panic!("{who}'s held call failed: {e}"))), "completed 2 steps");
}

/// Alice (who declared sampling) and `bob`, both with calls in flight on
/// one child: stdio cannot say whose call asked, so the child gets the
/// gateway's refusal, neither client sees the question, and bob's call
/// carries on unaffected.
async fn bobs_call_in_flight_makes_the_request_ambiguous(bob: Sampler) {
    let gw = gateway_to(Child::SessionEra).await;
    let url = gw.url("/mcp");
    let alice = Sampler::new("alice");
    let alice_client = connect(alice.clone(), &url, session_era()).await;
    let bob_client = connect(bob.clone(), &url, session_era()).await;
    let held = hold(&gw, &bob_client, 1).await;
    let refused = timeout(DEADLINE, alice_client.call_tool(tool("sample", json!({ "prompt": "whose?" }))))
        .await
        .expect("tools/call sample timed out");
    let refused = format!("{:?}", refused.expect_err("an ambiguous sampling request was answered"));
    assert!(refused.contains("more than one client"), "{refused}");
    released(held, "bob").await;
    assert!(alice.asked().is_empty() && bob.asked().is_empty(), "asked: {:?} {:?}", alice.asked(), bob.asked());
    let _ = tokio::join!(alice_client.cancel(), bob_client.cancel());
}

/// Bob did not declare sampling, but the child may be asking because of his
/// call: the question must not reach alice either.
#[tokio::test]
async fn a_call_of_an_incapable_client_in_flight_makes_the_request_ambiguous() {
    bobs_call_in_flight_makes_the_request_ambiguous(Sampler::undeclared("bob")).await;
}

/// Two capable clients connected, only alice with a call in flight: the
/// question reaches her, and bob, idle, is never asked.
#[tokio::test]
async fn sampling_reaches_the_only_client_with_a_call_in_flight() {
    let gw = gateway_to(Child::SessionEra).await;
    let url = gw.url("/mcp");
    let (alice, bob) = (Sampler::new("alice"), Sampler::new("bob"));
    let alice_client = connect(alice.clone(), &url, session_era()).await;
    let bob_client = connect(bob.clone(), &url, session_era()).await;
    let result = call_tool(&alice_client, "sample", json!({ "prompt": "for alice only" })).await;
    assert_eq!(text_of(&result), (false, answer_for("alice", "for alice only")));
    assert_eq!(alice.asked(), vec!["for alice only".to_string()]);
    assert!(bob.asked().is_empty(), "bob was asked {:?}", bob.asked());
    let _ = tokio::join!(alice_client.cancel(), bob_client.cancel());
}

/// Several requests of one client in flight are not ambiguous: the question
/// reaches that client.
#[tokio::test]
async fn sampling_reaches_a_client_with_two_calls_in_flight() {
    let gw = gateway_to(Child::SessionEra).await;
    let alice = Sampler::new("alice");
    let client = connect(alice.clone(), &gw.url("/mcp"), session_era()).await;
    let held = hold(&gw, &client, 1).await;
    let result = call_tool(&client, "sample", json!({ "prompt": "two in flight" })).await;
    assert_eq!(text_of(&result), (false, answer_for("alice", "two in flight")));
    assert_eq!(alice.asked(), vec!["two in flight".to_string()]);
    released(held, "alice").await;
    let _ = client.cancel().await;
}

#[tokio::test]
async fn two_capable_clients_in_flight_make_the_request_ambiguous() {
    bobs_call_in_flight_makes_the_request_ambiguous(Sampler::new("bob")).await;
}

/// Two session-era clients on one child: alice's tool call asks for sampling
/// after bob's call has reached the child. The question must go to alice,
/// whose call caused it, and never to bob.
async fn sampling_goes_to_the_client_whose_call_caused_it(child: Child) {
    let gw = gateway_to(child).await;
    let url = gw.url("/mcp");
    let (alice, bob) = (Sampler::new("alice"), Sampler::new("bob"));
    let alice_client = connect(alice.clone(), &url, session_era()).await;
    let bob_client = connect(bob.clone(), &url, session_era()).await;

    let alice_call = alice_client.call_tool(tool("sample", json!({ "prompt": "alice's secret", "delay_ms": 600 })));
    let bob_call = async {
        // Once alice's call is on the child, start bob's longer one.
        wait_health(&gw, |h| h["backends"][0]["processes"][0]["inFlight"] == 1).await;
        bob_client.call_tool(tool("progress", json!({ "steps": 2, "interval_ms": 600 }))).await
    };
    let (alice_result, bob_result) =
        timeout(DEADLINE, async { tokio::join!(alice_call, bob_call) }).await.expect("the two calls did not finish");
    assert_eq!(ok_text(&bob_result.expect("bob's call failed")), "completed 2 steps");
    let alice_text = text_of(&alice_result.expect("alice's call failed"));
    let seen =
        format!("alice was asked {:?}, bob was asked {:?}, alice's result {alice_text:?}", alice.asked(), bob.asked());
    assert!(bob.asked().is_empty(), "{child:?} child: bob was asked alice's question: {seen}");
    assert_eq!(alice.asked(), vec!["alice's secret".to_string()], "{child:?} child: {seen}");
    assert_eq!(alice_text, (false, answer_for("alice", "alice's secret")), "{child:?} child: {seen}");
}

/// With a modern child the question travels inside alice's own result (MRTR).
#[ignore = "limitation: a child that speaks both eras is initialized (session era); with tool calls of two clients that both declared sampling in flight, the gateway refuses the sampling request rather than guess the client"]
#[tokio::test]
async fn sampling_goes_to_the_client_whose_call_caused_it_modern_child() {
    sampling_goes_to_the_client_whose_call_caused_it(Child::Modern).await;
}

#[tokio::test]
#[ignore = "limitation: with tool calls of two clients that both declared sampling in flight on one process, the gateway refuses the child's sampling request (-32601) rather than guess which client caused it; correct routing needs a related-request hint stdio does not carry"]
async fn sampling_goes_to_the_client_whose_call_caused_it_session_era_child() {
    sampling_goes_to_the_client_whose_call_caused_it(Child::SessionEra).await;
}

//! The transport-free core, without sockets or a real clock.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::mock::MockOptions;
use crate::mock::tools::{Era, Notify, Plan, execute, handle, initialize};
use crate::mock::wire::{Message, Params};

fn call(body: &Value, era: Era) -> Result<Plan, crate::mock::tools::RpcError> {
    let bytes = body.to_string();
    let Ok(Message::Request(call)) = Message::parse(bytes.as_bytes()) else { panic!("not a request: {body}") };
    handle(&call.method, &call.params, era, &MockOptions::default())
}

fn ready(plan: Plan) -> Value {
    match plan {
        Plan::Ready(bytes) => serde_json::from_slice(&bytes).unwrap(),
        other => panic!("not ready: {other:?}"),
    }
}

fn tools_call(name: &str, arguments: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": name, "arguments": arguments, "_meta": { "progressToken": "p" } } })
}

struct Collect(Vec<Value>);

impl Notify for Collect {
    async fn notify(&mut self, message: Bytes) -> bool {
        self.0.push(serde_json::from_slice(&message).unwrap());
        true
    }
}

#[test]
fn initialize_negotiates_known_versions_only() {
    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        assert_eq!(initialize(Some(v), false).0, v);
    }
    assert_eq!(initialize(Some("2026-07-28"), false).0, "2025-11-25");
    let (_, result) = initialize(None, false);
    let result: Value = serde_json::from_slice(&result).unwrap();
    assert_eq!(result["protocolVersion"], "2025-11-25");
    assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn eras_differ_only_where_they_must() {
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    assert!(ready(call(&list, Era::Session).unwrap()).get("resultType").is_none());
    assert_eq!(ready(call(&list, Era::Stateless).unwrap())["resultType"], "complete");

    let discover = json!({ "jsonrpc": "2.0", "id": 1, "method": "server/discover" });
    assert_eq!(call(&discover, Era::Session).unwrap_err().code, -32601);
    assert_eq!(ready(call(&discover, Era::Stateless).unwrap())["ttlMs"], 0);

    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize" });
    assert_eq!(call(&init, Era::Stateless).unwrap_err().code, -32601);

    let big = ready(call(&tools_call("big", json!({ "n": 3 })), Era::Stateless).unwrap());
    assert_eq!(big["content"][0]["text"], "xxx");
    assert_eq!(big["resultType"], "complete");
}

#[test]
fn tool_arguments_are_checked() {
    let err = |name, args| call(&tools_call(name, args), Era::Session).unwrap_err();
    assert_eq!(err("add", json!({ "a": "1", "b": 2 })).code, -32602);
    assert_eq!(err("sleep", json!({ "ms": -1 })).code, -32602);
    assert_eq!(err("big", json!({ "n": 1u64 << 40 })).code, -32602);
    let fail = err("fail", json!({ "code": -32099 }));
    assert_eq!((fail.code, fail.message.as_ref()), (-32099, "fail tool called"));
    let params = Params::default();
    assert_eq!(handle("tools/call", &params, Era::Session, &MockOptions::default()).unwrap_err().code, -32602);
}

// Real time, kept short: paused time would need tokio's `test-util`.
#[tokio::test]
async fn progress_plan_notifies_each_step_then_answers() {
    let plan = call(&tools_call("progress", json!({ "steps": 3, "interval_ms": 10 })), Era::Session);
    let start = tokio::time::Instant::now();
    let mut sink = Collect(Vec::new());
    let result = execute(plan.unwrap(), &mut sink).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    let progress: Vec<_> = sink.0.iter().map(|n| n["params"]["progress"].clone()).collect();
    assert_eq!(progress, [json!(1), json!(2), json!(3)]);
    assert!(sink.0.iter().all(|n| n["params"]["total"] == 3 && n["params"]["progressToken"] == "p"));
    let result: Value = serde_json::from_slice(&result).unwrap();
    assert_eq!(result["content"][0]["text"], "completed 3 steps");
}

#[tokio::test]
async fn sleep_plan_sleeps() {
    let plan = call(&tools_call("sleep", json!({ "ms": 25 })), Era::Session).unwrap();
    let start = tokio::time::Instant::now();
    let result = execute(plan, &mut Collect(Vec::new())).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(25));
    let result: Value = serde_json::from_slice(&result).unwrap();
    assert_eq!(result["content"][0]["text"], "slept 25 ms");
}

//! Input rounds: the `input_required` answer, retries, and parked calls' timers and cap.

use super::*;
use crate::stdio::process::{Process, ReaderContext};
use crate::table::Load;

#[test]
fn input_required_carries_the_question_and_the_state() {
    let ask = br#"{"jsonrpc":"2.0","id":"sy:0:\"s-1\"","method":"sampling/createMessage","params":{"maxTokens":5}}"#;
    let requests = input_requests(ask).unwrap();
    let id = RawValue::from_string("7".into()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&input_required(&id, &requests, "st")).unwrap();
    assert_eq!(v["id"], 7);
    assert_eq!(v["result"]["resultType"], "input_required");
    assert_eq!(v["result"]["requestState"], "st");
    let asked = &v["result"]["inputRequests"]["sy:0:\"s-1\""];
    assert_eq!(asked["method"], "sampling/createMessage");
    assert_eq!(asked["params"]["maxTokens"], 5);
    assert!(input_requests(b"{}").is_none());
}

#[test]
fn retries_are_read_only_with_a_state() {
    let body = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t",
        "inputResponses":{"k":{"model":"m"}},"requestState":"abc"}}"#;
    let retry = Retry::of(body).unwrap();
    assert_eq!(retry.state(), "abc");
    assert_eq!(retry.params.responses.as_ref().unwrap()["k"].get(), r#"{"model":"m"}"#);
    assert!(Retry::of(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t"}}"#).is_none());
    assert!(Retry::of(br#"{"params":{"requestState":5}}"#).is_none());
}

/// A process to park calls of: `cat`, which echoes what it is sent and
/// answers nothing the calls wait for.
fn process() -> Arc<Process> {
    let mut child = tokio::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout, stderr) =
        (child.stdin.take().unwrap(), child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // The child dies with the test's runtime.
    tokio::spawn(async move { child.wait().await });
    let ctx = ReaderContext {
        backend: "b".into(),
        max_line_bytes: 1 << 20,
        changes: tokio::sync::broadcast::channel(1).0,
        slot: 0,
        timeout: DEADLINE,
    };
    Process::start(None, stdin, stdout, stderr, ctx)
}

const DEADLINE: Duration = Duration::from_secs(10);
const ASK: &[u8] = br#"{"jsonrpc":"2.0","id":"sy:0:n:1","method":"sampling/createMessage"}"#;

fn call(process: &Arc<Process>) -> Call {
    let instance = crate::stdio::pool::instance("b", false, 0, tokio::time::Instant::now());
    let load: Load = instance.record.start();
    Call {
        process: process.clone(),
        up_id: process.next_id(),
        rx: tokio::sync::mpsc::unbounded_channel().1,
        record: instance.record.clone(),
        load,
        sent: tokio::time::Instant::now(),
        id: RawValue::from_string("1".into()).unwrap(),
        deadline: DEADLINE,
        rounds: None,
    }
}

fn state_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["result"]["requestState"].as_str().unwrap().to_string()
}

fn tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Tasks end at the scheduler's next turns, not at `abort`.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// A client that retries without the answer, again and again, leaves one
/// timer behind, not one a round; and the cap refuses with the admission
/// error.
#[tokio::test(start_paused = true)]
async fn a_parked_call_has_one_timer_and_the_table_a_cap() {
    let process = process();
    let parked = Arc::new(Parked::new("b".into(), 2));
    settle().await;
    let before = tasks();
    let mut state = state_of(&parked.park(call(&process), "tools/call", Bytes::from_static(ASK)).unwrap());
    for _ in 0..5 {
        let waiting = parked.take(&state, "tools/call").unwrap();
        state = state_of(&parked.park(waiting.call, "tools/call", waiting.ask).unwrap());
    }
    settle().await;
    assert_eq!(tasks(), before + 1, "one timer for the one parked call");
    assert_eq!(parked.waiting(), 1);

    parked.park(call(&process), "tools/call", Bytes::from_static(ASK)).unwrap();
    let refused = parked.park(call(&process), "tools/call", Bytes::from_static(ASK));
    assert!(matches!(refused, Err(GatewayError::Shed { .. })), "past the cap");
    assert_eq!(parked.waiting(), 2);

    // The timers still expire what nobody resumes, and end.
    tokio::time::sleep(DEADLINE + Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(parked.waiting(), 0);
    assert_eq!(tasks(), before);
}

//! Graceful shutdown of the real binary: on SIGTERM an SSE stream in flight
//! completes, then the process exits 0.

mod common;

use common::*;
use futures::StreamExt;
use switchyard::mock::MockOptions;

#[tokio::test]
async fn sse_stream_in_flight_completes_after_sigterm() {
    let backend = mock(MockOptions::default()).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("shutdown-{}.toml", std::process::id()));
    let config = config_for(&[("/mcp", &backend.url("/mcp"))], "").replace(
        "timeout = \"5s\"",
        "timeout = \"5s\"\nheaders = { authorization = \"Bearer upstream-secret-value\" }",
    );
    std::fs::write(&path, config).unwrap();
    let (mut child, url, mut lines) = start_binary(&path, &["--log", "debug"]).await;
    // Keep draining stderr so the child never blocks on a full pipe; the log
    // is checked for secrets at the end.
    let log = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    let sid = initialize(&url, "2025-06-18").await;
    let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","arguments":{"steps":8,"interval_ms":100},"_meta":{"progressToken":"p"}}}"#;
    let resp = post(&url, body, &[("mcp-session-id", &sid), ("mcp-protocol-version", "2025-06-18")]).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = tokio::time::timeout(DEADLINE, stream.next()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());

    let mut rest = String::from_utf8_lossy(&first).into_owned();
    tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = stream.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk.expect("stream cut during drain")));
        }
    })
    .await
    .expect("stream did not finish");
    assert!(rest.contains("\"id\":5") && rest.contains("result"), "{rest}");

    let status = tokio::time::timeout(DEADLINE, child.wait()).await.expect("gateway did not exit").unwrap();
    assert!(status.success(), "{status:?}");
    let log = tokio::time::timeout(DEADLINE, log).await.unwrap().unwrap();
    assert!(log.contains("switchyard::access") && log.contains("tools/call"), "no access log line: {log}");
    for secret in [sid.as_str(), "upstream-secret-value", "test-key"] {
        assert!(!log.contains(secret), "secret `{secret}` in the log:\n{log}");
    }
    // And it no longer accepts connections.
    assert!(http().get(url.replace("/mcp", "/health/live")).send().await.is_err());
    let _ = std::fs::remove_file(&path);
}

//! Listener limits: the connection cap holds further clients back until a
//! slot frees.

mod common;

use common::*;
use switchyard::mock::MockOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn connection_cap_waits_for_a_free_slot() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], "max_connections = 2"))).await;
    let live = |mut s: tokio::net::TcpStream| async move {
        s.write_all(b"GET /health/live HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        s
    };
    // Two keep-alive connections take both slots.
    let first = live(tokio::net::TcpStream::connect(gw.addr).await.unwrap()).await;
    let _second = live(tokio::net::TcpStream::connect(gw.addr).await.unwrap()).await;
    // A third connects (the kernel's backlog) but is not served...
    let mut third = tokio::spawn(live(tokio::net::TcpStream::connect(gw.addr).await.unwrap()));
    // Proving a negative needs a bound: 300 ms is ample for a loopback answer.
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut third).await;
    assert!(early.is_err(), "a connection over the cap was served");
    // ...until a slot frees.
    drop(first);
    tokio::time::timeout(DEADLINE, third).await.expect("never served after a slot freed").unwrap();
}

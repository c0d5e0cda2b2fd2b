//! Listener limits: the connection cap holds further clients back until a
//! slot frees; the per-address cap closes a client's connection past it; the
//! head deadline ends slow and silent clients; h2 clients learn the stream
//! limit.
//!
//! The deadline tests run on the real clock, since they exercise hyper's
//! timer and the kernel's sockets; they take about a second each.

mod common;

use common::*;
use switchyard::mock::MockOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn connection_cap_waits_for_a_free_slot() {
    let (gw, _backend) = gateway_with("max_connections = 2").await;
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

/// Sends `GET /health/live` on `s` and reads the status line; `None` when
/// the connection is closed without an answer.
async fn status_line(s: &mut tokio::net::TcpStream) -> Option<[u8; 12]> {
    // A write to a connection the gateway already closed may fail; the
    // read then says so.
    let _ = s.write_all(b"GET /health/live HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    let mut line = [0u8; 12];
    let mut filled = 0;
    while filled < line.len() {
        match tokio::time::timeout(DEADLINE, s.read(&mut line[filled..])).await.expect("neither answered nor closed") {
            Ok(0) | Err(_) => return None,
            Ok(n) => filled += n,
        }
    }
    // The rest of the answer: a small JSON body, read so that the next
    // request on this connection starts clean.
    let mut rest = [0u8; 512];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut rest)).await;
    Some(line)
}

#[tokio::test]
async fn a_client_over_its_per_ip_cap_is_closed_at_once_and_a_freed_slot_serves_again() {
    let (gw, _backend) = gateway_with("max_connections_per_ip = 3").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(&status_line(&mut s).await.expect("under the cap"), b"HTTP/1.1 200");
        open.push(s);
    }
    // The fourth from the same address is closed without an answer...
    let mut fourth = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    assert_eq!(status_line(&mut fourth).await, None, "a connection over the per-address cap was served");
    // ...while the three keep being served.
    for s in &mut open {
        assert_eq!(&status_line(s).await.expect("an open connection was closed"), b"HTTP/1.1 200");
    }
    // Closing one frees its place, once the gateway has seen it close.
    drop(open.pop());
    let served_again = async {
        loop {
            let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
            if status_line(&mut s).await.is_some() {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let _again = tokio::time::timeout(DEADLINE, served_again).await.expect("a freed slot never served");
    drop(open);
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_connections_dropped_total{reason=\"per_ip_limit\"}"), "{metrics}");
}

/// Connects, writes `head` a byte every 100 ms, and returns how long the
/// gateway took to close the connection; it must answer nothing. With
/// `after_one`, a whole request is served first, so that the trickled head
/// is the connection's second and the timer is hyper's.
async fn trickled_for(gw: &Running, head: &'static [u8], after_one: bool) -> std::time::Duration {
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    if after_one {
        assert_eq!(&status_line(&mut stream).await.expect("the first request"), b"HTTP/1.1 200");
    }
    let started = tokio::time::Instant::now();
    let (reader, writer) = stream.into_split();
    trickle_until_closed(reader, writer, head, std::time::Duration::from_millis(100)).await;
    started.elapsed()
}

/// A gateway with `extra` in `[gateway]`, in front of a mock it returns too.
async fn gateway_with(extra: &str) -> (Running, Running) {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], extra))).await;
    (gw, backend)
}

#[tokio::test]
async fn a_head_trickled_a_byte_at_a_time_is_cut_off_at_the_whole_head_deadline() {
    let (gw, _backend) = gateway_with("header_read_timeout = \"1s\"").await;
    // Every read is fast (a byte per 100 ms); only a deadline on the whole
    // head ends it. The head never completes: the header line goes on.
    // First heads have the gateway's deadline from accept, later ones
    // hyper's; both count the head whole.
    let head = b"GET /health/live HTTP/1.1\r\nhost: localhost\r\nx-slow: aaaaaaaaaaaa";
    let (first, second) = tokio::join!(trickled_for(&gw, head, false), trickled_for(&gw, head, true));
    for took in [first, second] {
        assert!(took >= std::time::Duration::from_millis(800), "closed before the deadline, after {took:?}");
    }
}

#[tokio::test]
async fn silence_and_a_trickled_h2_preface_are_cut_off_at_the_deadline_from_accept() {
    let (gw, _backend) = gateway_with("header_read_timeout = \"1s\"").await;
    // Neither reaches hyper's own head timer: the gateway is still telling
    // HTTP/1.1 from h2 by the first 24 bytes, or (once the preface is in)
    // serving h2, which has no head timer at all.
    let preface = trickled_for(&gw, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false);
    let silent = async {
        let started = tokio::time::Instant::now();
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(std::time::Duration::from_secs(3), s.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent client was not closed: {read:?}");
        started.elapsed()
    };
    let (preface, silent) = tokio::join!(preface, silent);
    for took in [preface, silent] {
        assert!(took >= std::time::Duration::from_millis(900), "closed before the deadline, after {took:?}");
    }
}

#[tokio::test]
async fn h2_clients_are_told_the_configured_stream_limit() {
    let (gw, _backend) = gateway_with("h2_max_concurrent_streams = 3").await;
    // h2c with prior knowledge, as the listener serves it in clear.
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (client, conn) = tokio::time::timeout(DEADLINE, h2::client::handshake(tcp)).await.unwrap().unwrap();
    tokio::spawn(conn);
    let mut client = tokio::time::timeout(DEADLINE, client.ready()).await.unwrap().unwrap();
    let req = http::Request::get(gw.url("/health/live")).body(()).unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    let response = tokio::time::timeout(DEADLINE, response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    // The server's SETTINGS come before any response, so by now they apply.
    assert_eq!(client.current_max_send_streams(), 3, "hyper's default is 200");
}

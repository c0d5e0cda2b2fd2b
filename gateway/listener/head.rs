//! The deadline for a connection's first request head, counted from accept.
//!
//! hyper's `header_read_timeout` is a whole-head deadline, not a per-read
//! one: it starts when hyper begins reading a head and is cleared only once
//! the head is parsed (`proto/h1/conn.rs`, `poll_read_head`), so a client
//! that trickles a byte at a time is cut off. But it starts only once the
//! HTTP/1.1 connection exists. Before that, hyper-util's auto builder reads
//! the first bytes to tell HTTP/1.1 from the h2 preface, with no deadline at
//! all, and an h2 connection has no head deadline of any kind; before both
//! comes the TLS handshake. A client that connects and sends nothing, or
//! sends the h2 preface a byte at a time, would hold its slot of
//! `max_connections` forever.
//!
//! So the first head gets one deadline from accept, over the handshake,
//! the protocol sniffing and the head itself. After the first request the
//! connection is the client's: later HTTP/1.1 heads are bounded by hyper's
//! own timer, and h2 connections by their keep-alive pings.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

/// Drives `conn` to its end, unless `deadline` passes before `served` is
/// set (by the first request reaching the service): then `conn` is dropped,
/// which closes the connection, and the answer is `None`.
pub async fn until_first_request<F: Future>(conn: F, deadline: Instant, served: &AtomicBool) -> Option<F::Output> {
    tokio::pin!(conn);
    tokio::select! {
        out = &mut conn => return Some(out),
        () = tokio::time::sleep_until(deadline) => {}
    }
    // Relaxed is enough: the flag is the only thing read, and a request that
    // races the deadline by a poll may go either way.
    if served.load(Ordering::Relaxed) { Some(conn.await) } else { None }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_no_request_by_the_deadline_is_dropped() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let out = until_first_request(std::future::pending::<()>(), deadline, &AtomicBool::new(false)).await;
        assert_eq!(out, None);
        assert_eq!(Instant::now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_was_served_outlives_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let conn = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(until_first_request(conn, deadline, &AtomicBool::new(true)).await, Some(()));
        assert_eq!(Instant::now(), deadline + Duration::from_secs(59));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ends_first_gives_its_result() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let out = until_first_request(async { 7 }, deadline, &AtomicBool::new(false)).await;
        assert_eq!(out, Some(7));
    }
}

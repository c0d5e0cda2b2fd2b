//! Seeing a backend's change notifications, to drop what they make stale.
//!
//! HTTP backends send them on SSE streams that pass through the gateway (a
//! POST's answer stream, a session's GET stream, a stateless
//! `subscriptions/listen`), so for a backend with a cache those streams are
//! read as they go by: the bytes are forwarded untouched, and only events
//! that mention `notifications/` are parsed. stdio backends fan their change
//! notifications out on a broadcast channel, which [`watch`] follows.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, header};
use tokio::sync::broadcast;

use super::Cache;
use crate::stack::ProxyBody;

/// Most bytes of one unfinished SSE event held while looking for its end;
/// past that the event is skipped (a notification is small, a large event is
/// a result).
const MAX_PENDING: usize = 64 << 10;

/// Reads SSE bytes for notifications.
struct Scanner {
    cache: Arc<Cache>,
    pending: Vec<u8>,
    /// Skipping the rest of an oversized event.
    skipping: bool,
}

/// Reads `resp`'s body for change notifications when it is an SSE stream of
/// a backend with a cache.
pub fn tap(cache: Option<&Arc<Cache>>, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let Some(cache) = cache else { return resp };
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !sse {
        return resp;
    }
    let mut scanner = Scanner { cache: cache.clone(), pending: Vec::new(), skipping: false };
    resp.map(|body| body.with_tap(Box::new(move |chunk: &[u8]| scanner.feed(chunk))))
}

/// Follows a stdio backend's change notifications until the pool stops.
pub fn watch(cache: Arc<Cache>, mut changes: broadcast::Receiver<Bytes>) {
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(message) => {
                    cache.observe(&message);
                }
                // Some were missed: any entry may be stale.
                Err(broadcast::error::RecvError::Lagged(_)) => cache.clear(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

// === impl Scanner ===

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) {
        // A blank line may straddle the previous chunk and this one.
        let mut from = self.pending.len().saturating_sub(3);
        self.pending.extend_from_slice(chunk);
        while let Some(end) = event_end(&self.pending, from) {
            let event: Vec<u8> = self.pending.drain(..end).collect();
            // The tail of an event too large to be a notification is dropped.
            if !std::mem::take(&mut self.skipping) && contains(&event, b"notifications/") {
                for data in crate::mcp::sse::event_data(&event) {
                    self.cache.observe(data.as_bytes());
                }
            }
            from = 0;
        }
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
            self.skipping = true;
        }
    }
}

/// The index just past the first blank line (`\n\n` or `\r\n\r\n`) at or
/// after `from`.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some(i + 2);
        }
        if buf[i] == b'\n' && buf.get(i + 1..i + 3) == Some(b"\r\n") {
            return Some(i + 3);
        }
        i += 1;
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Arc<Cache> {
        Cache::new("t", &crate::config::Cache::default())
    }

    #[test]
    fn events_split_anywhere_are_found() {
        let stream = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n\
                       event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        for split in 1..stream.len() {
            let mut s = Scanner { cache: cache(), pending: Vec::new(), skipping: false };
            s.feed(&stream[..split]);
            s.feed(&stream[split..]);
            assert!(s.pending.is_empty(), "split at {split}");
        }
        assert_eq!(event_end(b"a\r\n\r\nb", 0), Some(5));
        assert_eq!(event_end(b"data: x\n", 0), None);
    }

    #[test]
    fn oversized_events_are_skipped_without_growing() {
        let mut s = Scanner { cache: cache(), pending: Vec::new(), skipping: false };
        let big = vec![b'x'; MAX_PENDING + 10];
        s.feed(b"data: ");
        s.feed(&big);
        assert!(s.pending.is_empty() && s.skipping);
        s.feed(b"yy\n\ndata: {}\n\n");
        assert!(s.pending.is_empty() && !s.skipping);
    }
}

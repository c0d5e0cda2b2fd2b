//! Reading SSE bodies the gateway reads itself: those it buffers (an
//! `initialize` answer, a health probe's reply) and those it translates
//! event by event (a member's stream, a bridged call). Streams passing
//! through as they are are never parsed.

/// The `data` of each event in an SSE body: an event's `data:` lines joined
/// by newlines, in order. Events without data (priming events) are skipped.
pub fn event_data(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        } else if line.is_empty() && !data.is_empty() {
            out.push(std::mem::take(&mut data));
        }
    }
    out
}

/// Where the first complete event in `buf` ends, its blank line included.
pub fn event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_data_lines_per_event_and_skips_priming() {
        let body = b"id: 0\ndata: \n\nevent: message\ndata: {\"a\":\ndata: 1}\n\ndata:x\n";
        assert_eq!(event_data(body), vec!["{\"a\":\n1}".to_string(), "x".to_string()]);
        assert!(event_data(b"").is_empty());
    }

    #[test]
    fn events_end_at_a_blank_line() {
        assert_eq!(event_end(b"data: x\n\ndata: y"), Some(9));
        assert_eq!(event_end(b"data: x\r\n\r\n"), Some(11));
        assert_eq!(event_end(b"data: x\n"), None);
    }
}

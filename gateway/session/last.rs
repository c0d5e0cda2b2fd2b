//! The last token a connection presented, opened.
//!
//! A client sends the same `Mcp-Session-Id` on every request of its
//! connection, and opening it (base64, ChaCha20-Poly1305, the record) was
//! about 6% of the instructions of a proxied request. Each connection keeps
//! the last token it opened and the ticket inside; the same token on the
//! same route under the same key gets the same ticket without the work.
//! Nothing is trusted that was not opened: a different token, route or key
//! (a reload may bring a new one) is opened in full and replaces it.

use std::sync::{Arc, Mutex};

use super::{OpenError, SessionKey, Ticket};

/// One connection's last opened token.
#[derive(Default)]
pub struct LastTicket(Mutex<Option<Opened>>);

struct Opened {
    key: Arc<SessionKey>,
    route: Box<str>,
    token: Box<str>,
    ticket: Ticket,
}

impl LastTicket {
    /// Opens `token` for `route` under `key`, or returns the ticket this
    /// connection already opened from exactly that.
    pub fn open(&self, key: &Arc<SessionKey>, route: &str, token: &str) -> Result<Ticket, OpenError> {
        if let Ok(last) = self.0.lock()
            && let Some(o) = last.as_ref()
            && *o.token == *token
            && *o.route == *route
            && Arc::ptr_eq(&o.key, key)
        {
            return Ok(o.ticket.clone());
        }
        let ticket = key.open(route, token)?;
        if let Ok(mut last) = self.0.lock() {
            *last = Some(Opened { key: key.clone(), route: route.into(), token: token.into(), ticket: ticket.clone() });
        }
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(instance: &str) -> Ticket {
        Ticket {
            backend: "b".into(),
            instance: instance.into(),
            upstream_session: "up".into(),
            protocol_version: "2025-06-18".into(),
            issued_at: 1,
            client_caps: Default::default(),
        }
    }

    #[test]
    fn the_same_token_reopens_to_the_same_ticket_and_nothing_else_is_trusted() {
        let key = Arc::new(SessionKey::from_secret("one"));
        let last = LastTicket::default();
        let a = key.seal("/mcp", &ticket("http://a"));
        let b = key.seal("/mcp", &ticket("http://b"));
        assert_eq!(last.open(&key, "/mcp", &a).unwrap().instance, "http://a");
        assert_eq!(last.open(&key, "/mcp", &a).unwrap().instance, "http://a");
        assert_eq!(last.open(&key, "/mcp", &b).unwrap().instance, "http://b");
        // Another route: the token's associated data does not match.
        assert_eq!(last.open(&key, "/other", &b), Err(OpenError::Rejected));
        // A new key (a reload) does not open what the old one sealed, even
        // though this connection opened that token a moment ago.
        assert_eq!(last.open(&key, "/mcp", &b).unwrap().instance, "http://b");
        let rotated = Arc::new(SessionKey::from_secret("two"));
        assert_eq!(last.open(&rotated, "/mcp", &b), Err(OpenError::Rejected));
        // A tampered token is refused whatever was opened before.
        let mut tampered = b.clone();
        tampered.replace_range(tampered.len() - 2.., if b.ends_with("AA") { "BB" } else { "AA" });
        assert!(last.open(&key, "/mcp", &tampered).is_err());
    }
}

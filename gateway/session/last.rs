//! The last token a connection presented, opened.
//!
//! A client sends the same `Mcp-Session-Id` on every request of its
//! connection, and opening it (base64, ChaCha20-Poly1305, the record) was
//! about 6% of the instructions of a proxied request. Each connection keeps
//! the last token it opened and the ticket inside; the same token on the
//! same route under the same key gets the same ticket without the work.
//! Nothing is trusted that was not opened: a different token, route or key
//! (a reload may bring a new one) is opened in full and replaces it. The
//! ticket's age is checked every time, so a connection kept open for longer
//! than `session_ttl` does not keep its session alive.

use std::sync::{Arc, Mutex};

use super::token::unix_now;
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
    /// connection already opened from exactly that; either way, only while
    /// it is younger than the key's ttl.
    pub fn open(&self, key: &Arc<SessionKey>, route: &str, token: &str) -> Result<Ticket, OpenError> {
        self.open_at(key, route, token, unix_now())
    }

    /// [`LastTicket::open`], at `now` seconds since the Unix epoch.
    pub fn open_at(&self, key: &Arc<SessionKey>, route: &str, token: &str, now: u64) -> Result<Ticket, OpenError> {
        if let Ok(last) = self.0.lock()
            && let Some(o) = last.as_ref()
            && *o.token == *token
            && *o.route == *route
            && Arc::ptr_eq(&o.key, key)
        {
            key.check_age(&o.ticket, now)?;
            return Ok(o.ticket.clone());
        }
        let ticket = key.open_at(route, token, now)?;
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
            issued_at: 1_700_000_000,
            members: Default::default(),
            principal: None,
            client_caps: Default::default(),
        }
    }

    const NOW: u64 = 1_700_000_100;

    #[test]
    fn the_same_token_reopens_to_the_same_ticket_and_nothing_else_is_trusted() {
        let key = Arc::new(SessionKey::from_secret("one"));
        let last = LastTicket::default();
        let a = key.seal("/mcp", &ticket("http://a"));
        let b = key.seal("/mcp", &ticket("http://b"));
        assert_eq!(last.open_at(&key, "/mcp", &a, NOW).unwrap().instance, "http://a");
        assert_eq!(last.open_at(&key, "/mcp", &a, NOW).unwrap().instance, "http://a");
        assert_eq!(last.open_at(&key, "/mcp", &b, NOW).unwrap().instance, "http://b");
        // Another route: the token's associated data does not match.
        assert_eq!(last.open_at(&key, "/other", &b, NOW), Err(OpenError::Rejected));
        // A new key (a reload) does not open what the old one sealed, even
        // though this connection opened that token a moment ago.
        assert_eq!(last.open_at(&key, "/mcp", &b, NOW).unwrap().instance, "http://b");
        let rotated = Arc::new(SessionKey::from_secret("two"));
        assert_eq!(last.open_at(&rotated, "/mcp", &b, NOW), Err(OpenError::Rejected));
        // A tampered token is refused whatever was opened before.
        let mut tampered = b.clone();
        tampered.replace_range(tampered.len() - 2.., if b.ends_with("AA") { "BB" } else { "AA" });
        assert!(last.open_at(&key, "/mcp", &tampered, NOW).is_err());
    }

    #[test]
    fn a_ticket_this_connection_opened_is_refused_once_it_is_ttl_old() {
        let key = Arc::new(SessionKey::from_secret("one").with_ttl(std::time::Duration::from_secs(60)));
        let last = LastTicket::default();
        let token = key.seal("/mcp", &ticket("http://a"));
        let issued = ticket("http://a").issued_at;
        assert!(last.open_at(&key, "/mcp", &token, issued + 59).is_ok());
        // The same token on the same connection, a second later: too old now.
        assert_eq!(last.open_at(&key, "/mcp", &token, issued + 60), Err(OpenError::Expired));
        // A reload with a longer ttl (a new key object) lets it open again.
        let longer = Arc::new(key.with_ttl(std::time::Duration::from_secs(120)));
        assert!(last.open_at(&longer, "/mcp", &token, issued + 60).is_ok());
    }
}

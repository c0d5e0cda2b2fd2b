//! Who is asking: the words every layer uses for the other end of a request.
//!
//! - [`Connection`]: the client's connection, described once when it is
//!   accepted;
//! - [`Client`]: one request's client: its connection and request id;
//! - [`Principal`]: who the request is from, for cache keys and rate-limit
//!   buckets (an [`Identity`] on a route with `auth`; else a credential's
//!   digest, or an IP);
//! - [`Identity`]: a caller a route's `[[auth]]` block has proven.
//!
//! A stdio process tells its clients apart by a number of its own (its
//! `owner`, in `stdio`), derived from the session.

mod identity;
mod principal;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

pub use identity::{Identity, Proof};
pub use principal::Principal;

/// The client's side of a connection, formatted once per connection rather
/// than once per request.
pub struct Connection {
    /// The client's address.
    pub addr: SocketAddr,
    /// The client's IP as an `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
    /// The session token this connection presented last, opened.
    pub last_ticket: crate::session::LastTicket,
}

/// Who is asking, for one request.
#[derive(Clone)]
pub struct Client {
    /// The client's connection.
    pub connection: Arc<Connection>,
    /// The request id, propagated or generated.
    pub request_id: HeaderValue,
    /// Who the route's `auth` proved the caller to be; `None` on an open
    /// route.
    pub identity: Option<Arc<Identity>>,
}

// === impl Connection ===

impl Connection {
    /// Describes a newly accepted connection.
    pub fn new(addr: SocketAddr) -> Self {
        let forwarded_for =
            HeaderValue::from_str(&addr.ip().to_string()).unwrap_or(HeaderValue::from_static("unknown"));
        Self { addr, forwarded_for, last_ticket: Default::default() }
    }
}

// === impl Client ===

impl Client {
    /// The principal of a request from this client with these headers.
    /// Read it before the front door strips the credentials.
    pub fn principal(&self, headers: &HeaderMap) -> Principal {
        match &self.identity {
            Some(identity) => Principal::Identity(identity.digest),
            None => Principal::of(headers, self.connection.addr.ip()),
        }
    }

    /// The digest a session token binds to: the identity's, or none on an
    /// open route (which binds to no address either, since a client's may
    /// change).
    pub fn session_principal(&self) -> Option<[u8; 16]> {
        self.identity.as_ref().map(|i| i.digest)
    }
}

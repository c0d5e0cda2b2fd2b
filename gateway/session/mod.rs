//! The gateway's own session tokens.
//!
//! A session-era client never sees an upstream `Mcp-Session-Id`. It gets a
//! token sealed with ChaCha20-Poly1305 under the gateway's `session_key`,
//! which carries everything needed to serve the session's next request: the
//! instance it is pinned to, the upstream session id, the negotiated
//! protocol version, and the capabilities the client declared (which a stdio
//! child's own requests need, see [`caps`]). The route's path is the AEAD's
//! associated data, so a token minted for one route does not open on another.
//!
//! Nothing is stored: any replica holding the same key opens the token, and a
//! gateway restarted with the same key keeps serving existing sessions. A
//! token opens for `[gateway] session_ttl` after it was issued; then its
//! client gets 404 and initializes again.

pub mod caps;
mod last;
mod token;

pub use caps::ClientCaps;
pub use last::LastTicket;
pub use token::{DEFAULT_TTL, MemberSession, OpenError, SessionKey, Ticket, unix_now};

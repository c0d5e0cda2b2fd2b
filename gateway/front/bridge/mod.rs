//! Bridging the protocol eras for HTTP backends.
//!
//! A client of one era and a server of the other cannot talk: a 2026-07-28
//! client sends no `initialize` and no session, a session-era server needs
//! both; a session-era client sends `initialize` and expects a session, a
//! 2026-07-28 server answers neither. The gateway speaks each side's era:
//!
//! - **A 2026-07-28 client, a session-era server** ([`down`]): the gateway
//!   opens upstream sessions itself, one per instance, per principal and
//!   per declared capability set (no caller ever shares a session, and the
//!   server-side state in it, with another), reopens one the server
//!   forgets (404), and sends each request in one with the 2026-07-28
//!   `_meta` keys removed, under an id of its own (concurrent callers of
//!   one session must not collide). Results gain `resultType` (and, for
//!   lists and reads, `ttlMs` and `cacheScope`); `server/discover` is
//!   answered from the session's `initialize` result. The capabilities the
//!   client declares are declared upstream, and what the server asks with
//!   them becomes a round of `input_required` ([`rounds`]);
//!   `subscriptions/listen` is served from a GET stream ([`listen`]).
//! - **A session-era client, a 2026-07-28 server** ([`up`]): the gateway
//!   answers `initialize` from the server's `server/discover` and mints
//!   the session itself (its token records the client's version and
//!   capabilities); each later request goes stateless, with `_meta` and
//!   the mirrored headers added; `ping`, `notifications/*` and DELETE are
//!   answered by the gateway, since that era has none of them. The
//!   server's `input_required` results become requests to the client on
//!   the call's stream, and its answers the retry's `inputResponses`
//!   ([`asks`]).
//!
//! When a backend's `era` is `auto`, same-era pairs are proxied exactly as
//! before: nothing is bridged until an instance is known not to speak the
//! client's era. That is learned (see [`crate::health::era`]) by the
//! health checker, or at the first refusal an unlearned backend answers
//! with (400, 404 or 405), after which the refused request is sent again,
//! bridged. The refusal came before the server did anything, so sending
//! it again is safe whatever the method.

pub(crate) mod asks;
mod down;
mod listen;
mod relay;
pub(crate) mod rounds;
mod up;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;

use crate::backend::Backend;
use crate::config::ServerEra;
use crate::session::Ticket;
use crate::stack::Stack;
use crate::table::Speaks;

pub use up::BRIDGED_STATELESS;

/// How a request reaches an HTTP backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// As it is: the server speaks the client's era.
    Direct,
    /// As it is, for now: the backend's era is not known yet. A refusal
    /// teaches it, and the request is sent again bridged if it must be.
    Unlearned,
    /// A 2026-07-28 client, a session-era server.
    Down,
    /// A session-era client, a 2026-07-28 server.
    Up,
}

/// The path of a request from a client of the given era, in the session
/// `ticket` (when it has one), opening a session when `initialize`.
pub fn path(backend: &Backend, stateless_client: bool, ticket: Option<&Ticket>, initialize: bool) -> Path {
    if ticket.is_some_and(|t| t.upstream_session == BRIDGED_STATELESS) {
        return Path::Up;
    }
    // A session-era request in an upstream session is Direct: the session
    // proves the server speaks the era.
    if !stateless_client && !initialize {
        return Path::Direct;
    }
    let speaks = match backend.era {
        ServerEra::Session => Some(Speaks { session: true, stateless: false, versions: Vec::new() }),
        ServerEra::Stateless => Some(Speaks { session: false, stateless: true, versions: Vec::new() }),
        ServerEra::Auto => known(backend).map(|s| (*s).clone()),
    };
    let Some(speaks) = speaks else { return Path::Unlearned };
    match stateless_client {
        true if !speaks.stateless && speaks.session => Path::Down,
        false if !speaks.session && speaks.stateless => Path::Up,
        _ => Path::Direct,
    }
}

/// What the backend's instances speak, as far as any of them is known.
/// Instances of a backend are interchangeable, so the first one known
/// speaks for all.
fn known(backend: &Backend) -> Option<Arc<Speaks>> {
    backend.instances.iter().find_map(|i| i.era.speaks())
}

/// Whether an unlearned backend's answer may be a refusal of the client's
/// era, worth learning the era for.
pub fn maybe_refused(status: StatusCode) -> bool {
    matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
}

/// Learns what the backend speaks, on the instance the balancer picks (a
/// burst of requests learns once), and returns the path the request takes
/// now.
pub async fn learn(stack: &Stack, stateless_client: bool, ticket: Option<&Ticket>, initialize: bool) -> Path {
    let backend = &stack.backend;
    if let Some(instance) = stack.pick() {
        let _learning = instance.era.learning.lock().await;
        if instance.era.speaks().is_none() && instance.era.may_learn() {
            match tokio::time::timeout(backend.timeout, crate::health::era::learn(backend, &instance)).await {
                Ok(Ok(speaks)) => {
                    tracing::info!(backend = &*backend.name, instance = %instance.display_url(), ?speaks, "learned the instance's protocol eras");
                    instance.era.learned(speaks);
                }
                Ok(Err(why)) => {
                    tracing::debug!(backend = &*backend.name, why, "could not learn the eras");
                    instance.era.learning_failed();
                }
                Err(_) => {
                    tracing::debug!(backend = &*backend.name, "learning the eras timed out");
                    instance.era.learning_failed();
                }
            }
        }
    }
    match path(backend, stateless_client, ticket, initialize) {
        Path::Unlearned => Path::Direct,
        p => p,
    }
}

/// A process-unique id for a request sent upstream: unique within any
/// upstream session the gateway shares between callers.
fn next_upstream_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

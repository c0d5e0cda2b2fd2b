//! Session-era sessions: which ids were issued, and at which version.
//!
//! A plain mutex around a map: each request holds it for one lookup, which is
//! far cheaper than anything else the request does, so a sharded or lock-free
//! map would buy nothing measurable here.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of an issued session id: 32 alphanumerics, about 190 bits.
const ID_LEN: usize = 32;

/// The live sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// Session id to the protocol version `initialize` negotiated, which
    /// decides whether batches are allowed.
    map: Mutex<HashMap<Box<str>, &'static str>>,
}

impl Sessions {
    /// Issues a fresh id. `rand::rng()` is a CSPRNG (ChaCha, seeded from the
    /// OS), as the spec asks, and alphanumerics are visible ASCII.
    pub(crate) fn open(&self, version: &'static str) -> String {
        let id: String = rand::rng().sample_iter(Alphanumeric).take(ID_LEN).map(char::from).collect();
        self.lock().insert(id.as_str().into(), version);
        id
    }

    /// The negotiated version, if `id` is live.
    pub(crate) fn version(&self, id: &str) -> Option<&'static str> {
        self.lock().get(id).copied()
    }

    /// Ends a session; `false` if it was not live.
    pub(crate) fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, &'static str>> {
        // The map is always consistent between statements, so a panic while
        // it was held leaves nothing half-done.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_visible_ascii_and_closable() {
        let s = Sessions::default();
        let a = s.open("2025-06-18");
        let b = s.open("2025-03-26");
        assert_ne!(a, b);
        assert_eq!(a.len(), ID_LEN);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert_eq!(s.version(&b), Some("2025-03-26"));
        assert!(s.close(&a));
        assert!(!s.close(&a));
        assert_eq!(s.version(&a), None);
    }
}

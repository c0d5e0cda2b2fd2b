//! Metrics of identity.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_auth_refusals_total` | route, reason (`missing`, `invalid`, `scope`) |
//! | `switchyard_authz_denials_total` | route, kind (`tool`, `prompt`, `resource`) |
//!
//! A refusal is off the hot path (the request ends there), so the handles
//! are looked up when used.

use metrics::counter;

/// A request at a route with `auth` was refused, for `reason`.
pub fn refused_because(route: &str, reason: &'static str) {
    counter!("switchyard_auth_refusals_total", "route" => route.to_string(), "reason" => reason).increment(1);
}

/// A use of a `kind` no `[[authz]]` rule allows was refused.
pub fn denied_kind(route: &str, kind: &'static str) {
    counter!("switchyard_authz_denials_total", "route" => route.to_string(), "kind" => kind).increment(1);
}

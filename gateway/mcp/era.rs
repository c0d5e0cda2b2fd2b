//! The protocol versions, and the two eras they fall into. Every version
//! constant of the gateway lives here.
//!
//! Versions are dates, so a later version compares greater as a string.

/// The session-era versions (`initialize`, `Mcp-Session-Id`), oldest first.
pub const SESSION_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// The newest session-era version: what the gateway offers a stdio child and
/// speaks in its health probes' sessions.
pub const LATEST_SESSION_VERSION: &str = "2025-11-25";

/// The one version that allowed JSON-RPC batches.
pub const BATCH_VERSION: &str = "2025-03-26";

/// The version a request without `MCP-Protocol-Version` (and with nothing
/// else to go by) is taken to speak, as the spec says.
pub const UNSTATED_VERSION: &str = "2025-03-26";

/// The first protocol version of the stateless era (no `initialize`, `_meta`
/// on every request, mirrored headers).
pub const FIRST_STATELESS_VERSION: &str = "2026-07-28";

/// The `_meta` key that carries a stateless-era request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Whether `version` belongs to the stateless era.
pub fn is_stateless(version: &str) -> bool {
    version >= FIRST_STATELESS_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn era_by_version() {
        assert!(is_stateless("2026-07-28"));
        assert!(is_stateless("2027-01-01"));
        assert!(!is_stateless("2025-11-25"));
        assert!(SESSION_VERSIONS.iter().all(|v| !is_stateless(v)));
        assert_eq!(SESSION_VERSIONS.last(), Some(&LATEST_SESSION_VERSION));
        assert_eq!(SESSION_VERSIONS.first(), Some(&BATCH_VERSION));
    }
}

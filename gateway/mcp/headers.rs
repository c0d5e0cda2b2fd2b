//! The names of the headers MCP defines, lower-case as `http` stores them.
//! What crosses the gateway in headers, each way, is the front door's
//! business (`front::headers`).

use http::HeaderName;

/// The session header.
pub const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// The protocol version header.
pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// 2026-07-28: mirrors the body's `method`.
pub const METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// 2026-07-28: mirrors `params.name` or `params.uri`.
pub const NAME: HeaderName = HeaderName::from_static("mcp-name");
/// The request id header, propagated or generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

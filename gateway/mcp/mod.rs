//! The vocabulary: what MCP messages, eras and headers are, shared by every
//! layer of the gateway and by the mock server. It imports nothing of ours.
//!
//! - [`envelope`]: the JSON-RPC envelope, the only part of a message the
//!   gateway reads;
//! - [`era`]: the protocol versions and which era each belongs to;
//! - [`headers`]: the names of the headers MCP defines;
//! - [`jsonrpc`]: error bodies and the standard codes;
//! - [`params`]: rewriting one field of `params` without parsing the rest;
//! - [`sse`]: reading the SSE bodies the gateway buffers itself.

pub mod envelope;
pub mod era;
pub mod headers;
pub mod jsonrpc;
pub mod params;
pub mod sse;

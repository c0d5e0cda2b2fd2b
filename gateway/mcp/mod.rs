//! The vocabulary: what MCP messages, eras and headers are, shared by every
//! layer of the gateway and by the mock server. It imports nothing of ours.
//!
//! - [`describe`]: a server's self-description, in either era's shape;
//! - [`envelope`]: the JSON-RPC envelope, the only part of a message the
//!   gateway reads;
//! - [`era`]: the protocol versions and which era each belongs to;
//! - [`headers`]: the names of the headers MCP defines;
//! - [`jsonrpc`]: error bodies and the standard codes;
//! - [`params`]: rewriting one field of `params` without parsing the rest;
//! - [`rewrite`]: ids, progress tokens, `_meta` and results, for an upstream
//!   that several clients (or another era) share;
//! - [`sse`]: reading the SSE bodies the gateway buffers itself.

pub mod describe;
pub mod envelope;
pub mod era;
pub mod headers;
pub mod jsonrpc;
pub mod params;
pub mod rewrite;
pub mod sse;

//! One error type for the request path, and the one table that turns it into
//! a response.
//!
//! Every stage returns [`GatewayError`]. [`GatewayError::status`] and
//! [`GatewayError::code`] below are the only place where a condition becomes
//! an HTTP status and a JSON-RPC error code, so the answers stay consistent
//! and are listed in one table in the README.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::value::RawValue;

use crate::mcp::jsonrpc;

/// Who caused an error: decides the `outcome` label on metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The request was wrong.
    Client,
    /// The upstream failed.
    Upstream,
    /// The gateway itself refused (draining, no instance).
    Gateway,
}

/// Every way the request path can fail.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No route has this path.
    #[error("no MCP endpoint at this path")]
    NoRoute,
    /// The HTTP method is not one MCP uses here.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// `Accept` does not list what the transport requires.
    #[error("Accept must include {0}")]
    NotAcceptable(&'static str),
    /// `Content-Type` is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body is over `max_body_bytes`.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(u64),
    /// The body is not JSON.
    #[error("{0}")]
    Parse(String),
    /// The body is JSON but not an acceptable JSON-RPC message.
    #[error("{0}")]
    InvalidRequest(String),
    /// 2026-07-28: a request without a required `_meta` field.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// 2026-07-28: a mirrored header is missing or does not match the body.
    #[error("header mismatch: {0}")]
    HeaderMismatch(String),
    /// 2026-07-28: a protocol version the gateway does not speak, where it
    /// answers for the server (the era bridge).
    #[error("unsupported protocol version `{0}`")]
    UnsupportedVersion(String),
    /// `Origin` not allowed, or a non-loopback `Host` on a loopback listener.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The session token did not open, belongs to another route, or names an
    /// instance this gateway no longer has.
    #[error("session not found; initialize a new session")]
    SessionNotFound,
    /// The gateway is shutting down.
    #[error("gateway is draining")]
    Draining,
    /// Every process slot is taken; retry after this many seconds.
    #[error("no capacity for a new session; retry in {0} s")]
    Overloaded(u64),
    /// Could not connect to the upstream.
    #[error("upstream unreachable: {0}")]
    UpstreamConnect(String),
    /// The upstream failed after the connection was made.
    #[error("upstream failed: {0}")]
    UpstreamFailed(String),
    /// The upstream did not answer within the backend's `timeout`.
    #[error("upstream did not answer within {0:?}")]
    UpstreamTimeout(std::time::Duration),
    /// One attempt got no response head within `attempt_timeout` (and no
    /// retry was allowed).
    #[error("upstream did not answer one attempt within {0:?}")]
    AttemptTimeout(std::time::Duration),
    /// Every instance of the backend is drained or weighted 0.
    #[error("no backend instance is taking requests")]
    NoInstance,
    /// An admin API request without the right bearer token.
    #[error("the admin API needs `Authorization: Bearer <admin_token>`")]
    Unauthorized,
    /// A route with `auth` got no credential, or one that is not good.
    #[error("authentication required: {reason}")]
    Unauthenticated {
        /// Why, in words that hold nothing of the credential.
        reason: String,
        /// The `WWW-Authenticate` challenge, naming the resource metadata.
        challenge: HeaderValue,
    },
    /// The credential is good but lacks a scope the route requires.
    #[error("insufficient scope: {reason}")]
    InsufficientScope {
        /// Which scopes are needed.
        reason: String,
        /// The `WWW-Authenticate` challenge, naming the scopes.
        challenge: HeaderValue,
    },
    /// An admin API request names a backend or instance that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An admin change was refused as a whole: a reload of an invalid config,
    /// or a split that names no usable backend.
    #[error("{0}")]
    Unprocessable(String),
    /// Over a `[[rate_limits]]` rule; the next request could pass after
    /// `retry_after`.
    #[error("rate limit `{rule}` exceeded; retry in {} ms", retry_after.as_millis().max(1))]
    RateLimited {
        /// The rule's name.
        rule: std::sync::Arc<str>,
        /// How long until the bucket has room.
        retry_after: std::time::Duration,
    },
    /// The backend has `max_in_flight` requests in flight already; a slot
    /// is likely to be free after `retry_after`.
    #[error("backend `{backend}` is at its max_in_flight; retry in {} ms", retry_after.as_millis().max(1))]
    Shed {
        /// The backend's name.
        backend: std::sync::Arc<str>,
        /// When a slot is likely to be free (see `limit::admission`).
        retry_after: std::time::Duration,
    },
}

/// Gateway-defined JSON-RPC codes, in the implementation-defined range.
pub mod codes {
    /// Refused by policy (origin, host).
    pub const FORBIDDEN: i32 = -32000;
    /// Unknown or ended session (the TypeScript SDK uses the same code).
    pub const SESSION_NOT_FOUND: i32 = -32001;
    /// The gateway is shutting down.
    pub const DRAINING: i32 = -32002;
    /// No capacity for a new session.
    pub const OVERLOADED: i32 = -32003;
    /// The upstream could not be reached or failed.
    pub const BAD_GATEWAY: i32 = -32010;
    /// The upstream did not answer in time.
    pub const GATEWAY_TIMEOUT: i32 = -32011;
    /// No instance is taking requests (all drained or weighted 0).
    pub const NO_INSTANCE: i32 = -32012;
    /// The admin API's bearer token is missing or wrong.
    pub const UNAUTHORIZED: i32 = -32004;
    /// Over a rate limit; `error.data.retryAfterMs` says when to retry.
    pub const RATE_LIMITED: i32 = -32005;
    /// A route with `auth` got no good credential (HTTP 401).
    pub const AUTHENTICATION_REQUIRED: i32 = -32006;
    /// The credential lacks a scope the route requires (HTTP 403).
    pub const INSUFFICIENT_SCOPE: i32 = -32007;
}

impl GatewayError {
    /// The error table: HTTP status and JSON-RPC code for each condition.
    pub fn status_and_code(&self) -> (StatusCode, i32) {
        use GatewayError::*;
        match self {
            NoRoute => (StatusCode::NOT_FOUND, jsonrpc::METHOD_NOT_FOUND),
            MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST),
            NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, jsonrpc::INVALID_REQUEST),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, jsonrpc::INVALID_REQUEST),
            PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, jsonrpc::INVALID_REQUEST),
            Parse(_) => (StatusCode::BAD_REQUEST, jsonrpc::PARSE_ERROR),
            InvalidRequest(_) => (StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST),
            InvalidParams(_) => (StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS),
            HeaderMismatch(_) => (StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH),
            UnsupportedVersion(_) => (StatusCode::BAD_REQUEST, jsonrpc::UNSUPPORTED_VERSION),
            Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            SessionNotFound => (StatusCode::NOT_FOUND, codes::SESSION_NOT_FOUND),
            Draining => (StatusCode::SERVICE_UNAVAILABLE, codes::DRAINING),
            Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::OVERLOADED),
            UpstreamConnect(_) | UpstreamFailed(_) => (StatusCode::BAD_GATEWAY, codes::BAD_GATEWAY),
            UpstreamTimeout(_) | AttemptTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, codes::GATEWAY_TIMEOUT),
            NoInstance => (StatusCode::SERVICE_UNAVAILABLE, codes::NO_INSTANCE),
            Unauthorized => (StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED),
            Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, codes::AUTHENTICATION_REQUIRED),
            InsufficientScope { .. } => (StatusCode::FORBIDDEN, codes::INSUFFICIENT_SCOPE),
            NotFound(_) => (StatusCode::NOT_FOUND, jsonrpc::METHOD_NOT_FOUND),
            Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, jsonrpc::INVALID_PARAMS),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            Shed { .. } => (StatusCode::SERVICE_UNAVAILABLE, codes::OVERLOADED),
        }
    }

    /// Who caused it.
    pub fn origin(&self) -> Origin {
        use GatewayError::*;
        match self {
            UpstreamConnect(_) | UpstreamFailed(_) | UpstreamTimeout(_) | AttemptTimeout(_) => Origin::Upstream,
            Draining | NoInstance | Overloaded(_) | Shed { .. } => Origin::Gateway,
            _ => Origin::Client,
        }
    }

    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        use GatewayError::*;
        match self {
            NoRoute => "no_route",
            MethodNotAllowed(_) => "method_not_allowed",
            NotAcceptable(_) => "not_acceptable",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge(_) => "payload_too_large",
            Parse(_) => "parse_error",
            InvalidRequest(_) => "invalid_request",
            InvalidParams(_) => "invalid_params",
            HeaderMismatch(_) => "header_mismatch",
            UnsupportedVersion(_) => "unsupported_version",
            Forbidden(_) => "forbidden",
            SessionNotFound => "session_not_found",
            Draining => "draining",
            Overloaded(_) => "overloaded",
            UpstreamConnect(_) => "connect",
            UpstreamFailed(_) => "upstream_failed",
            UpstreamTimeout(_) => "timeout",
            AttemptTimeout(_) => "attempt_timeout",
            NoInstance => "no_instance",
            Unauthorized => "unauthorized",
            Unauthenticated { .. } => "unauthenticated",
            InsufficientScope { .. } => "insufficient_scope",
            NotFound(_) => "not_found",
            Unprocessable(_) => "unprocessable",
            RateLimited { .. } => "rate_limited",
            Shed { .. } => "shed",
        }
    }

    /// The response: the table's status, and a JSON-RPC error body that echoes
    /// the request's id when it is known.
    pub fn into_response(&self, id: Option<&RawValue>) -> Response<Bytes> {
        let (status, code) = self.status_and_code();
        let data = match self {
            GatewayError::RateLimited { rule, retry_after } => Some(serde_json::json!({
                "retryAfterMs": retry_after.as_millis().max(1) as u64,
                "rule": &**rule,
            })),
            GatewayError::UnsupportedVersion(requested) => Some(serde_json::json!({
                "supported": [crate::mcp::era::FIRST_STATELESS_VERSION],
                "requested": requested,
            })),
            GatewayError::Shed { backend, retry_after } => Some(serde_json::json!({
                "retryAfterMs": retry_after.as_millis().max(1) as u64,
                "backend": &**backend,
            })),
            _ => None,
        };
        let body = jsonrpc::error_body_with_data(id, code, &self.to_string(), data.as_ref());
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let GatewayError::MethodNotAllowed(allow) = self {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        let retry_after = match self {
            GatewayError::Overloaded(secs) => Some(*secs),
            // Whole seconds, as HTTP wants, rounded up, so that a client
            // that honours it is not refused again; `retryAfterMs` has the
            // finer number.
            GatewayError::RateLimited { retry_after, .. } | GatewayError::Shed { retry_after, .. } => {
                Some(retry_after.as_millis().div_ceil(1000).max(1) as u64)
            }
            _ => None,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        match self {
            GatewayError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            GatewayError::Unauthenticated { challenge, .. } | GatewayError::InsufficientScope { challenge, .. } => {
                headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
            }
            _ => {}
        }
        response
    }
}

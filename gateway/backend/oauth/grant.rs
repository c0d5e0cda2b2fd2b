//! The client-credentials exchange on the wire (RFC 6749 §4.4 and §5): the
//! form the gateway posts to the token endpoint, and what it accepts back.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use serde_json::Value;

use super::{Fetch, FetchFuture, TokenError};
use crate::backend::HttpClient;
use crate::config;
use crate::error::GatewayError;

/// How long one exchange with the token endpoint may take, connection and
/// answer included: a token endpoint that hangs fails the requests waiting
/// on it with a 502 instead of holding them to their own deadline.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The lifetime assumed when the answer has no `expires_in` (RFC 6749 only
/// recommends it): short enough that a revoked token is not used for long.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime believed: a token is refreshed at least daily, and
/// no instant arithmetic can overflow on a server's `expires_in`.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Most bytes of a token endpoint's answer read.
const MAX_ANSWER: usize = 64 << 10;

/// A token the endpoint issued.
pub struct Grant {
    /// The `access_token`, checked to be a valid header value.
    pub access_token: String,
    /// How long it is good for, from when it was asked for.
    pub lifetime: Duration,
}

/// The request to the token endpoint, built once at load: every fetch sends
/// the same bytes.
pub struct TokenRequest {
    uri: Uri,
    body: Bytes,
    /// `Authorization: Basic …` for `client_secret_basic`.
    basic: Option<HeaderValue>,
}

/// Fetches tokens over a backend's pooled client, with its TLS settings.
pub struct HttpFetch {
    /// The backend's client: the same roots (and client certificate).
    pub client: HttpClient,
    /// What to send.
    pub request: TokenRequest,
}

/// The fields of a token response the gateway reads.
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<Value>,
}

// === impl TokenRequest ===

impl TokenRequest {
    /// The request `cfg` describes.
    pub fn new(cfg: &config::OAuth) -> Self {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !cfg.scopes.is_empty() {
            form.push(("scope", cfg.scopes.join(" ")));
        }
        if let Some(audience) = &cfg.audience {
            form.push(("audience", audience.clone()));
            form.push(("resource", audience.clone()));
        }
        let basic = match cfg.auth_method {
            config::AuthMethod::Basic => {
                // RFC 6749 §2.3.1: the id and secret are form-encoded before
                // they are joined and base64-encoded.
                let pair = format!("{}:{}", form_encode(&cfg.client_id), form_encode(&cfg.client_secret));
                let mut value =
                    HeaderValue::from_str(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
                        .ok();
                if let Some(v) = &mut value {
                    v.set_sensitive(true);
                }
                value
            }
            config::AuthMethod::Post => {
                form.push(("client_id", cfg.client_id.clone()));
                form.push(("client_secret", cfg.client_secret.clone()));
                None
            }
        };
        let body = form.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect::<Vec<_>>().join("&");
        Self { uri: cfg.token_url.0.clone(), body: Bytes::from(body), basic }
    }

    /// The token endpoint, for messages.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    fn to_http(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION"))));
        if let Some(basic) = &self.basic {
            headers.insert(header::AUTHORIZATION, basic.clone());
        }
        req
    }
}

// === impl HttpFetch ===

impl Fetch for HttpFetch {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let exchange = async {
                let resp = self.client.send(self.request.to_http()).await.map_err(|e| match e {
                    GatewayError::UpstreamConnect(m) | GatewayError::UpstreamFailed(m) => TokenError::Unreachable(m),
                    other => TokenError::Unreachable(other.to_string()),
                })?;
                let status = resp.status();
                let body = Limited::new(resp.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|e| TokenError::BadResponse(format!("reading it: {e}")))?
                    .to_bytes();
                parse(status, &body)
            };
            tokio::time::timeout(FETCH_TIMEOUT, exchange).await.unwrap_or(Err(TokenError::Timeout(FETCH_TIMEOUT)))
        })
    }
}

/// Reads a token endpoint's answer: a 2xx JSON object with a non-empty
/// `access_token`, `token_type` Bearer (in any case), and an `expires_in`
/// that, when present, is a positive number of seconds (a string of digits
/// is taken too: some servers send one).
pub fn parse(status: StatusCode, body: &[u8]) -> Result<Grant, TokenError> {
    if !status.is_success() {
        return Err(TokenError::Refused { status: status.as_u16(), detail: error_detail(body) });
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| TokenError::BadResponse(format!("not a JSON token response: {e}")))?;
    let access_token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::BadResponse("no access_token".into()))?;
    // Checked here, so that a bad token fails its fetch, not every request.
    if HeaderValue::from_str(&access_token).is_err() || access_token.contains(' ') {
        return Err(TokenError::BadResponse("access_token is not a valid header value".into()));
    }
    match answer.token_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        Some(other) => {
            return Err(TokenError::BadResponse(format!("token_type `{}` is not Bearer", printable(other))));
        }
        None => return Err(TokenError::BadResponse("no token_type".into())),
    }
    let seconds = match &answer.expires_in {
        None | Some(Value::Null) => return Ok(Grant { access_token, lifetime: DEFAULT_LIFETIME }),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<f64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if s >= 1.0 => {
            Ok(Grant { access_token, lifetime: Duration::from_secs_f64(s.min(MAX_LIFETIME.as_secs_f64())) })
        }
        Some(_) => Err(TokenError::BadResponse("expires_in is under one second: the token is already spent".into())),
        None => Err(TokenError::BadResponse("expires_in is not a number of seconds".into())),
    }
}

/// `error` and `error_description` of an RFC 6749 §5.2 error answer, for
/// the message; the body itself is never quoted, whatever it holds.
fn error_detail(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return String::new() };
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(printable);
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!(": {e} ({d})"),
        (Some(e), None) => format!(": {e}"),
        _ => String::new(),
    }
}

/// At most 200 printable characters of a string a server sent.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// `application/x-www-form-urlencoded` encoding of one name or value: the
/// WHATWG set, with space as `+`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[path = "grant_tests.rs"]
mod tests;

//! OAuth 2.1 client-credentials tokens the gateway fetches for a backend,
//! and keeps fresh.
//!
//! Why the gateway has a token of its own: the MCP authorization spec forbids
//! passing the client's token through (the client's `Authorization` is
//! always stripped, see `front::headers`), and a server that checks the
//! audience of its tokens wants one minted for it. The [`TokenSource`] holds
//! one token per backend, sent as `Authorization: Bearer` on every request
//! to its instances: the client's, the health probes', the cancellations.
//!
//! - **One fetch at a time.** Requests that find no usable token wait for
//!   one fetch; they do not each ask. The fetch runs in a task of its own,
//!   so a request that gives up waiting does not cancel it for the others.
//! - **Refresh before expiry.** A token is due for refresh at 80% of its
//!   life or 30 s before it expires, whichever is sooner (see
//!   [`timing::refresh_after`]). The request that finds it due still uses
//!   it, and starts the refresh in the background: no request waits for a
//!   refresh while the old token is good.
//! - **Backoff.** After a failed fetch, requests that have no usable token
//!   fail at once with a 502 naming the backend and the token endpoint
//!   (never the secret) until a jittered, doubling delay has passed
//!   ([`timing::backoff`]): a token endpoint that is down is not asked
//!   again by every request.
//! - **401.** An instance that answers 401 has refused the token: it is
//!   dropped, and the request is sent once more with a new one (a 401 means
//!   the server did not act on the request, so sending it again is safe
//!   whatever the method). Tokens refused one after another, none accepted
//!   in between, are backed off like failed fetches, so a server that
//!   refuses every token does not make the gateway hammer the token
//!   endpoint. A token that instances accepted in the last
//!   [`ODD_ONE_OUT`] is kept: the instance that refuses it is the odd one
//!   out, not the token.

mod grant;
mod timing;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{HeaderValue, StatusCode};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

pub use grant::{FETCH_TIMEOUT, Grant, HttpFetch, TokenRequest};
use timing::Freshness;

use crate::error::GatewayError;

/// A token that instances accepted this recently is not dropped for one
/// instance's 401.
pub const ODD_ONE_OUT: Duration = Duration::from_secs(10);

/// What a fetch of a token returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Grant, TokenError>> + Send + 'a>>;

/// Gets a new token: [`HttpFetch`] from a token endpoint, or a stand-in in
/// tests, which drive the [`TokenSource`] on paused time without sockets.
pub trait Fetch: Send + Sync + 'static {
    /// One exchange with the token endpoint.
    fn fetch(&self) -> FetchFuture<'_>;
}

/// Why a backend has no token to send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The exchange with the token endpoint failed (connection, TLS, reset).
    #[error("cannot reach the token endpoint: {0}")]
    Unreachable(String),
    /// The token endpoint did not answer within [`FETCH_TIMEOUT`].
    #[error("the token endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// The token endpoint answered with an error status.
    #[error("the token endpoint answered {status}{detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `: error (error_description)`, when the answer had them.
        detail: String,
    },
    /// The answer was not a usable token response.
    #[error("bad token response: {0}")]
    BadResponse(String),
    /// The backend answered 401 to the tokens fetched one after another.
    #[error("the backend refused the tokens it was sent (401)")]
    Rejected,
}

/// A backend's token, fetched when needed and kept fresh.
pub struct TokenSource {
    /// The backend's name, for messages and logs.
    backend: Arc<str>,
    /// The token endpoint, for messages and logs.
    endpoint: Arc<str>,
    /// How a new token is got.
    fetch: Box<dyn Fetch>,
    /// The token in use; swapped only while `flight` is held, read without
    /// a lock on every request.
    current: ArcSwapOption<Token>,
    /// Held by the one fetch under way, which makes every other request
    /// that needs a token wait for it; also the backoff state.
    flight: Arc<Mutex<Flight>>,
}

/// One token, as sent upstream.
pub struct Token {
    /// `Bearer …`, marked sensitive so that no header dump shows it.
    header: HeaderValue,
    /// When it was asked for: its lifetime counts from then.
    fetched_at: Instant,
    /// When it is due for refresh.
    refresh_at: Instant,
    /// When it expires.
    expires_at: Instant,
    /// Whether an instance has answered a request sent with it with
    /// anything but 401.
    accepted: AtomicBool,
}

/// The backoff state, guarded by the fetch lock.
#[derive(Default)]
struct Flight {
    /// Failed fetches in a row.
    failures: u32,
    /// Tokens refused in a row, none accepted in between.
    rejections: u32,
    /// No fetch before this.
    not_before: Option<Instant>,
    /// Why the last fetch failed, or why tokens are held off; the answer to
    /// requests that come during the backoff.
    last_error: Option<TokenError>,
}

// === impl TokenSource ===

impl TokenSource {
    /// A source for `backend`'s tokens from `endpoint`, with no token yet:
    /// the first request fetches one.
    pub fn new(backend: &str, endpoint: &str, fetch: Box<dyn Fetch>) -> Self {
        Self {
            backend: backend.into(),
            endpoint: endpoint.into(),
            fetch,
            current: ArcSwapOption::empty(),
            flight: Arc::new(Mutex::new(Flight::default())),
        }
    }

    /// A usable token: the cached one, or a new one after waiting for the
    /// fetch. Fails at once while the token endpoint is backed off.
    pub async fn token(self: &Arc<Self>) -> Result<Arc<Token>, GatewayError> {
        if let Some(token) = self.current.load_full() {
            match token.freshness(Instant::now()) {
                Freshness::Fresh => return Ok(token),
                Freshness::Stale => {
                    self.refresh_in_background();
                    return Ok(token);
                }
                Freshness::Expired => {}
            }
        }
        let flight = self.flight.clone().lock_owned().await;
        // The fetch this request waited behind may have brought one.
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        if let Some(e) = flight.held_off(Instant::now()) {
            return Err(self.error(e));
        }
        let this = self.clone();
        tokio::spawn(async move { this.fetch_under(flight).await }).await.map_err(|e| {
            GatewayError::UpstreamFailed(format!("backend `{}`: the token fetch failed: {e}", self.backend))
        })?
    }

    /// Reports how an instance answered a request sent with `token`.
    /// Returns whether a new token will be fetched for the next request, so
    /// that a request refused with 401 is worth sending again.
    pub async fn observe(&self, token: &Arc<Token>, status: StatusCode) -> bool {
        if status != StatusCode::UNAUTHORIZED {
            if !token.accepted.load(Ordering::Relaxed) {
                token.accepted.store(true, Ordering::Relaxed);
            }
            return false;
        }
        let mut flight = self.flight.lock().await;
        let now = Instant::now();
        let is_current = self.current.load_full().is_some_and(|c| Arc::ptr_eq(&c, token));
        if !is_current {
            // Dropped already, by another request's 401: a new one is on
            // its way or here.
            return true;
        }
        let accepted = token.accepted.load(Ordering::Relaxed);
        if accepted && now < token.fetched_at + ODD_ONE_OUT {
            tracing::warn!(backend = %self.backend, "an instance refused the OAuth token that others accept");
            return false;
        }
        self.current.store(None);
        flight.rejections = if accepted { 1 } else { flight.rejections + 1 };
        let wait = timing::backoff(flight.rejections - 1, rand::random());
        if !wait.is_zero() {
            flight.not_before = Some(now + wait);
            flight.last_error = Some(TokenError::Rejected);
        }
        tracing::warn!(
            backend = %self.backend,
            token_url = %self.endpoint,
            in_a_row = flight.rejections,
            next_fetch_in = ?wait,
            "the backend refused its OAuth token; fetching a new one",
        );
        true
    }

    /// The current token, unless it has expired.
    fn usable(&self) -> Option<Arc<Token>> {
        self.current.load_full().filter(|t| t.freshness(Instant::now()) != Freshness::Expired)
    }

    /// Starts a refresh of a token that is due, unless a fetch is under way
    /// or backed off.
    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(flight) = self.flight.clone().try_lock_owned() else { return };
        let now = Instant::now();
        let due = self.current.load_full().is_none_or(|t| t.freshness(now) != Freshness::Fresh);
        if !due || flight.held_off(now).is_some() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            // A failure is logged and backed off in `fetch_under`; the old
            // token serves until it expires.
            let _ = this.fetch_under(flight).await;
        });
    }

    /// Fetches a token while holding the fetch lock, and records the outcome.
    async fn fetch_under(self: Arc<Self>, mut flight: OwnedMutexGuard<Flight>) -> Result<Arc<Token>, GatewayError> {
        let asked = Instant::now();
        let result = self.fetch.fetch().await.and_then(|grant| Token::new(&grant, asked));
        match result {
            Ok(token) => {
                let token = Arc::new(token);
                flight.failures = 0;
                flight.not_before = None;
                flight.last_error = None;
                self.current.store(Some(token.clone()));
                tracing::debug!(
                    backend = %self.backend,
                    token_url = %self.endpoint,
                    expires_in = ?token.expires_at - asked,
                    "fetched an OAuth token",
                );
                Ok(token)
            }
            Err(e) => {
                flight.failures += 1;
                let wait = timing::backoff(flight.failures, rand::random());
                flight.not_before = Some(Instant::now() + wait);
                tracing::warn!(
                    backend = %self.backend,
                    token_url = %self.endpoint,
                    error = %e,
                    next_fetch_in = ?wait,
                    "OAuth token fetch failed",
                );
                let answer = self.error(&e);
                flight.last_error = Some(e);
                Err(answer)
            }
        }
    }

    /// The client's answer when there is no token: a 502 that names the
    /// backend and the token endpoint, and never the secret.
    fn error(&self, e: &TokenError) -> GatewayError {
        GatewayError::UpstreamFailed(format!("backend `{}`: no OAuth token from {}: {e}", self.backend, self.endpoint))
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource").field("backend", &self.backend).field("endpoint", &self.endpoint).finish()
    }
}

// === impl Flight ===

impl Flight {
    /// The error to answer with while fetches are backed off at `now`.
    fn held_off(&self, now: Instant) -> Option<&TokenError> {
        self.not_before.filter(|t| now < *t).and(self.last_error.as_ref())
    }
}

// === impl Token ===

impl Token {
    fn new(grant: &Grant, asked: Instant) -> Result<Self, TokenError> {
        let mut header = HeaderValue::from_str(&format!("Bearer {}", grant.access_token))
            .map_err(|_| TokenError::BadResponse("access_token is not a valid header value".into()))?;
        header.set_sensitive(true);
        Ok(Self {
            header,
            fetched_at: asked,
            refresh_at: asked + timing::refresh_after(grant.lifetime),
            expires_at: asked + grant.lifetime,
            accepted: AtomicBool::new(false),
        })
    }

    /// `Bearer <token>`, for the `Authorization` header.
    pub fn header(&self) -> &HeaderValue {
        &self.header
    }

    fn freshness(&self, now: Instant) -> Freshness {
        timing::freshness(now, self.refresh_at, self.expires_at)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself.
        f.debug_struct("Token").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

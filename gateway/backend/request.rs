//! The request the backend's stack carries, and what rides with it: the
//! policy the front decided for the call, and the instances its attempts
//! went to. The innermost service owns these types so that every layer
//! above it can name them without naming the stack that composes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::time::Instant;

use crate::table::Instance;

/// A request on its way to a backend.
pub struct UpstreamRequest {
    /// The HTTP request; its URI is replaced with the chosen instance's.
    pub http: Request<Full<Bytes>>,
    /// The instance it goes to: set by the front for a pinned session, by
    /// the balancer otherwise.
    pub instance: Option<Arc<Instance>>,
    /// What the front learned about the call that the stack needs.
    pub policy: CallPolicy,
    /// When the whole request must be over; set by the deadline layer.
    pub deadline: Option<Instant>,
    /// The instances its attempts went to, shared by every attempt's copy so
    /// that a retry can avoid them and the front can learn where a new
    /// session landed.
    pub tried: Option<Arc<Tried>>,
}

/// What the stack needs to know about a call, decided once by the front
/// from the validated envelope ([`Backend::policy`](super::Backend::policy)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPolicy {
    /// The overall deadline: the backend's `timeout`, or its override for
    /// this method.
    pub timeout: Duration,
    /// Whether sending it twice is harmless, so that a 5xx, a reset or an
    /// attempt timeout may be retried (see [`crate::retry`]).
    pub replay_safe: bool,
    /// Whether the deadline also bounds the response body (a POST other
    /// than `subscriptions/listen`) or only its head (GET streams, DELETE,
    /// subscriptions).
    pub bound_body: bool,
}

/// The instances a request's attempts went to.
#[derive(Debug)]
pub struct Tried {
    /// Bit `i % 64` is set once instance `i` was tried.
    mask: AtomicU64,
    /// The instance of the latest attempt (`usize::MAX` before the first).
    last: AtomicUsize,
}

// === impl UpstreamRequest ===

impl UpstreamRequest {
    /// A request the stack has not touched yet.
    pub fn new(http: Request<Full<Bytes>>, instance: Option<Arc<Instance>>, policy: CallPolicy) -> Self {
        Self { http, instance, policy, deadline: None, tried: None }
    }

    /// A copy for another attempt. The body is `Full<Bytes>`, so this copies
    /// headers and bumps reference counts, nothing more.
    pub fn clone_for_retry(&self) -> Self {
        Self {
            http: copy_http(&self.http),
            instance: self.instance.clone(),
            policy: self.policy,
            deadline: self.deadline,
            tried: self.tried.clone(),
        }
    }
}

/// A copy of a request with a `Full` body: method, URI, version, headers
/// and body (its bytes shared, not copied); no extensions.
pub(crate) fn copy_http(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut http = Request::new(req.body().clone());
    *http.method_mut() = req.method().clone();
    *http.uri_mut() = req.uri().clone();
    *http.version_mut() = req.version();
    *http.headers_mut() = req.headers().clone();
    http
}

// === impl Tried ===

impl Default for Tried {
    fn default() -> Self {
        Self { mask: AtomicU64::new(0), last: AtomicUsize::new(usize::MAX) }
    }
}

impl Tried {
    /// Records an attempt on instance `index`.
    pub fn record(&self, index: usize) {
        self.mask.fetch_or(1 << (index % 64), Ordering::Relaxed);
        self.last.store(index, Ordering::Relaxed);
    }

    /// Whether instance `index` was tried.
    pub fn contains(&self, index: usize) -> bool {
        self.mask.load(Ordering::Relaxed) & (1 << (index % 64)) != 0
    }

    /// The instance of the latest attempt.
    pub fn last(&self) -> Option<usize> {
        Some(self.last.load(Ordering::Relaxed)).filter(|i| *i != usize::MAX)
    }
}

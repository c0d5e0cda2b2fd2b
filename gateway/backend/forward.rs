//! The last layer of the stack: one attempt on one instance.
//!
//! It sends the request to the instance the balancer (or the session)
//! chose, bounded by the backend's `attempt_timeout`, and reports the
//! outcome to passive outlier detection: a connection error, a 5xx or a
//! timeout is a failure, any other answer a success. The response body
//! carries a [`Load`] guard, so the instance counts the request in flight
//! until the body's last byte. A backend with `oauth` gets its token on
//! the request here, after the front has stripped the client's own
//! `Authorization`, so every route to it (a plain one, an aggregated one's
//! member) sends it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::Service;

use super::Backend;
use super::oauth::TokenSource;
use super::request::copy_http;
use crate::backend::UpstreamRequest;
use crate::error::GatewayError;
use crate::table::Instance;
use crate::table::Load;

/// Sends one attempt with the backend's pooled client.
#[derive(Clone)]
pub struct Forward {
    backend: Arc<Backend>,
}

/// An upstream response body that counts as load on its instance until it
/// ends or is dropped.
pub struct TrackedBody {
    inner: Incoming,
    load: Load,
}

impl Forward {
    /// The instance layer of `backend`.
    pub fn new(backend: Arc<Backend>) -> Self {
        Self { backend }
    }
}

impl Service<UpstreamRequest> for Forward {
    type Response = Response<TrackedBody>;
    type Error = GatewayError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, GatewayError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: UpstreamRequest) -> Self::Future {
        let backend = self.backend.clone();
        Box::pin(async move {
            let Some(instance) = req.instance else { return Err(GatewayError::NoInstance) };
            let mut http = req.http;
            *http.uri_mut() = target_uri(instance.url(), http.uri());
            match backend.oauth.clone() {
                None => attempt(&backend, &instance, http, req.deadline).await,
                Some(oauth) => with_token(&oauth, &backend, &instance, http, req.deadline).await,
            }
        })
    }
}

/// An attempt with the backend's OAuth token, sent once more with a new
/// token when the instance refuses the first with 401 (a 401 means the
/// server did not act on the request, so that is safe for any method). The
/// token is got before the attempt starts, so a failing token endpoint
/// counts against no instance. A 401 that stands becomes a 502: the client
/// cannot fix the gateway's token, and a 401 would send it to authorize
/// with the instance's authorization server.
async fn with_token(
    oauth: &Arc<TokenSource>,
    backend: &Backend,
    instance: &Instance,
    mut http: Request<Full<Bytes>>,
    deadline: Option<Instant>,
) -> Result<Response<TrackedBody>, GatewayError> {
    let token = oauth.token().await?;
    let again = copy_http(&http);
    http.headers_mut().insert(header::AUTHORIZATION, token.header().clone());
    let mut resp = attempt(backend, instance, http, deadline).await?;
    if oauth.observe(&token, resp.status()).await {
        drop(resp);
        let token = oauth.token().await?;
        let mut http = again;
        http.headers_mut().insert(header::AUTHORIZATION, token.header().clone());
        resp = attempt(backend, instance, http, deadline).await?;
        oauth.observe(&token, resp.status()).await;
    }
    if resp.status() == StatusCode::UNAUTHORIZED {
        return Err(GatewayError::UpstreamFailed(format!(
            "backend `{}` refused the gateway's OAuth token (401)",
            backend.name
        )));
    }
    Ok(resp)
}

/// One attempt on `instance`, bounded by the backend's `attempt_timeout`,
/// with its outcome reported to outlier detection.
async fn attempt(
    backend: &Backend,
    instance: &Instance,
    http: Request<Full<Bytes>>,
    deadline: Option<Instant>,
) -> Result<Response<TrackedBody>, GatewayError> {
    let load = instance.record.start();
    let started = Instant::now();
    let mut watch = Watch { backend, instance, deadline, armed: true };
    let sent = backend.client.send(http);
    let result = match backend.attempt_timeout {
        Some(limit) => tokio::time::timeout(limit, sent).await.unwrap_or(Err(GatewayError::AttemptTimeout(limit))),
        None => sent.await,
    };
    watch.armed = false;
    match result {
        Ok(resp) => {
            instance.record.observe_latency(started.elapsed());
            if resp.status().is_server_error() {
                backend.outlier.failure(&backend.instances, instance, resp.status().as_str());
            } else {
                backend.outlier.success(instance);
            }
            Ok(resp.map(|inner| TrackedBody { inner, load }))
        }
        Err(e) => {
            backend.outlier.failure(&backend.instances, instance, e.kind());
            Err(e)
        }
    }
}

/// Counts an attempt dropped at the overall deadline as a timeout of its
/// instance. An attempt dropped earlier (the client went away) says nothing
/// about the instance and counts for nothing.
struct Watch<'a> {
    backend: &'a Backend,
    instance: &'a Instance,
    deadline: Option<Instant>,
    armed: bool,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if self.armed && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.backend.outlier.failure(&self.backend.instances, self.instance, "deadline");
        }
    }
}

/// The instance URL, keeping the client's query string when it sent one.
fn target_uri(instance: &Uri, client: &Uri) -> Uri {
    match client.query() {
        None => instance.clone(),
        Some(q) => {
            let mut parts = instance.clone().into_parts();
            let path = instance.path();
            let joined = match instance.query() {
                Some(own) => format!("{path}?{own}&{q}"),
                None => format!("{path}?{q}"),
            };
            parts.path_and_query = joined.parse().ok();
            Uri::from_parts(parts).unwrap_or_else(|_| instance.clone())
        }
    }
}

// === impl TrackedBody ===

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            // Over: stop counting it now rather than when the client's
            // connection gets round to dropping the body.
            this.load = Load::none();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! The one place the per-backend policy stack is composed, in request order.
//!
//! ```text
//! deadline (backend `timeout`) → pick (pinned instance, or first healthy) → forward (pooled client)
//! ```
//!
//! Later stages (rate limit, cache, retry, balance) slot in here, each a tower
//! layer, so a newcomer reads this one function to see where a request goes.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use crate::backend::{Backend, Instance, UpstreamBody};
use crate::error::GatewayError;

/// A request on its way to a backend.
pub struct UpstreamRequest {
    /// The HTTP request; its URI is replaced with the chosen instance's.
    pub http: Request<Full<Bytes>>,
    /// The instance a session is pinned to; `None` lets the stack choose.
    pub pinned: Option<Arc<Instance>>,
}

/// The type-erased per-backend service.
pub type BackendService = BoxCloneSyncService<UpstreamRequest, Response<UpstreamBody>, GatewayError>;

/// Composes the stack for one backend.
pub fn build(backend: Arc<Backend>) -> BackendService {
    let timeout = backend.timeout;
    let svc = ServiceBuilder::new()
        .map_err(move |e: BoxError| deadline_error(e, timeout))
        .timeout(timeout)
        .service(Forward { backend });
    BoxCloneSyncService::new(svc)
}

/// Turns tower's boxed errors back into ours: `Elapsed` is the deadline.
fn deadline_error(e: BoxError, timeout: std::time::Duration) -> GatewayError {
    match e.downcast::<GatewayError>() {
        Ok(e) => *e,
        Err(e) if e.is::<tower::timeout::error::Elapsed>() => GatewayError::UpstreamTimeout(timeout),
        Err(e) => GatewayError::UpstreamFailed(e.to_string()),
    }
}

/// Picks the instance and sends the request with the backend's pooled client,
/// recording passive health on the instance.
#[derive(Clone)]
struct Forward {
    backend: Arc<Backend>,
}

impl Service<UpstreamRequest> for Forward {
    type Response = Response<UpstreamBody>;
    type Error = GatewayError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, GatewayError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: UpstreamRequest) -> Self::Future {
        let instance = req.pinned.unwrap_or_else(|| self.backend.pick().clone());
        let client = self.backend.client.clone();
        let mut http = req.http;
        *http.uri_mut() = target_uri(instance.url(), http.uri());
        Box::pin(async move {
            match client.send(http).await {
                Ok(resp) => {
                    instance.mark_up();
                    Ok(resp)
                }
                Err(e) => {
                    if let GatewayError::UpstreamConnect(why) = &e {
                        instance.mark_down(why);
                    }
                    Err(e)
                }
            }
        })
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

/// Sends through a stack built by [`build`].
pub async fn call(svc: &BackendService, req: UpstreamRequest) -> Result<Response<UpstreamBody>, GatewayError> {
    svc.clone().oneshot(req).await
}

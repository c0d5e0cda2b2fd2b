use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use super::*;
use crate::config;

/// A body fed by the test through a channel.
struct Fed(mpsc::Receiver<Bytes>);

impl Body for Fed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// The backend, and the stack that decides its calls' policy.
fn backend() -> (Arc<Backend>, crate::stack::Stack) {
    let url: http::Uri = "http://127.0.0.1:9/mcp".parse().unwrap();
    let mut timeouts = BTreeMap::new();
    timeouts.insert("tools/call".to_string(), config::units::Duration::secs(4));
    let cfg = config::Backend {
        instances: vec![config::Instance { url: config::InstanceUrl(url), weight: 1 }],
        timeout: config::units::Duration::secs(2),
        timeouts,
        ..Default::default()
    };
    let b = Arc::new(Backend::build(&cfg).unwrap());
    (b.clone(), crate::stack::build(b, &cfg))
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"slow"}}"#;

/// Runs one request through the deadline layer over an upstream that
/// answers with `content_type` after `head_after`, and returns the response
/// and the sender that feeds its body.
async fn exchange(
    method: Method,
    rpc_method: &str,
    content_type: &'static str,
    head_after: Duration,
) -> (Result<Response<DeadlineBody<Fed>>, GatewayError>, mpsc::Sender<Bytes>) {
    let (b, stack) = backend();
    let (tx, rx) = mpsc::channel(8);
    let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
    let inner = tower::service_fn(move |_req: UpstreamRequest| {
        let rx = rx.lock().unwrap().take().unwrap();
        async move {
            tokio::time::sleep(head_after).await;
            let mut resp = Response::new(Fed(rx));
            resp.headers_mut().insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
            Ok::<_, GatewayError>(resp)
        }
    });
    let svc = DeadlineLayer::new(b.clone()).layer(inner);
    let mut http = Request::new(Full::new(Bytes::from_static(CALL.as_bytes())));
    *http.method_mut() = method.clone();
    let policy = stack.policy(rpc_method, Some("slow"), method == Method::POST);
    (svc.oneshot(UpstreamRequest::new(http, None, policy)).await, tx)
}

#[tokio::test(start_paused = true)]
async fn no_head_by_the_deadline_is_a_timeout_at_the_deadline() {
    let started = Instant::now();
    let (resp, _tx) = exchange(Method::POST, "tools/list", "application/json", Duration::from_secs(60)).await;
    assert!(matches!(resp, Err(GatewayError::UpstreamTimeout(d)) if d == Duration::from_secs(2)));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn per_method_override_applies() {
    let started = Instant::now();
    let (resp, _tx) = exchange(Method::POST, "tools/call", "application/json", Duration::from_secs(60)).await;
    assert!(matches!(resp, Err(GatewayError::UpstreamTimeout(d)) if d == Duration::from_secs(4)));
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn an_open_sse_stream_gets_an_error_event_and_ends_at_the_deadline() {
    let started = Instant::now();
    let (resp, tx) = exchange(Method::POST, "tools/list", "text/event-stream", Duration::from_millis(500)).await;
    let mut body = resp.unwrap().into_body();
    tx.send(Bytes::from_static(b"event: message\ndata: {\"progress\":1}\n\n")).await.unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"event: message"));
    let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let text = std::str::from_utf8(&last).unwrap();
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let error: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["id"], "call-7");
    assert_eq!(error["error"]["code"], -32011);
    assert!(body.frame().await.is_none(), "the stream ends after the error event");
    assert!(tx.is_closed(), "the upstream stream is dropped, which cancels it in the stateless era");
}

#[tokio::test(start_paused = true)]
async fn an_open_json_body_ends_in_an_error_at_the_deadline() {
    let (resp, _tx) = exchange(Method::POST, "tools/list", "application/json", Duration::ZERO).await;
    let mut body = resp.unwrap().into_body();
    assert!(body.frame().await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_body_that_ends_in_time_is_untouched() {
    let (resp, tx) = exchange(Method::POST, "tools/list", "text/event-stream", Duration::ZERO).await;
    tx.send(Bytes::from_static(b"data: {}\n\n")).await.unwrap();
    drop(tx);
    let all = resp.unwrap().into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&all[..], b"data: {}\n\n");
}

#[tokio::test(start_paused = true)]
async fn get_streams_and_subscriptions_are_bounded_only_to_their_head() {
    for (method, rpc) in [(Method::GET, "GET"), (Method::POST, "subscriptions/listen")] {
        let (resp, _tx) = exchange(method, rpc, "text/event-stream", Duration::from_millis(100)).await;
        let mut body = resp.unwrap().into_body();
        let waited = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
        assert!(waited.is_err(), "{rpc}: the stream must stay open past the deadline");
    }
}

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::time::Instant;
use tower::ServiceExt;

use super::*;
use crate::backend::UpstreamRequest;
use crate::config;

/// A backend, the retry policy its stack would hold, and that stack (which
/// decides what is replay-safe).
struct Fixture {
    backend: Arc<Backend>,
    policy: Arc<Policy>,
    stack: crate::stack::Stack,
}

fn backend(retry: config::Retry) -> Fixture {
    let url: http::Uri = "http://127.0.0.1:9/mcp".parse().unwrap();
    let cfg = config::Backend {
        instances: vec![config::Instance { url: config::InstanceUrl(url), weight: 1 }],
        retry,
        ..Default::default()
    };
    let backend = Arc::new(Backend::build(&cfg).unwrap());
    let stack = crate::stack::build(backend.clone(), &cfg);
    Fixture { policy: Arc::new(Policy::new(&cfg.retry)), backend, stack }
}

fn retry_cfg() -> config::Retry {
    config::Retry { idempotent_tools: vec!["lookup".into()], ..Default::default() }
}

/// What the fake upstream answers, attempt after attempt.
#[derive(Clone)]
enum Answer {
    Status(u16, Option<&'static str>),
    Connect,
    Reset,
}

/// A retry layer over a scripted inner service; returns the service and
/// the count of attempts it saw.
fn scripted(
    b: &Fixture,
    answers: &[Answer],
) -> (impl Service<UpstreamRequest, Response = Response<()>, Error = GatewayError>, Arc<AtomicUsize>) {
    let script = Arc::new(Mutex::new(answers.iter().cloned().collect::<VecDeque<_>>()));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = tower::service_fn(move |_req: UpstreamRequest| {
        seen.fetch_add(1, Ordering::SeqCst);
        let next = script.lock().unwrap().pop_front().unwrap_or(Answer::Status(200, None));
        async move {
            match next {
                Answer::Status(s, retry_after) => {
                    let mut resp = Response::new(());
                    *resp.status_mut() = StatusCode::from_u16(s).unwrap();
                    if let Some(ra) = retry_after {
                        resp.headers_mut().insert(http::header::RETRY_AFTER, ra.parse().unwrap());
                    }
                    Ok(resp)
                }
                Answer::Connect => Err(GatewayError::UpstreamConnect("refused".into())),
                Answer::Reset => Err(GatewayError::UpstreamFailed("reset".into())),
            }
        }
    });
    (RetryLayer::new(b.backend.clone(), b.policy.clone()).layer(inner), calls)
}

fn request(b: &Fixture, method: &str, name: Option<&str>) -> UpstreamRequest {
    let http = Request::new(Full::new(Bytes::from_static(b"{}")));
    UpstreamRequest::new(http, None, b.stack.policy(method, name, true))
}

async fn run(b: &Fixture, method: &str, name: Option<&str>, answers: &[Answer]) -> (Result<u16, String>, usize) {
    let (svc, calls) = scripted(b, answers);
    let out = svc.oneshot(request(b, method, name)).await;
    (out.map(|r| r.status().as_u16()).map_err(|e| e.kind().to_string()), calls.load(Ordering::SeqCst))
}

#[test]
fn replay_safe_methods_and_tools() {
    let p = Policy::new(&retry_cfg());
    for m in ["initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list"] {
        assert!(p.replay_safe(m, None), "{m}");
    }
    for m in ["resources/read", "prompts/get", "server/discover"] {
        assert!(p.replay_safe(m, Some("x")), "{m}");
    }
    assert!(p.replay_safe("tools/call", Some("lookup")));
    assert!(!p.replay_safe("tools/call", Some("book_flight")));
    assert!(!p.replay_safe("tools/call", None));
    for m in ["completion/complete", "logging/setLevel", "resources/subscribe", "batch", "notifications/cancelled"] {
        assert!(!p.replay_safe(m, None), "{m}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_connection_is_always_retried() {
    let b = backend(retry_cfg());
    assert_eq!(run(&b, "tools/call", Some("book_flight"), &[Answer::Connect]).await, (Ok(200), 2));
}

#[tokio::test(start_paused = true)]
async fn server_errors_and_resets_are_retried_only_when_replay_safe() {
    let b = backend(retry_cfg());
    let s503 = Answer::Status(503, None);
    let once = std::slice::from_ref(&s503);
    assert_eq!(run(&b, "tools/call", Some("book_flight"), once).await, (Ok(503), 1));
    assert_eq!(run(&b, "tools/call", Some("book_flight"), &[Answer::Reset]).await, (Err("upstream_failed".into()), 1));
    assert_eq!(run(&b, "tools/call", Some("lookup"), once).await, (Ok(200), 2));
    assert_eq!(run(&b, "resources/read", Some("x"), &[Answer::Reset]).await, (Ok(200), 2));
    // At most `attempts` in all; the last failure is the answer.
    assert_eq!(run(&b, "tools/list", None, &[s503.clone(), s503.clone(), s503.clone()]).await, (Ok(503), 3));
    // A 4xx is the server's answer.
    assert_eq!(run(&b, "tools/list", None, &[Answer::Status(429, Some("1"))]).await, (Ok(429), 1));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_within_the_deadline() {
    let b = backend(retry_cfg());
    let started = Instant::now();
    assert_eq!(run(&b, "tools/list", None, &[Answer::Status(503, Some("2"))]).await, (Ok(200), 2));
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());

    // A Retry-After that would end past the deadline is not waited for.
    let (svc, calls) = scripted(&b, &[Answer::Status(503, Some("2"))]);
    let mut req = request(&b, "tools/list", None);
    req.deadline = Some(Instant::now() + Duration::from_secs(1));
    let started = Instant::now();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_with_jitter_up_to_the_cap() {
    let p = Policy::new(&retry_cfg());
    for (n, cap) in [(1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (30, 250)] {
        let cap = Duration::from_millis(cap);
        for _ in 0..200 {
            let d = p.backoff(n);
            assert!(d >= cap / 2 && d <= cap, "retry {n}: {d:?} outside [{:?}, {cap:?}]", cap / 2);
        }
    }
    // And the wait really happens: two retries take at least 12.5 + 25 ms.
    let b = backend(retry_cfg());
    let started = Instant::now();
    let _ = run(&b, "tools/list", None, &[Answer::Connect, Answer::Connect]).await;
    assert!(started.elapsed() >= Duration::from_micros(37_500), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_at_a_share_of_requests_plus_a_floor() {
    // No percentage, 3 retries a second: the floor alone.
    let b = backend(config::Retry { budget_percent: 0, min_per_second: 3, ..retry_cfg() });
    let mut retried = 0;
    for _ in 0..10 {
        retried += run(&b, "tools/list", None, &[Answer::Connect]).await.1 - 1;
    }
    assert_eq!(retried, 3);
    // A second later the floor is back.
    tokio::time::advance(Duration::from_millis(1_100)).await;
    assert_eq!(run(&b, "tools/list", None, &[Answer::Connect]).await, (Ok(200), 2));

    // 20% and no floor: 50 good requests pay for 10 retries.
    let b = backend(config::Retry { budget_percent: 20, min_per_second: 0, ..retry_cfg() });
    assert_eq!(run(&b, "tools/list", None, &[Answer::Connect]).await.1, 1, "nothing deposited yet");
    for _ in 0..50 {
        let _ = run(&b, "tools/list", None, &[]).await;
    }
    let mut retried = 0;
    for _ in 0..20 {
        retried += run(&b, "tools/list", None, &[Answer::Connect]).await.1 - 1;
    }
    // The 20 failing requests deposit too: (1 + 50 + 20) × 20% = 14.
    assert_eq!(retried, 14);
}

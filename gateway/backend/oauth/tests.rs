//! The token source on paused time, with a stand-in for the token endpoint:
//! caching, single flight, refresh before expiry, backoff, and 401s.

use std::sync::atomic::AtomicUsize;

use super::*;

/// A token endpoint that answers `answer(n)` to its n-th request (from 1),
/// after `delay`.
struct Stub {
    calls: Arc<AtomicUsize>,
    delay: Duration,
    answer: Box<dyn Fn(usize) -> Result<Grant, TokenError> + Send + Sync>,
}

impl Fetch for Stub {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            (self.answer)(n)
        })
    }
}

fn source(
    delay: Duration,
    answer: impl Fn(usize) -> Result<Grant, TokenError> + Send + Sync + 'static,
) -> (Arc<TokenSource>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let stub = Stub { calls: calls.clone(), delay, answer: Box::new(answer) };
    (Arc::new(TokenSource::new("wiki", "https://idp.test/token", Box::new(stub))), calls)
}

/// Token `t{n}`, good for `secs`.
fn grant(n: usize, secs: u64) -> Result<Grant, TokenError> {
    Ok(Grant { access_token: format!("t{n}"), lifetime: Duration::from_secs(secs) })
}

async fn bearer(source: &Arc<TokenSource>) -> String {
    source.token().await.unwrap().header().to_str().unwrap().to_string()
}

fn calls(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Lets spawned work (a background refresh) run to its end.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn advance(secs: f64) {
    tokio::time::advance(Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_fetch_and_then_the_cache() {
    let (source, counter) = source(Duration::from_millis(200), |n| grant(n, 3600));
    let waiting: Vec<_> = (0..50)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { bearer(&source).await })
        })
        .collect();
    for w in waiting {
        assert_eq!(w.await.unwrap(), "Bearer t1");
    }
    for _ in 0..100 {
        assert_eq!(bearer(&source).await, "Bearer t1");
    }
    assert_eq!(calls(&counter), 1);
}

#[tokio::test(start_paused = true)]
async fn the_fetch_outlives_the_request_that_started_it() {
    let (source, counter) = source(Duration::from_secs(1), |n| grant(n, 3600));
    let impatient = tokio::time::timeout(Duration::from_millis(100), source.token()).await;
    assert!(impatient.is_err());
    // The next request finds the same fetch under way and gets its token.
    assert_eq!(bearer(&source).await, "Bearer t1");
    assert_eq!(calls(&counter), 1);
}

#[tokio::test(start_paused = true)]
async fn a_due_token_serves_while_its_successor_is_fetched_in_the_background() {
    // 100 s of life: due at 70 s (30 s early), expired at 100 s.
    let (source, counter) = source(Duration::ZERO, |n| grant(n, 100));
    assert_eq!(bearer(&source).await, "Bearer t1");
    advance(69.0).await;
    assert_eq!(bearer(&source).await, "Bearer t1");
    assert_eq!(calls(&counter), 1);
    advance(2.0).await;
    // Due: this request still gets the old one, and starts the refresh.
    assert_eq!(bearer(&source).await, "Bearer t1");
    settle().await;
    assert_eq!(calls(&counter), 2);
    assert_eq!(bearer(&source).await, "Bearer t2");
    // The new one counts its life from its own fetch.
    advance(69.0).await;
    assert_eq!(bearer(&source).await, "Bearer t2");
    assert_eq!(calls(&counter), 2);
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_makes_the_request_wait_for_a_new_one() {
    let (source, counter) = source(Duration::from_millis(50), |n| grant(n, 10));
    assert_eq!(bearer(&source).await, "Bearer t1");
    advance(10.0).await;
    assert_eq!(bearer(&source).await, "Bearer t2");
    assert_eq!(calls(&counter), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_endpoint_is_backed_off_and_requests_fail_fast() {
    let (source, counter) = source(Duration::ZERO, |n| {
        if n <= 3 { Err(TokenError::Unreachable("connection refused".into())) } else { grant(n, 3600) }
    });
    let e = source.token().await.unwrap_err();
    assert_eq!(e.status_and_code().0, StatusCode::BAD_GATEWAY);
    let message = e.to_string();
    for needle in ["backend `wiki`", "https://idp.test/token", "connection refused"] {
        assert!(message.contains(needle), "{message}");
    }
    // Within the first backoff (0.5 to 1 s) nobody asks again.
    assert!(source.token().await.is_err());
    advance(0.4).await;
    assert!(source.token().await.is_err());
    assert_eq!(calls(&counter), 1);
    advance(0.7).await;
    assert!(source.token().await.is_err());
    assert_eq!(calls(&counter), 2);
    // The second backoff is 1 to 2 s.
    advance(0.9).await;
    assert!(source.token().await.is_err());
    assert_eq!(calls(&counter), 2);
    advance(1.2).await;
    assert!(source.token().await.is_err());
    assert_eq!(calls(&counter), 3);
    // The third is 2 to 4 s; then the endpoint is back.
    advance(4.1).await;
    assert_eq!(bearer(&source).await, "Bearer t4");
    // Success clears the backoff.
    assert_eq!(calls(&counter), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_old_token_until_it_expires() {
    let (source, counter) =
        source(Duration::ZERO, |n| if n == 1 { grant(n, 100) } else { Err(TokenError::Timeout(FETCH_TIMEOUT)) });
    assert_eq!(bearer(&source).await, "Bearer t1");
    advance(71.0).await;
    assert_eq!(bearer(&source).await, "Bearer t1");
    settle().await;
    assert_eq!(calls(&counter), 2);
    // Backed off: no new refresh for the next requests, and the old token serves.
    assert_eq!(bearer(&source).await, "Bearer t1");
    assert_eq!(calls(&counter), 2);
    advance(30.0).await;
    let e = source.token().await.unwrap_err();
    assert!(e.to_string().contains("did not answer within"), "{e}");
    assert_eq!(calls(&counter), 3);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_replaced_at_once_then_refusals_in_a_row_back_off() {
    let (source, counter) = source(Duration::ZERO, |n| grant(n, 3600));
    let t1 = source.token().await.unwrap();
    assert!(source.observe(&t1, StatusCode::UNAUTHORIZED).await);
    let t2 = source.token().await.unwrap();
    assert_eq!(t2.header(), "Bearer t2");
    // The new token refused too, none accepted in between: held off.
    assert!(source.observe(&t2, StatusCode::UNAUTHORIZED).await);
    let e = source.token().await.unwrap_err();
    assert!(e.to_string().contains("refused the tokens"), "{e}");
    assert_eq!(calls(&counter), 2);
    advance(1.1).await;
    let t3 = source.token().await.unwrap();
    assert_eq!(t3.header(), "Bearer t3");
    // Accepted, then refused later (revoked): replaced at once again.
    assert!(!source.observe(&t3, StatusCode::OK).await);
    advance(ODD_ONE_OUT.as_secs_f64()).await;
    assert!(source.observe(&t3, StatusCode::UNAUTHORIZED).await);
    assert_eq!(bearer(&source).await, "Bearer t4");
}

#[tokio::test(start_paused = true)]
async fn an_instance_that_refuses_a_token_others_just_accepted_is_the_odd_one_out() {
    let (source, counter) = source(Duration::ZERO, |n| grant(n, 3600));
    let t1 = source.token().await.unwrap();
    assert!(!source.observe(&t1, StatusCode::ACCEPTED).await);
    assert!(!source.observe(&t1, StatusCode::UNAUTHORIZED).await);
    assert_eq!(bearer(&source).await, "Bearer t1");
    assert_eq!(calls(&counter), 1);
}

#[tokio::test(start_paused = true)]
async fn a_late_401_for_a_replaced_token_leaves_its_successor_alone() {
    let (source, counter) = source(Duration::ZERO, |n| grant(n, 3600));
    let t1 = source.token().await.unwrap();
    assert!(source.observe(&t1, StatusCode::UNAUTHORIZED).await);
    assert_eq!(bearer(&source).await, "Bearer t2");
    // Another request sent with t1 comes back refused after the swap.
    assert!(source.observe(&t1, StatusCode::UNAUTHORIZED).await);
    assert_eq!(bearer(&source).await, "Bearer t2");
    assert_eq!(calls(&counter), 2);
}

#[test]
fn debug_output_never_shows_the_token() {
    let grant = Grant { access_token: "s3cr3t-t0ken".into(), lifetime: Duration::from_secs(60) };
    let token = Token::new(&grant, Instant::now()).unwrap();
    assert!(!format!("{token:?}").contains("s3cr3t"));
    assert!(token.header().is_sensitive());
}

//! The cache without sockets: fake upstream calls that count themselves.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{StatusCode, header};
use http_body_util::BodyExt;

use super::*;
use crate::mcp::envelope;

static RID: HeaderValue = HeaderValue::from_static("rid");

fn ip(n: u8) -> Principal {
    Principal::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
}

fn cache_with(edit: impl FnOnce(&mut config::Cache)) -> Arc<Cache> {
    let mut c = config::Cache::default();
    edit(&mut c);
    Cache::new("t", &c)
}

fn request(id: u32, method: &str, params: &str) -> (Message, Vec<u8>) {
    let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#).into_bytes();
    (envelope::parse(&body).unwrap(), body)
}

fn call(cache: &Cache, id: u32, method: &str, params: &str, who: Principal) -> Option<Call> {
    let (message, body) = request(id, method, params);
    cache.call(&message, &body, None, Some("2025-06-18"), || who)
}

fn json_answer(body: &str, status: u16) -> Result<Response<ProxyBody>, GatewayError> {
    let mut resp = Response::new(ProxyBody::full(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// Serves `call`, counting upstream calls in `count`, the upstream answering `result`.
async fn serve(cache: &Cache, call: Call, count: &AtomicUsize, result: &str) -> (String, String) {
    let forward = async {
        count.fetch_add(1, Ordering::SeqCst);
        json_answer(&format!(r#"{{"jsonrpc":"2.0","id":0,"result":{result}}}"#), 200)
    };
    let resp = match cache.hit(&call, None, &RID).await {
        Some(hit) => hit,
        None => cache.serve(call, None, &RID, forward).await.unwrap(),
    };
    let verdict = resp.headers()[CACHE_HEADER].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (verdict, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn only_configured_methods_and_tools_are_cacheable() {
    let cache = cache_with(|c| c.tools = vec!["lookup".into()]);
    assert!(call(&cache, 1, "tools/list", "{}", ip(1)).is_some());
    assert!(call(&cache, 1, "resources/templates/list", "{}", ip(1)).is_some());
    assert!(call(&cache, 1, "resources/read", r#"{"uri":"a"}"#, ip(1)).is_none());
    assert!(call(&cache, 1, "tools/call", r#"{"name":"lookup"}"#, ip(1)).is_some());
    assert!(call(&cache, 1, "tools/call", r#"{"name":"write"}"#, ip(1)).is_none());
    assert!(call(&cache, 1, "ping", "{}", ip(1)).is_none());
    // A notification, and params that cannot be keyed, bypass.
    let note = br#"{"jsonrpc":"2.0","method":"tools/list"}"#;
    assert!(cache.call(&envelope::parse(note).unwrap(), note, None, None, || ip(1)).is_none());
    assert!(call(&cache, 1, "tools/list", "[1]", ip(1)).is_none());
    let reads = cache_with(|c| c.methods = vec![config::CacheMethod::ResourcesRead]);
    assert!(call(&reads, 1, "resources/read", r#"{"uri":"a"}"#, ip(1)).is_some());
    assert!(call(&reads, 1, "tools/list", "{}", ip(1)).is_none());
}

#[tokio::test]
async fn a_hit_carries_the_askers_own_id() {
    let cache = cache_with(|_| {});
    let count = AtomicUsize::new(0);
    let (v, body) = serve(&cache, call(&cache, 7, "tools/list", "{}", ip(1)).unwrap(), &count, r#"{"tools":[]}"#).await;
    assert_eq!((v.as_str(), body.as_str()), ("miss", r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#));
    let (v, body) = serve(&cache, call(&cache, 8, "tools/list", "{}", ip(1)).unwrap(), &count, "{}").await;
    assert_eq!((v.as_str(), body.as_str()), ("hit", r#"{"jsonrpc":"2.0","id":8,"result":{"tools":[]}}"#));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_misses_make_one_upstream_call() {
    let cache = cache_with(|_| {});
    let count = AtomicUsize::new(0);
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let mut waiters = Vec::new();
    for id in 0..20 {
        let forward = {
            let mut gate = gate_rx.clone();
            let count = &count;
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                json_answer(r#"{"jsonrpc":"2.0","id":0,"result":{"n":1}}"#, 200)
            }
        };
        let call = call(&cache, id, "tools/list", "{}", ip(1)).unwrap();
        waiters.push(cache.serve(call, None, &RID, forward));
    }
    let all = futures::future::join_all(waiters);
    let open = async {
        tokio::task::yield_now().await;
        let _ = gate_tx.send(true);
    };
    let (results, ()) = tokio::join!(all, open);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let verdicts: Vec<_> = results.iter().map(|r| r.as_ref().unwrap().headers()[CACHE_HEADER].clone()).collect();
    assert_eq!(verdicts.iter().filter(|v| *v == "miss").count(), 1);
    assert_eq!(verdicts.iter().filter(|v| *v == "hit").count(), 19);
}

#[tokio::test]
async fn principals_never_share_private_answers_but_share_public_ones() {
    let cache = cache_with(|_| {});
    let count = AtomicUsize::new(0);
    serve(&cache, call(&cache, 1, "tools/list", "{}", ip(1)).unwrap(), &count, r#"{"who":"one"}"#).await;
    let (v, body) =
        serve(&cache, call(&cache, 1, "tools/list", "{}", ip(2)).unwrap(), &count, r#"{"who":"two"}"#).await;
    assert_eq!(v, "miss");
    assert!(body.contains("two"), "{body}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let public = r#"{"p":1,"cacheScope":"public","ttlMs":60000}"#;
    serve(&cache, call(&cache, 1, "prompts/list", "{}", ip(1)).unwrap(), &count, public).await;
    let (v, _) = serve(&cache, call(&cache, 1, "prompts/list", "{}", ip(3)).unwrap(), &count, "{}").await;
    assert_eq!(v, "hit");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl_or_a_shorter_ttl_ms() {
    let cache = cache_with(|c| c.ttl = config::units::Duration::secs(10));
    let count = AtomicUsize::new(0);
    let list = |c: &Cache| call(c, 1, "tools/list", "{}", ip(1)).unwrap();
    serve(&cache, list(&cache), &count, "{}").await;
    tokio::time::advance(Duration::from_millis(9_900)).await;
    assert_eq!(serve(&cache, list(&cache), &count, "{}").await.0, "hit");
    tokio::time::advance(Duration::from_millis(200)).await;
    assert_eq!(serve(&cache, list(&cache), &count, r#"{"ttlMs":1000}"#).await.0, "miss");
    tokio::time::advance(Duration::from_millis(1_100)).await;
    assert_eq!(serve(&cache, list(&cache), &count, r#"{"ttlMs":0}"#).await.0, "miss");
    assert_eq!(serve(&cache, list(&cache), &count, "{}").await.0, "miss");
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn errors_are_never_cached_and_reach_every_waiter() {
    let cache = cache_with(|_| {});
    let count = AtomicUsize::new(0);
    let error = r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32603,"message":"boom"}}"#;
    for id in [1, 2] {
        let forward = async {
            count.fetch_add(1, Ordering::SeqCst);
            json_answer(error, 200)
        };
        let resp =
            cache.serve(call(&cache, id, "tools/list", "{}", ip(1)).unwrap(), None, &RID, forward).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            String::from_utf8_lossy(&body),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"boom"}}}}"#)
        );
    }
    // A gateway error reaches its caller as itself, and is not kept either.
    let failing = async {
        count.fetch_add(1, Ordering::SeqCst);
        Err(GatewayError::NoInstance)
    };
    let err = cache.serve(call(&cache, 3, "tools/list", "{}", ip(1)).unwrap(), None, &RID, failing).await;
    assert!(matches!(err, Err(GatewayError::NoInstance)));
    let status = async {
        count.fetch_add(1, Ordering::SeqCst);
        json_answer("not json", 503)
    };
    let resp = cache.serve(call(&cache, 4, "tools/list", "{}", ip(1)).unwrap(), None, &RID, status).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn notifications_drop_what_they_name() {
    let cache = cache_with(|c| c.methods = vec![config::CacheMethod::ToolsList, config::CacheMethod::ResourcesRead]);
    let count = AtomicUsize::new(0);
    let tools = |c: &Cache| call(c, 1, "tools/list", "{}", ip(1)).unwrap();
    let read = |c: &Cache, uri: &str| call(c, 1, "resources/read", &format!(r#"{{"uri":"{uri}"}}"#), ip(1)).unwrap();
    serve(&cache, tools(&cache), &count, "{}").await;
    serve(&cache, read(&cache, "a"), &count, "{}").await;
    serve(&cache, read(&cache, "b"), &count, "{}").await;
    assert!(cache.observe(br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a"}}"#));
    assert_eq!(serve(&cache, read(&cache, "a"), &count, "{}").await.0, "miss");
    assert_eq!(serve(&cache, read(&cache, "b"), &count, "{}").await.0, "hit");
    assert_eq!(serve(&cache, tools(&cache), &count, "{}").await.0, "hit");
    assert!(cache.observe(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#));
    assert_eq!(serve(&cache, tools(&cache), &count, "{}").await.0, "miss");
    assert!(!cache.observe(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#));
    assert!(!cache.observe(b"junk"));
    cache.clear();
    assert_eq!(serve(&cache, read(&cache, "b"), &count, "{}").await.0, "miss");
}

#[tokio::test]
async fn annotations_count_only_when_trusted() {
    let list = r#"{"tools":[{"name":"safe","annotations":{"readOnlyHint":true,"idempotentHint":true}},
                   {"name":"half","annotations":{"readOnlyHint":true}}]}"#;
    for trust in [false, true] {
        let cache = cache_with(|c| c.trust_annotations = trust);
        let count = AtomicUsize::new(0);
        serve(&cache, call(&cache, 1, "tools/list", "{}", ip(1)).unwrap(), &count, list).await;
        assert_eq!(call(&cache, 1, "tools/call", r#"{"name":"safe"}"#, ip(1)).is_some(), trust);
        assert!(call(&cache, 1, "tools/call", r#"{"name":"half"}"#, ip(1)).is_none());
    }
}

#[tokio::test]
async fn sse_is_replayed_when_the_client_prefers_it() {
    let cache = cache_with(|_| {});
    let forward = async {
        let mut resp = json_answer("", 200)?;
        *resp.body_mut() = ProxyBody::full(Bytes::from_static(
            b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"s\":1}}\n\n",
        ));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        Ok(resp)
    };
    let accept = HeaderValue::from_static("text/event-stream, application/json");
    let resp =
        cache.serve(call(&cache, 5, "tools/list", "{}", ip(1)).unwrap(), Some(&accept), &RID, forward).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"s\":1}}\n\n");
    let never = async { Err(GatewayError::NoInstance) };
    let resp = cache.serve(call(&cache, 6, "tools/list", "{}", ip(1)).unwrap(), None, &RID, never).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
}

/// Serves `call` through an upstream call that answers `old` only once
/// `invalidate` has run, which it does as soon as the call was sent: the
/// invalidation overtakes the fetch. Returns the verdict and body.
async fn overtaken(cache: &Cache, call: Call, old: &str, invalidate: impl AsyncFnOnce()) -> (String, String) {
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let answer = format!(r#"{{"jsonrpc":"2.0","id":0,"result":{old}}}"#);
    let forward = async move {
        let _ = sent_tx.send(());
        let _ = release_rx.await;
        json_answer(&answer, 200)
    };
    let driver = async {
        sent_rx.await.expect("the upstream call was never sent");
        invalidate().await;
        let _ = release_tx.send(());
    };
    let (resp, ()) = tokio::join!(cache.serve(call, None, &RID, forward), driver);
    let resp = resp.unwrap();
    let verdict = resp.headers()[CACHE_HEADER].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (verdict, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn an_invalidation_during_a_fetch_keeps_its_answer_out_of_the_cache() {
    let cache = cache_with(|c| c.methods = vec![config::CacheMethod::ToolsList, config::CacheMethod::ResourcesRead]);
    let count = AtomicUsize::new(0);
    let tools = |c: &Cache| call(c, 1, "tools/list", "{}", ip(1)).unwrap();
    let read = |c: &Cache, uri: &str| call(c, 1, "resources/read", &format!(r#"{{"uri":"{uri}"}}"#), ip(1)).unwrap();
    let changed = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
    let updated = |uri: &str| {
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{{"uri":"{uri}"}}}}"#)
    };

    // The caller that fetched still gets the old answer, as a miss...
    let (v, body) = overtaken(&cache, tools(&cache), r#"{"v":"old"}"#, async || assert!(cache.observe(changed))).await;
    assert_eq!(v, "miss");
    assert!(body.contains("old"), "{body}");
    // ...but the next caller asks again and gets the new one, which is kept.
    let (v, body) = serve(&cache, tools(&cache), &count, r#"{"v":"new"}"#).await;
    assert_eq!(v, "miss");
    assert!(body.contains("new"), "{body}");
    assert_eq!(serve(&cache, tools(&cache), &count, r#"{"v":"newer"}"#).await.0, "hit");

    // `resources/updated` covers the reads of its URI only.
    let overtake_a = async || assert!(cache.observe(updated("a").as_bytes()));
    overtaken(&cache, read(&cache, "a"), r#"{"v":"old"}"#, overtake_a).await;
    assert_eq!(serve(&cache, read(&cache, "a"), &count, r#"{"v":"new"}"#).await.0, "miss");
    let elsewhere = async || assert!(cache.observe(updated("b").as_bytes()));
    overtaken(&cache, read(&cache, "c"), r#"{"v":"c"}"#, elsewhere).await;
    assert_eq!(serve(&cache, read(&cache, "c"), &count, "{}").await.0, "hit", "another URI's update dropped it");

    // The admin API's clear covers everything.
    cache.clear();
    overtaken(&cache, tools(&cache), r#"{"v":"old"}"#, async || cache.clear()).await;
    let (v, body) = serve(&cache, tools(&cache), &count, r#"{"v":"new"}"#).await;
    assert!(v == "miss" && body.contains("new"), "{v} {body}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_stdio_change_feed_overtakes_a_fetch_too() {
    let cache = cache_with(|_| {});
    let (feed, changes) = tokio::sync::broadcast::channel(8);
    watch(cache.clone(), changes);
    let tools = |c: &Cache| call(c, 1, "tools/list", "{}", ip(1)).unwrap();
    let announce = async || {
        let before = cache.invalidations.mark();
        feed.send(Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)).unwrap();
        // The feed is followed by a task of its own: wait until it acted.
        let seen = async {
            while cache.invalidations.mark() == before {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), seen).await.expect("the change feed was never read");
    };
    assert_eq!(overtaken(&cache, tools(&cache), r#"{"v":"old"}"#, announce).await.0, "miss");
    let count = AtomicUsize::new(0);
    let (v, body) = serve(&cache, tools(&cache), &count, r#"{"v":"new"}"#).await;
    assert!(v == "miss" && body.contains("new"), "{v} {body}");
}

#[tokio::test]
async fn waiters_on_an_overtaken_fetch_get_its_answer() {
    let cache = cache_with(|_| {});
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let first = async move {
        let _ = sent_tx.send(());
        let _ = release_rx.await;
        json_answer(r#"{"jsonrpc":"2.0","id":0,"result":{"v":"old"}}"#, 200)
    };
    let never = async { Err(GatewayError::NoInstance) };
    let fetching = cache.serve(call(&cache, 1, "tools/list", "{}", ip(1)).unwrap(), None, &RID, first);
    let waiting = cache.serve(call(&cache, 2, "tools/list", "{}", ip(1)).unwrap(), None, &RID, never);
    let driver = async {
        sent_rx.await.unwrap();
        // Let the second caller join the fetch before the change comes.
        tokio::task::yield_now().await;
        cache.clear();
        let _ = release_tx.send(());
    };
    let (a, b, ()) = tokio::join!(fetching, waiting, driver);
    for (resp, id) in [(a.unwrap(), 1), (b.unwrap(), 2)] {
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(String::from_utf8_lossy(&body), format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"v":"old"}}}}"#));
    }
    assert!(cache.store.fresh(&call(&cache, 3, "tools/list", "{}", ip(1)).unwrap().key).await.is_none());
}

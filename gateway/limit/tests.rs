use std::time::Duration;

use super::*;

const SECOND: Duration = Duration::from_secs(1);

/// Offers `offered` requests a second on one key for `secs` seconds of
/// paused time and returns how many were admitted.
async fn admitted(buckets: &LocalBuckets, offered: u32, secs: u32) -> u32 {
    let gap = SECOND / offered;
    let mut admitted = 0;
    for _ in 0..offered * secs {
        tokio::time::advance(gap).await;
        if buckets.check("k") == Decision::Allow {
            admitted += 1;
        }
    }
    admitted
}

#[tokio::test(start_paused = true)]
async fn at_three_times_the_rate_for_ten_seconds_the_admitted_rate_is_within_five_percent() {
    for (rate, burst) in [(100, 10), (200, 20), (1000, 2), (50, 5), (30, 2)] {
        let buckets = LocalBuckets::new(Gcra::new(rate, SECOND, burst));
        let got = admitted(&buckets, rate * 3, 10).await;
        let want = f64::from(rate * 10);
        let error = (f64::from(got) - want) / want;
        assert!(error.abs() <= 0.05, "rate {rate}/s burst {burst}: admitted {got} of {want} ({:.2}%)", error * 100.0);
        // And never more than the rate plus one burst.
        assert!(got <= rate * 10 + burst, "rate {rate}/s burst {burst}: admitted {got}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_burst_keeps_a_ten_second_overload_within_one_percent() {
    let cfg: crate::config::limit::RateLimit = toml::from_str("rate = \"200/s\"").unwrap();
    assert_eq!(cfg.burst(), 20);
    let buckets = LocalBuckets::new(Gcra::new(cfg.rate.count, cfg.rate.period, cfg.burst()));
    let got = admitted(&buckets, 600, 10).await;
    assert!((2000..=2020).contains(&got), "admitted {got}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_passes_at_once_and_the_refusal_says_when_to_retry() {
    let buckets = LocalBuckets::new(Gcra::new(10, SECOND, 3));
    for _ in 0..3 {
        assert_eq!(buckets.check("k"), Decision::Allow);
    }
    assert_eq!(buckets.check("k"), Decision::Deny(Duration::from_millis(100)));
    // Another key has its own bucket.
    assert_eq!(buckets.check("other"), Decision::Allow);
    tokio::time::advance(Duration::from_millis(99)).await;
    assert!(matches!(buckets.check("k"), Decision::Deny(d) if d == Duration::from_millis(1)));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(buckets.check("k"), Decision::Allow);
    assert!(matches!(buckets.check("k"), Decision::Deny(_)));
}

#[tokio::test(start_paused = true)]
async fn buckets_that_are_full_again_are_swept() {
    let buckets = LocalBuckets::new(Gcra::new(10, SECOND, 1));
    for i in 0..5000 {
        buckets.check(&format!("early-{i}"));
    }
    // All were active at the first sweep, so the next waits for twice as many.
    assert_eq!(buckets.len(), 5000);
    tokio::time::advance(SECOND).await;
    for i in 0..4000 {
        buckets.check(&format!("late-{i}"));
    }
    assert!(buckets.len() < 5000, "{} buckets left", buckets.len());
}

#[test]
fn gcra_numbers() {
    let g = Gcra::new(100, SECOND, 5);
    assert_eq!(g.interval_ns, 10_000_000);
    assert_eq!(g.tolerance_ns, 50_000_000);
    assert_eq!(Gcra::new(30, Duration::from_secs(60), 1).interval_ns, 2_000_000_000);
}

fn config(rules: &str) -> Config {
    let text = format!(
        "[[backends]]\nname = \"a\"\ninstances = [{{ url = \"http://127.0.0.1:1/mcp\" }}]\nmax_in_flight = 2\n\n\
         [[backends]]\nname = \"b\"\ninstances = [{{ url = \"http://127.0.0.1:2/mcp\" }}]\n\n\
         [[routes]]\npath = \"/a\"\nbackend = \"a\"\n\n[[routes]]\npath = \"/b\"\nbackend = \"b\"\n\n{rules}"
    );
    Config::parse(&text, "test", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn each_route_keeps_only_the_rules_that_can_match_it() {
    let limits = Limits::build(&config(
        "[[rate_limits]]\nrate = \"1/s\"\nmatch = { route = \"/a\" }\n\n\
         [[rate_limits]]\nname = \"b-only\"\nrate = \"1/s\"\nmatch = { backend = \"b\" }\n\n\
         [[rate_limits]]\nkey = \"global\"\nrate = \"1/s\"\nmatch = { method = \"tools/call\", tool = \"t\" }\n",
    ));
    let names = |r: &RouteLimit| r.rules.iter().map(|r| r.name.to_string()).collect::<Vec<_>>();
    let a = limits.for_route("/a", "a");
    let b = limits.for_route("/b", "b");
    assert_eq!(names(&a), ["rate_limits.0", "rate_limits.2"]);
    assert_eq!(names(&b), ["b-only", "rate_limits.2"]);
    assert!(a.admission.is_some() && b.admission.is_none());
    let tool_rule = &limits.rules()[2];
    assert!(tool_rule.matches("tools/call", Some("t")));
    assert!(!tool_rule.matches("tools/call", Some("u")));
    assert!(!tool_rule.matches("tools/list", Some("t")));
    assert!(!tool_rule.matches("tools/call", None));
    assert!(limits.rules()[0].matches("ping", None));
}

#[test]
fn a_route_no_rule_names_has_nothing_to_check() {
    let limits = Limits::build(&config("[[rate_limits]]\nrate = \"1/s\"\nmatch = { route = \"/a\" }\n"));
    let b = limits.for_route("/b", "b");
    assert!(b.rules.is_empty() && b.admission.is_none());
}

#[test]
fn only_requests_other_than_listen_take_an_admission_slot() {
    let parse = |body: &str| crate::mcp::envelope::parse(body.as_bytes()).unwrap();
    assert!(takes_slot(&parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#)));
    assert!(!takes_slot(&parse(r#"{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{}}"#)));
    assert!(!takes_slot(&parse(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#)));
    assert!(!takes_slot(&parse(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#)));
    assert!(takes_slot(&parse(
        r#"[{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#
    )));
}

/// A client at 10.0.0.1 and no headers, for rate-limit checks.
fn client() -> (Client, HeaderMap) {
    let peer = crate::client::Connection::new("10.0.0.1:5000".parse().unwrap());
    (
        Client { connection: Arc::new(peer), request_id: http::HeaderValue::from_static("rid"), identity: None },
        HeaderMap::new(),
    )
}

fn message(body: &str) -> Message {
    crate::mcp::envelope::parse(body.as_bytes()).unwrap()
}

const CALL_T: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

/// The rule that refused, or `None` when all admitted.
async fn refused_by(route: &RouteLimit, body: &str) -> Option<String> {
    let (client, headers) = client();
    match route.rate_limit(&message(body), &client, &headers).await {
        Ok(()) => None,
        Err(GatewayError::RateLimited { rule, .. }) => Some(rule.to_string()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_later_rules_refusal_gives_the_earlier_rules_their_tokens_back() {
    let limits = Limits::build(&config(
        "[[rate_limits]]\nname = \"all\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 2\n\n\
         [[rate_limits]]\nname = \"t\"\nkey = \"ip\"\nrate = \"1/h\"\nburst = 1\nmatch = { method = \"tools/call\", tool = \"t\" }\n",
    ));
    let route = limits.for_route("/a", "a");
    assert_eq!(refused_by(&route, CALL_T).await, None);
    // `all` admits, `t` refuses: `all` must not keep the token.
    assert_eq!(refused_by(&route, CALL_T).await.as_deref(), Some("t"));
    assert_eq!(refused_by(&route, PING).await, None, "the refused call's token was not given back");
    assert_eq!(refused_by(&route, PING).await.as_deref(), Some("all"));
}

#[tokio::test(start_paused = true)]
async fn a_refused_batch_gives_back_what_its_earlier_requests_took() {
    let limits =
        Limits::build(&config("[[rate_limits]]\nname = \"all\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 3\n"));
    let route = limits.for_route("/b", "b");
    let batch = format!("[{PING},{PING},{PING},{PING}]");
    assert_eq!(refused_by(&route, &batch).await.as_deref(), Some("all"));
    for _ in 0..3 {
        assert_eq!(refused_by(&route, PING).await, None);
    }
    assert_eq!(refused_by(&route, PING).await.as_deref(), Some("all"));
}

#[tokio::test(start_paused = true)]
async fn a_refund_never_leaves_a_bucket_fuller_than_full() {
    let buckets = LocalBuckets::new(Gcra::new(10, SECOND, 2));
    assert_eq!(buckets.check("k"), Decision::Allow);
    // Long after, the bucket is full again; giving the token back adds nothing.
    tokio::time::advance(SECOND).await;
    buckets.refund("k");
    buckets.refund("never-used");
    for _ in 0..2 {
        assert_eq!(buckets.check("k"), Decision::Allow);
    }
    assert!(matches!(buckets.check("k"), Decision::Deny(_)));
    // A token taken and given back at once leaves the bucket as it was.
    buckets.refund("k");
    assert_eq!(buckets.check("k"), Decision::Allow);
    assert!(matches!(buckets.check("k"), Decision::Deny(_)));
    let g = Gcra::new(10, SECOND, 2);
    assert_eq!(g.refund(500_000_000, 100_000_000), 400_000_000);
    assert_eq!(g.refund(150_000_000, 100_000_000), 100_000_000);
    assert_eq!(g.refund(50_000_000, 100_000_000), 100_000_000);
}

#[test]
fn a_rebuild_keeps_unchanged_rules_and_caps_and_builds_changed_ones_fresh() {
    let store = "store = \"redis://127.0.0.1:1\"";
    let before = Limits::build(&config(&format!(
        "[[rate_limits]]\nname = \"kept\"\nrate = \"1/s\"\n{store}\n\n\
         [[rate_limits]]\nname = \"changed\"\nrate = \"1/s\"\n\n\
         [[rate_limits]]\nrate = \"1/s\"\n"
    )));
    // A line above every rule, a new rate for one, and the unnamed rule
    // moved to another place (so another default name).
    let after = Limits::rebuild(
        &config(&format!(
            "# rules\n\n[[rate_limits]]\nname = \"new\"\nrate = \"5/s\"\n{store}\n\n\
             [[rate_limits]]\nname = \"kept\"\nrate = \"1/s\"\n{store}\n\n\
             [[rate_limits]]\nname = \"changed\"\nrate = \"2/s\"\n\n\
             [[rate_limits]]\nrate = \"1/s\"\n"
        )),
        Some(&before),
    );
    let same = |old: usize, new: usize| Arc::ptr_eq(&before.rules()[old], &after.rules()[new]);
    assert!(same(0, 1), "an unchanged rule lost its buckets");
    assert!(!same(1, 2), "a changed rule kept its buckets");
    assert!(!same(2, 3), "rate_limits.2 became rate_limits.3, another rule");
    // The new rule on the same store shares the kept rule's connection.
    assert_eq!(after.connections.len(), 1);
    let admission = |l: &Limits| l.admission["a"].clone();
    assert!(Arc::ptr_eq(&admission(&before), &admission(&after)), "an unchanged cap lost its count");
    let mut new_cap = config("");
    new_cap.backends[0].max_in_flight = std::num::NonZeroU32::new(3);
    let recapped = Limits::rebuild(&new_cap, Some(&after));
    assert!(!Arc::ptr_eq(&admission(&after), &admission(&recapped)), "a new cap kept the old count");
    assert!(recapped.connections.is_empty(), "no rule uses the store any more");
}

use std::collections::HashMap;

use http::HeaderValue;

use super::Target;
use super::split::{Targets, Weight};
use super::*;
use crate::config::Config;
use crate::limit::Limits;

/// Targets for backends `blue`, `green` and `canary`, built from a config
/// so that they are the real runtime objects.
fn targets() -> Targets {
    let text = r#"
[[backends]]
name = "blue"
instances = [{ url = "http://127.0.0.1:1/mcp" }]
[[backends]]
name = "green"
instances = [{ url = "http://127.0.0.1:2/mcp" }]
[[backends]]
name = "canary"
instances = [{ url = "http://127.0.0.1:3/mcp" }]
"#;
    let config = Config::parse(text, "t", &|_| None).unwrap();
    config
        .backends
        .iter()
        .map(|b| {
            let backend = Arc::new(crate::backend::Backend::build(b).unwrap());
            let target = Target::Http { stack: crate::stack::build(backend, b), cache: None };
            (Arc::from(b.name.get_ref().as_str()), Arc::new(target))
        })
        .collect()
}

fn weights(pairs: &[(&str, u32)]) -> Vec<Weight> {
    pairs.iter().map(|(b, w)| Weight { backend: b.to_string(), weight: *w }).collect()
}

fn route(pairs: &[(&str, u32)], sticky: Option<&'static str>, allow_override: bool) -> Route {
    let split = Split::build("/mcp", &weights(pairs), &targets(), &Limits::default(), None).unwrap();
    Route::new("/mcp", "mcp", split, sticky.map(HeaderName::from_static), allow_override)
}

fn counts(route: &Route, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        *out.entry(route.pick(&HeaderMap::new()).unwrap().backend.to_string()).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn random_draw_follows_the_weights() {
    let r = route(&[("blue", 90), ("green", 10)], None, false);
    let c = counts(&r, 20_000);
    let green = c.get("green").copied().unwrap_or(0) as f64 / 20_000.0;
    assert!((0.08..0.12).contains(&green), "{c:?}");
}

#[tokio::test]
async fn a_zero_weight_side_gets_nothing_new() {
    let r = route(&[("blue", 0), ("green", 1)], None, false);
    assert_eq!(counts(&r, 500).keys().collect::<Vec<_>>(), vec!["green"]);
}

#[tokio::test]
async fn choose_walks_the_cumulative_weights() {
    let split =
        Split::build("/mcp", &weights(&[("blue", 3), ("green", 1)]), &targets(), &Limits::default(), None).unwrap();
    let names: Vec<&str> = (0..8).map(|p| &*split.choose(p).unwrap().backend).collect();
    assert_eq!(names, ["blue", "blue", "blue", "green", "blue", "blue", "blue", "green"]);
}

#[tokio::test]
async fn the_sticky_header_keeps_a_user_on_one_side() {
    let r = route(&[("blue", 50), ("green", 50)], Some("x-user-id"), false);
    let mut seen = HashMap::new();
    for user in 0..200 {
        let mut h = HeaderMap::new();
        h.insert("x-user-id", HeaderValue::from_str(&format!("user-{user}")).unwrap());
        let first = r.pick(&h).unwrap().backend.clone();
        for _ in 0..5 {
            assert_eq!(r.pick(&h).unwrap().backend, first, "user-{user} moved");
        }
        *seen.entry(first.to_string()).or_insert(0) += 1;
    }
    // Users spread over both sides, roughly by weight.
    assert!(seen.values().all(|n| *n > 60), "{seen:?}");
}

#[tokio::test]
async fn the_override_is_honoured_only_when_allowed() {
    let mut h = HeaderMap::new();
    h.insert(OVERRIDE, HeaderValue::from_static("green"));
    let allowed = route(&[("blue", 1), ("green", 0)], None, true);
    assert_eq!(&*allowed.pick(&h).unwrap().backend, "green", "a 0-weight side is reachable by override");
    let refused = route(&[("blue", 1), ("green", 0)], None, false);
    assert_eq!(&*refused.pick(&h).unwrap().backend, "blue");
    h.insert(OVERRIDE, HeaderValue::from_static("nope"));
    assert!(matches!(allowed.pick(&h), Err(GatewayError::InvalidRequest(_))));
}

#[tokio::test]
async fn sessions_find_their_side_whatever_the_weight() {
    let r = route(&[("blue", 1), ("green", 0)], None, false);
    assert_eq!(&*r.session_side("green").unwrap().backend, "green");
    assert!(matches!(r.session_side("canary"), Err(GatewayError::SessionNotFound)));
}

#[tokio::test]
async fn a_new_split_keeps_left_out_sides_at_zero_and_their_metrics() {
    let t = targets();
    let first = Split::build("/mcp", &weights(&[("blue", 90), ("green", 10)]), &t, &Limits::default(), None).unwrap();
    let next = Split::build("/mcp", &weights(&[("green", 100)]), &t, &Limits::default(), Some(&first)).unwrap();
    assert_eq!(next.weights(), weights(&[("green", 100), ("blue", 0)]));
    assert!(Arc::ptr_eq(&first.named("blue").unwrap().metrics, &next.named("blue").unwrap().metrics));
}

#[tokio::test]
async fn bad_splits_are_refused_with_the_reason() {
    let t = targets();
    let bad = |pairs: &[(&str, u32)]| Split::build("/mcp", &weights(pairs), &t, &Limits::default(), None).err();
    assert_eq!(bad(&[]), Some(split::SplitError::Empty));
    assert_eq!(bad(&[("blue", 0)]), Some(split::SplitError::AllZero));
    assert_eq!(bad(&[("nope", 1)]), Some(split::SplitError::UnknownBackend("nope".into())));
    assert_eq!(bad(&[("blue", 1), ("blue", 2)]), Some(split::SplitError::Duplicate("blue".into())));
    assert_eq!(bad(&[("blue", 2_000_000)]), Some(split::SplitError::TooHeavy(2_000_000)));
}

#[test]
fn the_stable_hash_is_fixed() {
    // Replicas and future builds must agree: these values are part of the
    // contract of `sticky_header`.
    assert_eq!(split::stable_hash(b""), split::stable_hash(b""));
    assert_ne!(split::stable_hash(b"user-1"), split::stable_hash(b"user-2"));
    // FNV-1a of "user-1" then SplitMix64's finaliser, computed independently.
    assert_eq!(split::stable_hash(b"user-1"), 0xc499_b5f8_a721_df58);
}

#[tokio::test]
async fn a_retired_side_keeps_its_sessions_but_the_override_cannot_reach_it() {
    let t = targets();
    let first = Split::build("/mcp", &weights(&[("blue", 1), ("green", 1)]), &t, &Limits::default(), None).unwrap();
    let next = Split::build("/mcp", &weights(&[("green", 1)]), &t, &Limits::default(), Some(&first)).unwrap();
    let route = Route::new("/mcp", "mcp", next, None, true);
    assert_eq!(&*route.session_side("blue").unwrap().backend, "blue");
    let mut h = HeaderMap::new();
    h.insert(OVERRIDE, HeaderValue::from_static("blue"));
    assert!(matches!(route.pick(&h), Err(GatewayError::InvalidRequest(_))));
    // Naming it again brings it back as a full side.
    let back = Split::build("/mcp", &weights(&[("blue", 1)]), &t, &Limits::default(), Some(&route.split())).unwrap();
    assert!(
        back.named("blue").unwrap().retired_since.is_none() && back.named("green").unwrap().retired_since.is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn a_retired_side_expires_session_ttl_after_it_was_retired_unless_the_file_names_it() {
    const TTL: std::time::Duration = std::time::Duration::from_secs(3600);
    let t = targets();
    let l = Limits::default();
    let all = Split::build("/mcp", &weights(&[("blue", 8), ("green", 1), ("canary", 1)]), &t, &l, None).unwrap();
    let start = tokio::time::Instant::now();
    // The file names blue and green; the API leaves out green and canary.
    let file = |b: &str| b == "blue" || b == "green";
    let api = Split::build("/mcp", &weights(&[("blue", 1)]), &t, &l, Some(&all)).unwrap();
    assert_eq!(api.next_expiry(TTL, file), Some(start + TTL));
    assert!(api.without_expired(start + TTL - std::time::Duration::from_secs(1), TTL, file).is_none());
    // Another change later does not make canary's sessions any younger.
    tokio::time::advance(TTL / 2).await;
    let again = Split::build("/mcp", &weights(&[("blue", 2)]), &t, &l, Some(&api)).unwrap();
    assert_eq!(again.named("canary").unwrap().retired_since, Some(start));
    let (left, gone) = again.without_expired(start + TTL, TTL, file).unwrap();
    assert_eq!(gone, [Arc::<str>::from("canary")]);
    assert_eq!(left.weights(), weights(&[("blue", 2), ("green", 0)]));
    assert!(left.next_expiry(TTL, file).is_none() && left.without_expired(start + TTL * 9, TTL, file).is_none());
    assert_eq!(&*left.choose(7).unwrap().backend, "blue", "the draw still adds up");
}

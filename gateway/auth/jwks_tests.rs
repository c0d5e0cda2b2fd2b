//! When keys are fetched again, on tokio's paused clock, and what a JWKS
//! document must hold.

use std::time::Duration;

use tokio::time::{Instant, advance};

use super::*;

#[tokio::test(start_paused = true)]
async fn keys_are_due_at_their_max_age_and_unknown_kids_wait_for_min_refresh() {
    let mut s = Schedule::new(Duration::from_secs(30));
    assert!(s.stale(Instant::now()), "nothing fetched yet");
    s.attempt(Instant::now());
    s.fetched(Instant::now(), Some(Duration::from_secs(300)));
    assert!(!s.stale(Instant::now()));
    assert!(!s.may_fetch(Instant::now()), "an unknown kid right after a fetch waits");
    advance(Duration::from_secs(30)).await;
    assert!(s.may_fetch(Instant::now()));
    assert!(!s.stale(Instant::now()), "but the keys are still fresh");
    advance(Duration::from_secs(270)).await;
    assert!(s.stale(Instant::now()), "max-age reached");
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_is_not_retried_before_min_refresh() {
    let mut s = Schedule::new(Duration::from_secs(30));
    s.attempt(Instant::now());
    // No success: still no keys, but the next try waits.
    assert!(!s.stale(Instant::now()));
    advance(Duration::from_secs(29)).await;
    assert!(!s.stale(Instant::now()));
    advance(Duration::from_secs(1)).await;
    assert!(s.stale(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn max_age_is_clamped_between_min_refresh_and_a_day() {
    let mut s = Schedule::new(Duration::from_secs(30));
    s.attempt(Instant::now());
    s.fetched(Instant::now(), Some(Duration::ZERO));
    advance(Duration::from_secs(29)).await;
    assert!(!s.stale(Instant::now()), "no-cache still waits min_refresh");
    advance(Duration::from_secs(1)).await;
    assert!(s.stale(Instant::now()));
    s.attempt(Instant::now());
    s.fetched(Instant::now(), Some(Duration::from_secs(10 * 24 * 3600)));
    advance(Duration::from_secs(24 * 3600)).await;
    assert!(s.stale(Instant::now()), "a day at most");
}

#[test]
fn cache_control_max_age_is_read() {
    assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
    assert_eq!(max_age("Max-Age=\"60\""), Some(Duration::from_secs(60)));
    assert_eq!(max_age("no-store"), Some(Duration::ZERO));
    assert_eq!(max_age("private"), None);
    assert_eq!(max_age("max-age=soon"), None);
}

#[test]
fn a_jwks_needs_a_usable_signing_key_and_hmac_keys_are_left_out() {
    for bad in
        [&b"not json"[..], b"{}", br#"{"keys": []}"#, br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#]
    {
        assert!(KeySet::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let doc = br#"{"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    ]}"#;
    let keys = KeySet::parse(doc).unwrap();
    assert_eq!(keys.candidates(Some("ed")).len(), 1);
    assert!(keys.candidates(Some("h")).is_empty(), "an HMAC key is never a candidate");
    assert!(keys.candidates(Some("enc")).is_empty(), "an encryption key is not for signatures");
    assert_eq!(keys.candidates(None).len(), 1);
    assert!(keys.candidates(Some("other")).is_empty());
}

//! Sealing, opening and the plaintext layout of session tokens.

use super::*;

fn ticket() -> Ticket {
    Ticket {
        backend: "search".into(),
        instance: "http://10.0.0.5:3001/mcp".into(),
        upstream_session: "up-123".into(),
        protocol_version: "2025-06-18".into(),
        client_caps: ClientCaps::SAMPLING | ClientCaps::ROOTS,
        issued_at: 1_700_000_000,
        members: Default::default(),
        principal: None,
    }
}

/// A token of `version` around `plain`, sealed as [`SessionKey::seal`] would.
fn sealed(key: &SessionKey, version: u8, plain: &[u8]) -> String {
    let mut buf = vec![version];
    buf.extend_from_slice(&[0u8; NONCE_LEN]);
    buf.extend_from_slice(plain);
    key.seal_buf("/mcp", buf, 1 + NONCE_LEN)
}

fn field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[test]
fn round_trip() {
    let key = SessionKey::from_secret("k");
    let token = key.seal("/mcp", &ticket());
    assert!(token.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert_eq!(key.unseal("/mcp", &token).unwrap(), ticket());
}

#[test]
fn capabilities_round_trip() {
    let key = SessionKey::from_secret("k");
    for caps in [ClientCaps::NONE, ClientCaps::ELICITATION, ClientCaps::SAMPLING | ClientCaps::ROOTS] {
        let t = Ticket { client_caps: caps, ..ticket() };
        assert_eq!(key.unseal("/mcp", &key.seal("/mcp", &t)).unwrap().client_caps, caps);
    }
}

/// A token of format 2 (before capabilities), sealed under the right key
/// for the right route, still does not open: its layout is not this one.
#[test]
fn the_previous_format_opens_with_no_capabilities_and_older_ones_do_not() {
    let key = SessionKey::from_secret("k");
    let mut v2 = 1_700_000_000u64.to_be_bytes().to_vec();
    for f in ["search", "http://10.0.0.5:3001/mcp", "up-123", "2025-06-18"] {
        field(&mut v2, f);
    }
    let opened = key.unseal("/mcp", &sealed(&key, 2, &v2)).unwrap();
    assert_eq!(opened, Ticket { client_caps: ClientCaps::default(), ..ticket() });
    // Version 1, or the old layout behind this version's byte, does not.
    assert_eq!(key.unseal("/mcp", &sealed(&key, 1, &v2)), Err(OpenError::Malformed));
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION + 1, &v2)), Err(OpenError::Malformed));
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &v2)), Err(OpenError::Rejected));
    // A version-2 record cut short, or with a byte too many.
    assert_eq!(key.unseal("/mcp", &sealed(&key, 2, &v2[..v2.len() - 1])), Err(OpenError::Rejected));
    let mut longer = v2.clone();
    longer.push(0);
    assert_eq!(key.unseal("/mcp", &sealed(&key, 2, &longer)), Err(OpenError::Rejected));
}

#[test]
fn bad_plaintexts_are_rejected() {
    let key = SessionKey::from_secret("k");
    let mut good = Vec::new();
    encode(&ticket(), &mut good);
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &good)).unwrap(), ticket());
    // Cut short inside the capabilities byte, or inside a field.
    for len in [8, good.len() - 1] {
        assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &good[..len])), Err(OpenError::Rejected), "{len}");
    }
    // Bytes after the last field.
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &longer)), Err(OpenError::Rejected));
    // A capability bit no format defines.
    let mut unknown = good.clone();
    unknown[8] |= 0x80;
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &unknown)), Err(OpenError::Rejected));
}

#[test]
fn nonces_differ() {
    let key = SessionKey::from_secret("k");
    assert_ne!(key.seal("/mcp", &ticket()), key.seal("/mcp", &ticket()));
}

#[test]
fn same_secret_opens_across_instances() {
    let token = SessionKey::from_secret("shared").seal("/mcp", &ticket());
    assert_eq!(SessionKey::from_secret("shared").unseal("/mcp", &token).unwrap(), ticket());
    assert_eq!(SessionKey::from_secret("other").unseal("/mcp", &token), Err(OpenError::Rejected));
}

#[test]
fn other_route_is_rejected() {
    let key = SessionKey::from_secret("k");
    let token = key.seal("/a", &ticket());
    assert_eq!(key.unseal("/b", &token), Err(OpenError::Rejected));
}

#[test]
fn tampering_is_rejected() {
    let key = SessionKey::from_secret("k");
    let token = key.seal("/mcp", &ticket());
    let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert_eq!(key.unseal("/mcp", &URL_SAFE_NO_PAD.encode(&raw)), Err(OpenError::Rejected));
    raw[last] ^= 1;
    raw[20] ^= 0x80;
    assert_eq!(key.unseal("/mcp", &URL_SAFE_NO_PAD.encode(&raw)), Err(OpenError::Rejected));
}

#[test]
fn garbage_is_malformed() {
    let key = SessionKey::from_secret("k");
    for bad in ["", "!!!", "abc", "upstream-session-id-from-somewhere-else"] {
        assert!(key.unseal("/mcp", bad).is_err(), "{bad}");
    }
}

#[test]
fn a_token_opens_until_it_is_ttl_old_and_never_after() {
    let key = SessionKey::from_secret("k").with_ttl(Duration::from_secs(3600));
    let issued = ticket().issued_at;
    let token = key.seal("/mcp", &ticket());
    assert_eq!(key.open_at("/mcp", &token, issued), Ok(ticket()));
    assert_eq!(key.open_at("/mcp", &token, issued + 3599), Ok(ticket()));
    assert_eq!(key.open_at("/mcp", &token, issued + 3600), Err(OpenError::Expired));
    assert_eq!(key.open_at("/mcp", &token, issued + 86_400 * 365), Err(OpenError::Expired));
    // Issued by a replica whose clock runs ahead: not old.
    assert_eq!(key.open_at("/mcp", &token, issued - 60), Ok(ticket()));
    // The same key under the default ttl: a day.
    let daily = key.with_ttl(DEFAULT_TTL);
    assert_eq!(daily.open_at("/mcp", &token, issued + 86_399), Ok(ticket()));
    assert_eq!(daily.open_at("/mcp", &token, issued + 86_400), Err(OpenError::Expired));
    // A fresh token opens on the wall clock; an old one does not.
    let now = Ticket { issued_at: unix_now(), ..ticket() };
    assert_eq!(key.open("/mcp", &key.seal("/mcp", &now)), Ok(now));
    assert_eq!(key.open("/mcp", &token), Err(OpenError::Expired));
    // Age is checked after the seal: a forged token is rejected, not expired.
    assert_eq!(key.open_at("/other", &token, issued + 3600), Err(OpenError::Rejected));
}

#[test]
fn members_round_trip_and_version_3_opens_with_none() {
    let key = SessionKey::from_secret("k");
    let member = |m: &str, up: &str| MemberSession {
        member: m.into(),
        backend: format!("{m}-backend"),
        instance: format!("http://{m}:3001/mcp"),
        upstream_session: up.into(),
    };
    let t = Ticket { members: vec![member("wiki", "up-1"), member("files", "")].into(), ..ticket() };
    assert_eq!(key.unseal("/mcp", &key.seal("/mcp", &t)).unwrap(), t);
    // Cut inside a member, or a count that promises more than follows.
    let mut plain = Vec::new();
    encode(&t, &mut plain);
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &plain[..plain.len() - 1])), Err(OpenError::Rejected));
    // A version-3 token (no member section) from a replica not yet upgraded.
    let mut v3 = Vec::new();
    encode(&ticket(), &mut v3);
    v3.truncate(v3.len() - 2); // the principal flag and member count later versions added
    assert_eq!(key.unseal("/mcp", &sealed(&key, 3, &v3)).unwrap(), ticket());
    // The same bytes as a version-4 token lack the count.
    assert_eq!(key.unseal("/mcp", &sealed(&key, 4, &v3)), Err(OpenError::Rejected));
}

#[test]
fn the_principal_round_trips_and_version_4_opens_with_none() {
    let key = SessionKey::from_secret("k");
    let t = Ticket { principal: Some([7u8; 16]), ..ticket() };
    let opened = key.unseal("/mcp", &key.seal("/mcp", &t)).unwrap();
    assert_eq!(opened.principal, Some([7u8; 16]));
    assert_eq!(opened, t);
    // A version-4 token: no principal section before the member count.
    let mut plain = Vec::new();
    encode(&ticket(), &mut plain);
    let count = plain.pop().unwrap();
    assert_eq!(plain.pop(), Some(0), "no principal");
    plain.push(count);
    assert_eq!(key.unseal("/mcp", &sealed(&key, 4, &plain)).unwrap(), ticket());
    // A principal flag that promises 16 bytes which are not there.
    let mut short = Vec::new();
    encode(&t, &mut short);
    short.truncate(short.len() - 5);
    assert_eq!(key.unseal("/mcp", &sealed(&key, VERSION, &short)), Err(OpenError::Rejected));
}

//! Sealing and opening session tokens.
//!
//! Wire form: `base64url(version ‖ nonce ‖ ciphertext ‖ tag)`, all visible
//! ASCII as the spec asks of session ids. The plaintext is a small
//! length-prefixed record, not JSON, because it is sealed and opened on every
//! request.
//!
//! A token opens for `session_ttl` after it was issued (the time it carries,
//! in whole seconds of the wall clock, so that every replica agrees), and
//! not after: its client gets 404 and initializes again. Without an end, a
//! token would stay good forever, and the gateway could never know that no
//! session is left on a side retired from a split (see [`crate::route`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use super::ClientCaps;

/// Format version; bump when the plaintext layout changes. A token older
/// than [`PREVIOUS`] does not open (404), and its client re-initializes.
/// 3 added the client's capabilities; 4 the members of an aggregated route;
/// 5 the authenticated principal.
const VERSION: u8 = 5;
/// The oldest format still opened: tokens minted before an upgrade, or by a
/// replica not yet upgraded, keep their sessions through a rolling deploy.
const PREVIOUS: u8 = 2;
/// How long a token opens when the config says nothing: `[gateway] session_ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What a session token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The backend of the route's split the session lives on, so that a
    /// change of weights moves new sessions only.
    pub backend: String,
    /// The instance URL the session is pinned to. A URL rather than an index,
    /// so that replicas whose configs list instances in another order agree.
    pub instance: String,
    /// The upstream's own `Mcp-Session-Id`.
    pub upstream_session: String,
    /// The protocol version the session negotiated (empty when unknown).
    pub protocol_version: String,
    /// What the client declared in its `initialize`, so that a stdio child's
    /// requests (sampling, elicitation, roots) reach only a client that can
    /// answer them. Empty for HTTP backends, whose upstream saw the client's
    /// own `initialize`.
    pub client_caps: ClientCaps,
    /// Seconds since the Unix epoch when the token was issued.
    pub issued_at: u64,
    /// On an aggregated route, the upstream session with each member that
    /// answered `initialize`, in member order; empty on other routes.
    pub members: std::sync::Arc<[MemberSession]>,
    /// On a route with `auth`, the digest of the identity that opened the
    /// session: a token presented with another caller's credential gets
    /// 404, as a forged one does. `None` on open routes, and in tokens of
    /// formats before 5.
    pub principal: Option<[u8; 16]>,
}

/// A session's upstream session with one member of an aggregated route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSession {
    /// The member's key (its prefix, or its backend's name when unprefixed).
    pub member: String,
    /// The backend of the member's split the session lives on.
    pub backend: String,
    /// The instance URL, as in [`Ticket::instance`].
    pub instance: String,
    /// The member's own `Mcp-Session-Id` (empty when it issued none).
    pub upstream_session: String,
}

/// Why a token did not open. All of these get 404, so that the client
/// re-initializes, as the spec asks for an unknown session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not base64url, or too short to hold a nonce and tag.
    #[error("session id is malformed")]
    Malformed,
    /// Sealed under another key, for another route, or tampered with.
    #[error("session id does not open")]
    Rejected,
    /// Issued `session_ttl` or longer ago.
    #[error("session id has expired")]
    Expired,
}

/// The AEAD key tokens are sealed with, and how long what it seals opens.
#[derive(Clone)]
pub struct SessionKey {
    key: LessSafeKey,
    rng: SystemRandom,
    /// A token issued this long ago or longer no longer opens.
    ttl: Duration,
}

impl SessionKey {
    /// Derives the key from the configured secret. Any string works; it is
    /// hashed to 32 bytes with a domain separator.
    pub fn from_secret(secret: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"switchyard session key v1\0");
        ctx.update(secret.as_bytes());
        Self::from_bytes(ctx.finish().as_ref())
    }

    /// A random key, for when none is configured.
    pub fn random() -> Self {
        let rng = SystemRandom::new();
        let mut bytes = [0u8; 32];
        // SystemRandom only fails when the OS has no entropy source at all;
        // a zero key would then still work, and the caller warns anyway.
        rng.fill(&mut bytes).unwrap_or_default();
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        // 32 bytes is exactly CHACHA20_POLY1305's key length, so this cannot fail.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .unwrap_or_else(|_| unreachable!("a SHA-256 digest is a valid ChaCha20-Poly1305 key"));
        Self { key: LessSafeKey::new(unbound), rng: SystemRandom::new(), ttl: DEFAULT_TTL }
    }

    /// The same key, whose tokens open for `ttl` after they were issued.
    /// Tokens it sealed before open under either, as far as their age allows.
    pub fn with_ttl(&self, ttl: Duration) -> Self {
        Self { ttl, ..self.clone() }
    }

    /// How long a token opens after it was issued.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Seals `ticket` for `route`.
    pub fn seal(&self, route: &str, ticket: &Ticket) -> String {
        let mut buf = Vec::with_capacity(
            1 + NONCE_LEN + 64 + ticket.backend.len() + ticket.instance.len() + ticket.upstream_session.len(),
        );
        buf.push(VERSION);
        buf.extend_from_slice(&[0u8; NONCE_LEN]);
        let plain_at = buf.len();
        encode(ticket, &mut buf);
        self.seal_buf(route, buf, plain_at)
    }

    /// Seals `buf[plain_at..]` in place, behind the version byte and a fresh
    /// nonce that `buf[1..plain_at]` holds room for.
    fn seal_buf(&self, route: &str, mut buf: Vec<u8>, plain_at: usize) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).unwrap_or_default();
        buf[1..plain_at].copy_from_slice(&nonce);
        let mut plain = buf.split_off(plain_at);
        // Sealing fails only when the input exceeds ChaCha's 256 GiB limit.
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(route), &mut plain)
            .unwrap_or_else(|_| unreachable!("token plaintext is tiny"));
        buf.extend_from_slice(&plain);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Opens a token that was sealed for `route` and is not yet
    /// [`SessionKey::ttl`] old.
    pub fn open(&self, route: &str, token: &str) -> Result<Ticket, OpenError> {
        self.open_at(route, token, unix_now())
    }

    /// [`SessionKey::open`], at `now` seconds since the Unix epoch.
    pub fn open_at(&self, route: &str, token: &str, now: u64) -> Result<Ticket, OpenError> {
        let ticket = self.unseal(route, token)?;
        self.check_age(&ticket, now)?;
        Ok(ticket)
    }

    /// Refuses a ticket issued [`SessionKey::ttl`] or longer before `now`
    /// (seconds since the Unix epoch). One issued after `now`, by a replica
    /// whose clock runs ahead, is not old.
    pub fn check_age(&self, ticket: &Ticket, now: u64) -> Result<(), OpenError> {
        match now.saturating_sub(ticket.issued_at) >= self.ttl.as_secs() {
            true => Err(OpenError::Expired),
            false => Ok(()),
        }
    }

    /// What a token for `route` says, whatever its age.
    fn unseal(&self, route: &str, token: &str) -> Result<Ticket, OpenError> {
        let mut raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| OpenError::Malformed)?;
        let version = raw.first().copied().unwrap_or(0);
        if raw.len() < 1 + NONCE_LEN + CHACHA20_POLY1305.tag_len() || !(PREVIOUS..=VERSION).contains(&version) {
            return Err(OpenError::Malformed);
        }
        let nonce = Nonce::try_assume_unique_for_key(&raw[1..1 + NONCE_LEN]).map_err(|_| OpenError::Malformed)?;
        let plain =
            self.key.open_in_place(nonce, aad(route), &mut raw[1 + NONCE_LEN..]).map_err(|_| OpenError::Rejected)?;
        decode(plain, version).ok_or(OpenError::Rejected)
    }
}

/// Now, in seconds since the Unix epoch, as tokens count their age.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn aad(route: &str) -> Aad<&[u8]> {
    Aad::from(route.as_bytes())
}

fn encode(t: &Ticket, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.issued_at.to_be_bytes());
    out.push(t.client_caps.bits());
    for field in [&t.backend, &t.instance, &t.upstream_session, &t.protocol_version] {
        put(out, field);
    }
    match &t.principal {
        Some(digest) => {
            out.push(1);
            out.extend_from_slice(digest);
        }
        None => out.push(0),
    }
    // A route has far fewer than 256 members; the config caps them.
    let members = &t.members[..t.members.len().min(u8::MAX as usize)];
    out.push(members.len() as u8);
    for m in members {
        for field in [&m.member, &m.backend, &m.instance, &m.upstream_session] {
            put(out, field);
        }
    }
}

fn put(out: &mut Vec<u8>, field: &str) {
    // Fields longer than u16 cannot come from a sane upstream; truncating
    // would corrupt them, so they are capped at the header limit instead.
    let bytes = &field.as_bytes()[..field.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn decode(mut b: &[u8], version: u8) -> Option<Ticket> {
    let issued_at = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    b = &b[8..];
    // Version 2 had no capabilities byte: its sessions declared none, which
    // only means a stdio child's requests are not passed to them.
    let client_caps = if version == PREVIOUS { ClientCaps::default() } else { ClientCaps::from_bits(*b.first()?)? };
    if version != PREVIOUS {
        b = &b[1..];
    }
    let backend = take(&mut b)?;
    let instance = take(&mut b)?;
    let upstream_session = take(&mut b)?;
    let protocol_version = take(&mut b)?;
    let mut principal = None;
    if version >= 5 {
        let flag = *b.first()?;
        b = &b[1..];
        if flag == 1 {
            principal = Some(b.get(..16)?.try_into().ok()?);
            b = &b[16..];
        }
    }
    let mut members = Vec::new();
    // Versions before 4 end here: they had no members.
    if version >= 4 {
        let count = *b.first()?;
        b = &b[1..];
        for _ in 0..count {
            let (member, backend) = (take(&mut b)?, take(&mut b)?);
            let (instance, upstream_session) = (take(&mut b)?, take(&mut b)?);
            members.push(MemberSession { member, backend, instance, upstream_session });
        }
    }
    // Anything left over means the layout is not this version's.
    b.is_empty().then_some(Ticket {
        backend,
        instance,
        upstream_session,
        protocol_version,
        client_caps,
        issued_at,
        members: members.into(),
        principal,
    })
}

/// The next length-prefixed field of `b`.
fn take(b: &mut &[u8]) -> Option<String> {
    let len = u16::from_be_bytes(b.get(..2)?.try_into().ok()?) as usize;
    let s = std::str::from_utf8(b.get(2..2 + len)?).ok()?.to_string();
    *b = &b[2 + len..];
    Some(s)
}

#[cfg(test)]
mod tests;

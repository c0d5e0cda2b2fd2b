//! The config's shape: serde types that mirror the file.
//!
//! Every section is `#[serde(default, deny_unknown_fields)]` with an
//! `impl Default`, so a file says only what differs from the defaults, and a
//! misspelt key is an error rather than a silently ignored line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::cache::Cache;
use super::limit::RateLimit;
use super::resilience::{HealthCheck, Outlier, Retry};
use super::routing::Route;
use super::units::{ByteSize, Duration};
use super::upstream_auth::OAuth;
use super::values::{HeaderKey, InstanceUrl};

/// The whole config file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The listener and gateway-wide settings.
    pub gateway: Gateway,
    /// Named pools of MCP servers.
    pub backends: Vec<Backend>,
    /// Which path goes to which backend.
    pub routes: Vec<Route>,
    /// GCRA rate limits checked at the front door (see `config::limit`).
    pub rate_limits: Vec<RateLimit>,
    /// Credentials routes accept (see `config::auth`).
    pub auth: Vec<super::auth::Auth>,
    /// Who may use which tools, prompts and resources, per route.
    pub authz: Vec<super::auth::Authz>,
}

/// `[gateway]`: the listener and gateway-wide settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gateway {
    /// Address to listen on. Loopback by default, as the MCP security rules ask.
    pub listen: SocketAddr,
    /// Secret the session tokens are sealed with. Replicas that share it can
    /// serve each other's sessions; without it a random key is used, and every
    /// restart ends every session.
    pub session_key: Option<String>,
    /// Largest request body accepted; larger bodies get 413.
    pub max_body_bytes: ByteSize,
    /// Browser origins allowed to call the gateway. A request with an `Origin`
    /// not in this list gets 403. Entries are `scheme://host[:port]`; a port of
    /// `*` matches any port.
    pub allowed_origins: Vec<String>,
    /// How long in-flight requests and SSE streams get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Serve TLS (h2 and HTTP/1.1 by ALPN) with these PEM files.
    pub tls: Option<Tls>,
    /// Most open client connections; further clients wait to be accepted.
    pub max_connections: usize,
    /// Most open connections from one client address; a connection past it
    /// is closed as soon as it is accepted, so that one client cannot hold
    /// every slot of `max_connections`. 0 turns the cap off (behind a load
    /// balancer or proxy every connection comes from its address). 1024 by
    /// default: a tenth of `max_connections`, and room for a pooled HTTP/1.1
    /// client with a few hundred requests in flight, whose pool opens more
    /// connections than it has requests (256 was too few for 200).
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request head, counted whole
    /// (not per read). The first one's clock starts at accept, so it also
    /// bounds the TLS handshake and a client that sends nothing.
    pub header_read_timeout: Duration,
    /// Most request headers accepted on HTTP/1.1.
    pub max_headers: usize,
    /// Most concurrent streams one h2 connection may open
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub h2_max_concurrent_streams: u32,
    /// When set, the only `command`s a stdio backend may run, compared as
    /// exact strings after `${VAR}` expansion: `npx` allows only the bare
    /// name `npx`, never `/usr/bin/npx`. A file naming another command does
    /// not load. Unset: any command.
    pub allowed_commands: Option<Vec<String>>,
    /// Serve the admin API on its own listener at this address. Without a
    /// token it must be a loopback address.
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the admin API asks for. With it and without
    /// `admin_listen`, the admin API is served under `/admin` on the main
    /// listener.
    pub admin_token: Option<String>,
    /// Named admin tokens, `{ alice = "…" }`: the log names who made each change.
    pub admin_tokens: BTreeMap<String, String>,
    /// Reload when the config file changes.
    pub watch_config: bool,
    /// How long a session lives, counted from when its token was issued: an
    /// older token gets 404, and its client initializes again. It also
    /// bounds how long a side retired from a split can still have sessions,
    /// so one retired through the admin API (or by a reload) is dropped that
    /// long after. 24 h by default: a working day of a long-lived client,
    /// without keeping every retired canary forever.
    pub session_ttl: Duration,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            session_key: None,
            max_body_bytes: ByteSize(4 << 20),
            allowed_origins: vec!["http://localhost:*".into(), "http://127.0.0.1:*".into(), "http://[::1]:*".into()],
            shutdown_grace: Duration::secs(30),
            tls: None,
            max_connections: 10_000,
            max_connections_per_ip: 1024,
            header_read_timeout: Duration::secs(10),
            max_headers: 100,
            h2_max_concurrent_streams: 256,
            allowed_commands: None,
            admin_listen: None,
            admin_token: None,
            admin_tokens: BTreeMap::new(),
            watch_config: false,
            session_ttl: Duration::secs(24 * 60 * 60),
        }
    }
}

/// `[gateway.tls]`: PEM certificate chain and private key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How a backend's instances are reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Streamable HTTP.
    #[default]
    Http,
    /// Child processes speaking newline-delimited JSON on stdin and stdout.
    Stdio,
}

/// Which protocol eras an HTTP backend's servers speak (`era`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEra {
    /// Learned per instance, once: `server/discover`, then `initialize`.
    /// A client of an era the server speaks is proxied as it is; only a
    /// client of the other era is bridged.
    #[default]
    Auto,
    /// Session era only (2025-03-26 to 2025-11-25): 2026-07-28 clients are
    /// bridged onto upstream sessions the gateway holds.
    Session,
    /// 2026-07-28 only: session-era clients get a session the gateway
    /// keeps itself, and each request is sent stateless.
    Stateless,
}

/// How client sessions map onto a stdio backend's processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StdioMode {
    /// Every process serves every client; requests go to the least loaded.
    #[default]
    Shared,
    /// Each client session gets a process of its own.
    PerSession,
}

/// Restart backoff for stdio processes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Restart {
    /// First delay after a crash.
    pub initial: Duration,
    /// Largest delay, reached by doubling.
    pub max: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Self { initial: Duration::millis(250), max: Duration::secs(30) }
    }
}

/// `[[backends]]`: a named pool of interchangeable MCP servers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backend {
    /// The name routes refer to.
    pub name: Spanned<String>,
    /// How instances are reached.
    pub transport: Transport,
    /// HTTP: which protocol eras the instances speak (`auto`, `session`,
    /// `stateless`); clients of the other era are bridged.
    pub era: ServerEra,
    /// The servers in the pool.
    pub instances: Vec<Instance>,
    /// Overall deadline of a request, every retry included. For a POST it
    /// covers the whole response, SSE body and all, except for
    /// `subscriptions/listen`; for GET and DELETE it covers the response head.
    pub timeout: Duration,
    /// Per-method overrides of `timeout`, such as `"tools/call" = "60s"`.
    pub timeouts: BTreeMap<String, Duration>,
    /// Deadline of one attempt's response head, so that a retry has time
    /// left. Unset, an attempt may use whatever is left of `timeout`.
    pub attempt_timeout: Option<Duration>,
    /// When failed attempts are retried.
    pub retry: Retry,
    /// Active health probes.
    pub health: HealthCheck,
    /// Passive outlier detection.
    pub outlier: Outlier,
    /// How new work is spread over the instances: `"p2c"` or `"round_robin"`.
    pub balance: super::balance::Balance,
    /// The response cache; none when absent.
    pub cache: Option<Cache>,
    /// Deadline for opening a TCP connection to an instance.
    pub connect_timeout: Duration,
    /// Static headers sent upstream, such as the upstream's own credential.
    /// The client's `Authorization` is never forwarded; this is how an
    /// upstream gets one.
    pub headers: BTreeMap<HeaderKey, String>,
    /// Forward the client's own `Authorization` (or `X-Api-Key`) to this
    /// backend. The spec forbids token passthrough; this is an explicit,
    /// logged opt-in for servers that must act as the user.
    pub passthrough_auth: bool,
    /// Extra PEM root certificates to trust for `https` instances, beside the
    /// webpki roots.
    pub ca: Option<PathBuf>,
    /// A client certificate chain (PEM) offered to `https` instances that
    /// ask for one (mTLS); needs `client_key`.
    pub client_cert: Option<Spanned<PathBuf>>,
    /// The private key of `client_cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<Spanned<PathBuf>>,
    /// An OAuth client-credentials token the gateway fetches itself and
    /// sends upstream as `Authorization: Bearer` (see `config::upstream_auth`).
    pub oauth: Option<Spanned<OAuth>>,
    /// stdio: the program to run. Commands come only from config, never from
    /// a request. Spanned, so that `[gateway] allowed_commands` can name its line.
    pub command: Option<Spanned<String>>,
    /// stdio: its arguments.
    pub args: Vec<String>,
    /// stdio: environment variables set for the child (values may use
    /// `${VAR}`), on top of the few it inherits (see `inherit_env`).
    pub env: BTreeMap<String, String>,
    /// stdio: give the child the gateway's whole environment instead of only
    /// `HOME`, `PATH`, `USER`, `LOGNAME`, `SHELL`, `TERM`, `TMPDIR` and
    /// `LANG`. Off by default, so that the gateway's secrets (the session
    /// key's variable, cloud credentials) do not reach every child.
    pub inherit_env: bool,
    /// stdio: working directory.
    pub cwd: Option<PathBuf>,
    /// stdio: pool size in `shared` mode.
    pub processes: usize,
    /// stdio: `shared` or `per_session`.
    pub mode: StdioMode,
    /// stdio: longest stdout line accepted; a longer one fails only its request.
    pub max_line_bytes: ByteSize,
    /// stdio: restart backoff.
    pub restart: Restart,
    /// stdio `per_session`: a session's process is stopped after this long unused.
    pub idle_timeout: Duration,
    /// stdio `per_session`: most processes at once; past it new sessions get 503.
    pub max_processes: usize,
    /// Most requests in flight to this backend, over all routes; past it a
    /// request gets a fast 503 with `Retry-After`. Unset: no limit.
    pub max_in_flight: Option<std::num::NonZeroU32>,
}

impl Backend {
    /// The paths of the backend's client certificate and key, when both
    /// are set (validation refuses one without the other).
    pub fn client_identity(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some((cert.get_ref().as_path(), key.get_ref().as_path())),
            _ => None,
        }
    }

    /// The `oauth` table, without its span.
    pub fn oauth(&self) -> Option<&OAuth> {
        self.oauth.as_ref().map(Spanned::get_ref)
    }
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            name: Spanned::new(0..0, String::new()),
            transport: Transport::Http,
            era: ServerEra::Auto,
            instances: Vec::new(),
            timeout: Duration::secs(30),
            timeouts: BTreeMap::new(),
            attempt_timeout: None,
            retry: Retry::default(),
            health: HealthCheck::default(),
            outlier: Outlier::default(),
            balance: Default::default(),
            cache: None,
            connect_timeout: Duration::secs(5),
            headers: BTreeMap::new(),
            passthrough_auth: false,
            ca: None,
            client_cert: None,
            client_key: None,
            oauth: None,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            inherit_env: false,
            cwd: None,
            processes: 1,
            mode: StdioMode::Shared,
            max_line_bytes: ByteSize(16 << 20),
            restart: Restart::default(),
            idle_timeout: Duration::secs(600),
            max_processes: 64,
            max_in_flight: None,
        }
    }
}

/// One instance of a backend.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// The instance's MCP endpoint, `http://` or `https://`.
    pub url: InstanceUrl,
    /// Relative share of traffic (used by the balancer).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

impl Backend {
    /// stdio: the program to run; empty for an HTTP backend (a stdio backend
    /// without one does not load).
    pub fn program(&self) -> &str {
        self.command.as_ref().map_or("", |c| c.get_ref().as_str())
    }

    /// The static upstream headers as wire values. Invalid values were
    /// rejected at load, so none are dropped here in practice.
    pub fn header_values(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.headers
            .iter()
            .filter_map(|(k, v)| {
                let mut value = HeaderValue::from_str(v).ok()?;
                value.set_sensitive(true);
                Some((k.0.clone(), value))
            })
            .collect()
    }
}

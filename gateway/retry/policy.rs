//! What may be retried, how long to wait, and the budget.
//!
//! The protocol decision, in one place:
//!
//! - A connection that failed never reached the upstream, so nothing ran:
//!   it is always retried.
//! - A 5xx, a reset or an attempt timeout may come after the upstream
//!   started the work. Only calls that are harmless to run twice are
//!   retried then: `initialize` (a second session is cheap and the first is
//!   never used), `ping`, the `*/list` methods, `resources/read`,
//!   `prompts/get`, `server/discover`, and the tools the operator lists in
//!   `idempotent_tools`. A `tools/call` that books a flight must not run
//!   twice because a proxy guessed. Tool annotations (`idempotentHint`)
//!   come from the server and are not trusted for this.
//! - Anything else (a 4xx, a JSON-RPC error inside a 200) is the server's
//!   answer and goes back to the client as it is.
//! - The stack returns at the response head, so the decision is made on
//!   the head: no byte of a retried attempt ever reaches the client.

use std::time::Duration;

use http::{HeaderMap, StatusCode, header};

use super::budget::Budget;
use crate::config;
use crate::error::GatewayError;

/// A backend's retry settings, resolved.
pub struct Policy {
    /// Most attempts per request.
    pub attempts: u32,
    /// First backoff.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Tools the operator declared idempotent, sorted for binary search.
    idempotent_tools: Vec<String>,
    /// Caps retries at a share of requests plus a floor per second.
    budget: Budget,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Return this outcome to the client.
    Done,
    /// Try again, waiting at least this long (from `Retry-After`).
    Retry(Duration),
}

impl Policy {
    /// The policy of a backend's `retry` settings.
    pub fn new(cfg: &config::Retry) -> Self {
        let mut idempotent_tools = cfg.idempotent_tools.clone();
        idempotent_tools.sort();
        Self {
            attempts: cfg.attempts.max(1),
            backoff: cfg.backoff.0,
            max_backoff: cfg.max_backoff.0,
            idempotent_tools,
            budget: Budget::new(cfg.budget_percent, cfg.min_per_second),
        }
    }

    /// Whether a call of `method` (tool `name`) is harmless to send twice.
    pub fn replay_safe(&self, method: &str, name: Option<&str>) -> bool {
        match method {
            "initialize" | "ping" | "resources/read" | "prompts/get" | "server/discover" => true,
            "tools/call" => name.is_some_and(|n| self.idempotent_tools.binary_search_by(|t| t.as_str().cmp(n)).is_ok()),
            m => m.ends_with("/list"),
        }
    }

    /// Counts a request towards the budget.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }

    /// The wait before retry number `n` (1 for the first retry): the
    /// backoff doubles each time up to `max_backoff`, and the wait is drawn
    /// between half of that and all of it ("equal jitter"), so that retries
    /// from many clients spread out but none comes back at once.
    pub fn backoff(&self, n: u32) -> Duration {
        let cap = self.backoff.saturating_mul(1u32 << n.saturating_sub(1).min(20)).min(self.max_backoff);
        let half = cap / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// Judges a response head.
pub fn judge_response(status: StatusCode, headers: &HeaderMap, replay_safe: bool) -> Verdict {
    if status.is_server_error() && replay_safe {
        Verdict::Retry(retry_after(headers).unwrap_or(Duration::ZERO))
    } else {
        Verdict::Done
    }
}

/// Judges a failed attempt.
pub fn judge_error(e: &GatewayError, replay_safe: bool) -> Verdict {
    match e {
        GatewayError::UpstreamConnect(_) => Verdict::Retry(Duration::ZERO),
        GatewayError::UpstreamFailed(_) | GatewayError::AttemptTimeout(_) if replay_safe => {
            Verdict::Retry(Duration::ZERO)
        }
        _ => Verdict::Done,
    }
}

/// `Retry-After` in seconds. The HTTP-date form is not read: servers that
/// shed load send seconds, and a date needs a wall clock the deadline does
/// not use.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

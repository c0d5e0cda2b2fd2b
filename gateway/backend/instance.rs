//! One upstream instance and what the gateway knows about its health.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use http::Uri;

/// What the gateway last learned about an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nothing learned yet.
    Unknown,
    /// The last connection attempt succeeded.
    Up,
    /// The last connection attempt failed.
    Down,
}

impl Health {
    /// The name used in `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// An instance of a backend.
pub struct Instance {
    url: Uri,
    url_str: String,
    /// Relative share of traffic, for the balancer.
    pub weight: u32,
    health: AtomicU8,
    /// Why the instance was last marked down; read only by `/health`.
    last_error: Mutex<Option<String>>,
}

impl Instance {
    /// A new instance whose health is unknown.
    pub fn new(url: Uri, weight: u32) -> Self {
        Self { url_str: url.to_string(), url, weight, health: AtomicU8::new(0), last_error: Mutex::new(None) }
    }

    /// The instance's MCP endpoint.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The endpoint as a string, as session tokens name it.
    pub fn url_str(&self) -> &str {
        &self.url_str
    }

    /// The URL without any userinfo, safe to show in `/health`.
    pub fn display_url(&self) -> String {
        match self.url.authority() {
            Some(a) if a.as_str().contains('@') => {
                let host = a.as_str().rsplit('@').next().unwrap_or("");
                format!("{}://{}{}", self.url.scheme_str().unwrap_or("http"), host, self.url.path())
            }
            _ => self.url_str.clone(),
        }
    }

    /// Current health.
    pub fn health(&self) -> Health {
        match self.health.load(Ordering::Relaxed) {
            1 => Health::Up,
            2 => Health::Down,
            _ => Health::Unknown,
        }
    }

    /// Why it was last marked down.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Records a successful exchange.
    pub fn mark_up(&self) {
        // Only write on a change, so the hot path does not bounce a cache line.
        if self.health.load(Ordering::Relaxed) != 1 {
            self.health.store(1, Ordering::Relaxed);
        }
    }

    /// Records a failed connection.
    pub fn mark_down(&self, why: &str) {
        self.health.store(2, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why.to_string());
        }
    }
}

//! One upstream instance: where it is, and its row in the live table.

use std::sync::Arc;

use http::Uri;
use tokio::time::Instant;

use super::{Health, Record};
use crate::telemetry::backend::InstanceMetrics;

/// An instance of a backend.
pub struct Instance {
    url: Uri,
    url_str: String,
    /// Position in the backend's config, which the balancer and the admin
    /// API use to name it.
    pub index: usize,
    /// Its live state: health, ejection, drain, weight, load.
    pub record: Arc<Record>,
    /// The protocol eras it speaks, and the upstream sessions the gateway
    /// holds with it for clients of the other era.
    pub era: super::EraState,
}

impl Instance {
    /// A new instance whose health is unknown.
    /// `epoch` is the zero of the record's clock, shared by the pool.
    pub fn new(url: Uri, weight: u32, index: usize, backend: &str, epoch: Instant) -> Self {
        let url_str = url.to_string();
        let metrics = InstanceMetrics::new(backend, &display_url(&url, &url_str));
        let record = Arc::new(Record::new(weight, epoch, metrics));
        Self { url, url_str, index, record, era: Default::default() }
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
        display_url(&self.url, &self.url_str)
    }

    /// Current health, from the active probes.
    pub fn health(&self) -> Health {
        self.record.health()
    }

    /// Why the health is what it is.
    pub fn last_error(&self) -> Option<String> {
        self.record.reason().map(|r| r.to_string())
    }
}

fn display_url(url: &Uri, url_str: &str) -> String {
    match url.authority() {
        Some(a) if a.as_str().contains('@') => {
            let host = a.as_str().rsplit('@').next().unwrap_or("");
            format!("{}://{}{}", url.scheme_str().unwrap_or("http"), host, url.path())
        }
        _ => url_str.to_string(),
    }
}

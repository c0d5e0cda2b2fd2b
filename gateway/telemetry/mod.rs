//! Logs and metrics.
//!
//! Every request ends in one log line and one set of metric updates, both made
//! by [`RouteMetrics::record`], so the two always agree.

pub mod aggregate;
pub mod auth;
pub mod backend;
pub mod logs;
pub mod metrics;

pub use metrics::RouteMetrics;

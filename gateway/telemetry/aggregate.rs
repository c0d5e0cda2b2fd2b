//! Metrics of aggregated routes.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_aggregate_member_failures_total` | route, member |
//! | `switchyard_aggregate_collisions_total` | route, list |
//! | `switchyard_tool_definition_changes_total` | route, member |
//!
//! Off the hot path (a fan-out's failure, a list's new collision, a
//! changed tool), so the handles are looked up when used.

use metrics::counter;

/// A member failed or ran out of time in a fan-out, or could not open a
/// session.
pub fn member_failed(route: &str, member: &str) {
    counter!("switchyard_aggregate_member_failures_total", "route" => route.to_string(), "member" => member.to_string())
        .increment(1);
}

/// A name more than one member exposes was found in a list.
pub fn collision(route: &str, list: &'static str) {
    counter!("switchyard_aggregate_collisions_total", "route" => route.to_string(), "list" => list).increment(1);
}

/// A tool's definition differs from its pin.
pub fn tool_changed(route: &str, member: &str) {
    counter!("switchyard_tool_definition_changes_total", "route" => route.to_string(), "member" => member.to_string())
        .increment(1);
}

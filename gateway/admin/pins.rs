//! An aggregated route's members and tool pins, as the admin API shows
//! them, and approving a changed tool.
//!
//! Pins live in the route's `pins` file. An approval through one replica's
//! admin API is written to that replica's file: with several replicas,
//! approve on each, or approve on one and distribute its file (a ConfigMap)
//! and reload the others. Nothing is merged between replicas behind the
//! operator's back.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use crate::error::GatewayError;
use crate::route::Aggregate;
use crate::runtime::reload::Live;

/// The members of an aggregated route: key, prefix, sides.
pub(super) fn members(agg: &Aggregate) -> Value {
    let members: Vec<Value> = agg
        .members
        .iter()
        .map(|m| {
            let sides: Vec<Value> =
                m.sides().iter().map(|s| json!({ "backend": &*s.backend, "weight": s.weight })).collect();
            json!({ "member": &*m.key, "prefix": &*m.prefix, "uri_prefix": m.uri_prefix, "sides": sides })
        })
        .collect();
    Value::Array(members)
}

/// `GET /admin/routes/{route}/tools`.
pub(super) fn tools(live: &Arc<Live>, route: &str, _who: &str) -> Result<(StatusCode, Value), GatewayError> {
    let runtime = live.runtime();
    let agg = aggregate(&runtime, route)?;
    let tools: Vec<Value> = agg
        .pins
        .list()
        .into_iter()
        .map(|p| {
            let exposed = agg.members.iter().find(|m| *m.key == p.member).map(|m| agg.naming(m).expose(&p.tool));
            let withheld = agg.settings.pin_tools && p.pending.is_some();
            json!({
                "name": exposed,
                "member": p.member,
                "tool": p.tool,
                "pinned": p.pinned,
                "pending": p.pending,
                "changes": p.changes,
                "withheld": withheld,
            })
        })
        .collect();
    Ok((StatusCode::OK, json!({ "route": route, "pin_tools": agg.settings.pin_tools, "tools": tools })))
}

/// `POST /admin/routes/{route}/tools/{name}/approve`: `name` is the name
/// clients see.
pub(super) fn approve(
    live: &Arc<Live>,
    route: &str,
    name: &str,
    who: &str,
) -> Result<(StatusCode, Value), GatewayError> {
    let runtime = live.runtime();
    let agg = aggregate(&runtime, route)?;
    let owner = match agg.by_prefix(name) {
        Some((i, original)) => Some((agg.members[i].key.to_string(), original.to_string())),
        None => {
            let pins = agg.pins.list();
            agg.unprefixed()
                .map(|i| agg.members[i].key.to_string())
                .find(|key| pins.iter().any(|p| p.member == *key && p.tool == name))
                .map(|key| (key, name.to_string()))
        }
    };
    let Some((member, tool)) = owner else {
        return Err(GatewayError::NotFound(format!("route `{route}` has seen no tool `{name}`")));
    };
    let approved = agg.pins.approve(&member, &tool).map_err(GatewayError::NotFound)?;
    if approved {
        tracing::info!(by = who, route, member, tool, "tool definition change approved");
    }
    Ok((StatusCode::OK, json!({ "name": name, "member": member, "tool": tool, "approved": approved })))
}

fn aggregate<'r>(runtime: &'r crate::runtime::Runtime, route: &str) -> Result<&'r Aggregate, GatewayError> {
    let r = runtime
        .route_named(route)
        .ok_or_else(|| GatewayError::NotFound(format!("no route is named `{route}`; GET /admin/routes lists them")))?;
    r.aggregate().ok_or_else(|| GatewayError::NotFound(format!("route `{route}` does not aggregate members")))
}

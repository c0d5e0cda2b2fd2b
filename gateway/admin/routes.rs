//! The admin API's routes and reload endpoints.
//!
//! | request | what |
//! |---|---|
//! | `GET /admin/routes` | every route: name, path, split, retired sides, sticky header, override |
//! | `PUT /admin/routes/{route}/split` | body `[{"backend": "blue", "weight": 50}, …]`; sides left out stay at 0 |
//! | `GET /admin/routes/{route}/tools` | an aggregated route's pinned tools: fingerprints, pending changes, withheld |
//! | `POST /admin/routes/{route}/tools/{name}/approve` | approves a changed tool (by its exposed name) |
//! | `POST /admin/reload` | reads the config file again; 422 with the errors if it is invalid |

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::Body;
use serde_json::json;

use super::read_json;
use crate::error::GatewayError;
use crate::route::split::Weight;
use crate::runtime::reload::{Live, ReloadError, SetSplitError};

/// Answers `/admin/routes…` and `/admin/reload`.
pub(super) async fn answer<B>(
    live: &Arc<Live>,
    req: Request<B>,
    segments: &[&str],
    who: &str,
) -> Result<(StatusCode, serde_json::Value), GatewayError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<tower::BoxError>,
{
    match (req.method().clone(), segments) {
        (Method::GET, ["admin", "routes"]) => Ok((StatusCode::OK, json!({ "routes": routes(live) }))),
        (_, ["admin", "routes"]) => Err(GatewayError::MethodNotAllowed("GET")),
        (Method::PUT, ["admin", "routes", route, "split"]) => {
            let weights: Vec<Weight> =
                read_json(req.into_body(), "a list such as [{\"backend\": \"blue\", \"weight\": 50}]").await?;
            match live.set_split(route, weights, who).await {
                Ok(change) => Ok((StatusCode::OK, serde_json::to_value(change).unwrap_or_default())),
                Err(SetSplitError::NoRoute(r)) => {
                    Err(GatewayError::NotFound(format!("no route is named `{r}`; GET /admin/routes lists them")))
                }
                Err(e @ SetSplitError::Bad(_)) => Err(GatewayError::Unprocessable(e.to_string())),
            }
        }
        (_, ["admin", "routes", _, "split"]) => Err(GatewayError::MethodNotAllowed("PUT")),
        (Method::GET, ["admin", "routes", route, "tools"]) => super::pins::tools(live, route, who),
        (_, ["admin", "routes", _, "tools"]) => Err(GatewayError::MethodNotAllowed("GET")),
        (Method::POST, ["admin", "routes", route, "tools", name, "approve"]) => {
            super::pins::approve(live, route, name, who)
        }
        (_, ["admin", "routes", _, "tools", _, "approve"]) => Err(GatewayError::MethodNotAllowed("POST")),
        (Method::POST, ["admin", "reload"]) => match live.reload(who).await {
            Ok(report) => {
                let mut body = serde_json::to_value(report).unwrap_or_default();
                body["status"] = json!("reloaded");
                Ok((StatusCode::OK, body))
            }
            Err(e @ ReloadError::NoSource) => Err(GatewayError::Unprocessable(e.to_string())),
            Err(e) => Err(GatewayError::Unprocessable(format!("reload refused, the running config stays: {e}"))),
        },
        (_, ["admin", "reload"]) => Err(GatewayError::MethodNotAllowed("POST")),
        _ => Err(GatewayError::NotFound("no such admin endpoint; try GET /admin/routes".into())),
    }
}

fn routes(live: &Live) -> Vec<serde_json::Value> {
    let runtime = live.runtime();
    let ttl = runtime.config.gateway.session_ttl.0;
    let now = tokio::time::Instant::now();
    let mut routes: Vec<_> = runtime
        .front
        .routes()
        .map(|r| {
            let split = r.split();
            let file = runtime.file_sides(&r.path).unwrap_or_default();
            // When each retired side goes; never for one the file names.
            let retired: Vec<_> = split
                .sides()
                .iter()
                .filter_map(|s| {
                    let since = s.retired_since?;
                    let stays = file.iter().any(|(b, _)| *b == &*s.backend);
                    let left = (since + ttl).saturating_duration_since(now);
                    Some(json!({ "backend": &*s.backend, "drops_in_s": (!stays).then_some(left.as_secs()) }))
                })
                .collect();
            let mut route = json!({
                "name": &*r.name,
                "path": &*r.path,
                "split": split.weights(),
                "retired": retired,
                "sticky_header": r.sticky_header().map(|h| h.as_str()),
                "allow_override": r.allows_override(),
            });
            if let Some(agg) = r.aggregate() {
                route["members"] = super::pins::members(agg);
                route["collisions"] = json!(agg.state.collisions());
                route["failure_mode"] = json!(agg.settings.failure_mode);
                route["pin_tools"] = json!(agg.settings.pin_tools);
            }
            route
        })
        .collect();
    routes.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    routes
}

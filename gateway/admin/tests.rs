use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;

use super::*;
use crate::backend::Backend;
use crate::config;

const TOKEN: &str = "0123456789abcdef";

fn table() -> Table {
    let urls = ["http://127.0.0.1:7001/mcp", "http://127.0.0.1:7002/mcp"];
    let cfg = config::Backend {
        name: toml::Spanned::new(0..0, "search".to_string()),
        instances: urls
            .iter()
            .map(|u| config::Instance { url: config::InstanceUrl(u.parse().unwrap()), weight: 2 })
            .collect(),
        ..Default::default()
    };
    Table::new(vec![Arc::new(Backend::build(&cfg).unwrap())])
}

async fn send(
    admin: &Admin,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::new(Full::new(Bytes::from(body.to_string())));
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    let resp = admin.serve(req).await;
    (resp.status(), serde_json::from_slice(resp.body()).unwrap_or_default())
}

const AUTH: (&str, &str) = ("authorization", "Bearer 0123456789abcdef");

#[tokio::test]
async fn the_token_is_required_when_set() {
    let admin = Admin::new(table(), Some(TOKEN.into()), false);
    let (status, _) = send(&admin, Method::GET, "/admin/backends", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&admin, Method::GET, "/admin/backends", &[("authorization", "Bearer nope")], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(&admin, Method::GET, "/admin/backends", &[AUTH], "").await;
    assert_eq!(status, StatusCode::OK);
    let instances = &body["backends"][0]["instances"];
    assert_eq!(body["backends"][0]["name"], "search");
    assert_eq!(instances.as_array().unwrap().len(), 2);
    assert_eq!(instances[1]["url"], "http://127.0.0.1:7002/mcp");
    assert_eq!(instances[1]["health"], "unknown");
    assert_eq!(instances[1]["weight"], 2);
    assert_eq!(instances[1]["serving"], true);
}

#[tokio::test]
async fn a_loopback_listener_without_token_still_refuses_browsers() {
    let admin = Admin::new(table(), None, true);
    assert_eq!(send(&admin, Method::GET, "/admin/backends", &[], "").await.0, StatusCode::OK);
    let origin = ("origin", "https://evil.example");
    assert_eq!(send(&admin, Method::GET, "/admin/backends", &[origin], "").await.0, StatusCode::FORBIDDEN);
    let host = ("host", "evil.example:9901");
    assert_eq!(send(&admin, Method::GET, "/admin/backends", &[host], "").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn drain_undrain_and_weight_change_the_table() {
    let t = table();
    let admin = Admin::new(t.clone(), Some(TOKEN.into()), false);
    let instance = t.instance("search", "1").unwrap();
    let record = &instance.record;
    let (status, body) = send(&admin, Method::POST, "/admin/backends/search/instances/1/drain", &[AUTH], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(record.drained());
    assert_eq!(body["instance"]["drained"], true);
    assert_eq!(body["instance"]["serving"], false);
    // By host:port, too.
    let path = "/admin/backends/search/instances/127.0.0.1:7002/undrain";
    assert_eq!(send(&admin, Method::POST, path, &[AUTH], "").await.0, StatusCode::OK);
    assert!(!record.drained());
    let path = "/admin/backends/search/instances/0/weight";
    let (status, body) = send(&admin, Method::PUT, path, &[AUTH], r#"{"weight": 7}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["instance"]["effectiveWeight"], 7);
    assert_eq!(body["instance"]["weight"], 2);
    assert_eq!(t.instance("search", "0").unwrap().record.effective_weight(), 7);
}

#[tokio::test]
async fn mistakes_get_clear_answers() {
    let admin = Admin::new(table(), Some(TOKEN.into()), false);
    for (method, path, body, status) in [
        (Method::POST, "/admin/backends/search/instances/9/drain", "", StatusCode::NOT_FOUND),
        (Method::POST, "/admin/backends/nope/instances/0/drain", "", StatusCode::NOT_FOUND),
        (Method::GET, "/admin/backends/search/instances/0/drain", "", StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, "/admin/backends/search/instances/0/weight", "", StatusCode::METHOD_NOT_ALLOWED),
        (Method::PUT, "/admin/backends/search/instances/0/weight", r#"{"weight": -1}"#, StatusCode::BAD_REQUEST),
        (Method::PUT, "/admin/backends/search/instances/0/weight", r#"{"wait": 1}"#, StatusCode::BAD_REQUEST),
        (Method::POST, "/admin/backends/search/instances/0/reboot", "", StatusCode::NOT_FOUND),
        (Method::DELETE, "/admin/backends", "", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/admin/nothing", "", StatusCode::NOT_FOUND),
    ] {
        let (got, answer) = send(&admin, method.clone(), path, &[AUTH], body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
}

#[test]
fn constant_time_comparison() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"", b"a"));
}

/// A side retired through the admin API leaves `GET /admin/routes` once
/// `session_ttl` has passed since it was retired, dropped by the real expiry
/// task on tokio's paused clock; the retired side the file names stays.
#[tokio::test(start_paused = true)]
async fn a_side_retired_through_the_api_leaves_the_routes_session_ttl_later() {
    use crate::runtime::reload::{Live, expire_sides};
    let backend = |name: &str, port: u16| {
        format!(
            "[[backends]]\nname = \"{name}\"\ninstances = [{{ url = \"http://127.0.0.1:{port}/mcp\" }}]\nhealth = {{ probe = \"none\" }}\n\n"
        )
    };
    let text = format!(
        "[gateway]\nsession_ttl = \"1h\"\nadmin_token = \"{TOKEN}\"\n\n{}{}{}\
         [[routes]]\npath = \"/mcp\"\nsplit = [{{ backend = \"blue\", weight = 1 }}, {{ backend = \"green\", weight = 0 }}]\n",
        backend("blue", 7001),
        backend("green", 7002),
        backend("canary", 7003),
    );
    let live = Arc::new(Live::new(config::Config::parse(&text, "t", &|_| None).unwrap(), None).unwrap());
    let _expiry = expire_sides(&live);
    let admin = Admin::new(live.table.clone(), None, false).with_live(&live);
    let put = |body: &'static str| send(&admin, Method::PUT, "/admin/routes/mcp/split", &[AUTH], body);
    assert_eq!(put(r#"[{"backend":"blue","weight":90},{"backend":"canary","weight":10}]"#).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(600)).await;
    // Green, which the file names, retired with the first change; canary,
    // which only the API named, retires now.
    assert_eq!(put(r#"[{"backend":"blue","weight":100}]"#).await.0, StatusCode::OK);
    let sides = || async {
        let (status, body) = send(&admin, Method::GET, "/admin/routes", &[AUTH], "").await;
        assert_eq!(status, StatusCode::OK);
        let split = body["routes"][0]["split"].as_array().unwrap().clone();
        split.iter().map(|s| s["backend"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(sides().await, ["blue", "canary", "green"]);
    let (_, body) = send(&admin, Method::GET, "/admin/routes", &[AUTH], "").await;
    let retired =
        serde_json::json!([{"backend": "canary", "drops_in_s": 3600}, {"backend": "green", "drops_in_s": null}]);
    assert_eq!(body["routes"][0]["retired"], retired);
    tokio::time::sleep(Duration::from_secs(3599)).await;
    assert_eq!(sides().await, ["blue", "canary", "green"], "dropped before session_ttl had passed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sides().await, ["blue", "green"], "a retired side outlived every session on it");
    // Green stays for good.
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    assert_eq!(sides().await, ["blue", "green"]);
}

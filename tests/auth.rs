//! Identity end to end: a real JWT issuer (keys generated per run, a JWKS on
//! a port-0 listener), the gateway in front of the mock, and raw HTTP
//! clients presenting good and bad credentials.
//!
//! What must hold: a bad credential is refused with 401 before anything
//! reaches the backend; a good one passes and is never forwarded; lists
//! and calls show each caller only what the route's rules open to it, even
//! when callers share cache entries; a session belongs to its principal,
//! on any replica.

mod common;

use common::issuer::{AUDIENCE, ISSUER, Issuer, tampered, unsigned};
use common::*;
use serde_json::{Value, json};
use switchyard::mock::{Calls, MockOptions};

const CI_KEY: &str = "ci-key-0123456789";
const OPS_KEY: &str = "ops-key-0123456789";

/// A gateway config: backend `tools` (the mock, with a cache) at `/mcp`
/// behind `[[auth]] team`, plus `extra` (more blocks, rules).
fn config(mock_url: &str, issuer: &Issuer, auth_extra: &str, extra: &str) -> String {
    format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
session_key = "test-key"
shutdown_grace = "1s"

[[backends]]
name = "tools"
instances = [{{ url = "{mock_url}" }}]
timeout = "5s"
cache = {{}}
# No probes: their own `initialize` would count as a request reaching the mock.
health = {{ probe = "none" }}

[[auth]]
name = "team"
api_keys = [{{ name = "ci", sha256 = "{ci}", scopes = ["tools:call"] }},
            {{ name = "ops", sha256 = "{ops}" }}]
jwt = {{ jwks = "{jwks}", issuer = "{ISSUER}", audience = "{AUDIENCE}" }}
resource_metadata = {{ authorization_servers = ["{ISSUER}"], scopes_supported = ["tools:read", "tools:call"] }}
{auth_extra}

[[routes]]
path = "/mcp"
backend = "tools"
auth = "team"
{extra}
"#,
        ci = switchyard::auth::hash_key(CI_KEY),
        ops = switchyard::auth::hash_key(OPS_KEY),
        jwks = issuer.jwks_url,
    )
}

async fn start(auth_extra: &str, extra: &str) -> (Running, Running, Calls, Issuer) {
    let issuer = Issuer::start().await;
    let opts = MockOptions::default();
    let calls = opts.calls.clone();
    let mock = mock(opts).await;
    let gw = gateway(parse(&config(&mock.url("/mcp"), &issuer, auth_extra, extra))).await;
    (gw, mock, calls, issuer)
}

fn www_authenticate(resp: &reqwest::Response) -> String {
    resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Initializes with `credential` (header, value) and returns the status,
/// the `WWW-Authenticate` value and the error body.
async fn init_with(url: &str, credential: Option<(&str, &str)>) -> (u16, String, Value) {
    let extra: Vec<(&str, &str)> = credential.into_iter().collect();
    let resp = post(url, &initialize_body("2025-06-18"), &extra).await;
    let status = resp.status().as_u16();
    let challenge = www_authenticate(&resp);
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

fn stateless(id: u32, method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A stateless request by `auth` (an `Authorization` value).
async fn ask(url: &str, auth: &str, method: &str, name: Option<&str>, params: Value) -> (u16, Value) {
    let mut headers = stateless_headers(method, name);
    headers.push(("authorization", auth));
    let (status, msgs) = call(url, &stateless(7, method, params), &headers).await;
    (status, msgs.into_iter().next().unwrap_or(Value::Null))
}

fn names(reply: &Value, field: &str, key: &str) -> Vec<String> {
    let items = reply["result"][field].as_array().unwrap_or_else(|| panic!("no {field} in {reply}"));
    items.iter().map(|t| t[key].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn every_defective_credential_gets_401_and_nothing_reaches_the_backend() {
    let (gw, _mock, calls, issuer) = start("", "").await;
    let url = gw.url("/mcp");

    let (status, challenge, body) = init_with(&url, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], -32006, "{body}");
    let metadata_url = format!("http://{}/.well-known/oauth-protected-resource/mcp", gw.addr);
    assert_eq!(challenge, format!(r#"Bearer resource_metadata="{metadata_url}""#));
    // The document the challenge names, as a client would read it.
    let doc: Value = http().get(&metadata_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["resource"], url);
    assert_eq!(doc["authorization_servers"], json!([ISSUER]));
    assert_eq!(doc["scopes_supported"], json!(["tools:read", "tools:call"]));
    // One route serves metadata, so the bare well-known path is its too.
    let bare: Value =
        http().get(gw.url("/.well-known/oauth-protected-resource")).send().await.unwrap().json().await.unwrap();
    assert_eq!(bare, doc);

    let good = Issuer::claims("alice", "tools:read");
    let with = |claims: &Value, f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c
    };
    let hour_ago = |c: &mut Value| c["exp"] = json!(c["iat"].as_u64().unwrap() - 3600);
    let defects: Vec<(&str, String)> = vec![
        ("expired", issuer.sign("ES256", &with(&good, &hour_ago))),
        ("not yet valid", issuer.sign("ES256", &with(&good, &|c| c["nbf"] = json!(c["exp"])))),
        ("wrong audience", issuer.sign("RS256", &with(&good, &|c| c["aud"] = json!("https://other.test/mcp")))),
        ("wrong issuer", issuer.sign("EdDSA", &with(&good, &|c| c["iss"] = json!("https://evil.test")))),
        ("no audience", issuer.sign("ES256", &with(&good, &|c| drop(c.as_object_mut().unwrap().remove("aud"))))),
        ("unknown kid", issuer.sign_with_second_key(&good)),
        ("bad signature", tampered(&issuer.sign("RS256", &good))),
        ("alg none", unsigned(&good)),
        ("not a JWT nor a key", "definitely-not-a-key".to_string()),
    ];
    for (what, token) in &defects {
        let auth = Issuer::bearer(token);
        let (status, challenge, body) = init_with(&url, Some(("authorization", &auth))).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(body["error"]["code"], -32006, "{what}: {body}");
        assert!(challenge.contains(r#"error="invalid_token""#), "{what}: {challenge}");
        assert!(challenge.contains(&metadata_url), "{what}: {challenge}");
    }
    for (header, value) in [("x-api-key", "wrong-key"), ("authorization", "Basic Y2k6a2V5"), ("x-api-key", "")] {
        let (status, _, _) = init_with(&url, Some((header, value))).await;
        assert_eq!(status, 401, "{header}: {value}");
    }
    assert_eq!(calls.get("initialize"), 0, "no refused request reached the backend");

    for alg in ["RS256", "ES256", "EdDSA"] {
        let auth = Issuer::bearer(&issuer.sign(alg, &good));
        let (status, _, body) = init_with(&url, Some(("authorization", &auth))).await;
        assert_eq!(status, 200, "{alg}: {body}");
    }
    let bearer_key = format!("Bearer {CI_KEY}");
    for credential in [("x-api-key", CI_KEY), ("authorization", bearer_key.as_str())] {
        let (status, _, body) = init_with(&url, Some(credential)).await;
        assert_eq!(status, 200, "{credential:?}: {body}");
    }
    assert_eq!(calls.get("initialize"), 5);
    // The credential the gateway checked never went on.
    assert_eq!(calls.get("header:authorization"), 0);
    assert_eq!(calls.get("header:x-api-key"), 0);
}

#[tokio::test]
async fn a_credential_without_a_required_scope_gets_403_naming_the_scope() {
    let (gw, _mock, calls, issuer) = start(r#"required_scopes = ["mcp:use"]"#, "").await;
    let url = gw.url("/mcp");
    let auth = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "tools:read")));
    let (status, challenge, body) = init_with(&url, Some(("authorization", &auth))).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], -32007, "{body}");
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope", scope="mcp:use", resource_metadata=""#),
        "{challenge}"
    );
    // An API key without the scope is refused the same way.
    assert_eq!(init_with(&url, Some(("x-api-key", CI_KEY))).await.0, 403);
    assert_eq!(calls.get("initialize"), 0);
    let auth = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "tools:read mcp:use")));
    assert_eq!(init_with(&url, Some(("authorization", &auth))).await.0, 200);
}

const RULES: &str = r#"
[[authz]]
route = "/mcp"
allow = [{ scope = "tools:read", tools = ["echo", "add"] },
         { principal = "ci", tools = ["*"], prompts = ["*"], resources = ["*"] }]
"#;

#[tokio::test]
async fn two_principals_see_and_call_only_their_own_even_from_shared_cache_entries() {
    let (gw, _mock, calls, issuer) = start("", RULES).await;
    let url = gw.url("/mcp");
    let reader = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "tools:read")));
    // The same subject with other scopes: one principal, one cache entry,
    // and yet another list.
    let other = Issuer::bearer(&issuer.sign("RS256", &Issuer::claims("alice", "profile")));
    let ci = format!("Bearer {CI_KEY}");

    // The mock marks its stateless lists `cacheScope: public`: one entry
    // for everyone, filtered per request.
    let (s, r) = ask(&url, &reader, "tools/list", None, json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(names(&r, "tools", "name"), ["echo", "add"]);
    let (_, r) = ask(&url, &other, "tools/list", None, json!({})).await;
    assert!(names(&r, "tools", "name").is_empty(), "{r}");
    let (_, r) = ask(&url, &ci, "tools/list", None, json!({})).await;
    assert_eq!(names(&r, "tools", "name").len(), 6, "{r}");
    assert_eq!(calls.get("tools/list"), 1, "one upstream list served three filtered ones");

    // Calls: what a caller may not use is a tool that does not exist.
    let (s, r) =
        ask(&url, &reader, "tools/call", Some("fail"), json!({"name": "fail", "arguments": {"code": 1}})).await;
    assert_eq!(s, 200);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(r["error"]["message"], "Unknown tool: fail");
    assert_eq!(calls.get("tools/call"), 0);
    let (_, r) =
        ask(&url, &reader, "tools/call", Some("echo"), json!({"name": "echo", "arguments": {"text": "hi"}})).await;
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    let (_, r) = ask(&url, &ci, "tools/call", Some("fail"), json!({"name": "fail", "arguments": {"code": 7}})).await;
    assert!(r.get("error").is_some() || r["result"]["isError"] == true, "ci reached the tool: {r}");
    assert_eq!(calls.get("tools/call"), 2);

    // Prompts and resources are closed by default once a route has rules.
    let (_, r) = ask(&url, &reader, "prompts/list", None, json!({})).await;
    assert!(names(&r, "prompts", "name").is_empty(), "{r}");
    let (_, r) = ask(&url, &ci, "prompts/list", None, json!({})).await;
    assert_eq!(names(&r, "prompts", "name"), ["greet"]);
    let readme = "mock://readme";
    let (_, r) = ask(&url, &reader, "resources/read", Some(readme), json!({"uri": readme})).await;
    assert_eq!(r["error"]["code"], -32002, "{r}");
    assert_eq!(calls.get("resources/read"), 0);

    // Session era: the list is private to the principal, so alice's two
    // tokens share one entry, filtered differently each time.
    let sid = {
        let resp = post(&url, &initialize_body("2025-06-18"), &[("authorization", &reader)]).await;
        resp.headers()["mcp-session-id"].to_str().unwrap().to_string()
    };
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}"#;
    let before = calls.get("tools/list");
    let (_, m) = call(&url, list, &[("mcp-session-id", &sid), ("authorization", &reader)]).await;
    assert_eq!(names(&m[0], "tools", "name").len(), 2, "{m:?}");
    let (_, m) = call(&url, list, &[("mcp-session-id", &sid), ("authorization", &other)]).await;
    assert!(names(&m[0], "tools", "name").is_empty(), "{m:?}");
    assert_eq!(calls.get("tools/list"), before + 1, "the second list was a cache hit, filtered anew");
}

#[tokio::test]
async fn a_session_belongs_to_its_principal_on_every_replica() {
    let issuer = Issuer::start().await;
    let mock = mock(MockOptions::default()).await;
    let text = config(&mock.url("/mcp"), &issuer, "", "");
    let (one, two) = (gateway(parse(&text)).await, gateway(parse(&text)).await);
    let alice = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "")));
    let bob = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("bob", "")));
    let resp = post(&one.url("/mcp"), &initialize_body("2025-06-18"), &[("authorization", &alice)]).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    for gw in [&one, &two] {
        let url = gw.url("/mcp");
        let status = |who: (&'static str, String)| {
            let (url, sid) = (url.clone(), sid.clone());
            async move { post(&url, ping, &[("mcp-session-id", &sid), (who.0, &who.1)]).await.status().as_u16() }
        };
        assert_eq!(status(("authorization", alice.clone())).await, 200);
        assert_eq!(status(("authorization", bob.clone())).await, 404, "another principal's credential");
        assert_eq!(status(("x-api-key", CI_KEY.to_string())).await, 404, "a key is another principal too");
    }
    // A token that names no principal (an open route's, or one minted
    // before tokens carried it) is no session on a route with `auth`.
    let key = switchyard::session::SessionKey::from_secret("test-key");
    let ticket = switchyard::session::Ticket {
        backend: "tools".into(),
        instance: mock.url("/mcp"),
        upstream_session: String::new(),
        protocol_version: "2025-06-18".into(),
        client_caps: Default::default(),
        issued_at: switchyard::session::unix_now(),
        members: Default::default(),
        principal: None,
    };
    let forged = key.seal("/mcp", &ticket);
    let resp = post(&one.url("/mcp"), ping, &[("mcp-session-id", &forged), ("authorization", &alice)]).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_but_not_more_than_min_refresh_allows() {
    // Default min_refresh (30 s): tokens with a key the issuer has not
    // published cause no fetch beyond the first.
    let (gw, _mock, _calls, issuer) = start("", "").await;
    let url = gw.url("/mcp");
    let good = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "")));
    assert_eq!(init_with(&url, Some(("authorization", &good))).await.0, 200);
    let unknown = Issuer::bearer(&issuer.sign_with_second_key(&Issuer::claims("alice", "")));
    for _ in 0..5 {
        assert_eq!(init_with(&url, Some(("authorization", &unknown))).await.0, 401);
    }
    assert_eq!(issuer.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);

    // With a min_refresh of 1 s (the least allowed), a rotation shows at
    // the first token of the new key that comes a second after the last
    // fetch.
    let issuer = Issuer::start().await;
    let mock = mock(MockOptions::default()).await;
    let text = config(&mock.url("/mcp"), &issuer, "", "").replace(
        &format!(r#"audience = "{AUDIENCE}" }}"#),
        &format!(r#"audience = "{AUDIENCE}", min_refresh = "1s" }}"#),
    );
    assert!(text.contains("min_refresh"));
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    let good = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "")));
    assert_eq!(init_with(&url, Some(("authorization", &good))).await.0, 200);
    issuer.publish_second_key();
    let rotated = Issuer::bearer(&issuer.sign_with_second_key(&Issuer::claims("alice", "")));
    // Within a second of the last fetch, another is not allowed yet; the
    // test waits on the answer turning 200, with a deadline.
    tokio::time::timeout(DEADLINE, async {
        while init_with(&url, Some(("authorization", &rotated))).await.0 != 200 {}
    })
    .await
    .expect("the rotated key was never fetched");
    assert!(issuer.fetches.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn open_routes_strip_credentials_and_passthrough_auth_forwards_them() {
    let opts = MockOptions::default();
    let calls = opts.calls.clone();
    let mock = mock(opts).await;
    let text = config_for(&[("/open", &mock.url("/mcp")), ("/through", &mock.url("/mcp"))], "");
    // `config_for` names the second backend b1; put the flag on it.
    let text = text.replace("name = \"b1\"", "name = \"b1\"\npassthrough_auth = true");
    let gw = gateway(parse(&text)).await;
    let creds = [("authorization", "Bearer user-token"), ("x-api-key", "user-key")];
    let resp = post(&gw.url("/open"), &initialize_body("2025-06-18"), &creds).await;
    assert_eq!(resp.status(), 200, "a route without auth is open");
    assert_eq!((calls.get("header:authorization"), calls.get("header:x-api-key")), (0, 0));
    let resp = post(&gw.url("/through"), &initialize_body("2025-06-18"), &creds).await;
    assert_eq!(resp.status(), 200);
    assert_eq!((calls.get("header:authorization"), calls.get("header:x-api-key")), (1, 1));
}

#[tokio::test]
async fn rules_on_an_aggregated_route_use_the_exposed_names() {
    let issuer = Issuer::start().await;
    let opts = MockOptions::default();
    let calls = opts.calls.clone();
    let mock = mock(opts).await;
    let text = config(&mock.url("/mcp"), &issuer, "", "")
        .replace("backend = \"tools\"\nauth = \"team\"", "members = [{ backend = \"tools\", prefix = \"wiki\" }, { backend = \"tools\", prefix = \"db\" }]\nauth = \"team\"")
        + "\n[[authz]]\nroute = \"/mcp\"\nallow = [{ scope = \"tools:read\", tools = [\"wiki__*\"] }]\n";
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    let reader = Issuer::bearer(&issuer.sign("EdDSA", &Issuer::claims("alice", "tools:read")));
    let (s, r) = ask(&url, &reader, "tools/list", None, json!({})).await;
    assert_eq!(s, 200, "{r}");
    let listed = names(&r, "tools", "name");
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(listed.iter().all(|n| n.starts_with("wiki__")), "{listed:?}");
    let (_, r) =
        ask(&url, &reader, "tools/call", Some("db__echo"), json!({"name": "db__echo", "arguments": {"text": "x"}}))
            .await;
    assert_eq!(r["error"]["message"], "Unknown tool: db__echo", "{r}");
    assert_eq!(calls.get("tools/call"), 0);
    let (_, r) =
        ask(&url, &reader, "tools/call", Some("wiki__echo"), json!({"name": "wiki__echo", "arguments": {"text": "x"}}))
            .await;
    assert_eq!(r["result"]["content"][0]["text"], "x", "{r}");
}

#[tokio::test]
async fn a_batch_cannot_carry_a_refused_completion_or_an_unfiltered_list() {
    let (gw, _mock, calls, issuer) = start("", RULES).await;
    let url = gw.url("/mcp");
    let reader = Issuer::bearer(&issuer.sign("ES256", &Issuer::claims("alice", "tools:read")));
    let resp = post(&url, &initialize_body("2025-03-26"), &[("authorization", &reader)]).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let headers = [("mcp-session-id", sid.as_str()), ("authorization", reader.as_str())];
    for batch in [
        r#"[{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"name","value":"a"}}}]"#,
        r#"[{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}]"#,
    ] {
        let resp = post(&url, batch, &headers).await;
        assert_eq!(resp.status(), 200, "{batch}");
        let answers: Value = resp.json().await.unwrap();
        assert!(answers[0]["error"]["code"].is_i64(), "{batch}: {answers}");
    }
    assert_eq!(calls.get("completion/complete"), 0);
    assert_eq!(calls.get("tools/list"), 0);
}

//! The rule language, driven directly.

use serde_json::{Map, Value, json};

use super::*;
use crate::client::Proof;

fn policy(toml: &str) -> Policy {
    let cfg: crate::config::Authz = toml::from_str(toml).unwrap();
    Policy::new(&cfg)
}

fn who(name: &str, scopes: &[&str], claims: Value) -> Identity {
    let Value::Object(claims) = claims else { unreachable!() };
    Identity::new("team", Proof::Jwt, name, scopes.iter().map(|s| (*s).into()).collect(), claims)
}

const RULES: &str = r#"
route = "/mcp"
allow = [
  { scope = "tools:read", tools = ["*search*", "*get*"] },
  { principal = "ci", tools = ["*"] },
  { claim = { groups = "docs" }, prompts = ["doc_*"], resources = ["file:///docs/*"] },
  { principal = "ops", scope = "admin", tools = ["db__*"] },
]
"#;

#[test]
fn any_rule_allows_and_every_condition_of_a_rule_must_hold() {
    let p = policy(RULES);
    let reader = who("alice", &["tools:read"], json!({}));
    assert!(p.allows(Some(&reader), Gate::Tool, "wiki__search_pages"));
    assert!(p.allows(Some(&reader), Gate::Tool, "get_page"));
    assert!(!p.allows(Some(&reader), Gate::Tool, "delete_page"));
    let ci = who("ci", &[], json!({}));
    assert!(p.allows(Some(&ci), Gate::Tool, "delete_page"));
    assert!(!p.allows(Some(&ci), Gate::Prompt, "doc_summary"), "tools only");
    let docs = who("dana", &[], json!({"groups": ["docs", "eng"]}));
    assert!(p.allows(Some(&docs), Gate::Prompt, "doc_summary"));
    assert!(p.allows(Some(&docs), Gate::Resource, "file:///docs/a.md"));
    assert!(!p.allows(Some(&docs), Gate::Resource, "file:///etc/passwd"));
    // `ops` needs the scope too.
    assert!(!p.allows(Some(&who("ops", &[], json!({}))), Gate::Tool, "db__drop"));
    assert!(p.allows(Some(&who("ops", &["admin"], json!({}))), Gate::Tool, "db__drop"));
    assert!(!p.allows(None, Gate::Tool, "get_page"), "no identity, nothing");
}

#[test]
fn a_rule_without_conditions_holds_for_every_caller() {
    let p = policy(
        r#"route = "/mcp"
allow = [{ tools = ["ping_*"] }]"#,
    );
    assert!(p.allows(Some(&who("anyone", &[], json!({}))), Gate::Tool, "ping_me"));
    assert!(!p.allows(Some(&who("anyone", &[], json!({}))), Gate::Prompt, "ping_me"));
}

#[test]
fn lists_keep_only_what_the_caller_may_use() {
    let p = policy(RULES);
    let reader = who("alice", &["tools:read"], json!({}));
    let mut result = json!({"tools": [{"name": "search"}, {"name": "delete"}, {"name": "get"}, {"nameless": 1}],
        "nextCursor": "c"});
    assert_eq!(p.filter(Some(&reader), Kind::Tools, &mut result), 2);
    assert_eq!(result, json!({"tools": [{"name": "search"}, {"name": "get"}], "nextCursor": "c"}));
    let docs = who("dana", &[], json!({"groups": "docs"}));
    let mut templates =
        json!({"resourceTemplates": [{"uriTemplate": "file:///docs/{name}"}, {"uriTemplate": "db://{t}"}]});
    assert_eq!(p.filter(Some(&docs), Kind::ResourceTemplates, &mut templates), 1);
    let mut not_a_list = json!({"tools": "x"});
    assert_eq!(p.filter(Some(&docs), Kind::Tools, &mut not_a_list), 0);
    let _ = Map::new();
}

#[test]
fn gated_methods_and_their_names() {
    assert_eq!(Gate::of("tools/call", Some("x"), b""), Some((Gate::Tool, Some("x".into()))));
    assert_eq!(Gate::of("prompts/get", Some("p"), b""), Some((Gate::Prompt, Some("p".into()))));
    assert_eq!(Gate::of("resources/subscribe", Some("u"), b""), Some((Gate::Resource, Some("u".into()))));
    assert_eq!(Gate::of("tools/list", None, b""), None);
    assert_eq!(Gate::of("initialize", None, b""), None);
    let body = br#"{"params":{"ref":{"type":"ref/prompt","name":"doc_x"}}}"#;
    assert_eq!(Gate::of("completion/complete", None, body), Some((Gate::Prompt, Some("doc_x".into()))));
    let body = br#"{"params":{"ref":{"type":"ref/resource","uri":"file:///{a}"}}}"#;
    assert_eq!(Gate::of("completion/complete", None, body), Some((Gate::Resource, Some("file:///{a}".into()))));
    assert_eq!(Gate::of("completion/complete", None, b"not json"), Some((Gate::Resource, None)));
    assert_eq!(Gate::Tool.unknown("x"), (jsonrpc::INVALID_PARAMS, "Unknown tool: x".into()));
    assert_eq!(Gate::Resource.unknown("u").0, RESOURCE_NOT_FOUND);
}

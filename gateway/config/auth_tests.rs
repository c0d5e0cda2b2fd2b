//! `[[auth]]`, `[[authz]]` and a route's `auth`: what parses and what is
//! refused, with its key and line.

use super::*;

const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn base(auth: &str, route_extra: &str, rest: &str) -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"b\"\ninstances = [{{ url = \"http://127.0.0.1:1/mcp\" }}]\n\n\
         {auth}\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"b\"\n{route_extra}\n\n{rest}\n"
    )
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test", &|_| None)
}

const GOOD_AUTH: &str = r#"[[auth]]
name = "team"
api_keys = [{ name = "ci", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", scopes = ["tools:call"] }]
jwt = { jwks = "https://idp.example.com/jwks.json", issuer = "https://idp.example.com", audience = ["https://mcp.example.com/mcp"], leeway = "30s", principal_claim = "email" }
required_scopes = ["mcp"]
resource_metadata = { resource = "https://mcp.example.com/mcp", authorization_servers = ["https://idp.example.com"], scopes_supported = ["tools:read"] }"#;

const GOOD_RULES: &str = r#"[[authz]]
route = "/mcp"
allow = [{ scope = "tools:read", tools = ["*search*"] }, { principal = "ci", tools = ["*"] }, { claim = { groups = "eng" }, prompts = ["*"] }]"#;

#[test]
fn a_full_auth_setup_parses_and_renders_back() {
    let c = parse(&base(GOOD_AUTH, "auth = \"team\"", GOOD_RULES)).unwrap();
    assert_eq!(c.auth[0].api_keys[0].name, "ci");
    let jwt = c.auth[0].jwt.as_ref().unwrap();
    assert_eq!(jwt.principal_claim, "email");
    assert_eq!(jwt.algorithms.len(), DEFAULT_ALGORITHMS.len());
    assert_eq!(c.authz[0].allow.len(), 3);
    assert_eq!(c.routes[0].auth.as_ref().unwrap().get_ref(), "team");
    parse(&c.to_redacted_toml()).unwrap();
}

#[test]
fn bad_auth_is_refused_with_its_key_and_line() {
    let cases: Vec<(String, &str, &str)> = vec![
        (base(GOOD_AUTH, "auth = \"nope\"", ""), "routes.0.auth", "no [[auth]] block is named `nope`"),
        (base("[[auth]]\nname = \"t\"", "auth = \"t\"", ""), "auth.0", "needs `api_keys`, `jwt`"),
        (
            base("[[auth]]\nname = \"t\"\napi_keys = [{ name = \"ci\", sha256 = \"abc\" }]", "", ""),
            "auth.0.api_keys.0.sha256",
            "64 hex digits",
        ),
        (
            base(
                &format!(
                    "[[auth]]\nname = \"t\"\napi_keys = [{{ name = \"ci\", sha256 = \"{HASH}\" }}, {{ name = \"ci\", sha256 = \"{HASH}\" }}]"
                ),
                "",
                "",
            ),
            "auth.0.api_keys.1.name",
            "taken",
        ),
        (
            base("[[auth]]\nname = \"t\"\njwt = { jwks = \"k.json\", issuer = \"i\", audience = \"\" }", "", ""),
            "auth.0.jwt.audience",
            "another audience must not pass",
        ),
        (
            base(
                "[[auth]]\nname = \"t\"\njwt = { jwks = \"k.json\", issuer = \"i\", audience = \"a\", algorithms = [\"HS256\"] }",
                "",
                "",
            ),
            "auth.0.jwt.algorithms.0",
            "is not one of",
        ),
        (
            base(
                "[[auth]]\nname = \"t\"\njwt = { jwks = \"k.json\", issuer = \"i\", audience = \"a\", min_refresh = \"10ms\" }",
                "",
                "",
            ),
            "auth.0.jwt.min_refresh",
            "at least 1s",
        ),
        (base(&format!("{GOOD_AUTH}\n\n{GOOD_AUTH}"), "", ""), "auth.1.name", "duplicate auth name"),
        (base(GOOD_AUTH, "", GOOD_RULES), "authz.0.route", "has no `auth`"),
        (
            base(GOOD_AUTH, "auth = \"team\"", &GOOD_RULES.replace("\"/mcp\"", "\"/other\"")),
            "authz.0.route",
            "no route has the path",
        ),
        (
            base(GOOD_AUTH, "auth = \"team\"", "[[authz]]\nroute = \"/mcp\"\nallow = [{ principal = \"ci\" }]"),
            "authz.0.allow.0",
            "opens nothing",
        ),
        (
            base(GOOD_AUTH, "auth = \"team\"", &format!("{GOOD_RULES}\n\n{GOOD_RULES}")),
            "authz.1.route",
            "has rules already",
        ),
        (
            base(
                GOOD_AUTH,
                "auth = \"team\"",
                "[[authz]]\nroute = \"/mcp\"\nallow = [{ who = \"x\", tools = [\"*\"] }]",
            ),
            "authz",
            "unknown field `who`",
        ),
    ];
    for (text, key, needle) in cases {
        let err = parse(&text).unwrap_err();
        let issue = err.issues.iter().find(|i| i.path.starts_with(key)).unwrap_or_else(|| panic!("{key}: {err}"));
        assert!(issue.message.contains(needle), "{key}: {err}");
        assert!(issue.line.is_some(), "{key}: no line in {err}");
    }
}

#[test]
fn passthrough_auth_is_for_http_backends() {
    let text = "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"s\"\ntransport = \"stdio\"\ncommand = \"x\"\npassthrough_auth = true\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"s\"\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.issues[0].path, "backends.0.passthrough_auth", "{err}");
    assert_eq!(err.issues[0].line, Some(5));
}

#[test]
fn well_known_paths_are_reserved() {
    let text = base("", "", "").replace("path = \"/mcp\"", "path = \"/.well-known/oauth-protected-resource\"");
    assert!(parse(&text).unwrap_err().to_string().contains("reserved"));
}

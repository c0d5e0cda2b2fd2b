use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", &|v| (v == "SET").then(|| "value".to_string()))
}

fn only_issue(text: &str) -> Issue {
    let err = parse(text).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    err.issues[0].clone()
}

const GOOD: &str = r#"
[gateway]
listen = "127.0.0.1:0"

[[backends]]
name = "a"
instances = [{ url = "http://127.0.0.1:1/mcp" }]
timeout = "250ms"

[[routes]]
path = "/mcp"
backend = "a"
"#;

#[test]
fn good_config_parses_with_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.backends[0].timeout.0.as_millis(), 250);
    assert_eq!(c.backends[0].instances[0].weight, 1);
    assert_eq!(c.gateway.max_body_bytes.0, 4 << 20);
    assert_eq!(c.routes[0].path.get_ref().as_str(), "/mcp");
}

#[test]
fn unknown_key_names_path_and_line() {
    let i = only_issue(&GOOD.replace("timeout = \"250ms\"", "timeout = \"250ms\"\ntimout = \"1s\""));
    assert_eq!(i.path, "backends[0].timout");
    assert_eq!(i.line, Some(9));
    assert!(i.message.contains("unknown field `timout`"), "{i}");
}

#[test]
fn unknown_top_level_key() {
    let i = only_issue(&format!("{GOOD}\n[gatway]\nlisten = \"x\"\n"));
    assert!(i.message.contains("unknown field `gatway`"), "{i}");
    assert_eq!(i.line, Some(14));
}

#[test]
fn bad_duration_names_path_and_line() {
    let i = only_issue(&GOOD.replace("250ms", "soon"));
    assert_eq!(i.path, "backends[0].timeout");
    assert_eq!(i.line, Some(8));
    assert!(i.message.contains("invalid duration `soon`"), "{i}");
}

#[test]
fn unset_variable_names_path_and_line() {
    let err = parse(&GOOD.replace("127.0.0.1:0", "${UNSET_VAR}")).unwrap_err();
    assert_eq!(err.issues[0].path, "gateway.listen");
    assert_eq!(err.issues[0].line, Some(3));
    assert!(err.to_string().contains("UNSET_VAR"), "{err}");
}

#[test]
fn variables_expand() {
    let err = parse(&GOOD.replace("name = \"a\"", "name = \"${SET}\"")).unwrap_err();
    // The route still names "a", so only that cross-reference fails.
    assert!(err.issues[0].message.contains("no backend is named `a`"), "{err}");
    let c = parse(
        &GOOD.replace("name = \"a\"", "name = \"${SET}\"").replace("backend = \"a\"", "backend = \"${NOPE:-value}\""),
    )
    .unwrap();
    assert_eq!(c.backends[0].name.get_ref(), "value");
}

#[test]
fn route_to_missing_backend_and_duplicates_are_all_reported() {
    let text = format!("{GOOD}\n[[routes]]\npath = \"/mcp\"\nbackend = \"zzz\"\n");
    let err = parse(&text).unwrap_err();
    assert_eq!(err.issues.len(), 2, "{err}");
    assert_eq!(err.issues[0].path, "routes.1.backend");
    assert_eq!(err.issues[0].line, Some(16));
    assert!(err.issues[1].message.contains("duplicate route path"));
}

#[test]
fn bad_values_are_rejected() {
    for (from, to, needle) in [
        ("http://127.0.0.1:1/mcp", "ftp://x/mcp", "invalid URL"),
        ("path = \"/mcp\"", "path = \"mcp\"", "absolute path"),
        ("path = \"/mcp\"", "path = \"/health\"", "reserved"),
        ("127.0.0.1:0", "localhost", "invalid socket address"),
        ("timeout = \"250ms\"", "timeout = \"0s\"", "greater than zero"),
        ("timeout = \"250ms\"", "headers = { \"bad header\" = \"x\" }", "not a valid header name"),
        ("timeout = \"250ms\"", "headers = { x-key = \"a\\nb\" }", "not a valid header value"),
        ("instances = [{ url = \"http://127.0.0.1:1/mcp\" }]", "instances = []", "at least one instance"),
        ("timeout = \"250ms\"", "transport = \"carrier-pigeon\"", "unknown variant"),
    ] {
        let text = GOOD.replace(from, to);
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains(needle), "{from} -> {to}: {err}");
        assert!(err.issues.iter().all(|i| i.line.is_some()), "{err}");
    }
}

#[test]
fn syntax_error_has_line() {
    let i = only_issue("[gateway\nlisten = 1\n");
    assert_eq!(i.line, Some(1));
}

#[test]
fn redacted_rendering_hides_secrets() {
    let text = GOOD
        .replace("timeout = \"250ms\"", "headers = { authorization = \"Bearer s3cret\" }")
        .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:0\"\nsession_key = \"k3y\"");
    let out = parse(&text).unwrap().to_redacted_toml();
    assert!(!out.contains("s3cret") && !out.contains("k3y"), "{out}");
    assert!(out.contains("<redacted>"));
    // The normalized form parses back.
    parse(&out).unwrap();
}

#[test]
fn default_config_parses_with_demo_url() {
    let c = Config::parse(DEFAULT_TOML, "default", &|v| {
        (v == "SWITCHYARD_DEMO_URL").then(|| "http://127.0.0.1:9/mcp".to_string())
    })
    .unwrap();
    assert_eq!(c.gateway.listen.port(), 8080);
}

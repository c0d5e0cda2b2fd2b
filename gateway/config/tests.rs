use super::*;

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", &|v| (v == "SET").then(|| "value".to_string()))
}

pub(super) fn only_issue(text: &str) -> Issue {
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

#[test]
fn resilience_defaults() {
    let b = &parse(GOOD).unwrap().backends[0];
    assert_eq!(b.retry, Retry::default());
    assert_eq!((b.retry.attempts, b.retry.budget_percent, b.retry.min_per_second), (3, 20, 10));
    assert_eq!(b.health.probe, Probe::Ping);
    assert_eq!((b.health.interval.0.as_secs(), b.health.rise, b.health.fall), (5, 2, 3));
    assert_eq!(b.health.jitter.0, 0.1);
    assert_eq!(b.outlier, Outlier::default());
    assert!(b.attempt_timeout.is_none() && b.timeouts.is_empty());
}

const RESILIENT: &str = r#"
[[backends]]
name = "a"
instances = [{ url = "http://127.0.0.1:1/mcp" }, { url = "http://127.0.0.1:2/mcp", weight = 2 }]
timeout = "10s"
attempt_timeout = "2s"
retry = { attempts = 2, budget_percent = 10, min_per_second = 5, backoff = "10ms", max_backoff = "100ms", idempotent_tools = ["search"] }
health = { probe = { http_get = "/healthz", expect = 204 }, interval = "2s", jitter = "5%", timeout = "500ms", rise = 1, fall = 2, idle_interval = "30s" }
outlier = { consecutive_failures = 3, base_ejection = "10s", max_ejection = "1m", max_ejected_percent = 34 }

[backends.timeouts]
"tools/call" = "60s"

[[routes]]
path = "/mcp"
backend = "a"
"#;

#[test]
fn resilience_settings_parse() {
    let c = parse(RESILIENT).unwrap();
    let b = &c.backends[0];
    assert_eq!(b.attempt_timeout.unwrap().0.as_secs(), 2);
    assert_eq!(b.timeouts["tools/call"].0.as_secs(), 60);
    assert_eq!(b.retry.idempotent_tools, vec!["search".to_string()]);
    assert_eq!(b.health.probe, Probe::HttpGet { path: "/healthz".into(), expect: 204 });
    assert_eq!(b.health.jitter.0, 0.05);
    assert_eq!(b.outlier.max_ejected_percent, 34);
    for (name, probe) in
        [("ping", Probe::Ping), ("tools/list", Probe::ToolsList), ("discover", Probe::Discover), ("none", Probe::None)]
    {
        let text = RESILIENT.replace(r#"{ http_get = "/healthz", expect = 204 }"#, &format!("\"{name}\""));
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.backends[0].health.probe, probe);
        assert_eq!(parse(&parsed.to_redacted_toml()).unwrap().backends[0].health.probe, probe);
    }
    // The normalized form parses back to the same settings.
    let again = parse(&c.to_redacted_toml()).unwrap();
    assert_eq!(again.backends[0].health, b.health);
    assert_eq!(again.backends[0].retry, b.retry);
}

#[test]
fn resilience_mistakes_name_their_key_and_line() {
    let i = only_issue(&RESILIENT.replace("attempts = 2,", "attempts = 2, budget = 3,"));
    assert_eq!(i.path, "backends[0].retry.budget");
    assert_eq!(i.line, Some(7));
    assert!(i.message.contains("unknown field `budget`"), "{i}");
    let i = only_issue(&RESILIENT.replace(r#"expect = 204 }"#, r#"expect = 204, method = "HEAD" }"#));
    assert!(i.message.contains("unknown field `method`"), "{i}");
    assert_eq!(i.line, Some(8));
    let i = only_issue(&RESILIENT.replace(r#"{ http_get = "/healthz", expect = 204 }"#, "\"pong\""));
    assert!(i.message.contains("unknown probe `pong`"), "{i}");
    assert_eq!(i.path, "backends[0].health.probe");
    let i = only_issue(&RESILIENT.replace("\"5%\"", "\"5\""));
    assert!(i.message.contains("invalid percentage"), "{i}");
    for (from, to, key) in [
        ("attempts = 2", "attempts = 0", "backends.0.retry.attempts"),
        ("backoff = \"10ms\"", "backoff = \"1s\"", "backends.0.retry.backoff"),
        ("timeout = \"500ms\"", "timeout = \"3s\"", "backends.0.health.timeout"),
        ("rise = 1", "rise = 0", "backends.0.health.rise"),
        ("idle_interval = \"30s\"", "idle_interval = \"1s\"", "backends.0.health.idle_interval"),
        ("base_ejection = \"10s\"", "base_ejection = \"2m\"", "backends.0.outlier.base_ejection"),
        ("max_ejected_percent = 34", "max_ejected_percent = 101", "backends.0.outlier.max_ejected_percent"),
    ] {
        let i = only_issue(&RESILIENT.replace(from, to));
        assert_eq!(i.path, key, "{from} -> {to}: {i}");
        assert_eq!(i.line, Some(3), "{i}");
    }
}

#[test]
fn admin_settings() {
    let with = |gateway: &str| format!("[gateway]\n{gateway}\n{RESILIENT}");
    let c = parse(&with("admin_listen = \"127.0.0.1:9901\"")).unwrap();
    assert_eq!(c.gateway.admin_listen.unwrap().port(), 9901);
    let i = only_issue(&with("listen = \"0.0.0.0:8080\"\nadmin_listen = \"0.0.0.0:9901\""));
    assert_eq!(i.path, "gateway.admin_listen");
    assert_eq!(i.line, Some(3));
    assert!(i.message.contains("admin_token (or admin_tokens) must be set"), "{i}");
    parse(&with("admin_listen = \"0.0.0.0:9901\"\nadmin_token = \"0123456789abcdef\"")).unwrap();
    parse(&with("admin_listen = \"0.0.0.0:9901\"\nadmin_tokens = { ops = \"0123456789abcdef\" }")).unwrap();
    let i = only_issue(&with("admin_tokens = { ops = \"0123456789abcdef\", ci = \"short\" }"));
    assert_eq!((i.path.as_str(), i.line), ("gateway.admin_tokens.ci", Some(2)));
    let out = parse(&with("admin_tokens = { ops = \"0123456789abcdef\" }")).unwrap().to_redacted_toml();
    assert!(!out.contains("0123456789abcdef"), "{out}");
    let i = only_issue(&with("admin_token = \"short\""));
    assert_eq!((i.path.as_str(), i.line), ("gateway.admin_token", Some(2)));
    let out = parse(&with("admin_token = \"0123456789abcdef\"")).unwrap().to_redacted_toml();
    assert!(!out.contains("0123456789abcdef"), "{out}");
    let i = only_issue(&RESILIENT.replace("path = \"/mcp\"", "path = \"/admin/backends\""));
    assert!(i.message.contains("reserved"), "{i}");
}

const TWO: &str = r#"
[[backends]]
name = "a"
instances = [{ url = "http://127.0.0.1:1/mcp" }]

[[backends]]
name = "b"
instances = [{ url = "http://127.0.0.1:2/mcp" }]
"#;

#[test]
fn splits_parse_and_name_their_routes() {
    let text = format!(
        "{TWO}\n[[routes]]\npath = \"/files/mcp\"\nsplit = [{{ backend = \"a\", weight = 90 }}, {{ backend = \"b\", weight = 10 }}]\n\
         sticky_header = \"x-user-id\"\nallow_override = true\n"
    );
    let c = parse(&text).unwrap();
    let r = &c.routes[0];
    assert_eq!(r.name(), "files-mcp");
    assert_eq!(r.sides(), vec![("a", 90), ("b", 10)]);
    assert_eq!(r.sticky_header.as_ref().unwrap().0.as_str(), "x-user-id");
    assert!(r.allow_override);
}

#[test]
fn split_mistakes_name_their_key_and_line() {
    let route = |body: &str| format!("{TWO}\n[[routes]]\npath = \"/mcp\"\n{body}\n");
    let cases: [(&str, &str, usize, &str); 8] = [
        ("backend = \"a\"\nsplit = [{ backend = \"b\", weight = 1 }]", "routes.0.split", 11, "not both"),
        ("name = \"x\"", "routes.0.backend", 11, "needs `backend`, `split` or `members`"),
        ("split = [{ backend = \"c\", weight = 1 }]", "routes.0.split.0.backend", 12, "no backend is named `c`"),
        (
            "split = [{ backend = \"a\", weight = 1 }, { backend = \"a\", weight = 2 }]",
            "routes.0.split.1.backend",
            12,
            "listed twice",
        ),
        ("split = [{ backend = \"a\", weight = 0 }]", "routes.0.split", 12, "weight above 0"),
        ("split = [{ backend = \"a\", weight = 2000000 }]", "routes.0.split.0.weight", 12, "above the maximum"),
        ("backend = \"a\"\nname = \"a/b\"", "routes.0.name", 13, "letters, digits"),
        ("backend = \"a\"\nsticky_header = \"x y\"", "routes[0].sticky_header", 13, "not a valid header name"),
    ];
    for (body, path, line, says) in cases {
        let i = only_issue(&route(body));
        assert_eq!((i.path.as_str(), i.line), (path, Some(line)), "{body}: {i}");
        assert!(i.message.contains(says), "{body}: {i}");
    }
    let bad_weight = only_issue(&route("split = [{ backend = \"a\", weight = -1 }]"));
    assert_eq!((bad_weight.path.as_str(), bad_weight.line), ("routes[0].split[0].weight", Some(12)));
    let twice =
        format!("{}\n[[routes]]\npath = \"/other\"\nname = \"mcp\"\nbackend = \"b\"\n", route("backend = \"a\""));
    let i = only_issue(&twice);
    assert_eq!(i.path, "routes.1.name");
    assert!(i.message.contains("duplicate route name `mcp`"), "{i}");
}

#[test]
fn a_stdio_backend_cannot_probe_with_http_get() {
    let text = "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"kids\"\ntransport = \"stdio\"\n\
                command = \"mcp-server\"\nhealth = { probe = { http_get = \"/health\" }, interval = \"2s\" }\n\n\
                [[routes]]\npath = \"/mcp\"\nbackend = \"kids\"\n";
    let i = only_issue(text);
    assert_eq!(i.path, "backends.0.health.probe");
    assert_eq!(i.line, Some(8), "{i}");
    assert!(i.message.contains("`http_get` needs an HTTP instance"), "{i}");
    for probe in ["\"ping\"", "\"tools/list\"", "\"discover\"", "\"none\""] {
        let c = parse(&text.replace("{ http_get = \"/health\" }", probe)).unwrap();
        assert_eq!(c.backends[0].health.interval.0.as_secs(), 2);
    }
}

#[test]
fn cache_settings_parse_with_defaults_and_mistakes_name_key_and_line() {
    let with = |cache: &str| GOOD.replace("timeout = \"250ms\"", &format!("timeout = \"250ms\"\n{cache}"));
    assert!(parse(GOOD).unwrap().backends[0].cache.is_none());
    let c = parse(&with("cache = {}")).unwrap();
    let cache = c.backends[0].cache.as_ref().unwrap();
    assert_eq!(cache.ttl.0.as_secs(), 60);
    assert_eq!(cache.max_bytes.0, 64 << 20);
    assert_eq!(cache.methods, CacheMethod::LISTS.to_vec());
    assert!(!cache.trust_annotations && cache.tools.is_empty());
    let c = parse(&with(
        r#"cache = { ttl = "5s", max_bytes = "1MiB", methods = ["resources/read", "prompts/get"], tools = ["lookup"] }"#,
    ))
    .unwrap();
    let cache = c.backends[0].cache.as_ref().unwrap();
    assert_eq!(cache.methods, vec![CacheMethod::ResourcesRead, CacheMethod::PromptsGet]);
    assert_eq!(parse(&c.to_redacted_toml()).unwrap().backends[0].cache, c.backends[0].cache);

    let i = only_issue(&with(r#"cache = { methods = ["tools/call"] }"#));
    assert_eq!((i.path.as_str(), i.line), ("backends[0].cache.methods[0]", Some(9)));
    assert!(i.message.contains("unknown variant `tools/call`"), "{i}");
    let i = only_issue(&with(r#"cache = { ttl = "0s" }"#));
    assert_eq!((i.path.as_str(), i.line), ("backends[0].cache.ttl", Some(9)));
    let i = only_issue(&with(r#"cache = { tll = "5s" }"#));
    assert!(i.message.contains("unknown field `tll`"), "{i}");
    for (cache, key) in [
        ("cache = { max_bytes = 100 }", "backends.0.cache.max_bytes"),
        (r#"cache = { tools = ["ok", "not ok"] }"#, "backends.0.cache.tools.1"),
        (r#"cache = { trust_annotations = true, methods = ["prompts/list"] }"#, "backends.0.cache.trust_annotations"),
    ] {
        let i = only_issue(&with(cache));
        assert_eq!((i.path.as_str(), i.line), (key, Some(6)), "{cache}: {i}");
    }
}

#[test]
fn session_ttl_defaults_to_a_day_and_mistakes_name_key_and_line() {
    assert_eq!(parse(GOOD).unwrap().gateway.session_ttl.0.as_secs(), 24 * 60 * 60);
    let with =
        |ttl: &str| GOOD.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:0\"\nsession_ttl = {ttl}"));
    assert_eq!(parse(&with("\"90m\"")).unwrap().gateway.session_ttl.0.as_secs(), 90 * 60);
    for (bad, needle) in [
        ("\"soon\"", "invalid duration `soon`"),
        ("\"0s\"", "greater than zero"),
        ("\"500ms\"", "at least 1s"),
        ("3600", "invalid type"),
    ] {
        let i = only_issue(&with(bad));
        assert_eq!((i.path.as_str(), i.line), ("gateway.session_ttl", Some(4)), "{bad}: {i}");
        assert!(i.message.contains(needle), "{bad}: {i}");
    }
    let i = only_issue(&with("\"1h\"\nsession_tll = \"1h\""));
    assert!(i.message.contains("unknown field `session_tll`"), "{i}");
}

#[test]
fn era_is_known_values_only_and_for_http() {
    let c = parse(&GOOD.replace("timeout = \"250ms\"", "timeout = \"250ms\"\nera = \"session\"")).unwrap();
    assert_eq!(c.backends[0].era, ServerEra::Session);
    assert_eq!(parse(GOOD).unwrap().backends[0].era, ServerEra::Auto, "auto by default");
    let i = only_issue(&GOOD.replace("timeout = \"250ms\"", "timeout = \"250ms\"\nera = \"legacy\""));
    assert_eq!(i.path, "backends[0].era");
    assert_eq!(i.line, Some(9));
    assert!(i.message.contains("unknown variant `legacy`"), "{i}");
    let text = "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"kids\"\ntransport = \"stdio\"\n\
                command = \"true\"\nera = \"stateless\"\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"kids\"\n";
    let i = only_issue(text);
    assert_eq!(i.path, "backends.0.era");
    assert_eq!(i.line, Some(5));
    assert!(i.message.contains("for HTTP backends"), "{i}");
}

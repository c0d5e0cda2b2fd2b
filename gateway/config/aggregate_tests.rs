//! Aggregated routes in the file: what parses, and each mistake with its
//! key and line.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", &|_| None)
}

const BACKENDS: &str = r#"
[[backends]]
name = "a"
instances = [{ url = "http://127.0.0.1:1/mcp" }]

[[backends]]
name = "b"
instances = [{ url = "http://127.0.0.1:2/mcp" }]

[[backends]]
name = "c"
transport = "stdio"
command = "switchyard"
args = ["mock", "--stdio"]
"#;

fn with_route(route: &str) -> String {
    format!("{BACKENDS}\n[[routes]]\npath = \"/mcp\"\n{route}\n")
}

#[test]
fn members_parse_with_defaults() {
    let c = parse(&with_route(
        r#"members = [
  { backend = "a" },
  { backend = "b", prefix = "wiki", tools = { allow = ["search*"], deny = ["*delete*"] } },
  { backend = "c", prefix = "" },
]"#,
    ))
    .unwrap();
    let r = &c.routes[0];
    let keys: Vec<_> = r.members.iter().map(Member::key).collect();
    assert_eq!(keys, ["a", "wiki", "c"]);
    let prefixes: Vec<_> = r.members.iter().map(Member::prefix).collect();
    assert_eq!(prefixes, ["a", "wiki", ""]);
    let agg = r.aggregation();
    assert_eq!(agg.separator, "__");
    assert_eq!(agg.failure_mode, FailureMode::Open);
    assert_eq!(agg.collisions, Collisions::Error);
    assert_eq!(agg.member_timeout.0, std::time::Duration::from_secs(3));
    assert!(!agg.pin_tools);
    assert_eq!(r.sides(), [("a", 1), ("b", 1), ("c", 1)]);
    assert!(r.members[1].tools.admits("search_pages"));
    assert!(!r.members[1].tools.admits("search_delete"));
}

#[test]
fn a_member_may_be_a_split_with_a_prefix() {
    let c = parse(&with_route(
        r#"members = [{ prefix = "docs", split = [{ backend = "a", weight = 90 }, { backend = "b", weight = 10 }] }]"#,
    ))
    .unwrap();
    assert_eq!(c.routes[0].members[0].sides(), [("a", 90), ("b", 10)]);
    assert_eq!(c.routes[0].sides(), [("a", 1), ("b", 1)]);
}

fn issues(route: &str) -> Vec<Issue> {
    parse(&with_route(route)).unwrap_err().issues
}

#[test]
fn mistakes_name_their_key_and_line() {
    // The route starts on line 17 of the text, its `members` on line 19.
    let cases: &[(&str, &str, &str)] = &[
        ("backend = \"a\"\nmembers = [{ backend = \"b\" }]", "routes.0.members", "not both"),
        ("members = [{ backend = \"nope\" }]", "routes.0.members.0.backend", "no backend is named `nope`"),
        ("members = [{ prefix = \"x\" }]", "routes.0.members.0.backend", "needs `backend`"),
        (
            "members = [{ split = [{ backend = \"a\", weight = 1 }] }]",
            "routes.0.members.0.prefix",
            "split member needs a `prefix`",
        ),
        (
            "members = [{ backend = \"a\" }, { backend = \"b\", prefix = \"a\" }]",
            "routes.0.members.1.prefix",
            "both `a`",
        ),
        ("members = [{ backend = \"a\", prefix = \"x__y\" }]", "routes.0.members.0.prefix", "separator"),
        ("members = [{ backend = \"a\", prefix = \"x/y\" }]", "routes.0.members.0.prefix", "letters"),
        ("members = [{ backend = \"a\" }]\nseparator = \"\"", "routes.0.separator", "no spaces"),
        ("members = [{ backend = \"a\" }]\npage_size = 0", "routes.0.page_size", "at least 1"),
        (
            "members = [{ backend = \"a\", uri_prefix = \"x://\" }, { backend = \"b\", uri_prefix = \"x://\" }]",
            "routes.0.members.1.uri_prefix",
            "would collide",
        ),
        ("members = [{ backend = \"a\" }]\nmember_timeout = \"0s\"", "routes[0].member_timeout", "greater than zero"),
        ("members = [{ backend = \"a\" }]\nallow_override = true", "routes.0.members", "give a member a `split`"),
        (
            "members = [{ backend = \"a\", prefix = \"\", tools = { allow = [\"search\"] } },\n  { backend = \"b\", prefix = \"\", tools = { allow = [\"search\", \"x*\"] } }]",
            "routes.0.members.1.tools.allow",
            "`search` would be exposed by members 0 and 1",
        ),
    ];
    for (route, key, message) in cases {
        let found = issues(route);
        assert!(
            found.iter().any(|i| i.path == *key && i.message.contains(message) && i.line.is_some_and(|l| l >= 17)),
            "{route}: wanted {key} / {message}, got {found:?}"
        );
    }
}

#[test]
fn literal_allow_entries_that_differ_after_prefixing_do_not_collide() {
    let c = parse(&with_route(
        "members = [{ backend = \"a\", tools = { allow = [\"search\"] } }, { backend = \"b\", tools = { allow = [\"search\"] } }]",
    ));
    assert!(c.is_ok(), "{:?}", c.err());
}

#[test]
fn a_bad_member_key_is_an_error_with_its_path() {
    let err = parse(&with_route("members = [{ backend = \"a\", prefixx = \"w\" }]")).unwrap_err();
    assert!(err.issues[0].path.starts_with("routes[0].members[0]"), "{err}");
    assert!(err.issues[0].message.contains("unknown field `prefixx`"), "{err}");
    let err = parse(&with_route("members = [{ backend = \"a\" }]\nfailure_mode = \"half\"")).unwrap_err();
    assert_eq!(err.issues[0].path, "routes[0].failure_mode", "{err}");
}

use super::*;

#[test]
fn rates_parse_in_three_units() {
    assert_eq!(Rate::parse("100/s").unwrap(), Rate { count: 100, period: std::time::Duration::from_secs(1) });
    assert_eq!(Rate::parse(" 30 / m ").unwrap().period.as_secs(), 60);
    assert_eq!(Rate::parse("1000/h").unwrap().period.as_secs(), 3600);
    assert_eq!(Rate::parse("5/m").unwrap().to_string(), "5/m");
}

#[test]
fn bad_rates_are_refused() {
    for bad in ["100/parsec", "0/s", "-1/s", "+5/s", "1.5/s", "100", "/s", "x/s", "99999999999/s", ""] {
        assert!(Rate::parse(bad).is_err(), "{bad} parsed");
    }
    assert!(Rate::parse("0/s").unwrap_err().contains("at least one"));
}

const BASE: &str = "[[backends]]\nname = \"a\"\ninstances = [{ url = \"http://127.0.0.1:1/mcp\" }]\n\n\
                    [[routes]]\npath = \"/mcp\"\nbackend = \"a\"\n\n[[rate_limits]]\n";

fn issues(rule: &str) -> Vec<Issue> {
    let text = format!("{BASE}{rule}");
    match crate::config::Config::parse(&text, "test", &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.issues,
    }
}

fn only(rule: &str) -> Issue {
    let found = issues(rule);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn a_good_rule_parses_with_defaults() {
    let text = format!("{BASE}rate = \"100/s\"\nmatch = {{ route = \"/mcp\", method = \"tools/call\" }}\n");
    let c = crate::config::Config::parse(&text, "test", &|_| None).unwrap();
    let r = &c.rate_limits[0];
    assert_eq!((r.key, r.burst(), r.store_timeout.0.as_millis()), (LimitKey::Client, 10, 50));
    assert!(r.store.is_none() && r.matches.backend.is_none());
    assert!(issues("rate = \"5/m\"\nkey = \"global\"\nburst = 2\nstore = \"redis+unix:///tmp/r.sock\"\n").is_empty());
}

#[test]
fn bad_rates_name_the_key_and_line() {
    for bad in ["100/parsec", "0/s", "-1/s"] {
        let i = only(&format!("rate = \"{bad}\"\n"));
        assert_eq!((i.path.as_str(), i.line), ("rate_limits[0].rate", Some(10)), "{i}");
        assert!(i.message.contains(bad), "{i}");
    }
}

#[test]
fn unknown_routes_and_backends_in_match_name_the_key_and_line() {
    let i = only("rate = \"1/s\"\nmatch = { route = \"/nope\" }\n");
    assert_eq!((i.path.as_str(), i.line), ("rate_limits.0.match.route", Some(11)));
    assert!(i.message.contains("/nope"), "{i}");
    let i = only("rate = \"1/s\"\n\nmatch = { backend = \"zz\" }\n");
    assert_eq!((i.path.as_str(), i.line), ("rate_limits.0.match.backend", Some(12)));
    assert!(i.message.contains("`zz`"), "{i}");
}

#[test]
fn other_bad_rules_name_the_key_and_line() {
    let cases = [
        ("rate = \"1/s\"\nburst = 0\n", "rate_limits[0].burst", "nonzero"),
        ("rate = \"1/s\"\nkey = \"user\"\n", "rate_limits[0].key", "unknown variant"),
        ("rate = \"1/s\"\nstore = \"memcached://x\"\n", "rate_limits[0].store", "not a Redis URL"),
        ("rate = \"1/s\"\nmatch = { tool = \"t\", rout = \"/mcp\" }\n", "rate_limits[0].match.rout", "unknown field"),
        ("rate = \"1/s\"\nstore_timeout = \"0s\"\n", "rate_limits[0].store_timeout", "greater than zero"),
        ("match = { route = \"/mcp\" }\n", "rate_limits[0]", "missing field `rate`"),
    ];
    for (rule, path, message) in cases {
        let i = only(rule);
        assert_eq!(i.path, path, "{rule}: {i}");
        assert!(i.line.is_some() && i.message.contains(message), "{rule}: {i}");
    }
    let dup = issues("name = \"x\"\nrate = \"1/s\"\n\n[[rate_limits]]\nname = \"x\"\nrate = \"2/s\"\n");
    assert_eq!(dup.len(), 1, "{dup:?}");
    assert_eq!((dup[0].path.as_str(), dup[0].line), ("rate_limits.1.name", Some(14)));
}

#[test]
fn max_in_flight_of_zero_names_the_key_and_line() {
    let text = BASE.replace("instances = [", "max_in_flight = 0\ninstances = [");
    let err = crate::config::Config::parse(&text, "test", &|_| None).unwrap_err();
    assert_eq!(err.issues[0].path, "backends[0].max_in_flight", "{err}");
    assert_eq!(err.issues[0].line, Some(3), "{err}");
}

#[test]
fn a_store_password_is_never_printed() {
    let store = Store { url: "redis://:hush@10.0.0.9:6379/0".into() };
    assert_eq!(store.redacted(), "redis://<redacted>@10.0.0.9:6379/0");
    let plain = Store { url: "redis+unix:///run/redis.sock".into() };
    assert_eq!(plain.redacted(), "redis+unix:///run/redis.sock");
}

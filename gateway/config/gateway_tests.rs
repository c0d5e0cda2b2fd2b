//! `[gateway]` hardening keys: listener limits, `allowed_commands`, and the
//! stdio `inherit_env` they go with.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", &|v| (v == "SET").then(|| "value".to_string()))
}

/// A stdio backend running `command`, with `gateway` lines under `[gateway]`.
fn stdio(gateway: &str, command: &str) -> String {
    format!(
        "[gateway]\n{gateway}\n\n[[backends]]\nname = \"kids\"\ntransport = \"stdio\"\ncommand = \"{command}\"\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"kids\"\n"
    )
}

#[test]
fn the_hardening_keys_have_their_defaults() {
    let c = parse(&stdio("", "npx")).unwrap();
    assert_eq!(c.gateway.max_connections_per_ip, 1024);
    assert_eq!(c.gateway.h2_max_concurrent_streams, 256);
    assert_eq!(c.gateway.header_read_timeout.0, std::time::Duration::from_secs(10));
    assert_eq!(c.gateway.allowed_commands, None);
    assert!(!c.backends[0].inherit_env);
    let c = parse(
        &stdio("max_connections_per_ip = 0\nh2_max_concurrent_streams = 8", "npx")
            .replace("command = \"npx\"", "command = \"npx\"\ninherit_env = true"),
    )
    .unwrap();
    assert_eq!((c.gateway.max_connections_per_ip, c.gateway.h2_max_concurrent_streams), (0, 8));
    assert!(c.backends[0].inherit_env);
}

#[test]
fn zero_h2_streams_is_refused_with_key_and_line() {
    let err = parse(&stdio("listen = \"127.0.0.1:0\"\nh2_max_concurrent_streams = 0", "npx")).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    assert_eq!(err.issues[0].path, "gateway.h2_max_concurrent_streams");
    assert_eq!(err.issues[0].line, Some(3));
}

#[test]
fn a_listed_command_loads() {
    let allowed = "allowed_commands = [\"npx\", \"/usr/bin/python3\"]";
    assert!(parse(&stdio(allowed, "npx")).is_ok());
    assert!(parse(&stdio(allowed, "/usr/bin/python3")).is_ok());
}

#[test]
fn an_unlisted_command_is_refused_naming_its_key_and_line() {
    let err = parse(&stdio("allowed_commands = [\"npx\"]", "uvx")).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    let issue = &err.issues[0];
    assert_eq!(issue.path, "backends.0.command");
    assert_eq!(issue.line, Some(7), "the line of `command =`: {issue}");
    assert!(issue.message.contains("`uvx` is not in gateway.allowed_commands"), "{issue}");
}

#[test]
fn commands_match_as_exact_strings_so_a_name_does_not_allow_a_path() {
    for (allowed, command) in [("npx", "/usr/bin/npx"), ("/usr/bin/python3", "python3"), ("npx", "./npx")] {
        let err = parse(&stdio(&format!("allowed_commands = [\"{allowed}\"]"), command)).unwrap_err();
        assert_eq!(err.issues[0].path, "backends.0.command", "{allowed} allowed {command}");
    }
}

#[test]
fn the_expanded_command_is_what_is_checked() {
    let err = parse(&stdio("allowed_commands = [\"${SET}\", \"npx\"]", "${SET}x")).unwrap_err();
    assert!(err.issues[0].message.contains("`valuex`"), "{err}");
    assert!(parse(&stdio("allowed_commands = [\"value\"]", "${SET}")).is_ok());
}

#[test]
fn an_empty_list_allows_no_stdio_backend_and_http_backends_are_not_affected() {
    assert!(parse(&stdio("allowed_commands = []", "npx")).is_err());
    let http = "[gateway]\nallowed_commands = []\n\n[[backends]]\nname = \"a\"\n\
                instances = [{ url = \"http://127.0.0.1:1/mcp\" }]\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"a\"\n";
    assert!(parse(http).is_ok());
}

#[test]
fn every_unlisted_command_is_reported() {
    let text = format!(
        "{}\n[[backends]]\nname = \"more\"\ntransport = \"stdio\"\ncommand = \"uvx\"\n",
        stdio("allowed_commands = [\"node\"]", "npx")
    );
    let err = parse(&text).unwrap_err();
    let found: Vec<_> = err.issues.iter().map(|i| (i.path.as_str(), i.line)).collect();
    assert_eq!(found, [("backends.0.command", Some(7)), ("backends.1.command", Some(16))], "{err}");
}

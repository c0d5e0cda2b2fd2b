//! `[gateway]` hardening keys: listener limits.

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
    let c = parse(&stdio("max_connections_per_ip = 0\nh2_max_concurrent_streams = 8", "npx")).unwrap();
    assert_eq!((c.gateway.max_connections_per_ip, c.gateway.h2_max_concurrent_streams), (0, 8));
}

#[test]
fn zero_h2_streams_is_refused_with_key_and_line() {
    let err = parse(&stdio("listen = \"127.0.0.1:0\"\nh2_max_concurrent_streams = 0", "npx")).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    assert_eq!(err.issues[0].path, "gateway.h2_max_concurrent_streams");
    assert_eq!(err.issues[0].line, Some(3));
}

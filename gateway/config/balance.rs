//! `balance = "p2c" | "round_robin"`: how a backend spreads new work over
//! its instances (see the gateway's `balance` module for the algorithms).
//!
//! ```toml
//! [[backends]]
//! name = "search"
//! instances = [{ url = "http://10.0.0.5:3001/mcp", weight = 3 }, { url = "http://10.0.0.6:3001/mcp" }]
//! balance = "round_robin"
//! ```
//!
//! P2C is the default because MCP traffic is uneven: one tool call takes
//! 20 ms, the next 20 s, so an instance's queue says more than its share of
//! past requests. Round robin is for pools where the split itself matters
//! (a canary at weight 1 of 20) and must hold whatever the latency.

use serde::{Deserialize, Serialize};

/// How a backend's instances share new sessions and stateless requests.
/// Applies to `http` backends and to a stdio backend's shared pool of processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Power of two choices on requests in flight and EWMA latency, scaled
    /// by weight.
    #[default]
    P2c,
    /// Smooth weighted round robin: shares follow the weights exactly.
    RoundRobin,
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn config(balance_line: &str) -> String {
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"a\"\n\
             instances = [{{ url = \"http://127.0.0.1:1/mcp\" }}]\n{balance_line}\n\n\
             [[routes]]\npath = \"/mcp\"\nbackend = \"a\"\n"
        )
    }

    fn parse(text: &str) -> Result<Config, super::super::ConfigError> {
        Config::parse(text, "test.toml", &|_| None)
    }

    #[test]
    fn p2c_is_the_default_and_both_names_parse() {
        assert_eq!(parse(&config("")).unwrap().backends[0].balance, Balance::P2c);
        assert_eq!(parse(&config("balance = \"p2c\"")).unwrap().backends[0].balance, Balance::P2c);
        let rr = parse(&config("balance = \"round_robin\"")).unwrap();
        assert_eq!(rr.backends[0].balance, Balance::RoundRobin);
        assert!(rr.to_redacted_toml().contains("balance = \"round_robin\""), "{}", rr.to_redacted_toml());
    }

    #[test]
    fn a_bad_value_names_the_key_the_line_and_the_choices() {
        for bad in ["balance = \"least_loaded\"", "balance = \"P2C\"", "balance = \"round-robin\"", "balance = 2"] {
            let err = parse(&config(bad)).unwrap_err();
            assert_eq!(err.issues.len(), 1, "{err}");
            let issue = &err.issues[0];
            assert_eq!(issue.path, "backends[0].balance", "{bad}: {err}");
            assert_eq!(issue.line, Some(7), "{bad}: {err}");
            if bad.contains('"') {
                assert!(issue.message.contains("`p2c`") && issue.message.contains("`round_robin`"), "{err}");
            }
        }
    }
}

//! `oauth`, `client_cert` and `client_key` on a backend.

use super::tests::{only_issue, parse};
use super::*;

/// Line 6 is the `oauth` line; `{extra}` goes on line 7.
fn wiki(oauth: &str, extra: &str) -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[[backends]]\nname = \"wiki\"\n{oauth}\n{extra}\n\
         instances = [{{ url = \"https://wiki.internal/mcp\" }}]\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"wiki\"\n"
    )
}

const OAUTH: &str = r#"oauth = { token_url = "https://idp.example.com/oauth/token", client_id = "switchyard", client_secret = "${SET}", scopes = ["wiki:read"], audience = "https://wiki.internal/mcp" }"#;

#[test]
fn oauth_parses_with_its_defaults() {
    let c = parse(&wiki(OAUTH, "")).unwrap();
    let o = c.backends[0].oauth().unwrap();
    assert_eq!(o.token_url.0, "https://idp.example.com/oauth/token");
    assert_eq!(o.client_id, "switchyard");
    assert_eq!(o.client_secret, "value");
    assert_eq!(o.scopes, ["wiki:read"]);
    assert_eq!(o.audience.as_deref(), Some("https://wiki.internal/mcp"));
    assert_eq!(o.auth_method, AuthMethod::Basic);
    let post = parse(&wiki(&OAUTH.replace(" }", ", auth_method = \"post\" }"), "")).unwrap();
    assert_eq!(post.backends[0].oauth().unwrap().auth_method, AuthMethod::Post);
    let bare = r#"oauth = { token_url = "http://idp:8080/token", client_id = "a", client_secret = "b" }"#;
    let c = parse(&wiki(bare, "")).unwrap();
    assert!(c.backends[0].oauth().unwrap().scopes.is_empty());
    assert!(c.backends[0].oauth().unwrap().audience.is_none());
}

#[test]
fn the_secret_is_redacted() {
    let out = parse(&wiki(OAUTH, "")).unwrap().to_redacted_toml();
    assert!(!out.contains("\"value\""), "{out}");
    assert!(out.contains("client_id = \"switchyard\""), "{out}");
    parse(&out).unwrap();
}

#[test]
fn oauth_mistakes_name_their_key_and_line() {
    for (oauth, path, needle) in [
        (OAUTH.replace(r#"token_url = "https://idp.example.com/oauth/token", "#, ""), "backends[0].oauth", "token_url"),
        (OAUTH.replace(r#"client_id = "switchyard", "#, ""), "backends[0].oauth", "client_id"),
        (OAUTH.replace(r#"client_secret = "${SET}", "#, ""), "backends[0].oauth", "client_secret"),
        (
            OAUTH.replace("https://idp.example.com", "ftp://idp.example.com"),
            "backends[0].oauth.token_url",
            "invalid URL",
        ),
        (
            OAUTH.replace("https://idp.example.com/oauth/token", "/oauth/token"),
            "backends[0].oauth.token_url",
            "invalid URL",
        ),
        (OAUTH.replace("scopes", "scope"), "backends[0].oauth.scope", "unknown field `scope`"),
        (OAUTH.replace(" }", ", auth_method = \"jwt\" }"), "backends[0].oauth.auth_method", "unknown variant `jwt`"),
        (
            OAUTH.replace(r#"client_id = "switchyard""#, r#"client_id = """#),
            "backends.0.oauth.client_id",
            "must not be empty",
        ),
        (OAUTH.replace("wiki:read", "wiki read"), "backends.0.oauth.scopes", "`wiki read` is not a scope"),
        (OAUTH.replace("https://wiki.internal/mcp", ""), "backends.0.oauth.audience", "must not be empty"),
    ] {
        let i = only_issue(&wiki(&oauth, ""));
        assert_eq!(i.path, path, "{oauth}: {i}");
        assert_eq!(i.line, Some(6), "{oauth}: {i}");
        assert!(i.message.contains(needle), "{oauth}: {i}");
    }
}

#[test]
fn oauth_is_for_http_backends_and_owns_authorization() {
    let stdio = wiki(OAUTH, "transport = \"stdio\"\ncommand = \"wiki-mcp\"")
        .replace("instances = [{ url = \"https://wiki.internal/mcp\" }]", "");
    let i = only_issue(&stdio);
    assert_eq!((i.path.as_str(), i.line), ("backends.0.oauth", Some(6)), "{i}");
    assert!(i.message.contains("transport = \"http\""), "{i}");

    let i = only_issue(&wiki(OAUTH, "headers = { Authorization = \"Bearer static\" }"));
    assert_eq!((i.path.as_str(), i.line), ("backends.0.headers.authorization", Some(6)), "{i}");
}

#[test]
fn client_cert_and_key_go_together() {
    let c = parse(&wiki("client_cert = \"c.pem\"", "client_key = \"k.pem\"")).unwrap();
    let (cert, key) = c.backends[0].client_identity().unwrap();
    assert_eq!((cert.to_str(), key.to_str()), (Some("c.pem"), Some("k.pem")));
    assert!(parse(&wiki("", "")).unwrap().backends[0].client_identity().is_none());

    let i = only_issue(&wiki("client_cert = \"c.pem\"", ""));
    assert_eq!((i.path.as_str(), i.line), ("backends.0.client_key", Some(6)), "{i}");
    assert!(i.message.contains("`client_cert` needs `client_key`"), "{i}");
    let i = only_issue(&wiki("", "client_key = \"k.pem\""));
    assert_eq!((i.path.as_str(), i.line), ("backends.0.client_cert", Some(7)), "{i}");
    let stdio = wiki("client_cert = \"c.pem\"", "client_key = \"k.pem\"\ntransport = \"stdio\"\ncommand = \"x\"")
        .replace("instances = [{ url = \"https://wiki.internal/mcp\" }]", "");
    let i = only_issue(&stdio);
    assert_eq!((i.path.as_str(), i.line), ("backends.0.client_cert", Some(6)), "{i}");
}

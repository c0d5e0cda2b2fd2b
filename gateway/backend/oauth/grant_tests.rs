use super::*;

fn ok(body: &str) -> Result<Grant, TokenError> {
    parse(StatusCode::OK, body.as_bytes())
}

fn bad(body: &str) -> String {
    match ok(body) {
        Err(TokenError::BadResponse(m)) => m,
        Err(other) => panic!("{body}: {other:?}"),
        Ok(g) => panic!("{body}: accepted, lifetime {:?}", g.lifetime),
    }
}

#[test]
fn a_good_answer_gives_the_token_and_its_lifetime() {
    let g =
        ok(r#"{"access_token":"abc.def-ghi","token_type":"Bearer","expires_in":3600,"scope":"wiki:read"}"#).unwrap();
    assert_eq!(g.access_token, "abc.def-ghi");
    assert_eq!(g.lifetime, Duration::from_secs(3600));
    // token_type in any case; expires_in as a string of digits or a float.
    assert_eq!(ok(r#"{"access_token":"t","token_type":"bearer","expires_in":"60"}"#).unwrap().lifetime.as_secs(), 60);
    assert_eq!(
        ok(r#"{"access_token":"t","token_type":"BEARER","expires_in":90.5}"#).unwrap().lifetime.as_millis(),
        90_500
    );
}

#[test]
fn absent_expires_in_is_the_default_and_huge_ones_are_capped() {
    assert_eq!(ok(r#"{"access_token":"t","token_type":"Bearer"}"#).unwrap().lifetime, DEFAULT_LIFETIME);
    assert_eq!(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":null}"#).unwrap().lifetime,
        DEFAULT_LIFETIME
    );
    let huge = ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":1e300}"#).unwrap();
    assert_eq!(huge.lifetime, MAX_LIFETIME);
}

#[test]
fn bad_answers_are_refused_with_the_reason() {
    for (body, needle) in [
        ("<html>oops</html>", "not a JSON token response"),
        ("[1,2]", "not a JSON token response"),
        (r#"{"token_type":"Bearer","expires_in":60}"#, "no access_token"),
        (r#"{"access_token":"","token_type":"Bearer"}"#, "no access_token"),
        (r#"{"access_token":17,"token_type":"Bearer"}"#, "not a JSON token response"),
        (r#"{"access_token":"a b","token_type":"Bearer"}"#, "not a valid header value"),
        ("{\"access_token\":\"a\\nb\",\"token_type\":\"Bearer\"}", "not a valid header value"),
        (r#"{"access_token":"t","token_type":"mac"}"#, "`mac` is not Bearer"),
        (r#"{"access_token":"t","token_type":"DPoP"}"#, "is not Bearer"),
        (r#"{"access_token":"t","expires_in":60}"#, "no token_type"),
        (r#"{"access_token":"t","token_type":"Bearer","expires_in":-5}"#, "under one second"),
        (r#"{"access_token":"t","token_type":"Bearer","expires_in":0}"#, "under one second"),
        (r#"{"access_token":"t","token_type":"Bearer","expires_in":"-5"}"#, "not a number of seconds"),
        (r#"{"access_token":"t","token_type":"Bearer","expires_in":"soon"}"#, "not a number of seconds"),
        (r#"{"access_token":"t","token_type":"Bearer","expires_in":true}"#, "not a number of seconds"),
    ] {
        let message = bad(body);
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn an_error_status_names_the_oauth_error_but_never_quotes_the_body() {
    let e = parse(StatusCode::UNAUTHORIZED, br#"{"error":"invalid_client","error_description":"bad secret"}"#);
    let e = e.err().unwrap();
    assert_eq!(e, TokenError::Refused { status: 401, detail: ": invalid_client (bad secret)".into() });
    assert_eq!(e.to_string(), "the token endpoint answered 401: invalid_client (bad secret)");
    let e = parse(StatusCode::INTERNAL_SERVER_ERROR, b"secret=hunter2 stack trace").err().unwrap();
    assert_eq!(e.to_string(), "the token endpoint answered 500");
}

fn oauth(auth_method: config::AuthMethod) -> config::OAuth {
    config::OAuth {
        token_url: config::InstanceUrl("https://idp.example.com/oauth/token".parse().unwrap()),
        client_id: "switch yard".into(),
        client_secret: "s3cr&t:=".into(),
        scopes: vec!["wiki:read".into(), "wiki:write".into()],
        audience: Some("https://wiki.internal/mcp".into()),
        auth_method,
    }
}

#[test]
fn basic_authentication_sends_the_form_and_an_encoded_pair() {
    let req = TokenRequest::new(&oauth(config::AuthMethod::Basic)).to_http();
    assert_eq!(req.method(), Method::POST);
    assert_eq!(req.uri(), "https://idp.example.com/oauth/token");
    assert_eq!(req.headers()[header::CONTENT_TYPE], "application/x-www-form-urlencoded");
    assert_eq!(req.headers()[header::ACCEPT], "application/json");
    let basic = req.headers()[header::AUTHORIZATION].to_str().unwrap();
    let pair = base64::engine::general_purpose::STANDARD.decode(basic.strip_prefix("Basic ").unwrap()).unwrap();
    // RFC 6749 §2.3.1: each part form-encoded before joining.
    assert_eq!(String::from_utf8(pair).unwrap(), "switch+yard:s3cr%26t%3A%3D");
    assert!(req.headers()[header::AUTHORIZATION].is_sensitive());
    let body = TokenRequest::new(&oauth(config::AuthMethod::Basic)).body;
    assert_eq!(
        body,
        "grant_type=client_credentials&scope=wiki%3Aread+wiki%3Awrite\
         &audience=https%3A%2F%2Fwiki.internal%2Fmcp&resource=https%3A%2F%2Fwiki.internal%2Fmcp"
    );
}

#[test]
fn post_authentication_puts_the_pair_in_the_form() {
    let mut cfg = oauth(config::AuthMethod::Post);
    cfg.scopes.clear();
    cfg.audience = None;
    let request = TokenRequest::new(&cfg);
    assert!(request.to_http().headers().get(header::AUTHORIZATION).is_none());
    assert_eq!(request.body, "grant_type=client_credentials&client_id=switch+yard&client_secret=s3cr%26t%3A%3D");
}

//! Reading credentials and refusing them, without a socket.

use http::HeaderMap;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs.iter().map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap())).collect()
}

fn keys_only(required: &[&str]) -> Authenticator {
    let cfg: config::Auth = toml::from_str(&format!(
        "name = \"team\"\nrequired_scopes = {required:?}\napi_keys = [{{ name = \"ci\", sha256 = \"{}\", scopes = [\"a\"] }}]",
        hash_key("k3y")
    ))
    .unwrap();
    Authenticator::build(&cfg, || Err("no client needed".into())).unwrap()
}

#[test]
fn the_credential_comes_from_authorization_first_then_x_api_key() {
    assert_eq!(credential(&headers(&[("authorization", "Bearer t"), ("x-api-key", "k")])), Ok(Some(("t", true))));
    assert_eq!(credential(&headers(&[("authorization", "bearer  t ")])), Ok(Some(("t", true))));
    assert_eq!(credential(&headers(&[("x-api-key", "k")])), Ok(Some(("k", false))));
    assert_eq!(credential(&headers(&[("authorization", "Bearer ")])), Ok(None));
    assert_eq!(credential(&headers(&[])), Ok(None));
    assert!(matches!(credential(&headers(&[("authorization", "Basic dTpw")])), Err(Refusal::Invalid(_))));
    assert_eq!(credential(&headers(&[("authorization", "Bearer")])), Ok(None));
}

#[tokio::test]
async fn keys_pass_and_refusals_say_why() {
    let auth = keys_only(&[]);
    let id = auth.authenticate(&headers(&[("x-api-key", "k3y")])).await.unwrap();
    assert_eq!(&*id.name, "ci");
    assert_eq!(auth.authenticate(&headers(&[("authorization", "Bearer k3y")])).await.unwrap().digest, id.digest);
    assert_eq!(auth.authenticate(&headers(&[])).await.unwrap_err(), Refusal::Missing);
    let wrong = auth.authenticate(&headers(&[("x-api-key", "k3y!")])).await.unwrap_err();
    assert_eq!(wrong.kind(), "invalid");
    assert!(!wrong.reason().contains("k3y"), "the reason holds nothing of the key");
    // A JWT-shaped token on a block without `jwt` is just an unknown key.
    let jwt_shaped = auth.authenticate(&headers(&[("authorization", "Bearer a.b.c")])).await.unwrap_err();
    assert_eq!(jwt_shaped.kind(), "invalid");
}

#[tokio::test]
async fn a_missing_required_scope_is_a_403_naming_all_of_them() {
    let auth = keys_only(&["a", "b"]);
    let refusal = auth.authenticate(&headers(&[("x-api-key", "k3y")])).await.unwrap_err();
    assert_eq!(refusal, Refusal::Scope(vec!["a".into(), "b".into()]));
    assert!(matches!(refusal.challenge(), metadata::Challenge::InsufficientScope(s) if s == "a b"));
    assert!(keys_only(&["a"]).authenticate(&headers(&[("x-api-key", "k3y")])).await.is_ok());
}

#[test]
fn a_jwks_file_that_is_missing_or_bad_fails_the_build() {
    let dir = std::env::temp_dir().join(format!("switchyard-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"keys\": 1}").unwrap();
    for path in [dir.join("missing.json"), bad] {
        let cfg: config::Auth = toml::from_str(&format!(
            "name = \"t\"\njwt = {{ jwks = {:?}, issuer = \"i\", audience = \"a\" }}",
            path.display().to_string()
        ))
        .unwrap();
        let err = Authenticator::build(&cfg, || Err("unused".into())).err().expect("must fail");
        assert!(err.to_string().starts_with("auth `t`: "), "{err}");
    }
}

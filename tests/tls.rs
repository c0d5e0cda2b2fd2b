//! TLS on the listener: a client connects with a test certificate, over h2
//! and over HTTP/1.1, chosen by ALPN.

mod common;

use common::*;
use switchyard::mock::MockOptions;

#[tokio::test]
async fn tls_serves_h2_and_http1() {
    let backend = mock(MockOptions::default()).await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let extra = format!("tls = {{ cert = \"{}\", key = \"{}\" }}", cert_path.display(), key_path.display());
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], &extra))).await;
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let url = format!("https://localhost:{}/mcp", gw.addr.port());

    for (h2, want) in [(true, reqwest::Version::HTTP_2), (false, reqwest::Version::HTTP_11)] {
        let mut builder =
            reqwest::Client::builder().no_proxy().add_root_certificate(root.clone()).resolve("localhost", gw.addr);
        if !h2 {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        let resp = tokio::time::timeout(
            DEADLINE,
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", ACCEPT_BOTH)
                .body(initialize_body("2025-06-18"))
                .send(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(resp.version(), want);
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("mcp-session-id"));
        let text = resp.text().await.unwrap();
        assert!(text.contains("protocolVersion"), "{text}");
    }

    // A client that does not trust the certificate is refused.
    let untrusting = reqwest::Client::builder().no_proxy().resolve("localhost", gw.addr).build().unwrap();
    assert!(untrusting.get(format!("https://localhost:{}/health/live", gw.addr.port())).send().await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn missing_tls_files_fail_to_start_with_the_path() {
    let cfg = config_for(
        &[("/mcp", "http://127.0.0.1:1/mcp")],
        "tls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }",
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = switchyard::run(&parse(&cfg), listener, std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
}

//! TLS on the listener: a client connects with a test certificate, over h2
//! and over HTTP/1.1, chosen by ALPN. TLS upstream: extra roots, and a
//! client certificate for an upstream that asks for one (mTLS).

mod common;

use std::path::PathBuf;

use common::*;
use switchyard::mock::MockOptions;

/// A self-signed certificate for `localhost`, and its PEM files in a fresh
/// folder named for `tag`.
fn self_signed(tag: &str) -> (rcgen::CertifiedKey<rcgen::KeyPair>, PathBuf, PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert, dir, cert_path, key_path)
}

#[tokio::test]
async fn tls_serves_h2_and_http1() {
    let backend = mock(MockOptions::default()).await;
    let (cert, dir, cert_path, key_path) = self_signed("tls");
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

/// An HTTPS upstream that records the HTTP version of each request.
async fn tls_recording_upstream(
    acceptor: tokio_rustls::TlsAcceptor,
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<http::Version>>>) {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen2.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    // Health probes are not what this test looks at.
                    let ua = req.headers().get("user-agent").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
                    if !ua.starts_with(b"switchyard-health") {
                        seen.lock().unwrap().push(req.version());
                    }
                    async move {
                        let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
                            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
                        )));
                        resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn https_upstream_with_extra_ca_speaks_h2() {
    let (_cert, dir, cert_path, key_path) = self_signed("tls-up");
    let (addr, seen) = tls_recording_upstream(switchyard::listener::acceptor(&cert_path, &key_path).unwrap()).await;
    let url = format!("https://localhost:{}/mcp", addr.port());

    // Trusted through `ca`: the request arrives over h2, chosen by ALPN.
    let cfg = config_for(&[("/mcp", &url)], "")
        .replace("timeout = \"5s\"", &format!("timeout = \"5s\"\nca = \"{}\"", cert_path.display()));
    let gw = gateway(parse(&cfg)).await;
    let (status, msgs) = call(&gw.url("/mcp"), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[]).await;
    assert_eq!(status, 200, "{msgs:?}");
    assert_eq!(seen.lock().unwrap().as_slice(), &[http::Version::HTTP_2]);

    // Without the extra root, the self-signed upstream is refused: 502.
    let gw2 = gateway(parse(&config_for(&[("/mcp", &url)], ""))).await;
    let (status, msgs) = call(&gw2.url("/mcp"), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[]).await;
    assert_eq!(status, 502, "{msgs:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A test CA, and certificates it signed, written as PEM files.
struct Pki {
    dir: std::path::PathBuf,
    ca: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
    /// Accepts TLS for `localhost`, and only clients with a certificate the CA signed.
    acceptor: tokio_rustls::TlsAcceptor,
}

fn pki(name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |san: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![san.to_string()]).unwrap();
        params.extended_key_usages = vec![usage];
        (params.signed_by(&key, &ca).unwrap(), key)
    };
    let (server_cert, server_key) = leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf("switchyard", ExtendedKeyUsagePurpose::ClientAuth);

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |file: &str, pem: String| {
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_path = write("ca.pem", ca.pem());
    let client_cert_path = write("client.pem", client_cert.pem());
    let client_key_path = write("client-key.pem", client_key.serialize_pem());

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone()).build().unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Pki {
        dir,
        ca: ca_path,
        client_cert: client_cert_path,
        client_key: client_key_path,
        acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    }
}

#[tokio::test]
async fn client_certificate_gets_through_to_an_upstream_that_requires_one() {
    let pki = pki("mtls");
    let (addr, seen) = tls_recording_upstream(pki.acceptor.clone()).await;
    let url = format!("https://localhost:{}/mcp", addr.port());
    let with = |extra: &str| {
        config_for(&[("/mcp", &url)], "").replace(
            "timeout = \"5s\"",
            &format!("timeout = \"5s\"\nca = \"{}\"\nhealth = {{ probe = \"none\" }}\n{extra}", pki.ca.display()),
        )
    };
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    let identity =
        format!("client_cert = \"{}\"\nclient_key = \"{}\"", pki.client_cert.display(), pki.client_key.display());
    let gw = gateway(parse(&with(&identity))).await;
    let (status, msgs) = call(&gw.url("/mcp"), ping, &[]).await;
    assert_eq!(status, 200, "{msgs:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);

    // The same upstream, trusted, but no certificate to show: refused, 502.
    let gw2 = gateway(parse(&with(""))).await;
    let (status, msgs) = call(&gw2.url("/mcp"), ping, &[]).await;
    assert_eq!(status, 502, "{msgs:?}");
    assert_eq!(msgs[0]["error"]["code"], -32010);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn unreadable_client_certificate_fails_the_load_naming_backend_and_file() {
    let pki = pki("mtls-missing");
    for (cert, key, named) in [
        ("/nonexistent/client.pem".to_string(), pki.client_key.display().to_string(), "/nonexistent/client.pem"),
        (pki.client_cert.display().to_string(), "/nonexistent/key.pem".to_string(), "/nonexistent/key.pem"),
        // A file that holds no private key.
        (pki.client_cert.display().to_string(), pki.ca.display().to_string(), "client_key"),
    ] {
        let cfg = config_for(&[("/mcp", "https://localhost:1/mcp")], "").replace(
            "timeout = \"5s\"",
            &format!("timeout = \"5s\"\nclient_cert = \"{cert}\"\nclient_key = \"{key}\""),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = switchyard::run(&parse(&cfg), listener, std::future::pending()).await.unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(named) && message.contains("backend `b0`"), "{message}");
    }
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn the_tls_handshake_and_the_first_head_share_one_deadline() {
    let (cert, dir, cert_path, key_path) = self_signed("tls-head");
    let extra = format!(
        "header_read_timeout = \"1200ms\"\ntls = {{ cert = \"{}\", key = \"{}\" }}",
        cert_path.display(),
        key_path.display()
    );
    let gw = gateway(parse(&config_for(&[("/mcp", "http://127.0.0.1:1/mcp")], &extra))).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));

    let started = tokio::time::Instant::now();
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // Half the deadline spent before the handshake, then the head trickled:
    // a deadline per phase would allow 0.6 s + 1.2 s, one from accept 1.2 s.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(DEADLINE, connector.connect(name, tcp)).await.unwrap().unwrap();
    let (reader, writer) = tokio::io::split(tls);
    let head = b"GET /health/live HTTP/1.1\r\nhost: localhost\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    trickle_until_closed(reader, writer, head, std::time::Duration::from_millis(50)).await;
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(1100), "closed before the deadline, after {took:?}");
    assert!(took < std::time::Duration::from_millis(1600), "the handshake got a deadline of its own: {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

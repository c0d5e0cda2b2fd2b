//! The pooled upstream HTTP client.
//!
//! hyper-util's pooled client over hyper-rustls: keep-alive HTTP/1.1 to plain
//! `http://` instances, and h2 or HTTP/1.1 by ALPN to `https://` ones. Roots
//! are webpki's, plus an optional per-backend PEM `ca` file. A backend with
//! `client_cert` and `client_key` offers that certificate to servers that
//! ask for one (mTLS); the token endpoint of its `oauth`, reached with the
//! same client, gets it too.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::GatewayError;

/// The body of an upstream response, streamed through as it arrives.
pub type UpstreamBody = Incoming;

/// A pooled client for one backend.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// Builds a client with a connect timeout, optional extra roots, and an
    /// optional client certificate: the paths of its PEM chain and key.
    pub fn new(connect_timeout: Duration, ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read ca file {}: {e}", path.display()))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let tls = match identity {
            None => tls.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read client_cert file {}: {e}", cert.display()))?;
                if chain.is_empty() {
                    return Err(format!("client_cert file {} holds no certificate", cert.display()));
                }
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("cannot read client_key file {}: {e}", key.display()))?;
                tls.with_client_auth_cert(chain, key_der).map_err(|e| {
                    format!("client_cert {} and client_key {} do not go together: {e}", cert.display(), key.display())
                })?
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Ok(Self { inner })
    }

    /// Sends one request and waits for the response head.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, GatewayError> {
        self.inner.request(req).await.map_err(|e| {
            // Walk to the root cause: hyper-util wraps it in layers that all
            // say "client error".
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            if e.is_connect() {
                GatewayError::UpstreamConnect(cause.to_string())
            } else {
                GatewayError::UpstreamFailed(cause.to_string())
            }
        })
    }
}

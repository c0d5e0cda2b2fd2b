//! A real JWT issuer for tests: signing keys (ES256 and EdDSA generated
//! with ring for each run, RS256 from a test-only key in `tests/fixtures`),
//! a JWKS served over HTTP on a port-0 listener that counts its fetches,
//! and tokens signed with any of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The issuer every test token names.
pub const ISSUER: &str = "https://idp.test";
/// The audience: the gateway's resource.
pub const AUDIENCE: &str = "https://mcp.test/mcp";

/// The issuer's keys and its JWKS endpoint.
pub struct Issuer {
    /// `http://127.0.0.1:port/jwks.json`.
    pub jwks_url: String,
    /// How many times the JWKS was fetched.
    pub fetches: Arc<AtomicUsize>,
    /// The keys the endpoint publishes; tests may add to it.
    published: Arc<Mutex<Vec<Value>>>,
    es: EncodingKey,
    ed: EncodingKey,
    rsa: EncodingKey,
    /// A second EC key whose public half is not published until asked.
    pub unpublished: (EncodingKey, Value),
    _task: tokio::task::JoinHandle<()>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ec_key(kid: &str) -> (EncodingKey, Value) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // The public key is the uncompressed point: 0x04, x, y.
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

impl Issuer {
    /// Generates the keys and serves the JWKS.
    pub async fn start() -> Issuer {
        let (es, es_jwk) = ec_key("es-1");
        let rng = SystemRandom::new();
        let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed_pair = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
        let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": b64(ed_pair.public_key().as_ref())});
        let ed = EncodingKey::from_ed_der(ed_pkcs8.as_ref());
        let root = env!("CARGO_MANIFEST_DIR");
        let pem = std::fs::read(format!("{root}/tests/fixtures/jwt-rsa-test-key.pem")).unwrap();
        let rsa = EncodingKey::from_rsa_pem(&pem).unwrap();
        let mut rsa_jwk: Value = serde_json::from_slice(
            &std::fs::read(format!("{root}/tests/fixtures/jwt-rsa-test-key.public.json")).unwrap(),
        )
        .unwrap();
        rsa_jwk["kid"] = json!("rsa-1");
        let published = Arc::new(Mutex::new(vec![es_jwk, ed_jwk, rsa_jwk]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let task = tokio::spawn(serve(listener, published.clone(), fetches.clone()));
        Issuer { jwks_url, fetches, published, es, ed, rsa, unpublished: ec_key("es-2"), _task: task }
    }

    /// Publishes the second EC key, as an issuer rotating its keys would.
    pub fn publish_second_key(&self) {
        self.published.lock().unwrap().push(self.unpublished.1.clone());
    }

    /// Claims for `sub` with `scope`, good for ten minutes.
    pub fn claims(sub: &str, scope: &str) -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope, "iat": now(), "exp": now() + 600})
    }

    /// A token over `claims`, signed with the key for `alg` (`RS256`,
    /// `ES256`, `EdDSA`).
    pub fn sign(&self, alg: &str, claims: &Value) -> String {
        let (alg, key, kid) = match alg {
            "RS256" => (Algorithm::RS256, &self.rsa, "rsa-1"),
            "ES256" => (Algorithm::ES256, &self.es, "es-1"),
            "EdDSA" => (Algorithm::EdDSA, &self.ed, "ed-1"),
            other => panic!("no key for {other}"),
        };
        let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    /// A token signed with the unpublished key, under its own `kid`.
    pub fn sign_with_second_key(&self, claims: &Value) -> String {
        let header = Header { kid: Some("es-2".into()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, claims, &self.unpublished.0).unwrap()
    }

    /// `Bearer` and the token.
    pub fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }
}

/// An unsigned token (`alg: none`) over `claims`.
pub fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()))
}

/// `token` with its signature's first bytes changed.
pub fn tampered(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[0] ^= 0x55;
    format!("{head}.{}", b64(&sig))
}

async fn serve(listener: TcpListener, published: Arc<Mutex<Vec<Value>>>, fetches: Arc<AtomicUsize>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let (published, fetches) = (published.clone(), fetches.clone());
        tokio::spawn(async move {
            let service = service_fn(move |_req| {
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = json!({ "keys": *published.lock().unwrap() }).to_string();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .header("cache-control", "max-age=300")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

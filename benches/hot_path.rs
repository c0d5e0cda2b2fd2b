//! Micro-benchmarks of the pieces every proxied request passes through:
//! the JSON-RPC envelope parse, session token seal and open, the
//! stateless-era header check, the balancer's pick under both
//! algorithms (alone, and with threads picking from one pool at once),
//! and a GCRA rate-limit check.
//!
//! Run: `cargo bench --bench hot_path`. CI only builds them (`cargo bench --no-run`).

// These measure real elapsed time, which tokio's paused clock cannot.
#![allow(clippy::disallowed_types)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use switchyard::balance::Balancer;
use switchyard::config::Balance;
use switchyard::front::stateless;
use switchyard::mcp::envelope::{self, Message};
use switchyard::session::{SessionKey, Ticket};
use switchyard::table::Instance;

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const STATELESS_CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn big_call() -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{{"name":"index","arguments":{{"doc":"{}"}}}}}}"#,
        "x".repeat(64 * 1024)
    )
}

fn envelope_parse(c: &mut Criterion) {
    let big = big_call();
    let mut g = c.benchmark_group("envelope_parse");
    g.bench_function("tools_call", |b| b.iter(|| envelope::parse(black_box(CALL.as_bytes())).unwrap()));
    g.bench_function("tools_call_stateless_meta", |b| {
        b.iter(|| envelope::parse(black_box(STATELESS_CALL.as_bytes())).unwrap())
    });
    g.bench_function("tools_call_64KiB_args", |b| b.iter(|| envelope::parse(black_box(big.as_bytes())).unwrap()));
    g.finish();
}

fn session_token(c: &mut Criterion) {
    let key = SessionKey::from_secret("bench-key");
    let ticket = Ticket {
        backend: "search".into(),
        instance: "http://10.0.0.5:3001/mcp".into(),
        upstream_session: "0f4c3a2e-9d7b-4c1e-8a6f-2b5d9e0c7a13".into(),
        protocol_version: "2025-06-18".into(),
        client_caps: switchyard::session::ClientCaps::SAMPLING,
        issued_at: 1_790_000_000,
        members: Default::default(),
        principal: Some([7; 16]),
    };
    let token = key.seal("/mcp", &ticket);
    let mut g = c.benchmark_group("session_token");
    g.bench_function("seal", |b| b.iter(|| key.seal(black_box("/mcp"), black_box(&ticket))));
    g.bench_function("open", |b| b.iter(|| key.open(black_box("/mcp"), black_box(&token)).unwrap()));
    g.finish();
}

fn stateless_headers(c: &mut Criterion) {
    let Message::Single(env) = envelope::parse(STATELESS_CALL.as_bytes()).unwrap() else { unreachable!() };
    let mut headers = HeaderMap::new();
    headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    headers.insert("mcp-method", "tools/call".parse().unwrap());
    headers.insert("mcp-name", "echo".parse().unwrap());
    let mut b64 = headers.clone();
    b64.insert("mcp-name", "=?base64?ZWNobw==?=".parse().unwrap());
    let mut g = c.benchmark_group("stateless_validate");
    g.bench_function("plain", |b| {
        b.iter(|| stateless::validate(black_box(&headers), &env, Some("2026-07-28")).unwrap())
    });
    g.bench_function("base64_name", |b| {
        b.iter(|| stateless::validate(black_box(&b64), &env, Some("2026-07-28")).unwrap())
    });
    g.finish();
}

/// A pool weighted 1, 2, 7, 1, 2, 7, … with some latency seen on each.
fn pool(n: usize) -> Vec<Arc<Instance>> {
    let epoch = tokio::time::Instant::now();
    (0..n)
        .map(|i| {
            let url = format!("http://10.0.0.{i}:3001/mcp").parse().unwrap();
            let inst = Arc::new(Instance::new(url, [1, 2, 7][i % 3], i, "bench", epoch));
            inst.record.observe_latency(std::time::Duration::from_micros(500 + 100 * i as u64));
            inst
        })
        .collect()
}

fn balance_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("balance_pick");
    for (name, alg) in [("p2c", Balance::P2c), ("round_robin", Balance::RoundRobin)] {
        for n in [3, 10] {
            let (p, b) = (pool(n), Balancer::new(alg, n));
            g.bench_function(format!("{name}_{n}_instances"), |bench| {
                bench.iter(|| b.pick(black_box(&p), None).map(|p| p.instance.index))
            });
        }
        // Each iteration is one pick on each of 4 threads sharing the pool
        // and the balancer: what contention on the counters costs.
        let (p, b) = (pool(3), Balancer::new(alg, 3));
        g.bench_function(format!("{name}_3_instances_4_threads"), |bench| {
            bench.iter_custom(|iters| {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..4 {
                        s.spawn(|| {
                            for _ in 0..iters {
                                black_box(b.pick(black_box(&p), None).map(|p| p.instance.index));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn rate_limit(c: &mut Criterion) {
    use switchyard::limit::{Gcra, LocalBuckets};
    let mut g = c.benchmark_group("rate_limit");
    // A rate no bench reaches, so every check takes the admit path.
    let gcra = Gcra::new(u32::MAX, std::time::Duration::from_secs(1), 1 << 20);
    let one = LocalBuckets::new(gcra);
    g.bench_function("gcra_check_one_key", |b| {
        b.iter(|| one.check(black_box("cred:0123456789abcdef0123456789abcdef")))
    });
    let many = LocalBuckets::new(gcra);
    let keys: Vec<String> = (0..4000).map(|i| format!("ip:10.0.{}.{}", i / 256, i % 256)).collect();
    let mut i = 0;
    g.bench_function("gcra_check_4000_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            many.check(black_box(&keys[i]))
        })
    });
    g.finish();
}

/// The identity check on the hot path: a JWT already verified (the
/// verified-token cache, keyed by the token's SHA-256), its first
/// verification (ES256), and an API key.
fn authenticate(c: &mut Criterion) {
    use base64::Engine;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let point = pair.public_key().as_ref();
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])}]});
    let path = std::env::temp_dir().join(format!("switchyard-bench-jwks-{}.json", std::process::id()));
    std::fs::write(&path, jwks.to_string()).unwrap();
    let cfg: switchyard::config::Auth = toml::from_str(&format!(
        "name = \"team\"\napi_keys = [{{ name = \"ci\", sha256 = \"{}\" }}]\n\
         jwt = {{ jwks = {:?}, issuer = \"https://idp\", audience = \"https://mcp/mcp\" }}",
        switchyard::auth::hash_key("bench-api-key-0123456789"),
        path.display().to_string()
    ))
    .unwrap();
    let auth = switchyard::auth::Authenticator::build(&cfg, || Err("no client".into())).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let sign = |sub: &str| {
        let claims = serde_json::json!({"iss": "https://idp", "aud": "https://mcp/mcp", "sub": sub,
            "scope": "tools:read tools:call", "exp": now + 3600, "iat": now});
        let header = jsonwebtoken::Header {
            kid: Some("k1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref())).unwrap()
    };
    let headers = |name: &'static str, value: String| {
        let mut h = http::HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    };
    let cached = headers("authorization", format!("Bearer {}", sign("alice")));
    futures::executor::block_on(auth.authenticate(&cached)).unwrap();
    let key = headers("x-api-key", "bench-api-key-0123456789".into());
    let mut g = c.benchmark_group("authenticate");
    g.bench_function("jwt_cached", |b| {
        b.iter(|| futures::executor::block_on(auth.authenticate(black_box(&cached))).unwrap())
    });
    g.bench_function("api_key", |b| {
        b.iter(|| futures::executor::block_on(auth.authenticate(black_box(&key))).unwrap())
    });
    let mut n = 0u64;
    g.bench_function("jwt_first_verify_es256", |b| {
        b.iter_batched(
            || {
                n += 1;
                headers("authorization", format!("Bearer {}", sign(&format!("user-{n}"))))
            },
            |h| futures::executor::block_on(auth.authenticate(&h)).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, envelope_parse, session_token, stateless_headers, balance_pick, rate_limit, authenticate);
criterion_main!(benches);

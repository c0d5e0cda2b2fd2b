//! A fleet of upstream instances for the resilience tests.
//!
//! Each instance is the built-in mock behind a thin counting shim, both on a
//! runtime of their own on a thread of their own, so that an instance can be
//! killed the way SIGKILL kills a process: the runtime is dropped, and every
//! socket it held (listener, open connections, requests in flight) closes at
//! once. A restart binds the same address again.
//!
//! The shim:
//! - counts `tools/call` executions by JSON-RPC id, across the fleet, so a
//!   test can tell whether a call ran twice;
//! - counts the requests each instance received (health probes apart);
//! - records `notifications/cancelled` messages;
//! - can answer 503 to everything, or black-hole (accept and never answer).
//!
//! [`process::Process`] is the other kind: a real `switchyard mock` child, for what
//! only a real SIGKILL shows.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard::mock::{self, MockOptions};
use tokio::sync::oneshot;

pub mod process;

/// How an instance behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Serve through the mock.
    Normal = 0,
    /// Answer every request with 503.
    Fail503 = 1,
    /// Accept requests and never answer.
    BlackHole = 2,
}

/// What the whole fleet saw.
#[derive(Default)]
pub struct Ledger {
    /// `tools/call` executions by JSON-RPC id (as its JSON text).
    pub executions: Mutex<HashMap<String, u32>>,
    /// The `notifications/cancelled` messages received.
    pub cancels: Mutex<Vec<serde_json::Value>>,
}

/// What one instance saw (health probes apart).
#[derive(Default)]
pub struct Counters {
    /// Every request.
    pub requests: AtomicU64,
    /// Requests without a session id (stateless era, or initialize).
    pub sessionless: AtomicU64,
    /// Requests within a session.
    pub in_session: AtomicU64,
    /// `initialize` requests.
    pub initializes: AtomicU64,
}

/// One instance.
pub struct Upstream {
    /// Where it listens, across restarts.
    pub addr: SocketAddr,
    /// Its [`Mode`], as a byte.
    pub mode: Arc<AtomicU8>,
    /// What it saw.
    pub counters: Arc<Counters>,
    ledger: Arc<Ledger>,
    running: Option<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// Starts `n` instances sharing one ledger.
pub fn fleet(n: usize) -> (Vec<Upstream>, Arc<Ledger>) {
    let ledger = Arc::new(Ledger::default());
    let ups = (0..n).map(|_| Upstream::start(None, ledger.clone())).collect();
    (ups, ledger)
}

impl Upstream {
    fn start(addr: Option<SocketAddr>, ledger: Arc<Ledger>) -> Upstream {
        let listener = std::net::TcpListener::bind(addr.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))))
            .expect("bind upstream (a restart rebinds the same port)");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut up = Upstream {
            addr,
            mode: Arc::new(AtomicU8::new(Mode::Normal as u8)),
            counters: Arc::new(Counters::default()),
            ledger,
            running: None,
        };
        up.spawn(listener);
        up
    }

    fn spawn(&mut self, listener: std::net::TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let (mode, counters, ledger) = (self.mode.clone(), self.counters.clone(), self.ledger.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mock_url = format!("http://{}/mcp", inner.local_addr().unwrap());
                tokio::spawn(mock::serve_http(inner, MockOptions::default(), std::future::pending()));
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let shim = Shim {
                    mock_url,
                    client: Client::builder(TokioExecutor::new()).build_http(),
                    mode,
                    counters,
                    ledger,
                };
                let shim = Arc::new(shim);
                tokio::spawn(async move {
                    while let Ok((stream, _)) = listener.accept().await {
                        let shim = shim.clone();
                        tokio::spawn(async move {
                            let svc = service_fn(move |req| {
                                let shim = shim.clone();
                                async move { Ok::<_, Infallible>(shim.handle(req).await) }
                            });
                            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                });
                let _ = stopped.await;
            });
            // Dropping the runtime drops every task, and with them every
            // socket: the listener, the connections, the requests in flight.
            drop(rt);
        });
        self.running = Some((stop, thread));
    }

    /// `http://addr/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Sets how it behaves.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Kills it: every socket closes at once. Returns when they have.
    pub fn kill(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            let _ = stop.send(());
            thread.join().expect("upstream thread panicked");
        }
    }

    /// Starts it again on the same address.
    pub fn restart(&mut self) {
        self.kill();
        let listener = std::net::TcpListener::bind(self.addr).expect("rebind the same address");
        listener.set_nonblocking(true).unwrap();
        self.spawn(listener);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Shim {
    mock_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    mode: Arc<AtomicU8>,
    counters: Arc<Counters>,
    ledger: Arc<Ledger>,
}

type ShimBody = Either<Incoming, Full<Bytes>>;

impl Shim {
    async fn handle(&self, req: http::Request<Incoming>) -> http::Response<ShimBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let probe = parts.headers.get("user-agent").is_some_and(|v| v.as_bytes().starts_with(b"switchyard-health"));
        let message: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if !probe {
            let c = &self.counters;
            c.requests.fetch_add(1, Ordering::SeqCst);
            match parts.headers.contains_key("mcp-session-id") {
                true => c.in_session.fetch_add(1, Ordering::SeqCst),
                false => c.sessionless.fetch_add(1, Ordering::SeqCst),
            };
            if message["method"] == "initialize" {
                c.initializes.fetch_add(1, Ordering::SeqCst);
            }
        }
        match self.mode.load(Ordering::SeqCst) {
            1 => {
                let mut resp = http::Response::new(Either::Right(Full::new(Bytes::from_static(b"overloaded"))));
                *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                return resp;
            }
            2 => std::future::pending::<()>().await,
            _ => {}
        }
        if message["method"] == "tools/call" {
            *self.ledger.executions.lock().unwrap().entry(message["id"].to_string()).or_default() += 1;
        }
        if message["method"] == "notifications/cancelled" {
            self.ledger.cancels.lock().unwrap().push(message.clone());
        }
        let mut upstream = http::Request::new(Full::new(bytes));
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = self.mock_url.parse().unwrap();
        *upstream.headers_mut() = parts.headers;
        upstream.headers_mut().remove("host");
        match self.client.request(upstream).await {
            Ok(resp) => resp.map(Either::Left),
            Err(e) => {
                let mut resp = http::Response::new(Either::Right(Full::new(Bytes::from(e.to_string()))));
                *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                resp
            }
        }
    }
}

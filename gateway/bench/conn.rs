//! Connections: hyper's low-level client, one HTTP/1.1 keep-alive connection
//! per worker, or a few shared, multiplexed HTTP/2 (h2c) connections.
//!
//! The pooled `hyper_util` client would add a lock and a lookup to every
//! request; a worker owning its connection pays neither, which keeps the load
//! generator from being the bottleneck it is trying to measure.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::{http1, http2};
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::report::ErrorKind;
use super::wire::{Body, SESSION_ID, Target};

/// A way to send one request.
pub(crate) enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// A response read to the end.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub session: Option<HeaderValue>,
    pub body: Bytes,
}

impl Reply {
    /// The error kind this reply counts as, if any: a non-2xx status, or a
    /// JSON-RPC error in the body.
    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        if !self.status.is_success() {
            return Err(ErrorKind::Http(self.status.as_u16()));
        }
        match super::wire::rpc_error_code(&self.body) {
            Some(code) => Err(ErrorKind::JsonRpc(code)),
            None => Ok(()),
        }
    }
}

/// Opens connections to the target; shares HTTP/2 connections between workers.
pub(crate) struct Connector {
    target: std::sync::Arc<Target>,
    /// HTTP/2 only: the shared connections, each replaced when it dies.
    h2: Option<Vec<Mutex<Option<http2::SendRequest<Body>>>>>,
    connect_timeout: Duration,
}

impl Connector {
    pub(crate) fn new(target: std::sync::Arc<Target>, h2_connections: Option<usize>, timeout: Duration) -> Self {
        let h2 = h2_connections.map(|n| (0..n.max(1)).map(|_| Mutex::new(None)).collect());
        Self { target, h2, connect_timeout: timeout }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// A sender for worker `slot`: a fresh HTTP/1.1 connection, or a handle on
    /// one of the shared HTTP/2 connections (opened if it is not up).
    pub(crate) async fn connect(&self, slot: usize) -> Result<Sender, String> {
        let Some(pool) = &self.h2 else {
            let io = self.tcp().await?;
            let (sender, conn) = http1::handshake(io).await.map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return Ok(Sender::H1(sender));
        };
        let mut shared = pool[slot % pool.len()].lock().await;
        if let Some(sender) = shared.as_ref().filter(|s| !s.is_closed()) {
            return Ok(Sender::H2(sender.clone()));
        }
        let io = self.tcp().await?;
        let (sender, conn) =
            http2::handshake(TokioExecutor::new(), io).await.map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        *shared = Some(sender.clone());
        Ok(Sender::H2(sender))
    }

    async fn tcp(&self) -> Result<TokioIo<TcpStream>, String> {
        let addr = &self.target.addr;
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        // Small JSON-RPC messages: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        Ok(TokioIo::new(stream))
    }
}

/// A worker's connection: reconnects lazily after a failure.
pub(crate) struct Link {
    slot: usize,
    sender: Option<Sender>,
}

impl Link {
    pub(crate) fn new(slot: usize) -> Self {
        Self { slot, sender: None }
    }

    /// Connects now, so set-up failures come with their reason.
    pub(crate) async fn open(&mut self, connector: &Connector) -> Result<(), String> {
        self.sender = Some(connector.connect(self.slot).await?);
        Ok(())
    }

    /// Forgets an HTTP/1.1 connection left in an unknown state (a request
    /// abandoned mid-way). A shared HTTP/2 connection stays: the abandoned
    /// stream was reset, the others on it are fine.
    pub(crate) fn abandon(&mut self) {
        if matches!(self.sender, Some(Sender::H1(_))) {
            self.sender = None;
        }
    }

    /// Sends one request and reads the whole response.
    ///
    /// A connection found closed before sending (the server ended an idle
    /// keep-alive) is replaced once without counting an error: nothing was sent.
    pub(crate) async fn exchange(&mut self, connector: &Connector, req: Request<Body>) -> Result<Reply, ErrorKind> {
        let mut fresh = false;
        loop {
            let sender = match &mut self.sender {
                Some(s) if !s.is_closed() => s,
                _ => {
                    fresh = true;
                    self.sender = Some(connector.connect(self.slot).await.map_err(|_| ErrorKind::Transport)?);
                    self.sender.as_mut().ok_or(ErrorKind::Transport)?
                }
            };
            let ready = match sender {
                Sender::H1(s) => s.ready().await,
                Sender::H2(s) => s.ready().await,
            };
            match ready {
                Ok(()) => break,
                Err(_) if !fresh => self.sender = None,
                Err(_) => {
                    self.sender = None;
                    return Err(ErrorKind::Transport);
                }
            }
        }
        let sent = match &mut self.sender {
            Some(Sender::H1(s)) => s.send_request(req).await,
            Some(Sender::H2(s)) => s.send_request(req).await,
            None => return Err(ErrorKind::Transport),
        };
        let result = match sent {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let session = parts.headers.get(&SESSION_ID).cloned();
                body.collect().await.map(|b| Reply { status: parts.status, session, body: b.to_bytes() })
            }
            Err(e) => Err(e),
        };
        result.map_err(|_| {
            self.abandon();
            ErrorKind::Transport
        })
    }
}

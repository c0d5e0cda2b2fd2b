//! GET and DELETE on an aggregated route.
//!
//! GET opens one stream for the client made of every member's: each HTTP
//! member's own GET stream in its member session, and each stdio member's
//! change notifications. Events are passed on whole, one JSON-RPC message
//! each, without the members' event ids (they would mean nothing to
//! another member on a `Last-Event-ID`). `list_changed` notifications are
//! debounced ([`DEBOUNCE`]): a burst of them, from one member or several,
//! reaches the client once, and each one has already cleared the member's
//! cache entries on its way in (the cache's tap sees the member's stream).
//!
//! A 2026-07-28 `subscriptions/listen` gets the same merged stream: each
//! HTTP member's own `subscriptions/listen`, each stdio member's change
//! notifications.
//!
//! DELETE ends every member session the client's session holds.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Ctx, Name};
use crate::backend::UpstreamRequest;
use crate::client::Client;
use crate::error::GatewayError;
use crate::front::answer::sse;
use crate::front::{Front, Info, Route, is_sse};
use crate::route::{Aggregate, Target};
use crate::session::{MemberSession, Ticket};
use crate::stack::ProxyBody;

/// The largest event read from a member's stream.
const MAX_EVENT_BYTES: usize = 16 << 20;

/// How long a `list_changed` waits for others like it before it is sent.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

impl Front {
    pub(in crate::front) async fn get_or_delete_aggregate(
        &self,
        route: &Route,
        agg: &Aggregate,
        req: Request<Incoming>,
        ticket: Option<Ticket>,
        client: &Client,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let Some(ticket) = ticket.as_ref() else {
            return Err(GatewayError::InvalidRequest("a GET or DELETE needs the Mcp-Session-Id of a session".into()));
        };
        let is_get = req.method() == Method::GET;
        let (parts, _) = req.into_parts();
        let ctx = Ctx {
            route,
            agg,
            ticket: Some(ticket),
            session: super::session_key(&parts.headers),
            stateless: false,
            client,
            uri: parts.uri.clone(),
            headers: &parts.headers,
        };
        if agg.state.deleted(ctx.session) {
            return Err(GatewayError::SessionNotFound);
        }
        let sessions: Vec<(usize, MemberSession)> =
            (0..agg.members.len()).filter_map(|i| Some((i, self.member_session(&ctx, i)?))).collect();
        let deadline = agg.settings.member_timeout.0;
        if !is_get {
            let ends = sessions.iter().map(|(i, s)| tokio::time::timeout(deadline, self.member_end(&ctx, *i, s)));
            futures_util::future::join_all(ends).await;
            agg.state.forget(ctx.session);
            info.session_delta = -1;
            let mut resp = Response::new(ProxyBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::OK;
            return Ok(resp);
        }
        let (inbound, events) = mpsc::unbounded_channel::<Bytes>();
        // A member whose stream does not open in time is left out of it.
        let opens = sessions
            .iter()
            .map(|(i, s)| tokio::time::timeout(deadline, self.member_stream(&ctx, *i, s, inbound.clone())));
        futures_util::future::join_all(opens).await;
        drop(inbound);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(merge(events, tx));
        Ok(sse(ProxyBody::events(rx)))
    }

    /// A 2026-07-28 `subscriptions/listen`: every member's stream, merged.
    pub(super) async fn aggregate_listen(&self, ctx: &Ctx<'_>, bytes: Bytes) -> Response<ProxyBody> {
        let (inbound, events) = mpsc::unbounded_channel::<Bytes>();
        let deadline = ctx.agg.settings.member_timeout.0;
        let opens = ctx.all().into_iter().map(|i| {
            let (inbound, bytes) = (inbound.clone(), bytes.clone());
            tokio::time::timeout(deadline, async move {
                let Some(side) = ctx.agg.members[i].pick() else { return };
                if let Target::Stdio { stdio, .. } = &*side.target {
                    return forward_changes(stdio, inbound);
                }
                let mut info = Info::default();
                match self.member_call(ctx, i, bytes, None, Name::Without, &mut info).await {
                    Ok(resp) if resp.status().is_success() && is_sse(resp.headers()) => {
                        tokio::spawn(read_events(resp.into_body(), inbound));
                    }
                    Ok(resp) => {
                        tracing::debug!(member = &*ctx.agg.members[i].key, status = %resp.status(), "no listen stream")
                    }
                    Err(e) => tracing::debug!(member = &*ctx.agg.members[i].key, "no listen stream: {e}"),
                }
            })
        });
        futures_util::future::join_all(opens).await;
        drop(inbound);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(merge(events, tx));
        sse(ProxyBody::events(rx))
    }

    /// Opens member `i`'s side of the client's stream, feeding `out`.
    async fn member_stream(&self, ctx: &Ctx<'_>, i: usize, session: &MemberSession, out: mpsc::UnboundedSender<Bytes>) {
        let Some(side) = ctx.agg.members[i].side(&session.backend) else { return };
        match &*side.target {
            Target::Stdio { stdio, .. } => forward_changes(stdio, out),
            Target::Http { stack, .. } => {
                let resp = match self.member_http(ctx, i, session, Method::GET).await {
                    Ok(resp) if resp.status().is_success() && is_sse(resp.headers()) => resp,
                    // 405: the member offers no stream; anything else: it
                    // is left out of this stream, and its calls still work.
                    Ok(resp) => {
                        tracing::debug!(member = &*ctx.agg.members[i].key, status = %resp.status(), "no member stream");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(member = &*ctx.agg.members[i].key, "no member stream: {e}");
                        return;
                    }
                };
                let resp = crate::cache::tap(side.target.cache(), self.downstream(resp, ctx.client));
                let _ = stack;
                tokio::spawn(read_events(resp.into_body(), out));
            }
        }
    }

    /// Ends member `i`'s session.
    async fn member_end(&self, ctx: &Ctx<'_>, i: usize, session: &MemberSession) {
        let Some(side) = ctx.agg.members[i].side(&session.backend) else { return };
        match &*side.target {
            Target::Stdio { stdio, .. } => {
                if let Ok(key) = session.upstream_session.parse() {
                    stdio.close_session(key).await;
                }
            }
            Target::Http { .. } => {
                let _ = self.member_http(ctx, i, session, Method::DELETE).await;
            }
        }
    }

    /// A GET or DELETE to an HTTP member in its member session.
    async fn member_http(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        session: &MemberSession,
        method: Method,
    ) -> Result<Response<crate::stack::ResponseBody>, GatewayError> {
        let side = ctx.agg.members[i].side(&session.backend).ok_or(GatewayError::SessionNotFound)?;
        let Target::Http { stack, .. } = &*side.target else { return Err(GatewayError::SessionNotFound) };
        let ticket = super::member::member_ticket(ctx.ticket, session);
        let pinned = self.pinned_instance(&stack.backend, Some(&ticket))?;
        let policy = stack.policy(method.as_str(), None, false);
        let req = self.upstream_request(
            method,
            ctx.headers_without_name(),
            ctx.uri.clone(),
            Bytes::new(),
            ctx.client,
            Some(&ticket),
            &stack.backend,
        );
        stack.call(UpstreamRequest::new(req, pinned, policy)).await
    }
}

/// Passes a stdio member's change notifications on until `out` closes.
fn forward_changes(stdio: &crate::stdio::StdioBackend, out: mpsc::UnboundedSender<Bytes>) {
    let mut changes = stdio.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                msg = changes.recv() => match msg {
                    Ok(msg) => if out.send(msg).is_err() { return },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
                _ = out.closed() => return,
            }
        }
    });
}

/// Reads an SSE body, sending each event's JSON-RPC message on, compact.
async fn read_events(body: ProxyBody, out: mpsc::UnboundedSender<Bytes>) {
    let each = |m: &str| Some(Bytes::copy_from_slice(m.as_bytes()));
    crate::front::reply::each_event(body, out, MAX_EVENT_BYTES, "a member's stream", each).await;
}

/// Passes members' messages to the client, holding each kind of
/// `list_changed` back for [`DEBOUNCE`] so that a burst arrives once.
async fn merge(mut events: mpsc::UnboundedReceiver<Bytes>, tx: mpsc::UnboundedSender<Bytes>) {
    let mut held: HashMap<String, (Instant, Bytes)> = HashMap::new();
    loop {
        let due = held.values().map(|(at, _)| *at).min();
        let wake = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = events.recv() => match msg {
                Some(msg) => match list_changed(&msg) {
                    Some(method) => {
                        held.entry(method).or_insert_with(|| (Instant::now() + DEBOUNCE, msg));
                    }
                    None => if tx.send(msg).is_err() { return },
                },
                // Every member's stream ended, and what is held is sent.
                None => {
                    for (_, (_, msg)) in held.drain() {
                        let _ = tx.send(msg);
                    }
                    // Keep the client's stream open: its session goes on.
                    tx.closed().await;
                    return;
                }
            },
            () = wake => {
                let now = Instant::now();
                let ready: Vec<String> = held.iter().filter(|(_, (at, _))| *at <= now).map(|(m, _)| m.clone()).collect();
                for method in ready {
                    if let Some((_, msg)) = held.remove(&method)
                        && tx.send(msg).is_err()
                    {
                        return;
                    }
                }
            }
            () = tx.closed() => return,
        }
    }
}

/// The method of a `notifications/…/list_changed` message.
fn list_changed(msg: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Note {
        method: Option<String>,
    }
    let method = serde_json::from_slice::<Note>(msg).ok()?.method?;
    method.ends_with("/list_changed").then_some(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_changed_names_its_kind() {
        assert_eq!(
            list_changed(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#).as_deref(),
            Some("notifications/tools/list_changed")
        );
        assert_eq!(list_changed(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_list_changed_arrives_once() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(merge(in_rx, tx));
        let changed = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
        let progress = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#);
        for _ in 0..5 {
            in_tx.send(changed.clone()).unwrap();
        }
        in_tx.send(progress.clone()).unwrap();
        // Other messages are not held back.
        assert_eq!(rx.recv().await.unwrap(), progress);
        let start = Instant::now();
        assert_eq!(rx.recv().await.unwrap(), changed);
        assert!(start.elapsed() >= DEBOUNCE - Duration::from_millis(1));
        in_tx.send(progress.clone()).unwrap();
        assert_eq!(rx.recv().await.unwrap(), progress, "the burst arrived more than once");
    }
}

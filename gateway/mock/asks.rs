//! Requests the mock sent to a client mid-call, waiting for their answers.
//!
//! In the session era a server may ask the client (sampling, elicitation) on
//! the response stream of the call that needs it; the client POSTs its answer
//! as a JSON-RPC response on the same session. Each ask gets an id no other
//! ask has, and an answer counts only from the session that was asked: a
//! proxy that routes a reply to the wrong upstream session is caught here,
//! not silently forgiven.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::tools::Reply;
use super::wire::Answer;

/// The asks in flight, by raw id.
#[derive(Debug, Default)]
pub(crate) struct Asks {
    next: AtomicU64,
    pending: Mutex<HashMap<Box<str>, Pending>>,
}

#[derive(Debug)]
struct Pending {
    /// The session asked; `None` where there is none (stdio).
    session: Option<Box<str>>,
    reply: oneshot::Sender<Reply>,
}

impl Asks {
    /// A fresh id (raw JSON) for a request to `session`, and where its
    /// answer will arrive.
    pub(crate) fn open(&self, session: Option<&str>) -> (Box<str>, oneshot::Receiver<Reply>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id: Box<str> = format!("\"mock-ask-{n}\"").into();
        let (reply, answer) = oneshot::channel();
        self.lock().insert(id.clone(), Pending { session: session.map(Into::into), reply });
        (id, answer)
    }

    /// Delivers a client's answer; `false` if no ask of `session` has its id.
    pub(crate) fn answer(&self, session: Option<&str>, answer: &Answer<'_>) -> bool {
        let mut pending = self.lock();
        let key = answer.id.get();
        if pending.get(key).is_none_or(|p| p.session.as_deref() != session) {
            return false;
        }
        let Some(asked) = pending.remove(key) else { return false };
        drop(pending);
        let value = |raw: &RawValue| serde_json::from_str(raw.get()).unwrap_or_default();
        let reply = answer.outcome.map(value).map_err(value);
        // The asker may have given up meanwhile; then nobody needs it.
        let _ = asked.reply.send(reply);
        true
    }

    /// Drops an ask that will not be answered (the asker gave up).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Pending>> {
        // Each statement leaves the map whole, so a panic elsewhere while it
        // was held leaves nothing half-done.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::wire::Message;

    fn answer_of(json: &str) -> Message<'_> {
        Message::parse(json.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn an_answer_counts_only_from_the_session_asked() {
        let asks = Asks::default();
        let (id, reply) = asks.open(Some("s1"));
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"ok":true}}}}"#);
        let Message::Response(answer) = answer_of(&body) else { panic!("not a response") };
        assert!(!asks.answer(Some("s2"), &answer), "another session's answer");
        assert!(!asks.answer(None, &answer));
        assert!(asks.answer(Some("s1"), &answer));
        assert_eq!(reply.await.unwrap().unwrap()["ok"], true);
        assert!(!asks.answer(Some("s1"), &answer), "answered once");

        let (id2, _) = asks.open(Some("s1"));
        assert_ne!(id, id2);
        asks.forget(&id2);
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id2},"error":{{"code":-1,"message":"no"}}}}"#);
        let Message::Response(answer) = answer_of(&body) else { panic!("not a response") };
        assert!(!asks.answer(Some("s1"), &answer), "forgotten");
    }
}

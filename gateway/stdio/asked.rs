//! The questions a child asked clients, and who may answer each.
//!
//! A child's request (sampling, elicitation, roots) is relayed to one client
//! (see `server_request`) under an id that names the process's slot and the
//! child's own id (`wire::server_request_for_client`). Both are easy to
//! guess, so the id also carries a random nonce, and the process remembers
//! each question it relayed: to whom, and how it was asked. An answer is
//! passed to the child only when it names a question this process asked,
//! comes from the client that was asked, and is the first: anyone else,
//! with or without a session, is refused, and the child never sees it.
//!
//! A question asked through an `input_required` round (a 2026-07-28 client)
//! is answered in the retry's `inputResponses`, under the round's
//! `requestState`, never by a POSTed response: those are refused too.
//!
//! Nothing stays behind: a question is forgotten when it is answered, when
//! the process ends, and once it is older than the backend's `timeout`
//! (the client's call, which carried it, is over by then). At most
//! [`MAX_QUESTIONS`] wait at once on one process; past that the child's
//! request is refused like any the gateway cannot route.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::time::Instant;

use super::server_request::Unrouted;
use super::wire::{self, ServerRequestId};

/// How many questions may wait for an answer on one process.
pub const MAX_QUESTIONS: usize = 1024;

/// How a question reached its client, and so how it must be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// On the SSE stream of a session-era request: answered by a POSTed
    /// JSON-RPC response.
    Stream,
    /// In an `input_required` result: answered in the retry's
    /// `inputResponses`.
    Round,
}

/// Why a client's answer was not passed to the child. The message is the
/// same whether the question never existed, was answered, expired, or was
/// asked of someone else, so a refusal tells a guesser nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Not a question this client may answer now.
    #[error(
        "this response answers no question the gateway asked this client: it was answered already, it expired, or its process restarted"
    )]
    NotAsked,
    /// The question went out in an `input_required` result.
    #[error(
        "this question was asked in an input_required result: answer it in `inputResponses` when you send the request again with its `requestState`"
    )]
    AskedInRound,
}

/// The questions one process has relayed and not yet seen answered.
pub struct Questions {
    by_nonce: Mutex<HashMap<String, Question>>,
    /// How long a question is remembered: the backend's `timeout`.
    ttl: Duration,
}

struct Question {
    /// Who was asked: the owner of the request whose stream or round
    /// carried it.
    owner: u64,
    via: Via,
    /// The child's id for it, as JSON: the nonce is valid for this one only.
    server_id: Box<str>,
    /// When it was relayed, so that questions nobody answers expire.
    at: Instant,
}

// === impl Questions ===

impl Questions {
    /// None yet; each is remembered for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { by_nonce: Mutex::new(HashMap::new()), ttl }
    }

    /// Records the child's question `server_id`, about to be relayed to
    /// `owner` `via` a stream or a round, and returns the nonce for its id.
    pub fn ask(&self, owner: u64, via: Via, server_id: &RawValue) -> Result<String, Unrouted> {
        let nonce = wire::unguessable().ok_or(Unrouted::NoNonce)?;
        let mut questions = self.by_nonce.lock().map_err(|_| Unrouted::NoNonce)?;
        if questions.len() >= MAX_QUESTIONS {
            let now = Instant::now();
            questions.retain(|_, q| now.duration_since(q.at) < self.ttl);
        }
        if questions.len() >= MAX_QUESTIONS {
            return Err(Unrouted::Backlog(MAX_QUESTIONS));
        }
        let question = Question { owner, via, server_id: server_id.get().into(), at: Instant::now() };
        questions.insert(nonce.clone(), question);
        Ok(nonce)
    }

    /// Takes the question a POSTed answer names, when `owner` was asked it
    /// on a stream; it cannot be answered twice.
    pub fn answer(&self, id: &ServerRequestId, owner: u64) -> Result<(), Refused> {
        let mut questions = self.by_nonce.lock().map_err(|_| Refused::NotAsked)?;
        let q = questions.get(&id.nonce).ok_or(Refused::NotAsked)?;
        if *q.server_id != *id.server_id.get() || Instant::now().duration_since(q.at) >= self.ttl {
            return Err(Refused::NotAsked);
        }
        match q.via {
            Via::Round => return Err(Refused::AskedInRound),
            Via::Stream if q.owner != owner => return Err(Refused::NotAsked),
            Via::Stream => {}
        }
        questions.remove(&id.nonce);
        Ok(())
    }

    /// Forgets a question: answered through its round (whose one-use
    /// `requestState` is what shows the answer comes from the client asked),
    /// or one that could not be relayed after all.
    pub fn forget(&self, nonce: &str) {
        if let Ok(mut questions) = self.by_nonce.lock() {
            questions.remove(nonce);
        }
    }

    /// Forgets every question: the process is gone, and no answer can reach it.
    pub fn clear(&self) {
        if let Ok(mut questions) = self.by_nonce.lock() {
            questions.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_nonce.lock().map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: u64 = 11;
    const BOB: u64 = 22;

    fn id(nonce: &str, server_id: &str) -> ServerRequestId {
        ServerRequestId { slot: 0, nonce: nonce.into(), server_id: RawValue::from_string(server_id.into()).unwrap() }
    }

    fn server_id(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.into()).unwrap()
    }

    #[tokio::test]
    async fn only_the_asked_client_answers_and_only_once() {
        let q = Questions::new(Duration::from_secs(10));
        let nonce = q.ask(ALICE, Via::Stream, &server_id("7")).unwrap();
        assert_eq!(q.answer(&id(&nonce, "7"), BOB), Err(Refused::NotAsked));
        assert_eq!(q.answer(&id(&nonce, "7"), 0), Err(Refused::NotAsked));
        // The nonce is good for its own question only.
        assert_eq!(q.answer(&id(&nonce, "8"), ALICE), Err(Refused::NotAsked));
        assert_eq!(q.answer(&id("guessed", "7"), ALICE), Err(Refused::NotAsked));
        // Refusals leave the question for its client.
        assert_eq!(q.answer(&id(&nonce, "7"), ALICE), Ok(()));
        assert_eq!(q.answer(&id(&nonce, "7"), ALICE), Err(Refused::NotAsked));
        assert_eq!(q.len(), 0);
    }

    #[tokio::test]
    async fn a_round_is_never_answered_by_a_post() {
        let q = Questions::new(Duration::from_secs(10));
        let nonce = q.ask(0, Via::Round, &server_id("\"s\"")).unwrap();
        assert_eq!(q.answer(&id(&nonce, "\"s\""), 0), Err(Refused::AskedInRound));
        assert_eq!(q.answer(&id(&nonce, "\"s\""), ALICE), Err(Refused::AskedInRound));
        q.forget(&nonce);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn questions_expire_and_are_capped() {
        let q = Questions::new(Duration::from_secs(10));
        let old = q.ask(ALICE, Via::Stream, &server_id("0")).unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(q.answer(&id(&old, "0"), ALICE), Err(Refused::NotAsked), "expired");
        for i in 1..MAX_QUESTIONS {
            q.ask(ALICE, Via::Stream, &server_id(&i.to_string())).unwrap();
        }
        // Full: the expired one makes room, then nothing does.
        let last = q.ask(ALICE, Via::Stream, &server_id("\"last\"")).unwrap();
        assert_eq!(q.len(), MAX_QUESTIONS);
        assert_eq!(q.ask(ALICE, Via::Stream, &server_id("\"over\"")), Err(Unrouted::Backlog(MAX_QUESTIONS)));
        assert_eq!(q.answer(&id(&last, "\"last\""), ALICE), Ok(()));
        assert!(q.ask(ALICE, Via::Stream, &server_id("\"room\"")).is_ok());
        q.clear();
        assert_eq!(q.len(), 0);
    }
}

//! Which client a child's own request goes to.
//!
//! A child shared by many clients may ask one of them to sample, to elicit,
//! or to list its roots. stdio says nothing of which client request caused
//! it, so the gateway picks from the requests in flight on that process:
//!
//! - only those whose client can be asked: a session-era client reading an
//!   SSE stream for its request (a JSON answer cannot carry one), or a
//!   2026-07-28 client, through an `input_required` result (see `input`);
//! - of those, only clients that declared the capability the method needs,
//!   as the spec requires of any server request;
//! - when what is left belongs to one client, it is asked, on the stream of
//!   its oldest request: several requests of one client are not ambiguous.
//!
//! Anything else is refused with an error to the child at once, never
//! guessed: a wrong guess would show one client's prompt to another, and a
//! request to a client that did not declare the capability breaks the spec.
//! A server `ping` never gets here; the gateway answers it itself.
//!
//! The capability narrows the guess without removing it: the gateway's own
//! handshake declared every capability, so the child may ask during the call
//! of a client that declared none, and the question then reaches whichever
//! capable client has a call in flight. `per_session` mode, where a process
//! has one client, is the answer for backends where that matters.

use crate::session::ClientCaps;

/// What the choice needs to know of a request in flight.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Who sent it: a hash of the client's session token, or 0 without one.
    pub owner: u64,
    /// What its client declared it can answer.
    pub caps: ClientCaps,
    /// Whether its client can be asked anything during it.
    pub askable: bool,
}

/// Why a server request reached no client. Sent to the child as the
/// message of a JSON-RPC error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unrouted {
    /// No request in flight has a stream the request could go on.
    #[error("no client that can be asked has a request in flight on this process")]
    NoStream,
    /// Clients could be asked, but none declared the capability.
    #[error("no client with a request in flight declared the `{0}` capability")]
    Undeclared(&'static str),
    /// Requests of two or more clients could carry it.
    #[error(
        "more than one client could be asked `{0}`; stdio does not say whose request caused it, so the gateway does not guess"
    )]
    Ambiguous(String),
    /// Too many questions wait for answers on this process already (see `asked`).
    #[error("{0} questions to clients wait for an answer on this process already")]
    Backlog(usize),
    /// The OS gave no randomness for the question's unguessable id.
    #[error("the gateway could not make an unguessable id for the question")]
    NoNonce,
}

/// The upstream id of the request whose stream should carry a server
/// request for `method`, among `pending` (upstream id and candidate).
pub fn choose(pending: impl Iterator<Item = (u64, Candidate)>, method: &str) -> Result<u64, Unrouted> {
    let needs = ClientCaps::needed_by(method);
    let mut any_askable = false;
    let mut chosen: Option<(u64, u64)> = None;
    for (up_id, c) in pending.filter(|(_, c)| c.askable) {
        any_askable = true;
        if !needs.is_none_or(|n| c.caps.contains(n)) {
            continue;
        }
        chosen = match chosen {
            None => Some((up_id, c.owner)),
            // Without a session token there is no telling two clients apart.
            Some((_, owner)) if owner != c.owner || owner == 0 => return Err(Unrouted::Ambiguous(method.into())),
            Some((first, owner)) => Some((first.min(up_id), owner)),
        };
    }
    match (chosen, needs) {
        (Some((up_id, _)), _) => Ok(up_id),
        (None, Some(needs)) if any_askable => Err(Unrouted::Undeclared(needs.name())),
        (None, _) => Err(Unrouted::NoStream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLING: &str = "sampling/createMessage";

    fn c(owner: u64, caps: ClientCaps, askable: bool) -> Candidate {
        Candidate { owner, caps, askable }
    }

    fn pick(entries: &[(u64, Candidate)], method: &str) -> Result<u64, Unrouted> {
        choose(entries.iter().copied(), method)
    }

    #[test]
    fn only_the_capable_client_is_asked() {
        let entries = [(1, c(11, ClientCaps::NONE, true)), (2, c(22, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Ok(2));
        assert_eq!(pick(&entries, "roots/list"), Err(Unrouted::Undeclared("roots")));
        assert_eq!(pick(&entries, "elicitation/create"), Err(Unrouted::Undeclared("elicitation")));
    }

    #[test]
    fn one_client_with_several_requests_is_not_ambiguous() {
        let entries = [(7, c(11, ClientCaps::SAMPLING, true)), (3, c(11, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Ok(3), "the oldest request's stream");
    }

    #[test]
    fn two_capable_clients_are_ambiguous() {
        let entries = [(1, c(11, ClientCaps::SAMPLING, true)), (2, c(22, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
        // Clients without a session token cannot be told apart.
        let tokenless = [(1, c(0, ClientCaps::SAMPLING, true)), (2, c(0, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&tokenless, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
        assert_eq!(pick(&tokenless[..1], SAMPLING), Ok(1));
    }

    #[test]
    fn requests_without_a_stream_are_never_asked() {
        let entries = [(1, c(11, ClientCaps::SAMPLING, false)), (2, c(22, ClientCaps::SAMPLING, false))];
        assert_eq!(pick(&entries, SAMPLING), Err(Unrouted::NoStream));
        assert_eq!(pick(&[], SAMPLING), Err(Unrouted::NoStream));
        // A JSON-answered request of another client does not make it ambiguous.
        let mixed = [(1, c(11, ClientCaps::SAMPLING, false)), (2, c(22, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&mixed, SAMPLING), Ok(2));
    }

    #[test]
    fn a_method_needing_no_known_capability_follows_the_owner_rule() {
        let one = [(4, c(11, ClientCaps::NONE, true))];
        assert_eq!(pick(&one, "x/custom"), Ok(4));
        let two = [(4, c(11, ClientCaps::NONE, true)), (5, c(22, ClientCaps::NONE, true))];
        assert_eq!(pick(&two, "x/custom"), Err(Unrouted::Ambiguous("x/custom".into())));
    }

    #[test]
    fn messages_say_why() {
        assert!(Unrouted::Undeclared("sampling").to_string().contains("declared the `sampling` capability"));
        assert!(Unrouted::Ambiguous(SAMPLING.into()).to_string().contains("more than one client"));
    }
}

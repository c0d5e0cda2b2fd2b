//! Which client a child's own request goes to.
//!
//! A child shared by many clients may ask one of them to sample, to elicit,
//! or to list its roots. stdio says nothing of which client request caused
//! it, so the gateway looks at every request in flight on that process, in
//! any mode (streamed, answered as JSON, or parked between input rounds):
//!
//! - when they belong to more than one client, the question is ambiguous.
//!   A client without a session token, or any 2026-07-28 client, is
//!   unknown, and counts as different from everyone, other unknown clients
//!   included. The gateway's own requests (handshake, probes) do not count;
//! - when they belong to one client, it is asked, on its oldest request
//!   that can carry the question (a session-era client's SSE stream, or a
//!   2026-07-28 client's `input_required` result, see `input`), and only
//!   if it declared the capability the method needs, as the spec requires
//!   of any server request.
//!
//! Anything else is refused with an error to the child at once, never
//! guessed: a wrong guess would show one client's prompt to another, and a
//! request to a client that did not declare the capability breaks the spec.
//! The capability does not narrow the choice among clients: the gateway's
//! own handshake declared every capability, so the child may well be asking
//! during the call of a client that declared none, and the question must
//! then not reach another, capable client. `per_session` mode, where a
//! process has one client, is the answer for backends where that matters.
//! A server `ping` never gets here; the gateway answers it itself.

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

/// The owner of the gateway's own requests: no client sent them.
pub const GATEWAY: u64 = u64::MAX;

/// The upstream id of the request whose stream (or round) should carry a
/// server request for `method`, among `pending` (upstream id and candidate).
pub fn choose(pending: impl Iterator<Item = (u64, Candidate)>, method: &str) -> Result<u64, Unrouted> {
    let needs = ClientCaps::needed_by(method);
    let mut owner: Option<u64> = None;
    let mut any_askable = false;
    let mut chosen: Option<u64> = None;
    for (up_id, c) in pending.filter(|(_, c)| c.owner != GATEWAY) {
        match owner {
            None => owner = Some(c.owner),
            // Without a session token there is no telling two clients apart.
            Some(o) if o != c.owner || o == 0 => return Err(Unrouted::Ambiguous(method.into())),
            Some(_) => {}
        }
        if !c.askable {
            continue;
        }
        any_askable = true;
        if needs.is_none_or(|n| c.caps.contains(n)) {
            chosen = Some(chosen.map_or(up_id, |first| first.min(up_id)));
        }
    }
    match (chosen, needs) {
        (Some(up_id), _) => Ok(up_id),
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
    fn another_clients_request_in_flight_makes_it_ambiguous() {
        // Bob declared nothing, but the child may be asking because of his call.
        let entries = [(1, c(11, ClientCaps::NONE, true)), (2, c(22, ClientCaps::SAMPLING, true))];
        for method in [SAMPLING, "roots/list", "elicitation/create"] {
            assert_eq!(pick(&entries, method), Err(Unrouted::Ambiguous(method.into())));
        }
        // In any mode: a JSON-answered (or parked) request counts too.
        let mixed = [(1, c(11, ClientCaps::SAMPLING, false)), (2, c(22, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&mixed, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
    }

    #[test]
    fn the_only_client_in_flight_is_asked_if_it_declared_the_capability() {
        let capable = [(1, c(11, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&capable, SAMPLING), Ok(1));
        assert_eq!(pick(&capable, "roots/list"), Err(Unrouted::Undeclared("roots")));
        let incapable = [(1, c(11, ClientCaps::NONE, true))];
        assert_eq!(pick(&incapable, SAMPLING), Err(Unrouted::Undeclared("sampling")));
    }

    #[test]
    fn one_client_with_several_requests_is_not_ambiguous() {
        let entries = [(7, c(11, ClientCaps::SAMPLING, true)), (3, c(11, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Ok(3), "the oldest request's stream");
        // Its request that cannot carry the question does not stop another that can.
        let entries = [(2, c(11, ClientCaps::SAMPLING, false)), (5, c(11, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Ok(5));
    }

    #[test]
    fn two_capable_clients_are_ambiguous() {
        let entries = [(1, c(11, ClientCaps::SAMPLING, true)), (2, c(22, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
        // Clients without a session token cannot be told apart.
        let tokenless = [(1, c(0, ClientCaps::SAMPLING, true)), (2, c(0, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&tokenless, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
        assert_eq!(pick(&tokenless[..1], SAMPLING), Ok(1));
        let with_unknown = [(1, c(11, ClientCaps::SAMPLING, true)), (2, c(0, ClientCaps::NONE, false))];
        assert_eq!(pick(&with_unknown, SAMPLING), Err(Unrouted::Ambiguous(SAMPLING.into())));
    }

    #[test]
    fn the_gateways_own_requests_do_not_count() {
        let entries = [(1, c(GATEWAY, ClientCaps::NONE, false)), (2, c(11, ClientCaps::SAMPLING, true))];
        assert_eq!(pick(&entries, SAMPLING), Ok(2));
        assert_eq!(pick(&entries[..1], SAMPLING), Err(Unrouted::NoStream));
    }

    #[test]
    fn requests_without_a_stream_are_never_asked() {
        let entries = [(1, c(11, ClientCaps::SAMPLING, false)), (2, c(11, ClientCaps::SAMPLING, false))];
        assert_eq!(pick(&entries, SAMPLING), Err(Unrouted::NoStream));
        assert_eq!(pick(&[], SAMPLING), Err(Unrouted::NoStream));
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

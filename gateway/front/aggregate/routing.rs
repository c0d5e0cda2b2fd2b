//! Requests that one member answers: found by the name, URI or reference
//! they carry, and sent with the member's own name for it.
//!
//! A prefixed name tells its member at once. An unprefixed one is looked up
//! in what the last list showed, and on a miss the list is read again (a
//! tool added since). A resource URI goes by the members' `uri_prefix`, or
//! by what their resource lists and templates showed. A name no member has
//! gets the error a server gives for an unknown name (-32602), with the
//! prefixes, so the client (or the model) can see what it should have sent.

use bytes::Bytes;
use http::Response;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Ctx, Name, rpc_error};
use crate::catalog::Kind;
use crate::error::GatewayError;
use crate::front::{Front, Info};
use crate::mcp::envelope::{Envelope, Message};
use crate::mcp::jsonrpc;
use crate::stack::ProxyBody;

/// Where in the params a routed request names its target.
enum Target {
    /// `params.name`, of a tool or prompt.
    Name(Kind),
    /// `params.uri`.
    Uri,
    /// `params.ref`: a prompt's name or a resource's URI.
    Reference,
}

impl Front {
    pub(super) async fn aggregate_routed(
        &self,
        ctx: &Ctx<'_>,
        env: &Envelope,
        id: &RawValue,
        bytes: Bytes,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let target = match env.method() {
            "tools/call" => Target::Name(Kind::Tools),
            "prompts/get" => Target::Name(Kind::Prompts),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Target::Uri,
            "completion/complete" => Target::Reference,
            // Any other method: one member can answer it as its own server;
            // of several, none speaks for the rest.
            _ if ctx.agg.members.len() == 1 => return self.routed_to(ctx, 0, bytes, None, info).await,
            method => return Ok(rpc_error(id, jsonrpc::METHOD_NOT_FOUND, &format!("Method not found: {method}"))),
        };
        // Tools, prompts and resources name their target where the envelope
        // already read it; a completion's reference needs the body.
        let (kind, asked, at): (Kind, Option<String>, &[&str]) = match target {
            Target::Name(kind) => (kind, env.name.as_deref().map(str::to_string), &["params", "name"]),
            Target::Uri => (Kind::Resources, env.name.as_deref().map(str::to_string), &["params", "uri"]),
            Target::Reference => {
                let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let reference = &body["params"]["ref"];
                match reference["type"].as_str() {
                    Some("ref/prompt") => {
                        (Kind::Prompts, reference["name"].as_str().map(str::to_string), &["params", "ref", "name"])
                    }
                    _ => (Kind::Resources, reference["uri"].as_str().map(str::to_string), &["params", "ref", "uri"]),
                }
            }
        };
        let Some(asked) = asked else {
            let what = at.join(".");
            return Ok(rpc_error(id, jsonrpc::INVALID_PARAMS, &format!("`{what}` is missing")));
        };
        let found = match kind {
            Kind::Resources => self.owner_of_uri(ctx, &asked, &bytes).await?.map(|i| (i, asked.clone())),
            _ => self.owner_of_name(ctx, kind, &asked, &bytes).await?,
        };
        let Some((i, original)) = found else {
            let what = if kind == Kind::Resources { "resource" } else { &kind.field()[..kind.field().len() - 1] };
            let message = format!("Unknown {what}: {asked}. This server's names are {}", ctx.agg.prefixes());
            return Ok(rpc_error(id, jsonrpc::INVALID_PARAMS, &message));
        };
        let key = &*ctx.agg.members[i].key;
        if kind == Kind::Tools && ctx.agg.settings.pin_tools && !ctx.agg.pins.callable(key, &original) {
            let message = format!("Tool {asked} is withheld: its definition changed since it was approved");
            return Ok(rpc_error(id, jsonrpc::INVALID_PARAMS, &message));
        }
        if original == asked {
            return self.routed_to(ctx, i, bytes, None, info).await;
        }
        let renamed = match at {
            [_, field] => crate::mcp::params::replace_unique_string(&bytes, &asked, &original)
                .or_else(|| crate::mcp::params::with_param(&bytes, field, &original)),
            _ => None,
        };
        let bytes = match renamed {
            Some(body) => Bytes::from(body),
            // Nested (a completion's reference), or a body the raw rewrite
            // cannot read: the slow way.
            None => {
                let mut body: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| GatewayError::Parse(format!("the body is not JSON: {e}")))?;
                if let Some(slot) = at.iter().try_fold(&mut body, |v, k| v.get_mut(k)) {
                    *slot = Value::String(original.clone());
                }
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
            }
        };
        // The envelope as the member sees it, without reading the body again.
        let message = Envelope {
            kind: env.kind,
            id: env.id.clone(),
            method: env.method.clone(),
            name: if at.len() == 2 { Some(original.clone().into_boxed_str()) } else { env.name.clone() },
            meta_version: env.meta_version.clone(),
        };
        let name = Name::Renamed(&original);
        self.member_call(ctx, i, bytes, Some(Message::Single(message)), name, info).await
    }

    /// Sends a request on to member `i` as it is, its answer streamed back
    /// as it comes.
    async fn routed_to(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        bytes: Bytes,
        message: Option<Message>,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        self.member_call(ctx, i, bytes, message, Name::Kept, info).await
    }

    /// The member owning an exposed tool or prompt name, and its own name.
    async fn owner_of_name(
        &self,
        ctx: &Ctx<'_>,
        kind: Kind,
        exposed: &str,
        bytes: &[u8],
    ) -> Result<Option<(usize, String)>, GatewayError> {
        if let Some((i, original)) = ctx.agg.by_prefix(exposed) {
            let admitted = ctx.agg.members[i].filter(kind).admits(original);
            return Ok(admitted.then(|| (i, original.to_string())));
        }
        let unprefixed: Vec<usize> = ctx.agg.unprefixed().collect();
        match unprefixed.as_slice() {
            [] => return Ok(None),
            // One unprefixed member: the name is its, or no one's, and it
            // answers an unknown name itself, as it would without us.
            [only] if ctx.agg.members[*only].filter(kind).admits(exposed) => {
                return Ok(Some((*only, exposed.to_string())));
            }
            [_] => return Ok(None),
            _ => {}
        }
        if let Some(i) = ctx.agg.state.owner(kind, exposed) {
            return Ok(Some((i, exposed.to_string())));
        }
        // Not in the last list: perhaps added since.
        self.merged(ctx, kind, meta_of(bytes).as_ref()).await?;
        Ok(ctx.agg.state.owner(kind, exposed).map(|i| (i, exposed.to_string())))
    }

    /// The member serving a resource URI, when its filter exposes it.
    async fn owner_of_uri(&self, ctx: &Ctx<'_>, uri: &str, bytes: &[u8]) -> Result<Option<usize>, GatewayError> {
        let found = self.uri_owner(ctx, uri, bytes).await?;
        Ok(found.filter(|&i| ctx.agg.members[i].filter(Kind::Resources).admits(uri)))
    }

    /// The member serving a resource URI: by `uri_prefix`, or as the lists
    /// showed.
    async fn uri_owner(&self, ctx: &Ctx<'_>, uri: &str, bytes: &[u8]) -> Result<Option<usize>, GatewayError> {
        if let Some(i) = ctx.agg.by_uri_prefix(uri) {
            return Ok(Some(i));
        }
        if ctx.agg.members.len() == 1 {
            return Ok(Some(0));
        }
        let learned = || {
            let state = &ctx.agg.state;
            state
                .owner(Kind::Resources, uri)
                .or_else(|| state.owner_where(Kind::ResourceTemplates, |t| template_matches(t, uri)))
        };
        if let Some(i) = learned() {
            return Ok(Some(i));
        }
        let meta = meta_of(bytes);
        let (resources, templates) = tokio::join!(
            self.merged(ctx, Kind::Resources, meta.as_ref()),
            self.merged(ctx, Kind::ResourceTemplates, meta.as_ref())
        );
        if let (Err(e), Err(_)) = (resources, templates) {
            return Err(e);
        }
        Ok(learned())
    }
}

/// The client's `params._meta`, sent on with the lists a lookup reads.
fn meta_of(bytes: &[u8]) -> Option<Value> {
    let mut body: Value = serde_json::from_slice(bytes).ok()?;
    Some(body.get_mut("params")?.get_mut("_meta")?.take())
}

/// Whether `uri` could come from a URI template (RFC 6570): the literal
/// text before its first expression starts the URI, and the literal text
/// after its last ends it. Enough to tell members' URI spaces apart.
fn template_matches(template: &str, uri: &str) -> bool {
    let head = template.split('{').next().unwrap_or("");
    let tail = template.rsplit('}').next().unwrap_or("");
    if !template.contains('{') {
        return template == uri;
    }
    uri.len() >= head.len() + tail.len() && uri.starts_with(head) && uri.ends_with(tail)
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_match_by_their_literal_ends() {
        assert!(super::template_matches("file:///{path}", "file:///a/b"));
        assert!(super::template_matches("db://{table}/schema", "db://users/schema"));
        assert!(!super::template_matches("db://{table}/schema", "db://users/rows"));
        assert!(!super::template_matches("wiki://{page}", "file:///x"));
        assert!(super::template_matches("exact://x", "exact://x"));
    }
}

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
use http::{HeaderValue, Response};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Ctx, member, rpc_error};
use crate::catalog::Kind;
use crate::error::GatewayError;
use crate::front::{Front, Info};
use crate::mcp::envelope::Envelope;
use crate::mcp::headers::NAME;
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
        let mut body: Value =
            serde_json::from_slice(&bytes).map_err(|e| GatewayError::Parse(format!("the body is not JSON: {e}")))?;
        let meta = body["params"].get("_meta").cloned();
        let (kind, at): (Kind, &[&str]) = match target {
            Target::Name(kind) => (kind, &["params", "name"]),
            Target::Uri => (Kind::Resources, &["params", "uri"]),
            Target::Reference => match body["params"]["ref"]["type"].as_str() {
                Some("ref/prompt") => (Kind::Prompts, &["params", "ref", "name"]),
                _ => (Kind::Resources, &["params", "ref", "uri"]),
            },
        };
        let Some(asked) = at.iter().try_fold(&body, |v, k| v.get(k)).and_then(Value::as_str).map(str::to_string) else {
            let what = at.join(".");
            return Ok(rpc_error(id, jsonrpc::INVALID_PARAMS, &format!("`{what}` is missing")));
        };
        let found = match kind {
            Kind::Resources => self.owner_of_uri(ctx, &asked, meta.as_ref()).await?.map(|i| (i, asked.clone())),
            _ => self.owner_of_name(ctx, kind, &asked, meta.as_ref()).await?,
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
        if let Some(slot) = at.iter().try_fold(&mut body, |v, k| v.get_mut(k)) {
            *slot = Value::String(original.clone());
        }
        let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        self.routed_to(ctx, i, bytes, Some(&original), info).await
    }

    /// Sends a request on to member `i`, its answer streamed back as it
    /// comes. `renamed` is the member's own name for the target, for the
    /// 2026-07-28 `Mcp-Name` header (checked against the client's name
    /// before this).
    async fn routed_to(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        bytes: Bytes,
        renamed: Option<&str>,
        info: &mut Info,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let mut headers = ctx.headers.clone();
        if let Some(name) = renamed
            && headers.contains_key(NAME)
        {
            let value = HeaderValue::from_str(name)
                .map_err(|_| GatewayError::InvalidParams("the member's name is not a header value".into()))?;
            headers.insert(NAME, value);
        }
        info.side = member::side_of(ctx, i);
        self.member_call(ctx, i, bytes, &headers, info).await
    }

    /// The member owning an exposed tool or prompt name, and its own name.
    async fn owner_of_name(
        &self,
        ctx: &Ctx<'_>,
        kind: Kind,
        exposed: &str,
        meta: Option<&Value>,
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
        self.merged(ctx, kind, meta).await?;
        Ok(ctx.agg.state.owner(kind, exposed).map(|i| (i, exposed.to_string())))
    }

    /// The member serving a resource URI.
    async fn owner_of_uri(
        &self,
        ctx: &Ctx<'_>,
        uri: &str,
        meta: Option<&Value>,
    ) -> Result<Option<usize>, GatewayError> {
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
        let (resources, templates) =
            tokio::join!(self.merged(ctx, Kind::Resources, meta), self.merged(ctx, Kind::ResourceTemplates, meta));
        if let (Err(e), Err(_)) = (resources, templates) {
            return Err(e);
        }
        Ok(learned())
    }
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

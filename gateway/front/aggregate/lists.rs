//! The merged lists: every member's list read in full, merged, pinned and
//! paged by the gateway.

use bytes::Bytes;
use http::Response;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Ctx, Name, rpc_error};
use crate::catalog::pins::Seen;
use crate::catalog::{self, Kind, MemberList, Merged};
use crate::error::GatewayError;
use crate::front::answer::json;
use crate::front::{Front, Info};
use crate::mcp::jsonrpc;
use crate::stack::ProxyBody;

/// The ids of the gateway's own list requests.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Most pages read from one member for one list: a member whose cursors
/// never end is cut off here rather than at `member_timeout`.
const MAX_MEMBER_PAGES: usize = 1_000;

impl Front {
    /// Answers one of the four lists with a page of the merged list.
    pub(super) async fn aggregate_list(
        &self,
        ctx: &Ctx<'_>,
        kind: Kind,
        id: &RawValue,
        bytes: &Bytes,
    ) -> Result<Response<ProxyBody>, GatewayError> {
        let body: Value = serde_json::from_slice(bytes).unwrap_or_default();
        let cursor = body["params"]["cursor"].as_str();
        let meta = body["params"].get("_meta");
        let (merged, degraded) = self.merged(ctx, kind, meta).await?;
        let names: Vec<&str> = merged.owners.iter().map(|(n, _)| n.as_str()).collect();
        let page = match catalog::page(&merged.items, &names, cursor, ctx.agg.settings.page_size) {
            Ok(p) => p,
            Err(message) => return Ok(rpc_error(id, jsonrpc::INVALID_PARAMS, &message)),
        };
        let mut result = json!({ kind.field(): page.items });
        if let Some(next) = page.next {
            result["nextCursor"] = Value::String(next);
        }
        super::mark_degraded(&mut result, &degraded);
        if ctx.stateless {
            // 2026-07-28 results say what they are, and how long they may be
            // kept: not at all, and by this client only, since the merged
            // list changes with its members.
            result["resultType"] = json!("complete");
            result["ttlMs"] = json!(0);
            result["cacheScope"] = json!("private");
        }
        Ok(json(jsonrpc::result_body(id, &serde_json::to_vec(&result).unwrap_or_default())))
    }

    /// The merged list of `kind`, and the members left out of it. `meta`
    /// is the client's `_meta` (a 2026-07-28 request's version and
    /// capabilities), sent on to every member.
    pub(super) async fn merged(
        &self,
        ctx: &Ctx<'_>,
        kind: Kind,
        meta: Option<&Value>,
    ) -> Result<(Merged, Vec<String>), GatewayError> {
        let deadline = ctx.agg.settings.member_timeout.0;
        let reads = ctx.all().into_iter().map(|i| async move {
            let r = match tokio::time::timeout(deadline, self.list_member(ctx, i, kind, meta)).await {
                Ok(r) => r,
                Err(_) => Err(GatewayError::UpstreamTimeout(deadline)),
            };
            (i, r.map(|items| json!({ "items": items })).map(|v| json!({ "result": v })))
        });
        let replies = futures_util::future::join_all(reads).await;
        let (lists, degraded) = self.settle(ctx, replies)?;
        let mut by_member: Vec<Option<MemberList<'_>>> = (0..ctx.agg.members.len()).map(|_| None).collect();
        for (i, mut result) in lists {
            let m = &ctx.agg.members[i];
            let items = match result["items"].take() {
                Value::Array(items) => items,
                _ => Vec::new(),
            };
            by_member[i] = Some(MemberList { naming: ctx.agg.naming(m), filter: m.filter(kind), items });
        }
        let mut merged = catalog::merge(kind, by_member, ctx.agg.settings.collisions);
        let keys: Vec<&str> = ctx.agg.members.iter().map(|m| &*m.key).collect();
        catalog::name_members(&mut merged.collisions, &keys);
        self.report_collisions(ctx, kind, &merged);
        if kind == Kind::Tools {
            self.pin(ctx, &mut merged);
        }
        let owners = merged.owners.iter().map(|(name, o)| (name.clone(), o.member));
        ctx.agg.state.learn(kind, owners, merged.collisions.clone());
        Ok((merged, degraded))
    }

    /// Every page of one member's list.
    async fn list_member(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        kind: Kind,
        meta: Option<&Value>,
    ) -> Result<Vec<Value>, GatewayError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_MEMBER_PAGES {
            let mut params = serde_json::Map::new();
            if let Some(c) = &cursor {
                params.insert("cursor".into(), Value::String(c.clone()));
            }
            if let Some(meta) = meta {
                params.insert("_meta".into(), meta.clone());
            }
            // An id of its own: two lists may be in flight in one member session.
            let id = format!("switchyard-list-{}", NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let body = json!({ "jsonrpc": "2.0", "id": id, "method": kind.method(), "params": params });
            let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
            let mut info = Info::default();
            let resp = self.member_call(ctx, i, body, None, Name::Made(kind.method()), &mut info).await?;
            let reply = crate::front::reply::reply_of(resp).await?;
            // A member that does not serve this list has nothing in it.
            if reply["error"]["code"].as_i64() == Some(i64::from(jsonrpc::METHOD_NOT_FOUND)) {
                return Ok(items);
            }
            let mut result = crate::front::reply::result_of(reply)?;
            if let Value::Array(page) = result[kind.field()].take() {
                items.extend(page);
            }
            match result["nextCursor"].as_str() {
                Some(next) if !next.is_empty() && cursor.as_deref() != Some(next) => cursor = Some(next.to_string()),
                _ => return Ok(items),
            }
        }
        tracing::warn!(
            route = &*ctx.route.name,
            member = &*ctx.agg.members[i].key,
            "member's {} ran past {MAX_MEMBER_PAGES} pages; the rest is left out",
            kind.method()
        );
        Ok(items)
    }

    /// Logs and counts each collision the first time it is seen.
    fn report_collisions(&self, ctx: &Ctx<'_>, kind: Kind, merged: &Merged) {
        let before = ctx.agg.state.collisions();
        for c in &merged.collisions {
            if before.iter().any(|b| b.list == c.list && b.name == c.name && b.members == c.members) {
                continue;
            }
            tracing::warn!(route = &*ctx.route.name, list = kind.field(), name = %c.name, members = ?c.members,
                kept = ?c.kept, "name exposed by more than one member");
            crate::telemetry::aggregate::collision(&ctx.route.name, kind.field());
        }
    }

    /// Checks each tool against its pin; under `pin_tools`, a changed tool
    /// is withheld until it is approved.
    fn pin(&self, ctx: &Ctx<'_>, merged: &mut Merged) {
        let pins = &ctx.agg.pins;
        pins.refresh_if_changed();
        let mut keep = Vec::with_capacity(merged.items.len());
        for (item, (exposed, owner)) in merged.items.iter().zip(&merged.owners) {
            let key = &*ctx.agg.members[owner.member].key;
            if let Seen::Changed { diff, first_time: true } = pins.observe(key, &owner.original, item) {
                tracing::warn!(route = &*ctx.route.name, member = key, tool = %owner.original, exposed = %exposed,
                    withheld = ctx.agg.settings.pin_tools, "tool definition changed since it was pinned: {diff}");
                crate::telemetry::aggregate::tool_changed(&ctx.route.name, key);
            }
            keep.push(!ctx.agg.settings.pin_tools || pins.callable(key, &owner.original));
        }
        pins.flush();
        let mut flags = keep.iter();
        merged.items.retain(|_| *flags.next().unwrap_or(&true));
        let mut flags = keep.iter();
        merged.owners.retain(|_| *flags.next().unwrap_or(&true));
    }
}

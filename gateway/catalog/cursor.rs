//! The gateway's own pagination of a merged list.
//!
//! Members are read in full before merging, so a page is a slice of the
//! merged list. The cursor holds the offset and a fingerprint of the list
//! it came from: a cursor from a list that has changed since (a member came
//! back, a tool was added) is refused with -32602 like any server's stale
//! cursor, and the client lists again from the start, rather than being
//! handed a page that skips or repeats items without a word.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// One page of a merged list.
#[derive(Debug)]
pub struct Page<'a> {
    /// The items on it.
    pub items: &'a [Value],
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// The page of `items` (exposed under `names`) that `cursor` points at.
/// `Err` with the message of a -32602 for a cursor that is not ours or is
/// from another version of the list.
pub fn page<'a>(items: &'a [Value], names: &[&str], cursor: Option<&str>, size: usize) -> Result<Page<'a>, String> {
    let print = fingerprint(names);
    let from = match cursor {
        None => 0,
        Some(c) => open(c, &print).ok_or_else(|| "invalid or stale cursor: list again from the start".to_string())?,
    };
    let from = from.min(items.len());
    let to = from.saturating_add(size.max(1)).min(items.len());
    let next = (to < items.len()).then(|| URL_SAFE_NO_PAD.encode(format!("sy1:{to}:{print}")));
    Ok(Page { items: &items[from..to], next })
}

fn open(cursor: &str, print: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let mut parts = text.splitn(3, ':');
    if parts.next()? != "sy1" {
        return None;
    }
    let offset = parts.next()?.parse().ok()?;
    (parts.next()? == print).then_some(offset)
}

/// The first 8 bytes of SHA-256 over the names, as hex.
fn fingerprint(names: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for n in names {
        ctx.update(n.as_bytes());
        ctx.update(&[0]);
    }
    ctx.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_list_and_stale_cursors_are_refused() {
        let items: Vec<Value> = (0..5).map(Value::from).collect();
        let names = ["a", "b", "c", "d", "e"];
        let p1 = page(&items, &names, None, 2).unwrap();
        assert_eq!(p1.items, &items[..2]);
        let p2 = page(&items, &names, p1.next.as_deref(), 2).unwrap();
        assert_eq!(p2.items, &items[2..4]);
        let p3 = page(&items, &names, p2.next.as_deref(), 2).unwrap();
        assert_eq!(p3.items, &items[4..]);
        assert!(p3.next.is_none());
        // The list changed under the cursor.
        let changed = ["a", "b", "x", "d", "e"];
        assert!(page(&items, &changed, p1.next.as_deref(), 2).is_err());
        for bad in ["", "garbage", "c3kxOjI", &URL_SAFE_NO_PAD.encode("sy1:x:00")] {
            assert!(page(&items, &names, Some(bad), 2).is_err(), "{bad}");
        }
    }
}

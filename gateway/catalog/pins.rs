//! Tool pinning: the defence against a "rug pull", an MCP server changing a
//! tool's definition after an operator approved it.
//!
//! The first time an aggregated route sees a tool it records a SHA-256
//! [`fingerprint`] of the tool's definition (its pin). A later list that
//! shows another definition is reported with a key-level diff, recorded as
//! pending, and, where the route sets `pin_tools`, the tool is withheld
//! until an operator approves the change through the admin API.
//!
//! Pins are kept in a small JSON file per route, written atomically (a
//! temporary file, fsynced, renamed over the old one) so a crash never
//! leaves half a file. Concurrency across replicas is the operator's
//! business: approvals through one replica's admin API are written to that
//! replica's file only. With several replicas, approve on each of them, or
//! distribute the file (like a ConfigMap) and let each replica reload it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The keys of a tool that make up its definition. The name is left out:
/// the gateway may rename a tool, and a rename does not change what it does.
const KEYS: [&str; 5] = ["title", "description", "inputSchema", "outputSchema", "annotations"];

/// The version of the file format written and accepted.
const VERSION: u32 = 1;

/// The lowercase hex SHA-256 of the canonical JSON of the tool's definition:
/// an object of those of [`KEYS`] the tool has. This crate's `serde_json`
/// keeps object keys sorted, so the same definition always serializes alike.
pub fn fingerprint(tool: &Value) -> String {
    let canon: serde_json::Map<String, Value> =
        KEYS.iter().filter_map(|k| tool.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    // Serializing a `Value` cannot fail: its keys are strings already.
    let bytes = serde_json::to_vec(&Value::Object(canon)).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a tool seen in a list is, against its pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First time: now pinned.
    New,
    /// The pinned definition (or an approved one).
    Same,
    /// Differs from the pin.
    Changed {
        /// Which of the definition's keys changed, e.g. "description changed".
        diff: String,
        /// True only the first time this new fingerprint is observed, so the
        /// caller logs and counts the change once, not on every list.
        first_time: bool,
    },
}

/// One pin as the admin API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PinView {
    /// The member key.
    pub member: String,
    /// The tool's original name at the member.
    pub tool: String,
    /// The approved fingerprint.
    pub pinned: String,
    /// A changed fingerprint awaiting approval.
    pub pending: Option<String>,
    /// Distinct changes seen since the process started or the pins were loaded.
    pub changes: u64,
}

/// The file format.
#[derive(Serialize, Deserialize)]
struct PinFile {
    version: u32,
    pins: BTreeMap<String, BTreeMap<String, Stored>>,
}

/// One pin in the file.
#[derive(Serialize, Deserialize)]
struct Stored {
    pinned: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
}

/// One pin in memory.
#[derive(Default)]
struct Entry {
    pinned: String,
    /// The pinned definition, when this process has seen it; without it a
    /// diff cannot say which keys changed.
    pinned_def: Option<Value>,
    pending: Option<String>,
    pending_def: Option<Value>,
    /// The diff text of the pending change, once computed.
    diff: Option<String>,
    changes: u64,
}

#[derive(Default)]
struct State {
    pins: BTreeMap<String, BTreeMap<String, Entry>>,
    /// Modification time and length of the file as we last read or wrote it.
    stamp: Option<(SystemTime, u64)>,
    /// Changes observed since the last write, for [`Pins::flush`].
    dirty: bool,
}

/// The pins of one route.
pub struct Pins {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

impl Pins {
    /// Pins kept at `path` (`None`: in memory only). A missing file is an
    /// empty set of pins; a file that does not parse is an error.
    pub fn load(path: Option<&Path>) -> Result<Pins, String> {
        let pins = Pins { path: path.map(Path::to_path_buf), state: Mutex::default() };
        pins.reload()?;
        Ok(pins)
    }

    /// Records what a list showed of `tool` (its original name) at `member`.
    pub fn observe(&self, member: &str, tool: &str, definition: &Value) -> Seen {
        // Most lists show what was pinned: comparing with the definition
        // kept is cheaper than hashing it again, on every list.
        if let Some(seen) = self.seen_before(member, tool, definition) {
            return seen;
        }
        let fp = fingerprint(definition);
        let mut state = self.lock();
        let tools = state.pins.entry(member.to_owned()).or_default();
        let Some(entry) = tools.get_mut(tool) else {
            let entry = Entry { pinned: fp, pinned_def: Some(definition.clone()), ..Entry::default() };
            tools.insert(tool.to_owned(), entry);
            state.dirty = true;
            return Seen::New;
        };
        if entry.pinned == fp {
            // Remember the definition, so a later change can be diffed by key.
            entry.pinned_def.get_or_insert_with(|| definition.clone());
            return Seen::Same;
        }
        if entry.pending.as_deref() == Some(fp.as_str()) {
            let diff = entry.diff.get_or_insert_with(|| key_diff(entry.pinned_def.as_ref(), definition));
            return Seen::Changed { diff: diff.clone(), first_time: false };
        }
        let diff = key_diff(entry.pinned_def.as_ref(), definition);
        entry.pending = Some(fp);
        entry.pending_def = Some(definition.clone());
        entry.diff = Some(diff.clone());
        entry.changes += 1;
        state.dirty = true;
        Seen::Changed { diff, first_time: true }
    }

    /// Writes what [`Pins::observe`] recorded since the last write: once per
    /// list rather than once per tool, since every write is an fsync.
    pub fn flush(&self) {
        let mut state = self.lock();
        if state.dirty {
            self.save(&mut state);
        }
    }

    /// What `definition` is when it is the one kept for the pin or for its
    /// pending change; `None` when it must be hashed to tell.
    fn seen_before(&self, member: &str, tool: &str, definition: &Value) -> Option<Seen> {
        let state = self.lock();
        let entry = state.pins.get(member)?.get(tool)?;
        if entry.pending.is_none() && entry.pinned_def.as_ref() == Some(definition) {
            return Some(Seen::Same);
        }
        if entry.pending_def.as_ref() == Some(definition) {
            let diff = entry.diff.clone().unwrap_or_default();
            return Some(Seen::Changed { diff, first_time: false });
        }
        None
    }

    /// Whether a call to this tool may go ahead under `pin_tools`: true when
    /// it has no pin yet or no pending change.
    pub fn callable(&self, member: &str, tool: &str) -> bool {
        let state = self.lock();
        state.pins.get(member).and_then(|t| t.get(tool)).is_none_or(|e| e.pending.is_none())
    }

    /// Every pin, sorted by member and tool.
    pub fn list(&self) -> Vec<PinView> {
        let state = self.lock();
        let pins = state.pins.iter().flat_map(|(m, tools)| tools.iter().map(move |(t, e)| (m, t, e)));
        pins.map(|(member, tool, e)| PinView {
            member: member.clone(),
            tool: tool.clone(),
            pinned: e.pinned.clone(),
            pending: e.pending.clone(),
            changes: e.changes,
        })
        .collect()
    }

    /// Approves the pending change of the tool: its fingerprint becomes the
    /// pin. `Ok(false)` when nothing was pending; an error for a tool never seen.
    pub fn approve(&self, member: &str, tool: &str) -> Result<bool, String> {
        let mut state = self.lock();
        let Some(entry) = state.pins.get_mut(member).and_then(|t| t.get_mut(tool)) else {
            return Err(format!("no tool `{tool}` of member `{member}` has been seen"));
        };
        let Some(pending) = entry.pending.take() else { return Ok(false) };
        entry.pinned = pending;
        entry.pinned_def = entry.pending_def.take();
        entry.diff = None;
        self.save(&mut state);
        Ok(true)
    }

    /// Reads the file again: the file wins for every entry it has. On an
    /// error the pins in memory stay as they were.
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        // Read under the lock: a write of ours between reading and applying
        // would otherwise be undone by the older contents.
        let mut state = self.lock();
        let (file, stamp) = read(path)?;
        for (member, tools) in file.pins {
            let known = state.pins.entry(member).or_default();
            for (tool, stored) in tools {
                let entry = known.entry(tool).or_default();
                if entry.pinned != stored.pinned {
                    // An approval made elsewhere of the change we hold pending
                    // keeps its definition; any other pin is one we never saw.
                    let approved = entry.pending.as_ref() == Some(&stored.pinned);
                    entry.pinned_def = if approved { entry.pending_def.take() } else { None };
                    entry.pinned = stored.pinned;
                }
                if entry.pending != stored.pending {
                    entry.pending = stored.pending;
                    entry.pending_def = None;
                    entry.diff = None;
                }
            }
        }
        state.stamp = stamp;
        Ok(())
    }

    /// Reads the file again only if its modification time or length changed
    /// since we last read or wrote it; returns whether it re-read. A file
    /// that no longer parses is logged once and the pins in memory stay.
    pub fn refresh_if_changed(&self) -> bool {
        let Some(path) = &self.path else { return false };
        let now = fs::metadata(path).ok().and_then(|m| stamp_of(&m));
        if now.is_none() || now == self.lock().stamp {
            return false;
        }
        match self.reload() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "pins: kept the pins in memory");
                // Not again on every list: only when the file changes again.
                self.lock().stamp = now;
                false
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the pins to the file, if there is one. The caller holds the
    /// lock, so two writes cannot interleave and an older state never
    /// replaces a newer one. A failure is logged and the gateway goes on.
    fn save(&self, state: &mut State) {
        state.dirty = false;
        let Some(path) = &self.path else { return };
        let pins = state.pins.iter().map(|(member, tools)| {
            let tools = tools
                .iter()
                .map(|(tool, e)| (tool.clone(), Stored { pinned: e.pinned.clone(), pending: e.pending.clone() }));
            (member.clone(), tools.collect())
        });
        let file = PinFile { version: VERSION, pins: pins.collect() };
        match write(path, &file) {
            Ok(stamp) => state.stamp = stamp,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "pins: write failed"),
        }
    }
}

/// Which keys differ between the pinned definition and the new one.
fn key_diff(old: Option<&Value>, new: &Value) -> String {
    let Some(old) = old else {
        return "definition changed (the pinned one was not seen since load)".to_owned();
    };
    let keys: Vec<&str> = KEYS.into_iter().filter(|k| old.get(k) != new.get(k)).collect();
    if keys.is_empty() { "definition changed".to_owned() } else { format!("{} changed", keys.join(", ")) }
}

fn stamp_of(meta: &fs::Metadata) -> Option<(SystemTime, u64)> {
    meta.modified().ok().map(|t| (t, meta.len()))
}

/// Reads and parses the file; a missing one is empty.
fn read(path: &Path) -> Result<(PinFile, Option<(SystemTime, u64)>), String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((PinFile { version: VERSION, pins: BTreeMap::new() }, None));
        }
        Err(e) => return Err(format!("pins file {}: {e}", path.display())),
    };
    let file: PinFile = serde_json::from_slice(&bytes).map_err(|e| format!("pins file {}: {e}", path.display()))?;
    if file.version != VERSION {
        return Err(format!("pins file {}: version {} is not {VERSION}", path.display(), file.version));
    }
    let stamp = fs::metadata(path).ok().and_then(|m| stamp_of(&m));
    Ok((file, stamp))
}

/// Replaces the file atomically, so a reader never sees half of it.
fn write(path: &Path, file: &PinFile) -> std::io::Result<Option<(SystemTime, u64)>> {
    let bytes = serde_json::to_vec_pretty(file)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(stamp_of(&fs::metadata(path)?))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;

    use super::*;

    /// A fresh path in the temp dir, removed with its temporary file when dropped.
    struct Temp(PathBuf);

    impl Temp {
        fn new(name: &str) -> Temp {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            Temp(std::env::temp_dir().join(format!("switchyard-pins-{name}-{}-{n}.json", std::process::id())))
        }

        fn tmp(&self) -> PathBuf {
            PathBuf::from(format!("{}.tmp-{}", self.0.display(), std::process::id()))
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
            let _ = fs::remove_file(self.tmp());
        }
    }

    fn tool(description: &str) -> Value {
        json!({"name": "t", "description": description, "inputSchema": {"type": "object"}})
    }

    fn file(pinned: &str, pending: Option<&str>) -> String {
        let stored = match pending {
            Some(p) => json!({"pinned": pinned, "pending": p}),
            None => json!({"pinned": pinned}),
        };
        json!({"version": 1, "pins": {"m": {"t": stored}}}).to_string()
    }

    #[test]
    fn fingerprint_covers_the_definition_only() {
        let a: Value =
            serde_json::from_str(r#"{"name":"a","description":"d","inputSchema":{"type":"object","properties":{}}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"inputSchema":{"properties":{},"type":"object"},"description":"d","name":"b"}"#)
                .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 64);
        assert!(fingerprint(&a).bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        let mut c = a.clone();
        c["description"] = json!("e");
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut c = a.clone();
        c["inputSchema"]["required"] = json!(["x"]);
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn observe_pins_then_reports_changes_once() {
        let pins = Pins::load(None).unwrap();
        assert_eq!(pins.observe("m", "t", &tool("a")), Seen::New);
        pins.flush();
        assert_eq!(pins.observe("m", "t", &tool("a")), Seen::Same);
        pins.flush();
        assert!(pins.callable("m", "t"));
        let mut changed = tool("b");
        changed["inputSchema"]["required"] = json!(["x"]);
        let diff = "description, inputSchema changed".to_owned();
        assert_eq!(pins.observe("m", "t", &changed), Seen::Changed { diff: diff.clone(), first_time: true });
        pins.flush();
        assert_eq!(pins.observe("m", "t", &changed), Seen::Changed { diff, first_time: false });
        pins.flush();
        assert!(!pins.callable("m", "t"));
        assert!(pins.callable("m", "unseen"));
        let view = pins.list();
        assert_eq!((view.len(), view[0].changes), (1, 1));
        assert_eq!(view[0].pending.as_deref(), Some(fingerprint(&changed).as_str()));
    }

    #[test]
    fn approve_makes_the_change_the_pin() {
        let pins = Pins::load(None).unwrap();
        pins.observe("m", "t", &tool("a"));
        pins.flush();
        pins.observe("m", "t", &tool("b"));
        pins.flush();
        assert_eq!(pins.approve("m", "t"), Ok(true));
        assert!(pins.callable("m", "t"));
        assert_eq!(pins.observe("m", "t", &tool("b")), Seen::Same);
        pins.flush();
        assert_eq!(pins.approve("m", "t"), Ok(false));
        let err = pins.approve("m", "x").unwrap_err();
        assert_eq!(err, "no tool `x` of member `m` has been seen");
        let changed = Seen::Changed { diff: "description changed".to_owned(), first_time: true };
        assert_eq!(pins.observe("m", "t", &tool("c")), changed);
        pins.flush();
    }

    #[test]
    fn pins_persist_across_loads() {
        let temp = Temp::new("persist");
        let pins = Pins::load(Some(&temp.0)).unwrap();
        assert!(pins.list().is_empty());
        pins.observe("m", "t", &tool("a"));
        pins.flush();
        pins.observe("m", "t", &tool("b"));
        pins.flush();
        assert!(!temp.tmp().exists());
        let again = Pins::load(Some(&temp.0)).unwrap();
        let view = again.list();
        assert_eq!(view[0].pinned, fingerprint(&tool("a")));
        assert_eq!(view[0].pending, Some(fingerprint(&tool("b"))));
        assert!(!again.callable("m", "t"));
        // Already reported by whoever wrote the file: not a first time here.
        assert!(matches!(again.observe("m", "t", &tool("b")), Seen::Changed { first_time: false, .. }));
    }

    #[test]
    fn reload_takes_the_file_value() {
        let temp = Temp::new("reload");
        let pins = Pins::load(Some(&temp.0)).unwrap();
        pins.observe("m", "t", &tool("a"));
        pins.flush();
        pins.observe("m", "other", &tool("a"));
        pins.flush();
        fs::write(&temp.0, file("abc", None)).unwrap();
        pins.reload().unwrap();
        let view = pins.list();
        assert_eq!((view[0].tool.as_str(), view[0].pinned.as_str()), ("other", fingerprint(&tool("a")).as_str()));
        assert_eq!((view[1].tool.as_str(), view[1].pinned.as_str()), ("t", "abc"));
    }

    #[test]
    fn refresh_rereads_only_external_writes() {
        let temp = Temp::new("refresh");
        let pins = Pins::load(Some(&temp.0)).unwrap();
        assert!(!pins.refresh_if_changed());
        pins.observe("m", "t", &tool("a"));
        pins.flush();
        assert!(!pins.refresh_if_changed());
        // Another length than ours, so the change shows even within one mtime tick.
        fs::write(&temp.0, file("abc", Some("def"))).unwrap();
        assert!(pins.refresh_if_changed());
        assert!(!pins.refresh_if_changed());
        assert_eq!(pins.list()[0].pending.as_deref(), Some("def"));
        assert!(!pins.callable("m", "t"));
    }

    #[test]
    fn a_bad_file_is_an_error_and_keeps_the_pins() {
        let temp = Temp::new("bad");
        let pins = Pins::load(Some(&temp.0)).unwrap();
        pins.observe("m", "t", &tool("a"));
        pins.flush();
        fs::write(&temp.0, "{not json").unwrap();
        let err = Pins::load(Some(&temp.0)).err().unwrap();
        assert!(err.contains(&temp.0.display().to_string()), "{err}");
        assert!(pins.reload().is_err());
        assert!(!pins.refresh_if_changed());
        assert_eq!(pins.list()[0].pinned, fingerprint(&tool("a")));
        fs::write(&temp.0, json!({"version": 2, "pins": {}}).to_string()).unwrap();
        assert!(Pins::load(Some(&temp.0)).is_err());
    }
}

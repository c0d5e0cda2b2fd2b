//! The layer rule, enforced: each module of `gateway/` imports only the
//! modules on layers below its own.
//!
//! This file holds the one layer table; `ARCHITECTURE.md` and the README's
//! reading guide describe it, and where they differ this table is right. The
//! test reads every path into the crate that a library file names (`use
//! crate::…`, `crate::{a, b}`, an inline `crate::x::y`, and `super::` that
//! climbs out of its folder), maps both ends to their top-level module, and
//! fails on any import that does not point strictly down, or that the table
//! forbids by name. Unit tests (`tests.rs`, `tests/` folders, and what follows
//! `#[cfg(test)]`) may reach anywhere and are not read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, from the bottom up. A module may import a module only from a
/// lower layer.
const LAYERS: &[(u32, &[&str])] = &[
    // 1. Vocabulary: the MCP words, config, session tokens. Nothing of ours.
    (1, &["mcp", "config", "session"]),
    // 2. Errors, who is asking, and the merged catalog of an aggregated
    //    route (pure: lists in, one list out).
    (2, &["error", "client", "catalog"]),
    // 3. Telemetry, which labels errors by kind and origin.
    (3, &["telemetry"]),
    // 4. The live table of instances: records, never a backend or a process.
    (4, &["table"]),
    // 5. Passive outlier detection, then the backend, the innermost service,
    //    which owns the request types.
    (5, &["outlier"]),
    (6, &["backend"]),
    // 7. The policy layers, each holding its own policy, and health checks.
    (7, &["deadline", "retry", "balance", "health"]),
    // 8. stdio pools.
    (8, &["stdio"]),
    // 9. The stack: the one place the layers and the backend meet, and the
    //    body the gateway answers with.
    (9, &["stack"]),
    // 10. Who may call (authentication, authorization), rate limits and the
    //     cache: they know a parsed message and its caller, not where it
    //     goes.
    (10, &["auth", "limit", "cache"]),
    // 11. Routes, splits, sides, targets.
    (11, &["route"]),
    // 12. The front door.
    (12, &["front"]),
    // 13. The composition root.
    (13, &["runtime"]),
    // 14. What runs the runtime.
    (14, &["admin", "ops"]),
    (15, &["app"]),
    (16, &["listener"]),
];

/// Modules beside the gateway: they import only these, and no layer imports
/// them (tests start the mock in-process, so it stays public).
const SIDE: &[(&str, &[&str])] = &[("mock", &["mcp"]), ("bench", &["mcp"])];

/// Imports that point down but still break a rule of the design.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("stdio", "backend", "stdio pools are wired to the HTTP backend's pieces by the composition root"),
    ("stdio", "cache", "the stdio cache is wired by the composition root"),
    ("deadline", "stack", "a policy layer never imports the stack that composes it"),
    ("retry", "stack", "a policy layer never imports the stack that composes it"),
    ("balance", "stack", "a policy layer never imports the stack that composes it"),
];

fn layer_of(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(_, names)| names.contains(&module)).map(|(layer, _)| *layer)
}

/// Why `from` may not import `to`, or `None` when it may.
fn violation(from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    if let Some((_, allowed)) = SIDE.iter().find(|(side, _)| *side == from) {
        return (!allowed.contains(&to)).then(|| format!("{from} may import only {allowed:?}"));
    }
    if SIDE.iter().any(|(side, _)| *side == to) {
        return Some(format!("no gateway layer imports {to}"));
    }
    if let Some((_, _, why)) = FORBIDDEN.iter().find(|(f, t, _)| *f == from && *t == to) {
        return Some((*why).to_string());
    }
    match (layer_of(from), layer_of(to)) {
        (Some(a), Some(b)) if b < a => None,
        (Some(a), Some(b)) => Some(format!("layer {a} reaches layer {b}")),
        (None, _) => Some(format!("{from} is in no layer: add it to LAYERS")),
        (_, None) => Some(format!("{to} is in no layer: add it to LAYERS")),
    }
}

fn gateway_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway")
}

/// Every library source file, without unit-test files.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `a/b.rs` is `[a, b]`, `a/mod.rs` is `[a]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(gateway_dir()).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_str().unwrap().to_string()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a file with comments and the unit tests left out.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Everything after a test module is test code in this code base
            // (tests sit at the bottom of a file).
            if lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
                break;
            }
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a file's code reaches, with the text that reaches
/// each.
fn imports(file: &Path, code: &str) -> BTreeSet<(String, String)> {
    let here = module_path(file);
    let mut found = BTreeSet::new();
    // `crate::x`, and `crate::{x, y::z}`.
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        push_group_item(&group[start..j], &mut found);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_group_item(&group[start..j], &mut found);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.insert((name.to_string(), format!("crate::{name}")));
            }
        }
    }
    // `super::` chains that climb out of the file's top-level module.
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &code[i..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        if ups > here.len() {
            continue;
        }
        let base = &here[..here.len() - ups];
        let target = match base.first() {
            Some(top) => top.clone(),
            None => ident_at(rest).to_string(),
        };
        if !target.is_empty() {
            found.insert((target, format!("{}{}", "super::".repeat(ups), ident_at(rest))));
        }
    }
    found
}

fn push_group_item(item: &str, found: &mut BTreeSet<(String, String)>) {
    let name = ident_at(item.trim());
    if !name.is_empty() && name != "self" {
        found.insert((name.to_string(), format!("crate::{{{name}…}}")));
    }
}

#[test]
fn every_import_points_down_the_layers() {
    let mut files = Vec::new();
    sources(&gateway_dir(), &mut files);
    assert!(files.len() > 50, "read only {} files under gateway/", files.len());
    let mut broken = BTreeSet::new();
    let mut seen = 0;
    for file in &files {
        let path = module_path(file);
        // The crate root and the binary declare and use everything.
        let Some(from) = path.first() else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for (to, how) in imports(file, &code(&text)) {
            seen += 1;
            if let Some(why) = violation(from, &to) {
                let rel = file.strip_prefix(gateway_dir()).unwrap().display().to_string();
                broken.insert((from.clone(), to.clone(), format!("gateway/{rel}: `{how}`: {why}")));
            }
        }
    }
    assert!(seen > 100, "found only {seen} imports: the reader is broken");
    let broken: Vec<String> = broken.into_iter().map(|(_, _, why)| format!("  {why}")).collect();
    assert!(broken.is_empty(), "imports that break the layer rule:\n{}", broken.join("\n"));
}

#[test]
fn the_reader_sees_each_form_of_import() {
    let file = gateway_dir().join("front").join("stdio.rs");
    let code = code(
        "use crate::error::GatewayError;\nuse crate::{stack::{self, X}, cache};\nlet x = crate::stdio::Caller {};\n\
         use super::body::ProxyBody;\n// use crate::commented::Out;\nuse super::super::route::Route;\n\
         #[cfg(test)]\nmod tests {\n use crate::admin::Hidden;\n}\n",
    );
    let got: BTreeSet<String> = imports(&file, &code).into_iter().map(|(m, _)| m).collect();
    let want: BTreeSet<String> =
        ["error", "stack", "cache", "stdio", "front", "route"].into_iter().map(String::from).collect();
    assert_eq!(got, want);
    assert!(violation("table", "backend").is_some());
    assert!(violation("backend", "table").is_none());
    assert!(violation("retry", "balance").is_some(), "one layer's modules never import each other");
    assert!(violation("stdio", "backend").is_some());
    assert!(violation("mock", "front").is_some());
    assert!(violation("front", "mock").is_some());
    assert!(violation("mock", "mcp").is_none());
}

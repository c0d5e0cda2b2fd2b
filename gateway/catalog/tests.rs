use serde_json::{Value, json};

use super::*;

fn tools(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| json!({ "name": n, "description": format!("{n} tool"), "inputSchema": {} })).collect()
}

fn list<'a>(prefix: &'a str, filter: &'a Filter, items: Vec<Value>) -> Option<MemberList<'a>> {
    Some(MemberList { naming: Naming { prefix, separator: "__" }, filter, items })
}

fn names(m: &Merged) -> Vec<&str> {
    m.items.iter().map(|i| i["name"].as_str().unwrap()).collect()
}

#[test]
fn names_are_prefixed_and_ordered_by_member_then_name() {
    let all = Filter::default();
    let m = merge(
        Kind::Tools,
        vec![
            list("wiki", &all, tools(&["search", "fetch"])),
            list("", &all, tools(&["lint", "check"])),
            list("docs", &all, tools(&["b", "a"])),
        ],
        Collisions::Error,
    );
    assert_eq!(names(&m), ["wiki__fetch", "wiki__search", "check", "lint", "docs__a", "docs__b"]);
    assert_eq!(m.owner("wiki__search"), Some(&Owner { member: 0, original: "search".into() }));
    assert_eq!(m.owner("lint"), Some(&Owner { member: 1, original: "lint".into() }));
    assert!(m.collisions.is_empty());
    // The rest of the definition is the member's, untouched.
    assert_eq!(m.items[0]["description"], "fetch tool");
}

#[test]
fn adding_a_member_renames_no_other_members_tools() {
    let all = Filter::default();
    let before = merge(Kind::Tools, vec![list("a", &all, tools(&["x"])), None], Collisions::Error);
    let after =
        merge(Kind::Tools, vec![list("a", &all, tools(&["x"])), list("b", &all, tools(&["x"]))], Collisions::Error);
    assert_eq!(names(&before), ["a__x"]);
    assert_eq!(names(&after), ["a__x", "b__x"]);
}

#[test]
fn filters_apply_to_original_names() {
    let f = Filter { allow: vec!["search*".into()], deny: vec!["*delete*".into()] };
    let m = merge(Kind::Tools, vec![list("w", &f, tools(&["search", "search_delete", "edit"]))], Collisions::Error);
    assert_eq!(names(&m), ["w__search"]);
}

#[test]
fn a_collision_under_error_drops_both_and_is_reported() {
    let all = Filter::default();
    let lists = || vec![list("", &all, tools(&["search", "a"])), None, list("", &all, tools(&["search", "b"]))];
    let m = merge(Kind::Tools, lists(), Collisions::Error);
    assert_eq!(names(&m), ["a", "b"]);
    let mut collisions = m.collisions.clone();
    name_members(&mut collisions, &["one", "two", "three"]);
    assert_eq!(
        collisions,
        [Collision { list: "tools", name: "search".into(), members: vec!["one".into(), "three".into()], kept: None }]
    );
    let m = merge(Kind::Tools, lists(), Collisions::First);
    assert_eq!(names(&m), ["a", "search", "b"]);
    assert_eq!(m.owner("search").unwrap().member, 0);
    assert_eq!(m.collisions[0].kept.as_deref(), Some("0"));
}

#[test]
fn resources_keep_their_uris_and_collide_on_them() {
    let all = Filter::default();
    let res = |uris: &[&str]| uris.iter().map(|u| json!({ "uri": u, "name": "n" })).collect::<Vec<_>>();
    let m = merge(
        Kind::Resources,
        vec![list("a", &all, res(&["file:///x", "file:///same"])), list("b", &all, res(&["file:///same", "b://y"]))],
        Collisions::Error,
    );
    let uris: Vec<_> = m.items.iter().map(|i| i["uri"].as_str().unwrap()).collect();
    assert_eq!(uris, ["file:///x", "b://y"]);
    assert_eq!(m.collisions[0].name, "file:///same");
}

#[test]
fn naming_strips_only_its_own_prefix() {
    let n = Naming { prefix: "wiki", separator: "__" };
    assert_eq!(n.expose("search"), "wiki__search");
    assert_eq!(n.strip("wiki__search"), Some("search"));
    assert_eq!(n.strip("wiki__"), None);
    assert_eq!(n.strip("wikisearch"), None);
    assert_eq!(n.strip("docs__search"), None);
    assert_eq!(Naming { prefix: "", separator: "__" }.strip("search"), None);
    assert_eq!(Kind::of_method("resources/templates/list"), Some(Kind::ResourceTemplates));
    assert_eq!(Kind::of_method("tools/call"), None);
}

#[test]
fn items_without_a_name_are_left_out_and_meta_is_set() {
    let all = Filter::default();
    let m = merge(Kind::Tools, vec![list("a", &all, vec![json!({ "title": "no name" }), json!(3)])], Collisions::Error);
    assert!(m.items.is_empty());
    let mut result = json!({ "tools": [] });
    set_meta(&mut result, DEGRADED, json!(["wiki"]));
    assert_eq!(result["_meta"][DEGRADED], json!(["wiki"]));
}

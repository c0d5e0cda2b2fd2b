use super::*;

fn single(s: &str) -> Envelope {
    match parse(s.as_bytes()).unwrap() {
        Message::Single(e) => e,
        Message::Batch(_) => panic!("batch"),
    }
}

#[test]
fn request_with_name_and_meta() {
    let e = single(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
    );
    assert_eq!(e.kind, Kind::Request);
    assert_eq!(e.id.as_ref().unwrap().get(), "7");
    assert_eq!(e.method(), "tools/call");
    assert_eq!(e.name.as_deref(), Some("echo"));
    assert_eq!(e.meta_version.as_deref(), Some("2026-07-28"));
}

#[test]
fn uri_for_resources_and_escapes() {
    let e = single(
        r#"{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///a\"b","name":"ignored"}}"#,
    );
    assert_eq!(e.name.as_deref(), Some("file:///a\"b"));
}

#[test]
fn notification_and_response() {
    assert_eq!(single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).kind, Kind::Notification);
    assert_eq!(single(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).kind, Kind::Response);
    assert_eq!(single(r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}"#).kind, Kind::Response);
}

#[test]
fn batch() {
    match parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"}]"#).unwrap() {
        Message::Batch(v) => assert_eq!(v.len(), 2),
        Message::Single(_) => panic!(),
    }
}

#[test]
fn bad_inputs() {
    let parse_errors = ["", "{", "{\"jsonrpc\":", "nope", "[1,", "\u{0}"];
    for s in parse_errors {
        assert!(matches!(parse(s.as_bytes()), Err(EnvelopeError::Parse(_))), "{s:?}");
    }
    let invalid = [
        "1",
        "\"str\"",
        "null",
        "[]",
        "[1]",
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#,
        r#"{"jsonrpc":"2.0"}"#,
    ];
    for s in invalid {
        assert!(matches!(parse(s.as_bytes()), Err(EnvelopeError::Invalid(_))), "{s}");
    }
}

#[test]
fn params_fields_of_another_type_count_as_absent() {
    // The upstream judges params; the gateway reads what it can and forwards.
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"a":[1]},"_meta":[1,2]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":null,"_meta":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":true,"_meta":{"io.modelcontextprotocol/protocolVersion":{"x":1}}}}"#,
    ] {
        let e = single(body);
        assert_eq!((e.kind, e.name.as_deref(), e.meta_version.as_deref()), (Kind::Request, None, None), "{body}");
    }
    let e = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","other":{"deep":[1]}},"name":"a\u0062"}}"#,
    );
    assert_eq!((e.name.as_deref(), e.meta_version.as_deref()), (Some("ab"), Some("2026-07-28")));
}

//! Request bodies and headers, serialised once before the run starts.
//!
//! Per request only the JSON-RPC id changes, so each body is kept as a prefix
//! and a suffix around the id; in the stateless era, where every request stands
//! alone, each worker even reuses one finished body. Header values are built
//! once and cloned, which for `HeaderValue` is a reference-count bump.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::Full;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use serde_json::{Value, json};

use super::{BenchError, Era};

/// The session-era version the bench asks for in `initialize`.
pub const SESSION_VERSION: &str = "2025-06-18";
/// The stateless-era version.
pub const STATELESS_VERSION: &str = "2026-07-28";

pub(crate) static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
pub(crate) static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
static JSON: HeaderValue = HeaderValue::from_static("application/json");
static ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");

/// The request body type every connection sends.
pub(crate) type Body = Full<Bytes>;

/// Where to send: the parsed `http://host:port/path` URL.
#[derive(Debug)]
pub(crate) struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    host: HeaderValue,
    /// Path and query, for HTTP/1.1 (origin form plus `Host`).
    path: Uri,
    /// The whole URL, for HTTP/2 (`:scheme` and `:authority` come from it).
    absolute: Uri,
    h2: bool,
}

impl Target {
    pub(crate) fn parse(url: &str, h2: bool) -> Result<Self, BenchError> {
        let bad = |why: &str| BenchError::Url(format!("`{url}`: {why}"));
        let absolute: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match absolute.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("https is not supported; bench speaks plain http:// only")),
            _ => return Err(bad("the URL must start with http://")),
        }
        let authority = absolute.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = format!("{}:{port}", authority.host());
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad("bad host"))?;
        let path = absolute.path_and_query().map_or("/", |p| p.as_str());
        let path: Uri = path.parse().map_err(|_| bad("bad path"))?;
        Ok(Self { addr, host, path, absolute, h2 })
    }

    /// A request to the endpoint with the headers every request carries.
    pub(crate) fn request(&self, method: Method, body: Bytes) -> Request<Body> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = if self.h2 { self.absolute.clone() } else { self.path.clone() };
        let headers = req.headers_mut();
        if !self.h2 {
            headers.insert(HOST, self.host.clone());
        }
        headers.insert(CONTENT_TYPE, JSON.clone());
        headers.insert(ACCEPT, ACCEPT_BOTH.clone());
        req
    }
}

/// One JSON-RPC request body, split around its id.
#[derive(Debug)]
pub(crate) struct Template {
    prefix: Bytes,
    suffix: Bytes,
    /// `Mcp-Method` (stateless era).
    pub method: HeaderValue,
    /// `Mcp-Name` (stateless era, calls and reads).
    pub name: Option<HeaderValue>,
}

impl Template {
    fn new(method: &str, params: &Value, name: Option<&str>) -> Result<Self, BenchError> {
        let params = serde_json::to_string(params).map_err(|e| BenchError::Args(e.to_string()))?;
        let suffix = format!(",\"method\":\"{method}\",\"params\":{params}}}");
        let name = name.map(header_safe).transpose()?;
        let method = HeaderValue::from_str(method).map_err(|_| BenchError::Args(format!("bad method {method}")))?;
        Ok(Self {
            prefix: Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":"),
            suffix: Bytes::from(suffix),
            method,
            name,
        })
    }

    /// The body with this id.
    pub(crate) fn body(&self, id: u64) -> Bytes {
        let mut out = BytesMut::with_capacity(self.prefix.len() + 20 + self.suffix.len());
        out.put_slice(&self.prefix);
        // Writing into a BytesMut cannot fail.
        let _ = write!(out, "{id}");
        out.put_slice(&self.suffix);
        out.freeze()
    }
}

/// Every body the bench sends, for one era, built from the options.
#[derive(Debug)]
pub(crate) struct Templates {
    pub era: Era,
    pub call: Template,
    pub list: Template,
    pub read: Template,
    /// `initialize` with id 0 (session era).
    pub initialize: Bytes,
    /// `notifications/initialized` (session era).
    pub initialized: Bytes,
    /// `MCP-Protocol-Version` for the stateless era.
    pub stateless_version: HeaderValue,
}

impl Templates {
    pub(crate) fn new(era: Era, tool: &str, args: &str, uri: &str) -> Result<Self, BenchError> {
        let args: Value =
            serde_json::from_str(args).map_err(|e| BenchError::Args(format!("--args is not JSON: {e}")))?;
        if !args.is_object() {
            return Err(BenchError::Args("--args must be a JSON object".into()));
        }
        let client_info = json!({ "name": "switchyard-bench", "version": env!("CARGO_PKG_VERSION") });
        let with_meta = |mut params: Value| {
            if era == Era::Stateless {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                    "io.modelcontextprotocol/clientInfo": client_info,
                    "io.modelcontextprotocol/clientCapabilities": {},
                });
            }
            params
        };
        let call = Template::new("tools/call", &with_meta(json!({ "name": tool, "arguments": args })), Some(tool))?;
        let list = Template::new("tools/list", &with_meta(json!({})), None)?;
        let read = Template::new("resources/read", &with_meta(json!({ "uri": uri })), Some(uri))?;
        let init_params = json!({ "protocolVersion": SESSION_VERSION, "capabilities": {}, "clientInfo": client_info });
        let initialize = Template::new("initialize", &init_params, None)?.body(0);
        let initialized = Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        let stateless_version = HeaderValue::from_static(STATELESS_VERSION);
        Ok(Self { era, call, list, read, initialize, initialized, stateless_version })
    }

    /// Adds the stateless era's mirrored headers for `template`.
    pub(crate) fn stateless_headers(&self, req: &mut Request<Body>, template: &Template) {
        let headers = req.headers_mut();
        headers.insert(PROTOCOL_VERSION.clone(), self.stateless_version.clone());
        headers.insert(MCP_METHOD.clone(), template.method.clone());
        if let Some(name) = &template.name {
            headers.insert(MCP_NAME.clone(), name.clone());
        }
    }
}

/// A header value as the 2026-07-28 rules write it: plain when it is visible
/// ASCII without surrounding spaces, `=?base64?…?=` otherwise.
fn header_safe(value: &str) -> Result<HeaderValue, BenchError> {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value;
    let text = if plain { value.to_owned() } else { format!("=?base64?{}?=", STANDARD.encode(value)) };
    HeaderValue::from_str(&text).map_err(|_| BenchError::Args(format!("cannot send `{value}` in a header")))
}

/// The `protocolVersion` an `initialize` result names, found without parsing
/// the whole body (it may be SSE-framed).
pub(crate) fn negotiated_version(body: &[u8]) -> Option<HeaderValue> {
    const KEY: &[u8] = b"\"protocolVersion\"";
    let at = find(body, KEY)? + KEY.len();
    let rest = skip_ws(&body[at..]).strip_prefix(b":")?;
    let rest = skip_ws(rest).strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    HeaderValue::from_bytes(&rest[..end]).ok()
}

/// The code of the first JSON-RPC error in a response body (JSON or SSE).
///
/// `Some(None)` when an error object is there but its code cannot be read.
/// Only looks for an unescaped `"error"` key followed by an object, so a
/// result that merely mentions the word does not count.
pub(crate) fn rpc_error_code(body: &[u8]) -> Option<Option<i64>> {
    const KEY: &[u8] = b"\"error\"";
    let mut from = 0;
    while let Some(pos) = find(&body[from..], KEY) {
        let at = from + pos;
        from = at + KEY.len();
        if at > 0 && body[at - 1] == b'\\' {
            continue;
        }
        let Some(object) = skip_ws(&body[from..]).strip_prefix(b":").map(skip_ws) else {
            continue;
        };
        if object.first() != Some(&b'{') {
            continue;
        }
        return Some(read_code(object));
    }
    None
}

fn read_code(object: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"code\"";
    let at = find(object, KEY)? + KEY.len();
    let rest = skip_ws(skip_ws(&object[at..]).strip_prefix(b":")?);
    let end = rest.iter().skip(1).position(|b| !b.is_ascii_digit()).map_or(rest.len(), |p| p + 1);
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(p) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + p;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rpc_errors_in_json_and_sse() {
        let json = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32099,"message":"x"}}"#;
        assert_eq!(rpc_error_code(json), Some(Some(-32099)));
        let sse = b"id: 4\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\" : { \"message\":\"m\", \"code\" : 7}}\n\n";
        assert_eq!(rpc_error_code(sse), Some(Some(7)));
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"\"error\":{\"code\":1}"}]}}"#;
        assert_eq!(rpc_error_code(ok), None);
        assert_eq!(rpc_error_code(br#"{"error":{"message":"no code"}}"#), Some(None));
        assert_eq!(rpc_error_code(br#"{"result":{"error":"text"}}"#), None);
    }

    #[test]
    fn bodies_are_valid_json_with_the_id() {
        let t = Templates::new(Era::Stateless, "echo", r#"{"text":"hi"}"#, "mock://readme").unwrap();
        let v: Value = serde_json::from_slice(&t.call.body(42)).unwrap();
        assert_eq!(v["id"], 42);
        assert_eq!(v["params"]["name"], "echo");
        assert_eq!(v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"], STATELESS_VERSION);
        let v: Value = serde_json::from_slice(&t.initialize).unwrap();
        assert_eq!(v["params"]["protocolVersion"], SESSION_VERSION);
        assert_eq!(t.read.name.as_ref().unwrap(), "mock://readme");
        let s = Templates::new(Era::Session, "echo", "{}", "mock://readme").unwrap();
        let v: Value = serde_json::from_slice(&s.list.body(1)).unwrap();
        assert!(v["params"].get("_meta").is_none());
        assert!(Templates::new(Era::Session, "echo", "[1]", "u").is_err());
    }

    #[test]
    fn reads_negotiated_version_and_encodes_odd_names() {
        let body = br#"data: {"result":{"protocolVersion": "2025-03-26","capabilities":{}}}"#;
        assert_eq!(negotiated_version(body).unwrap(), "2025-03-26");
        assert_eq!(header_safe("héllo").unwrap(), "=?base64?aMOpbGxv?=");
        assert_eq!(header_safe("echo").unwrap(), "echo");
    }

    #[test]
    fn urls_must_be_plain_http() {
        let t = Target::parse("http://127.0.0.1:8080/mcp?x=1", false).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert_eq!(t.request(Method::POST, Bytes::new()).uri(), "/mcp?x=1");
        assert!(Target::parse("https://example.com/mcp", false).is_err());
        assert!(Target::parse("example.com/mcp", false).is_err());
        assert_eq!(Target::parse("http://localhost/mcp", true).unwrap().addr, "localhost:80");
    }
}

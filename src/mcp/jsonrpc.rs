//! One JSON-RPC 2.0 message read from an MCP `POST` body, strictly: a single object (a batch is
//! refused), `"jsonrpc": "2.0"`, and either a request (or notification) with a string `method`
//! and, for the methods rules can name, the tool or prompt `params.name` or the resource
//! `params.uri`; or a client's response to a server's request (`id` with `result` or `error`).
//! A key repeated anywhere refuses the body: two values for a tool name must not be read as
//! either.

use crate::json::parse_strict;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// The largest body read; a larger one is refused, never passed unread.
pub const MAX_BODY: usize = 256 * 1024;

/// What a rule can match on in one MCP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The JSON-RPC `method` (`tools/call`, `tools/list`, `resources/read`, …).
    pub method: String,
    /// `params.name` of `tools/call` and `prompts/get`; `params.uri` of `resources/read` and
    /// the `resources/subscribe` pair.
    pub name: Option<String>,
    /// The JSON-RPC `id` as JSON text (`None`: a notification).
    pub id: Option<String>,
}

/// One message of a client's `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request or a notification.
    Call(Call),
    /// The client's answer to a request of the server (sampling, elicitation, roots): no rule
    /// names one, so rules with `match.mcp` never apply to it.
    Response,
}

/// Why a body is not one MCP request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Longer than [`MAX_BODY`].
    TooLarge,
    /// Not JSON, or a key repeats.
    NotJson,
    /// A JSON array: a batch (MCP removed batching in 2025-06-18).
    Batch,
    /// Not a JSON-RPC 2.0 request (`jsonrpc`, `method`, `params` shapes).
    NotRequest,
    /// `Mcp-Method` or `Mcp-Name` says something other than the body; holds the request's
    /// `id` as JSON text (MCP clients read the 400 as a JSON-RPC error for that id).
    HeaderMismatch(Option<String>),
    /// A call a rule names tools, prompts or resources of, without the `params.name` (or
    /// `params.uri`) that says which: the rule cannot tell whether it applies.
    Unnamed,
    /// The body did not arrive in time (or the proxy never handed it over).
    NotInTime,
    /// The body is compressed (`content-encoding`).
    Compressed,
}

impl BodyError {
    /// Why, in plain words (the `detail` of the 400).
    pub fn reason(&self) -> &'static str {
        match self {
            BodyError::TooLarge => {
                "the body is larger than 256 KiB, the most authgate reads of an MCP request"
            }
            BodyError::NotJson => "the body is not JSON (or repeats a key)",
            BodyError::Batch => "the body is a JSON-RPC batch; send one request per POST",
            BodyError::NotRequest => "the body is not a JSON-RPC 2.0 request",
            BodyError::HeaderMismatch(_) => "Mcp-Method or Mcp-Name does not match the body",
            BodyError::Unnamed => {
                "the call names no tool, prompt or resource (params.name or params.uri), and a rule decides by it"
            }
            BodyError::NotInTime => "the body did not arrive in time",
            BodyError::Compressed => {
                "the body is compressed (content-encoding); send MCP requests uncompressed"
            }
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Reads one MCP message from `body`.
pub fn parse(body: &[u8]) -> Result<Message, BodyError> {
    if body.len() > MAX_BODY {
        return Err(BodyError::TooLarge);
    }
    let v = parse_strict(body).map_err(|_| BodyError::NotJson)?;
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(_) => return Err(BodyError::Batch),
        _ => return Err(BodyError::NotRequest),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(BodyError::NotRequest);
    }
    let answers = obj.contains_key("result") || obj.contains_key("error");
    if !obj.contains_key("method") && answers && obj.contains_key("id") {
        return Ok(Message::Response);
    }
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .ok_or(BodyError::NotRequest)?;
    let params = match obj.get("params") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Err(BodyError::NotRequest),
    };
    // A call without its name is the server's to answer (a removed method, an invalid
    // call): only a rule that decides by the name refuses it (`BodyError::Unnamed`).
    let name = super::select::Kind::named_by(method)
        .map(super::select::Kind::key)
        .and_then(|member| params?.get(member)?.as_str())
        .map(str::to_string);
    Ok(Message::Call(Call {
        method: method.to_string(),
        name,
        // serde_json's own writer: already in the module (a writer of our own cost 0.7 KB).
        id: obj.get("id").map(Value::to_string),
    }))
}

const SENTINEL_OPEN: &str = "=?base64?";
const SENTINEL_CLOSE: &str = "?=";

/// The value an `Mcp-Name` / `Mcp-Method` header carries: as sent, or decoded from the
/// specification's sentinel form `=?base64?<standard Base64 of the UTF-8>?=` (markers
/// lowercase and exact). `None` when the sentinel form does not decode.
pub fn header_value(raw: &str) -> Option<String> {
    match raw
        .strip_prefix(SENTINEL_OPEN)
        .and_then(|r| r.strip_suffix(SENTINEL_CLOSE))
    {
        Some(encoded) => String::from_utf8(STANDARD.decode(encoded).ok()?).ok(),
        None => Some(raw.to_string()),
    }
}

/// Checks the headers that mirror the body (MCP 2026-07-28): each one present must equal the
/// body's value after decoding. They are never used instead of the body.
pub fn check_headers(
    message: &Message,
    method: Option<&str>,
    name: Option<&str>,
) -> Result<(), BodyError> {
    let call = match message {
        Message::Call(c) => c,
        Message::Response if method.is_none() && name.is_none() => return Ok(()),
        Message::Response => return Err(BodyError::HeaderMismatch(None)),
    };
    let mismatch = || BodyError::HeaderMismatch(call.id.clone());
    if let Some(m) = method {
        if header_value(m.trim()).as_deref() != Some(call.method.as_str()) {
            return Err(mismatch());
        }
    }
    if let Some(n) = name {
        // The conformance suite sends padded values and expects them accepted.
        if call.name.is_none() || header_value(n.trim()) != call.name {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (none
/// included) and everything else for itself, case-sensitively: `delete_*` matches
/// `delete_repo`, `*` everything.
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return name.is_empty(),
    };
    let Some(mut left) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_method_and_what_it_names() {
        for (name, body, method, named) in [
            (
                "tool call",
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":"x"}}}"#,
                "tools/call",
                Some("search"),
            ),
            (
                "prompt",
                r#"{"jsonrpc":"2.0","id":"a","method":"prompts/get","params":{"name":"summary"}}"#,
                "prompts/get",
                Some("summary"),
            ),
            (
                "resource",
                r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///etc/hosts"}}"#,
                "resources/read",
                Some("file:///etc/hosts"),
            ),
            (
                "list",
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
                "tools/list",
                None,
            ),
            (
                "notification",
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                "notifications/initialized",
                None,
            ),
        ] {
            let Ok(Message::Call(c)) = parse(body.as_bytes()) else {
                panic!("{name}")
            };
            assert_eq!(
                (c.method.as_str(), c.name.as_deref()),
                (method, named),
                "{name}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for (name, body, want) in [
            ("batch", r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#.to_string(), BodyError::Batch),
            ("not json", "{".to_string(), BodyError::NotJson),
            ("repeated name", r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}"#.to_string(), BodyError::NotJson),
            ("repeated method", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#.to_string(), BodyError::NotJson),
            ("old jsonrpc", r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#.to_string(), BodyError::NotRequest),
            ("no method", r#"{"jsonrpc":"2.0","id":1}"#.to_string(), BodyError::NotRequest),
            ("a result without an id", r#"{"jsonrpc":"2.0","result":{}}"#.to_string(), BodyError::NotRequest),
            ("params an array", r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["search"]}"#.to_string(), BodyError::NotRequest),
            ("too large", format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":"{}"}}}}"#, "a".repeat(MAX_BODY)), BodyError::TooLarge),
        ] {
            assert_eq!(parse(body.as_bytes()), Err(want), "{name}");
        }
    }

    #[test]
    fn a_call_without_its_name_is_read_without_one() {
        for (name, body, id) in [
            (
                "subscribe without uri (a removed method)",
                r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{}}"#,
                Some("5"),
            ),
            (
                "tool call without params",
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call"}"#,
                Some("\"a\""),
            ),
            (
                "name not a string",
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
                Some("1"),
            ),
        ] {
            let Ok(Message::Call(c)) = parse(body.as_bytes()) else {
                panic!("{name}")
            };
            assert_eq!((c.name, c.id.as_deref()), (None, id), "{name}");
        }
        let call = parse(br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#).unwrap();
        assert_eq!(
            check_headers(&call, Some("prompts/list"), None),
            Err(BodyError::HeaderMismatch(Some("9".into()))),
            "the mismatch names the request's id"
        );
        let padded =
            parse(br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"x"}}"#)
                .unwrap();
        assert!(check_headers(&padded, Some("tools/call"), Some(" x ")).is_ok());
    }

    #[test]
    fn a_clients_answer_to_the_server_is_a_response() {
        for body in [
            r#"{"jsonrpc":"2.0","id":7,"result":{"roots":[]}}"#,
            r#"{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"declined"}}"#,
        ] {
            assert_eq!(parse(body.as_bytes()), Ok(Message::Response), "{body}");
            assert!(check_headers(&Message::Response, None, None).is_ok());
            assert!(check_headers(&Message::Response, Some("tools/call"), None).is_err());
        }
    }

    #[test]
    fn mirrored_headers_must_agree_with_the_body() {
        let call = parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"caf\u00e9"}}"#,
        )
        .unwrap();
        let list = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        // "café" as the specification's sentinel (standard Base64 of the UTF-8 bytes).
        let cafe = format!("=?base64?{}?=", STANDARD.encode("café"));
        for (name, c, method, header, ok) in [
            (
                "both agree",
                &call,
                Some("tools/call"),
                Some(cafe.as_str()),
                true,
            ),
            ("none sent", &call, None, None, true),
            ("method differs", &call, Some("tools/list"), None, false),
            ("name differs", &call, None, Some("delete_repo"), false),
            (
                "undecoded sentinel is not the name",
                &call,
                None,
                Some("=?base64?%%%?="),
                false,
            ),
            (
                "a name on a list",
                &list,
                Some("tools/list"),
                Some("x"),
                false,
            ),
        ] {
            assert_eq!(check_headers(c, method, header).is_ok(), ok, "{name}");
        }
        // The specification's own example decodes to a value that looks like the sentinel.
        assert_eq!(
            header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").as_deref(),
            Some("=?base64?literal?=")
        );
        assert_eq!(
            header_value("=?BASE64?eA==?=").as_deref(),
            Some("=?BASE64?eA==?="),
            "markers are case-sensitive"
        );
    }

    #[test]
    fn wildcards() {
        for (pattern, name, want) in [
            ("search", "search", true),
            ("search", "search2", false),
            ("*", "", true),
            ("*", "anything", true),
            ("delete_*", "delete_repo", true),
            ("delete_*", "undelete_repo", false),
            ("*_repo", "delete_repo", true),
            ("*_repo", "repo", false),
            ("db:*:write", "db:orders:write", true),
            ("db:*:write", "db:write", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("file:///srv/*", "file:///srv/a/b", true),
            ("Search", "search", false),
        ] {
            assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
        }
    }
}

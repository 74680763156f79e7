//! Rules on MCP calls: the body read only when a `match.mcp` rule may apply, per-tool scopes
//! with the step-up challenge, two protected resources with their own audiences, the 400s for
//! a body that is not one message, and the list answer judged as the caller's own calls.

use crate::engine::*;
use crate::mcp::select::Kind;
use crate::providers::jwt::tests::mint_hs;
use crate::request::{HeaderList, WithPeer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

const SECRET: [u8; 32] = [7; 32];
const NOW: u64 = 1_800_000_000;
const GITHUB: &str = "https://mcp.example/github";
const DB: &str = "https://mcp.example/db";

fn config(extra: Value) -> Value {
    let mut c = json!({
        "realm": "mcp",
        "providers": {"as": {"type": "jwt", "issuer": "https://as.example",
            "local_jwks": {"keys": [{"kty": "oct", "k": B64.encode(SECRET), "alg": "HS256"}]}}},
        "resources": [
            {"id": GITHUB, "authorization_servers": ["https://as.example"]},
            {"id": DB, "authorization_servers": ["https://as.example"]}
        ],
        "rules": [
            {"match": {"prefix": "/github", "mcp": {"tools": ["delete_*"]}}, "requires": "as", "scopes": ["repo:admin"]},
            {"match": {"prefix": "/github", "mcp": {"tools": ["search"]}}, "requires": "as", "scopes": ["repo:read"]},
            {"match": {"prefix": "/db", "mcp": {"tools": ["execute_sql"]}}, "requires": "as", "scopes": ["db:write"]},
            {"match": {"prefix": "/"}, "requires": "as"}
        ]
    });
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

fn engine(extra: Value) -> Engine {
    Engine::from_json(config(extra).to_string().as_bytes(), [5; 32]).unwrap()
}

fn token(aud: &str, scope: &str) -> String {
    let claims = json!({"iss": "https://as.example", "sub": "bot", "aud": aud, "scope": scope, "exp": NOW + 60});
    format!(
        "Bearer {}",
        mint_hs(&SECRET, json!({"alg": "HS256"}), claims)
    )
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
        .to_string()
}

/// What the engine decides on `headers` with `body` (read when it asks): `read body` when it
/// asks and none is given, else the status and the challenge.
fn outcome(e: &Engine, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> String {
    let mut all = vec![
        (":authority", "mcp.example"),
        ("content-type", "application/json"),
    ];
    all.extend_from_slice(headers);
    let method = if body.is_some() { "POST" } else { "GET" };
    let view = HeaderList::new(method, path, &all);
    let describe = |d: Decision| match d {
        Decision::Allow(a) => format!("200{}", a.list.map_or("", |_| " (list cut)")),
        Decision::Deny(d) => {
            let challenge = d
                .reply
                .headers
                .iter()
                .find(|(k, _)| k == "www-authenticate");
            format!(
                "{} {}",
                d.reply.status,
                challenge.map_or("", |(_, v)| v.as_str())
            )
        }
        Decision::ReadBody => "read body".into(),
        other => format!("{other:?}"),
    };
    let first = e.decide(&view, NOW);
    let Decision::ReadBody = first else {
        return describe(first);
    };
    let Some(body) = body else {
        return describe(first);
    };
    let read = crate::request::mcp_from(
        (body.len() <= crate::mcp::jsonrpc::MAX_BODY).then_some(body),
        &view,
    );
    let with = WithPeer {
        view: &view,
        peer_certificate_sha256: None,
        connection_tls: None,
        mcp: Some(&read),
    };
    describe(e.decide(&with, NOW))
}

#[test]
fn per_tool_rules_table() {
    let e = engine(json!({}));
    let reader = token(GITHUB, "repo:read");
    let admin = token(GITHUB, "repo:read repo:admin");
    let for_db = token(DB, "repo:read repo:admin db:write");
    let gh_meta =
        "resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/github\"";
    let db_meta =
        "resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/db\"";
    let search = call("search");
    let delete = call("delete_repo");
    let sql = call("execute_sql");
    let list = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let big = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"search\",\"arguments\":{{\"q\":\"{}\"}}}}}}", "a".repeat(crate::mcp::jsonrpc::MAX_BODY));
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<&'a [u8]>,
        String,
    );
    let cases: Vec<Case> = vec![
        ("a GET reads no body", "/github", vec![("authorization", &reader)], None, "200".into()),
        ("a tool the caller may call", "/github", vec![("authorization", &reader)], Some(search.as_bytes()), "200".into()),
        ("a tool that needs more: one challenge with every scope", "/github", vec![("authorization", &reader)], Some(delete.as_bytes()),
            format!("403 Bearer realm=\"mcp\", {gh_meta}, error=\"insufficient_scope\", scope=\"repo:admin\"")),
        ("stepped up", "/github", vec![("authorization", &admin)], Some(delete.as_bytes()), "200".into()),
        ("no token: the 401 names the tool's scope", "/github", vec![], Some(delete.as_bytes()),
            format!("401 Bearer realm=\"mcp\", {gh_meta}, scope=\"repo:admin\"")),
        ("a token for the other resource", "/github", vec![("authorization", &for_db)], Some(search.as_bytes()),
            format!("401 Bearer realm=\"mcp\", {gh_meta}, scope=\"repo:read\", error=\"invalid_token\", error_description=\"the token is not for this resource (audience)\"")),
        ("the other resource's tool, its own metadata", "/db/mcp", vec![("authorization", &reader)], Some(sql.as_bytes()),
            format!("401 Bearer realm=\"mcp\", {db_meta}, scope=\"db:write\", error=\"invalid_token\", error_description=\"the token is not for this resource (audience)\"")),
        ("and for it", "/db/mcp", vec![("authorization", &for_db)], Some(sql.as_bytes()), "200".into()),
        ("a list goes to the next rule, and is cut", "/github", vec![("authorization", &reader)], Some(list), "200 (list cut)".into()),
        ("a client's answer to the server", "/github", vec![("authorization", &reader)], Some(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#), "200".into()),
        ("a batch", "/github", vec![("authorization", &admin)], Some(format!("[{search}]").as_bytes().to_vec().leak()),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the body is a JSON-RPC batch; send one request per POST\"")),
        ("too large", "/github", vec![("authorization", &admin)], Some(big.as_bytes()),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the body is larger than 256 KiB, the most authgate reads of an MCP request\"")),
        ("not JSON", "/github", vec![("authorization", &admin)], Some(b"tools/call search"),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the body is not JSON (or repeats a key)\"")),
        ("Mcp-Name that disagrees", "/github", vec![("authorization", &admin), ("mcp-name", "search")], Some(delete.as_bytes()),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"Mcp-Method or Mcp-Name does not match the body\"")),
        ("Mcp-Method and Mcp-Name that agree", "/github", vec![("authorization", &reader), ("mcp-method", "tools/call"), ("mcp-name", "search")], Some(search.as_bytes()), "200".into()),
        // A content type does not skip a rule: servers read JSON sent under other types.
        ("a call sent as text is read all the same", "/github", vec![("authorization", &reader), ("content-type", "text/plain, application/json")], Some(delete.as_bytes()),
            format!("403 Bearer realm=\"mcp\", {gh_meta}, error=\"insufficient_scope\", scope=\"repo:admin\"")),
        ("a text body", "/github", vec![("authorization", &reader), ("content-type", "text/plain")], Some(b"hello"),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the body is not JSON (or repeats a key)\"")),
        // A call a rule cannot read its name from: refused by that rule, with the reason.
        ("a tool call without a name, under a per-tool rule", "/github", vec![("authorization", &admin)], Some(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the call names no tool, prompt or resource (params.name or params.uri), and a rule decides by it\"")),
        // ...and one no rule decides by its name is the server's to answer (MCP 2026-07-28
        // removed resources/subscribe: the server says 404 / -32601).
        ("a subscription without a uri, no rule on resources", "/github", vec![("authorization", &reader)], Some(br#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{}}"#), "200".into()),
        ("a compressed body", "/github", vec![("authorization", &reader), ("content-encoding", "gzip")], Some(search.as_bytes()),
            format!("400 Bearer realm=\"mcp\", {gh_meta}, error=\"invalid_request\", error_description=\"the body is compressed (content-encoding); send MCP requests uncompressed\"")),
    ];
    for (name, path, headers, body, want) in cases {
        assert_eq!(outcome(&e, path, &headers, body), want, "{name}");
    }
    let post = HeaderList::new(
        "POST",
        "/github",
        &[
            (":authority", "mcp.example"),
            ("content-type", "application/json"),
        ],
    );
    assert_eq!(
        e.decide(&post, NOW),
        Decision::ReadBody,
        "a POST asks for its body first"
    );
}

#[test]
fn a_list_is_judged_as_the_callers_own_calls() {
    let e = engine(json!({}));
    let list_by = |t: &str| {
        HeaderList::new(
            "POST",
            "/github",
            &[
                (":authority", "mcp.example"),
                ("authorization", t),
                ("content-type", "application/json"),
            ],
        )
    };
    let (reader, admin) = (
        token(GITHUB, "repo:read"),
        token(GITHUB, "repo:read repo:admin"),
    );
    let visible = |t: &str| {
        ["search", "delete_repo", "list_issues"]
            .into_iter()
            .filter(|n| e.may_use(&list_by(t), Kind::Tool, n, NOW))
            .collect::<Vec<_>>()
    };
    assert_eq!(visible(&reader), ["search", "list_issues"]);
    assert_eq!(visible(&admin), ["search", "delete_repo", "list_issues"]);
    assert!(visible("Bearer nonsense").is_empty());
    let e = engine(json!({"mcp": {"show_step_up": true}}));
    let shown = ["search", "delete_repo"]
        .into_iter()
        .filter(|n| e.may_use(&list_by(&reader), Kind::Tool, n, NOW))
        .count();
    assert_eq!(shown, 2, "a tool one step-up away stays listed");
}

#[test]
fn scope_hierarchy_and_report_mode() {
    let e = engine(json!({"scope_hierarchy": {"separator": ":", "implies": {"owner": ["repo"]}}}));
    let delete = call("delete_repo");
    for (scope, want) in [("repo", "200"), ("owner", "200"), ("repo:read", "403")] {
        let got = outcome(
            &e,
            "/github",
            &[("authorization", &token(GITHUB, scope))],
            Some(delete.as_bytes()),
        );
        assert!(got.starts_with(want), "{scope}: {got}");
    }
    // Report mode refuses nothing: the body is still read, the refusal only reported, and
    // no list is cut.
    let e = engine(json!({"mode": "report"}));
    let reader = token(GITHUB, "repo:read");
    assert_eq!(
        outcome(
            &e,
            "/github",
            &[("authorization", &reader)],
            Some(delete.as_bytes())
        ),
        "200"
    );
    let list = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(
        outcome(&e, "/github", &[("authorization", &reader)], Some(list)),
        "200"
    );
}

#[test]
fn refused_at_load() {
    for (extra, want) in [
        (
            json!({"resource": {"id": GITHUB, "authorization_servers": ["https://as.example"]}}),
            "resources: give `resource` or `resources`, not both",
        ),
        (
            json!({"rules": [{"match": {"prefix": "/"}, "requires": "as"}], "mcp": {"filter_lists": true}}),
            "mcp.filter_lists: lists are cut by the rules with `match.mcp`, and no rule has one",
        ),
        (
            json!({"mcp": {"filter": true}}),
            "mcp.filter: unknown field `filter`, expected `filter_lists` or `show_step_up`",
        ),
        (
            json!({"scope_hierarchy": {"separator": " "}}),
            "scope_hierarchy.separator: must be non-empty",
        ),
    ] {
        let got = Engine::from_json(config(extra.clone()).to_string().as_bytes(), [0; 32])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(got.contains(want), "{extra}: {got}");
    }
    let off = engine(json!({"mcp": {"filter_lists": false}}));
    assert!(off.config().mcp_lists.is_empty());
    assert_eq!(engine(json!({})).config().mcp_lists, [Kind::Tool]);
}

//! The MCP phases through the worker: a request kept for its body and decided with it (held
//! for its keys in between, the call intact), audit lines naming the tool, and list answers,
//! JSON and event streams, cut as they pass.

use super::*;

fn config() -> Vec<u8> {
    serde_json::json!({"providers": {"idp": {"type": "jwt", "issuer": "joe",
        "remote_jwks": {"uri": "https://idp.test/keys", "cluster": "idp", "timeout_ms": 500}}},
        "rules": [{"match": {"prefix": "/", "mcp": {"tools": ["delete_*"]}}, "requires": "idp", "identities": ["admin"]}],
        "log_allowed": true})
    .to_string()
    .into_bytes()
}

fn post(id_token: &str) -> HeaderPairs {
    let mut h = headers(
        "/mcp",
        &[
            ("authorization", id_token),
            ("content-type", "application/json"),
        ],
    );
    h.0[0].1 = b"POST".to_vec();
    h
}

fn call(tool: &str) -> Vec<u8> {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}})
        .to_string()
        .into_bytes()
}

fn answer<'a>(content_type: &'a str, content_encoding: Option<&'a str>) -> Answer<'a> {
    Answer {
        content_type: Some(content_type),
        content_encoding,
        content_length: None,
    }
}

const LIST: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"},{"name":"delete_repo"}]}}"#;

/// A worker with its keys, and the bearer header of RFC 7515 §A.3's token.
fn ready(host: &FakeHost) -> (Worker, String) {
    host.now.set(RFC_NOW_MS);
    let w = Worker::default();
    w.configure(host, &config());
    let bearer = format!("Bearer {A3_JWS}");
    assert!(matches!(
        w.on_request_headers(host, 1, post(&bearer)),
        Step::ReadBody
    ));
    assert!(matches!(
        w.on_request_body(host, 1, Some(&call("search"))),
        Step::Held
    ));
    assert!(
        w.on_tick(host).is_empty(),
        "the key set is fetched on the tick"
    );
    let token = host.calls.borrow()[0].token;
    let released = w.on_http_call_response(host, (token, None), Some("200"), &jwks());
    assert!(
        matches!(&released[..], [(1, Verdict::Allow(_))]),
        "{released:?}"
    );
    (w, bearer)
}

#[test]
fn a_body_is_read_once_a_rule_asks_and_the_call_survives_a_hold() {
    let host = FakeHost::default();
    let (w, bearer) = ready(&host);
    assert_eq!(host.counter("authgate.mcp.bodies_read"), 1);
    assert_eq!(
        host.lines_with("mcp_method=\"tools/call\" mcp_name=\"search\"")
            .len(),
        1
    );
    assert!(matches!(
        w.on_request_headers(&host, 2, post(&bearer)),
        Step::ReadBody
    ));
    let step = w.on_request_body(&host, 2, Some(&call("delete_repo")));
    assert_eq!(status(&step), 403);
    assert_eq!(
        host.lines_with("error=access_denied").len(),
        1,
        "{:?}",
        host.lines.borrow()
    );
    assert_eq!(host.lines_with("mcp_name=\"delete_repo\"").len(), 1);
    assert!(matches!(
        w.on_request_headers(&host, 3, post(&bearer)),
        Step::ReadBody
    ));
    assert_eq!(status(&w.on_request_body(&host, 3, None)), 400, "too large");
    assert!(
        matches!(
            w.on_request_body(&host, 3, Some(&call("x"))),
            Step::Unconfigured
        ),
        "a body nobody asked for is refused"
    );
    let get = headers("/mcp", &[("authorization", &bearer)]);
    assert_eq!(
        status(&w.on_request_headers(&host, 4, get)),
        200,
        "a GET reads no body"
    );
}

#[test]
fn list_answers_are_cut_as_they_pass() {
    use crate::mcp::answer::Emit;
    let host = FakeHost::default();
    let (w, bearer) = ready(&host);
    let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let ask = |id: u32| {
        assert!(matches!(
            w.on_request_headers(&host, id, post(&bearer)),
            Step::ReadBody
        ));
        assert_eq!(status(&w.on_request_body(&host, id, Some(list))), 200);
        assert!(w.awaits_answer(id));
    };
    let want = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"}]}}"#.to_vec();
    // JSON: held by the proxy until its end (each call sees all it holds), then cut.
    ask(10);
    assert!(w.on_response_headers(&host, 10, answer("application/json", None)));
    assert_eq!(
        w.on_response_body(&host, 10, &LIST[..20], false),
        Emit::Hold
    );
    assert_eq!(
        w.on_response_body(&host, 10, LIST, true),
        Emit::Replace(want.clone())
    );
    assert!(!w.awaits_answer(10), "forgotten at the end");
    // An event stream: event by event.
    ask(11);
    assert!(w.on_response_headers(&host, 11, answer("text/event-stream", None)));
    let mut stream = b"event: message\ndata: ".to_vec();
    stream.extend_from_slice(LIST);
    stream.extend_from_slice(b"\n\n");
    let mut expected = b"event: message\ndata: ".to_vec();
    expected.extend_from_slice(&want);
    expected.extend_from_slice(b"\n\n");
    assert_eq!(
        w.on_response_body(&host, 11, &stream, false),
        Emit::Replace(expected)
    );
    assert_eq!(
        w.on_response_body(&host, 11, b"", true),
        Emit::Replace(vec![])
    );
    w.on_tick(&host);
    assert_eq!(host.counter("authgate.mcp.lists_cut"), 2);
    assert_eq!(host.counter("authgate.mcp.entries_hidden"), 2);
    // Not JSON: passed as it is, said once.
    ask(12);
    assert!(w.on_response_headers(&host, 12, answer("application/json", None)));
    assert_eq!(w.on_response_body(&host, 12, b"{oops", true), Emit::Pass);
    assert_eq!(
        host.lines_with("a tools/list answer passes uncut: the answer is not JSON")
            .len(),
        1
    );
    // Compressed: not watched, said at once. Trailers: what the proxy holds goes on uncut.
    ask(13);
    assert!(!w.on_response_headers(&host, 13, answer("application/json", Some("gzip"))));
    assert_eq!(
        host.lines_with("passes uncut: the answer is compressed")
            .len(),
        1
    );
    ask(14);
    assert!(w.on_response_headers(&host, 14, answer("application/json", None)));
    assert!(
        !w.needs_bytes(14),
        "a JSON answer is judged by its size until its end"
    );
    assert_eq!(w.on_response_progress(&host, 14, LIST.len()), Emit::Hold);
    assert_eq!(w.on_response_trailers(&host, 14, None), Emit::Pass);
    assert_eq!(
        host.lines_with("passes uncut: the answer ended with trailers")
            .len(),
        1
    );
    ask(17);
    assert!(w.on_response_headers(&host, 17, answer("application/json", None)));
    let cut = w.on_response_trailers(&host, 17, Some(LIST));
    assert_eq!(cut, Emit::Replace(want.clone()), "cut when in reach");
    // A JSON answer that says it is longer than the proxy can hold is let be.
    ask(18);
    let long = Answer {
        content_length: Some(crate::mcp::answer::MAX_JSON + 1),
        ..answer("application/json", None)
    };
    assert!(!w.on_response_headers(&host, 18, long));
    assert_eq!(
        host.lines_with("passes uncut: the answer is larger than authgate reads")
            .len(),
        1
    );
    w.on_tick(&host);
    assert_eq!(host.counter("authgate.mcp.lists_uncut"), 4);
    // An answer that is neither JSON nor a stream is not watched; a finished request is
    // forgotten.
    ask(15);
    assert!(!w.on_response_headers(&host, 15, answer("text/plain", None)));
    assert!(!w.awaits_answer(15));
    ask(16);
    w.on_request_done(&host, 16);
    assert!(!w.awaits_answer(16));
}

#[test]
fn a_body_that_never_comes_is_refused_with_a_line_that_says_why() {
    let host = FakeHost::default();
    let (w, bearer) = ready(&host);
    assert!(matches!(
        w.on_request_headers(&host, 20, post(&bearer)),
        Step::ReadBody
    ));
    host.advance(9_000);
    assert!(w.on_tick(&host).is_empty());
    host.advance(1_000);
    let released = w.on_tick(&host);
    let [(20, Verdict::Deny(d))] = &released[..] else {
        panic!("{released:?}")
    };
    assert_eq!(d.reply.status, 400);
    assert_eq!(
        host.lines_with("allow_on_headers_stop_iteration: true")
            .len(),
        1
    );
    assert!(!w.holds(20) && w.on_tick(&host).is_empty(), "decided once");
    assert!(!w.reads_body(20), "the adapter lets its body go on");
}

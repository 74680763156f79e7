//! The driver against the fake host and a recording [`Effects`], as table-driven cases: what
//! each hook returns and what it asked of the host, with no Envoy.

use super::*;
use crate::capabilities::fake::FakeHost;
use crate::providers::jwt::rfc_vectors::{A3_EC_X, A3_EC_Y, A3_JWS};
use crate::reply::Reply;

/// What the driver asked of the host.
#[derive(Default)]
struct Record {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    sent: Vec<Reply>,
    resumed: usize,
    can_wait: bool,
    bodies: [Vec<u8>; 2],
    replaced: Option<Vec<u8>>,
}

fn at(side: Side) -> usize {
    match side {
        Side::Request => 0,
        Side::Response => 1,
    }
}

impl Effects for Record {
    fn request_header(&self, name: &str) -> Option<String> {
        self.request
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> bool {
        self.request.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.request.push((name.into(), v.into()));
        }
        true
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.response
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
    fn add_response_header(&mut self, name: &str, value: &str) -> bool {
        self.response.push((name.into(), value.into()));
        true
    }
    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> bool {
        self.response.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.response.push((name.into(), v.into()));
        }
        true
    }
    fn send(&mut self, reply: &Reply) {
        self.sent.push(reply.clone());
    }
    fn resume(&mut self) {
        self.resumed += 1;
    }
    fn wait(&mut self) -> bool {
        self.can_wait
    }
    fn body_size(&self, side: Side) -> usize {
        self.bodies[at(side)].len()
    }
    fn body(&self, side: Side) -> Option<Vec<u8>> {
        Some(self.bodies[at(side)].clone())
    }
    fn replace_body(&mut self, _side: Side, _held: usize, bytes: &[u8]) -> bool {
        self.replaced = Some(bytes.to_vec());
        true
    }
    fn log(&self, _level: LogLevel, _line: &str) {}
}

fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> HeaderPairs {
    let mut h = vec![
        (":method".to_string(), method.as_bytes().to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
    ];
    h.extend(
        extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
    );
    HeaderPairs(h)
}

const KEYS: &str = r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}}}"#;

fn remote(rules: Option<serde_json::Value>) -> Vec<u8> {
    let mut c = serde_json::json!({"providers": {"idp": {"type": "jwt", "issuer": "joe",
        "remote_jwks": {"uri": "https://idp.test/keys", "cluster": "idp", "timeout_ms": 500}}}});
    if let Some(r) = rules {
        c["rules"] = r;
    }
    c.to_string().into_bytes()
}

fn jwks() -> Vec<u8> {
    serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]})
        .to_string()
        .into_bytes()
}

/// (name, configuration, headers, the host can wait, flow, status sent)
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    &'a [(&'a str, &'a str)],
    bool,
    Flow,
    Option<u16>,
);

#[test]
fn request_headers_each_step_as_the_host_sees_it() {
    let cases: [Case; 5] = [
        (
            "allowed",
            Some(KEYS),
            &[("x-api-key", "k-1")],
            false,
            Flow::Continue,
            None,
        ),
        (
            "refused",
            Some(KEYS),
            &[("x-api-key", "nope")],
            false,
            Flow::Stop,
            Some(401),
        ),
        ("unconfigured", None, &[], false, Flow::Stop, Some(500)),
        (
            "unconfigured gRPC call",
            None,
            &[("content-type", "application/grpc")],
            false,
            Flow::Stop,
            Some(500),
        ),
        (
            "allowed where the host could wait",
            Some(KEYS),
            &[("x-api-key", "k-1")],
            true,
            Flow::Continue,
            None,
        ),
    ];
    for (name, config, headers, can_wait, flow, status) in cases {
        let host = FakeHost::default();
        let w = Worker::default();
        if let Some(c) = config {
            w.configure(&host, c.as_bytes());
        }
        let mut fx = Record {
            can_wait,
            request: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Record::default()
        };
        let s = Stream::new(1);
        let got = s.request_headers(&w, &host, request("GET", "/", headers), true, &mut fx);
        assert_eq!(got, flow, "{name}");
        assert_eq!(fx.sent.first().map(|r| r.status), status, "{name}");
        if name.starts_with("unconfigured gRPC") {
            assert!(fx.sent[0].grpc.is_some(), "{name}: a gRPC status");
        }
    }
}

#[test]
fn a_held_request_waits_only_where_the_host_can_wake_it_and_resumes_once() {
    let bearer = format!("Bearer {A3_JWS}");
    for can_wait in [false, true] {
        let host = FakeHost::default();
        host.now.set(1_300_819_300_000);
        let w = Worker::default();
        w.configure(&host, &remote(None));
        let mut fx = Record {
            can_wait,
            ..Record::default()
        };
        let s = Stream::new(7);
        let flow = s.request_headers(
            &w,
            &host,
            request("GET", "/", &[("authorization", &bearer)]),
            true,
            &mut fx,
        );
        if !can_wait {
            assert_eq!(
                (flow, fx.sent[0].status),
                (Flow::Stop, 500),
                "no way to wait: closed"
            );
            continue;
        }
        assert_eq!((flow, fx.sent.len()), (Flow::Stop, 0), "{:?}", fx.sent);
        assert_eq!(
            s.request_body(&w, &host, false, &mut fx),
            Flow::Buffer,
            "held: the body waits too"
        );
        assert_eq!(s.request_trailers(&w, &host, &mut fx), Flow::Stop);
        assert!(w.on_tick(&host).is_empty(), "the tick fetches the keys");
        let token = host.calls.borrow()[0].token;
        let decided = w.on_http_call_response(&host, (token, None), Some("200"), &jwks());
        assert_eq!(w.park(decided), [7]);
        assert!(w.holds(7), "parked until carried out");
        assert!(s.resume(&w, &host, &mut fx));
        assert_eq!(fx.resumed, 1);
        assert!(!w.holds(7));
        assert!(!s.resume(&w, &host, &mut fx), "once");
        // A verdict parked for a request that ends first goes with it.
        let s = Stream::new(8);
        let flow = s.request_headers(
            &w,
            &host,
            request("GET", "/", &[("authorization", "Bearer x.y.z")]),
            true,
            &mut fx,
        );
        assert_eq!(flow, Flow::Stop, "a malformed token is refused at once");
        w.park(vec![(
            9,
            crate::engine::Verdict::Answer(Box::new(crate::reply::internal_error(false))),
        )]);
        assert!(w.holds(9));
        w.on_request_done(&host, 9);
        assert!(!w.holds(9) && w.take_parked(9).is_none());
        assert_eq!(fx.resumed, 1);
    }
}

#[test]
fn a_body_is_buffered_until_whole_and_read_once_within_the_limit() {
    let host = FakeHost::default();
    host.now.set(1_300_819_300_000);
    let w = Worker::default();
    let rules = serde_json::json!([{"match": {"prefix": "/", "mcp": {"tools": ["delete_*"]}}, "requires": "idp"}]);
    w.configure(&host, &remote(Some(rules)));
    let mut fx = Record {
        can_wait: true,
        ..Record::default()
    };
    let s = Stream::new(3);
    let post = request("POST", "/mcp", &[("content-type", "application/json")]);
    assert_eq!(
        s.request_headers(&w, &host, post, false, &mut fx),
        Flow::Stop
    );
    fx.bodies[0] =
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"}}"#
            .to_vec();
    assert_eq!(
        s.request_body(&w, &host, false, &mut fx),
        Flow::Buffer,
        "not whole yet"
    );
    // Whole: the call the rule names, with no token.
    assert_eq!(s.request_body(&w, &host, true, &mut fx), Flow::Stop);
    let statuses: Vec<u16> = fx.sent.drain(..).map(|r| r.status).collect();
    assert_eq!(statuses, [401]);
    assert_eq!(
        s.request_body(&w, &host, true, &mut fx),
        Flow::Continue,
        "read once"
    );

    let s = Stream::new(4);
    let post = request("POST", "/mcp", &[("content-type", "application/json")]);
    assert_eq!(
        s.request_headers(&w, &host, post, false, &mut fx),
        Flow::Stop
    );
    fx.bodies[0] = vec![b' '; MAX_BODY + 1];
    assert_eq!(
        s.request_body(&w, &host, false, &mut fx),
        Flow::Stop,
        "over the limit: read as unreadable, refused"
    );
    assert!(!fx.sent.is_empty());
}

#[test]
fn an_answer_gets_the_headers_its_verdict_gave_and_only_a_watched_body_is_read() {
    let host = FakeHost::default();
    let w = Worker::default();
    w.configure(&host, KEYS.as_bytes());
    let mut fx = Record::default();
    let s = Stream::new(1);
    s.request_headers(
        &w,
        &host,
        request("GET", "/", &[("x-api-key", "k-1")]),
        true,
        &mut fx,
    );
    fx.response.push(("content-length".into(), "5".into()));
    assert_eq!(s.response_headers(&w, &host, &mut fx), Flow::Continue);
    assert_eq!(
        fx.response_header("content-length").as_deref(),
        Some("5"),
        "not a list answer: untouched"
    );
    fx.bodies[1] = b"hello".to_vec();
    assert_eq!(s.response_body(&w, &host, true, &mut fx), Flow::Continue);
    assert_eq!(s.response_trailers(&w, &host, &mut fx), Flow::Continue);
    assert!(fx.replaced.is_none());
    s.done(&w, &host);
}

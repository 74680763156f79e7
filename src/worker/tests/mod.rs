//! A worker's events against the fake host: configuration, counting and audit lines, the
//! summary from the tick, throttling across workers, requests held for a remote key set and
//! released by the answer or by the timeout.

use super::*;
use crate::capabilities::fake::FakeHost;
use crate::providers::jwt::rfc_vectors::{A3_EC_X, A3_EC_Y, A3_JWS};

/// RFC 7515 §A.3's token is valid at this time.
const RFC_NOW_MS: u64 = 1_300_819_300_000;

fn headers(path: &str, h: &[(&str, &str)]) -> HeaderPairs {
    let mut all = vec![
        (":method".to_string(), b"GET".to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
    ];
    all.extend(
        h.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
    );
    HeaderPairs(all)
}

const KEYS: &str = r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}},
    "audit_lines_per_second": 2, "throttle": {"max_failures": 3, "window_seconds": 60}}"#;

fn status(step: &Step) -> u16 {
    match step {
        Step::Decided(Verdict::Allow(_)) => 200,
        Step::Decided(Verdict::Deny(d)) => d.reply.status,
        _ => 0,
    }
}

#[test]
fn a_refused_configuration_is_one_line_and_no_tick() {
    let host = FakeHost::default();
    let w = Worker::default();
    assert_eq!(w.configure(&host, br#"{"providers": {"p": {"type": "api_key", "credentials": [{"client": "c", "kye": "s"}]}}}"#), None);
    assert_eq!(
        host.lines_with("invalid configuration"),
        ["authgate: invalid configuration: providers.p.credentials[0].kye: unknown field `kye`, expected one of `client`, `key`, `key_sha256`"]
    );
    assert!(matches!(
        w.on_request_headers(&host, 1, headers("/", &[])),
        Step::Unconfigured
    ));
    assert_eq!(w.configure(&host, KEYS.as_bytes()), Some(METRICS_TICK_MS));
}

#[test]
fn counters_reach_the_host_on_the_tick_and_audit_lines_are_limited() {
    let host = FakeHost::default();
    let w = Worker::default();
    w.configure(&host, KEYS.as_bytes());
    assert_eq!(
        status(&w.on_request_headers(&host, 1, headers("/", &[("x-api-key", "k-1")]))),
        200
    );
    for id in 2..6 {
        host.client.replace(format!("10.0.0.{id}:1"));
        assert_eq!(
            status(&w.on_request_headers(&host, id, headers("/", &[]))),
            401
        );
    }
    assert_eq!(host.counter("authgate.denied"), 0, "not before the tick");
    assert!(w.on_tick(&host).is_empty());
    assert_eq!(host.counter("authgate.allowed"), 1);
    assert_eq!(host.counter("authgate.denied.missing_credentials"), 4);
    assert_eq!(host.counter("authgate.audit.suppressed"), 2);
    assert_eq!(host.lines_with("authgate: denied").len(), 2);
    host.advance(1_000);
    w.on_tick(&host);
    assert_eq!(
        host.lines_with("2 audit lines left out").len(),
        1,
        "from the tick, no request needed"
    );
}

#[test]
fn throttling_is_shared_by_workers() {
    let a = FakeHost::default();
    let b = FakeHost::with_store(a.store.clone());
    let (wa, wb) = (Worker::default(), Worker::default());
    wa.configure(&a, KEYS.as_bytes());
    wb.configure(&b, KEYS.as_bytes());
    let wrong = || headers("/", &[("x-api-key", "nope")]);
    for (n, (w, h)) in [(&wa, &a), (&wb, &b), (&wa, &a)].into_iter().enumerate() {
        assert_eq!(status(&w.on_request_headers(h, n as u32, wrong())), 401);
    }
    let Step::Decided(Verdict::Deny(d)) =
        wb.on_request_headers(&b, 9, headers("/", &[("x-api-key", "k-1")]))
    else {
        panic!("throttled")
    };
    assert_eq!((d.reply.status, d.rule.as_str()), (429, "throttle"));
    b.client.replace("10.9.9.9:1".into());
    assert_eq!(
        status(&wb.on_request_headers(&b, 10, headers("/", &[("x-api-key", "k-1")]))),
        200,
        "another address"
    );
}

fn remote() -> Vec<u8> {
    serde_json::json!({"providers": {"idp": {"type": "jwt", "issuer": "joe",
        "remote_jwks": {"uri": "https://idp.test/keys", "cluster": "idp", "timeout_ms": 500}}},
        "log_allowed": true})
    .to_string()
    .into_bytes()
}

fn jwks() -> Vec<u8> {
    serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]})
        .to_string()
        .into_bytes()
}

#[test]
fn a_request_held_for_keys_is_released_by_their_arrival() {
    let host = FakeHost::default();
    host.now.set(RFC_NOW_MS);
    let w = Worker::default();
    assert_eq!(w.configure(&host, &remote()), Some(TICK_MS));
    let bearer = format!("Bearer {A3_JWS}");
    assert!(matches!(
        w.on_request_headers(&host, 7, headers("/", &[("authorization", &bearer)])),
        Step::Held
    ));
    assert!(w.on_tick(&host).is_empty(), "still waiting");
    let token = host.calls.borrow()[0].token;
    let released = w.on_http_call_response(&host, (token, None), Some("200"), &jwks());
    assert_eq!(released.len(), 1);
    assert!(matches!(&released[0], (7, Verdict::Allow(_))));
    assert_eq!(host.counter("authgate.held"), 1);
    assert_eq!(host.counter("authgate.jwks.idp.fetch_ok"), 1);
    assert_eq!(host.lines_with("authgate: allowed").len(), 1);
    assert!(
        host.lines_with("client=\"10.0.0.1:4000\"").len() == 1,
        "the address read when it was held"
    );
}

#[test]
fn keys_are_awaited_until_they_arrive() {
    let host = FakeHost::default();
    host.now.set(RFC_NOW_MS);
    let w = Worker::default();
    assert_eq!(
        w.keys_awaited(),
        None,
        "no configuration, nothing to wait for"
    );
    w.configure(&host, &remote());
    assert_eq!(w.keys_awaited(), Some((1, 500)));
    w.on_tick(&host);
    let token = host.calls.borrow()[0].token;
    w.on_http_call_response(&host, (token, None), Some("200"), &jwks());
    assert_eq!(w.keys_awaited(), None);
    let local = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}}}"#;
    w.configure(&host, local);
    assert_eq!(w.keys_awaited(), None, "no remote key set");
}

#[test]
fn a_request_held_too_long_is_refused_and_a_finished_one_forgotten() {
    let host = FakeHost::default();
    host.now.set(RFC_NOW_MS);
    let w = Worker::default();
    w.configure(&host, &remote());
    let bearer = format!("Bearer {A3_JWS}");
    let held = |id| w.on_request_headers(&host, id, headers("/", &[("authorization", &bearer)]));
    assert!(matches!(held(1), Step::Held));
    assert!(matches!(held(2), Step::Held));
    w.on_request_done(&host, 2);
    host.advance(500);
    assert!(
        w.on_tick(&host).is_empty(),
        "the key set's timeout and a tick's room"
    );
    host.advance(501);
    let released = w.on_tick(&host);
    assert_eq!(
        released.len(),
        1,
        "the finished request is not decided again"
    );
    let (1, Verdict::Deny(d)) = &released[0] else {
        panic!("{released:?}")
    };
    assert_eq!(d.reply.status, 401);
    assert!(d
        .reply
        .body
        .contains("the signing keys could not be fetched in time"));
}

mod exchange;
mod introspection;
mod mcp;
mod sign_in;

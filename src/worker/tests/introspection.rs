//! Requests held for an introspection answer: released by the answer on the worker that
//! called and on the others, refused 503 when the service fails or is too slow, counted.

use super::*;
use crate::providers::introspection::endpoint::BACKOFF_SECONDS;

const T0: u64 = 1_700_000_000_000;
const CONFIG: &str = r#"{"providers": {"opaque": {"type": "introspection",
    "endpoint": "http://idp.local/introspect", "cluster": "idp", "client_id": "authgate",
    "client_secret_env": "IDP_SECRET", "timeout_ms": 300}},
    "throttle": {"max_failures": 2, "window_seconds": 60}}"#;

fn worker(store: Option<crate::capabilities::fake::Store>) -> (FakeHost, Worker) {
    let host = store.map_or_else(FakeHost::default, FakeHost::with_store);
    host.now.set(T0);
    host.env
        .borrow_mut()
        .push(("IDP_SECRET".into(), "hunter2".into()));
    let w = Worker::default();
    assert_eq!(w.configure(&host, CONFIG.as_bytes()), Some(TICK_MS));
    (host, w)
}

fn bearer(t: &str) -> HeaderPairs {
    headers("/", &[("authorization", &format!("Bearer {t}"))])
}

fn statuses(released: &[(u32, Verdict)]) -> Vec<(u32, u16)> {
    released
        .iter()
        .map(|(id, d)| (*id, status(&Step::Decided(d.clone()))))
        .collect()
}

#[test]
fn held_requests_on_every_worker_are_released_by_one_answer() {
    let (a, wa) = worker(None);
    let (b, wb) = worker(Some(a.store.clone()));
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer("t1")),
        Step::Held
    ));
    assert!(matches!(
        wa.on_request_headers(&a, 2, bearer("t1")),
        Step::Held
    ));
    assert!(matches!(
        wb.on_request_headers(&b, 3, bearer("t1")),
        Step::Held
    ));
    assert_eq!(
        a.calls.borrow().len() + b.calls.borrow().len(),
        1,
        "one call"
    );
    let call = a.calls.borrow()[0].token;
    let answer = br#"{"active": true, "sub": "alice"}"#;
    let released = wa.on_http_call_response(&a, (call, Some(1)), Some("200"), answer);
    assert_eq!(statuses(&released), [(1, 200), (2, 200)]);
    assert_eq!(statuses(&wb.on_tick(&b)), [(3, 200)]);
    // Later requests are answered from the kept answer, without holding.
    assert_eq!(status(&wb.on_request_headers(&b, 4, bearer("t1"))), 200);
    wa.on_tick(&a);
    wb.on_tick(&b);
    assert_eq!(a.counter("authgate.introspection.opaque.calls"), 1);
    assert_eq!(a.counter("authgate.introspection.opaque.active"), 1);
    assert_eq!(b.counter("authgate.introspection.opaque.shared"), 1);
    assert_eq!(b.counter("authgate.cache.introspection.hit"), 2);
}

#[test]
fn a_failed_call_is_a_503_for_everyone_waiting_and_counts_no_failure() {
    let (a, wa) = worker(None);
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer("t1")),
        Step::Held
    ));
    let call = a.calls.borrow()[0].token;
    let released = wa.on_http_call_response(&a, (call, Some(1)), Some("502"), b"");
    assert_eq!(statuses(&released), [(1, 503)]);
    // During the back-off a new token is answered at once, with no call.
    assert_eq!(status(&wa.on_request_headers(&a, 2, bearer("t2"))), 503);
    assert_eq!(status(&wa.on_request_headers(&a, 3, bearer("t3"))), 503);
    assert_eq!(a.calls.borrow().len(), 1);
    wa.on_tick(&a);
    assert_eq!(a.counter("authgate.denied.temporarily_unavailable"), 3);
    assert_eq!(a.counter("authgate.introspection.opaque.failed"), 1);
    // A 503 says nothing about the client: the throttle (2 failures) did not start.
    a.advance(BACKOFF_SECONDS * 1000 + 1);
    assert!(matches!(
        wa.on_request_headers(&a, 4, bearer("t4")),
        Step::Held
    ));
}

#[test]
fn a_request_waits_no_longer_than_the_timeout() {
    let (a, wa) = worker(None);
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer("t1")),
        Step::Held
    ));
    a.advance(300);
    assert!(
        wa.on_tick(&a).is_empty(),
        "the call's own timeout answers first"
    );
    a.advance(500);
    assert_eq!(statuses(&wa.on_tick(&a)), [(1, 503)]);
}

#[test]
fn inactive_tokens_count_towards_the_throttle_when_released() {
    let (a, wa) = worker(None);
    *a.client.borrow_mut() = "10.0.0.7:4000".into();
    for (id, t) in [(1, "x1"), (2, "x2")] {
        assert!(matches!(
            wa.on_request_headers(&a, id, bearer(t)),
            Step::Held
        ));
        let call = a.calls.borrow().last().unwrap().token;
        let released =
            wa.on_http_call_response(&a, (call, Some(id)), Some("200"), br#"{"active": false}"#);
        assert_eq!(statuses(&released), [(id, 401)]);
    }
    assert_eq!(status(&wa.on_request_headers(&a, 3, bearer("x3"))), 429);
}

#[test]
fn a_call_lost_with_its_request_is_made_again_for_those_still_waiting() {
    let (a, wa) = worker(None);
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer("t1")),
        Step::Held
    ));
    assert!(matches!(
        wa.on_request_headers(&a, 2, bearer("t1")),
        Step::Held
    ));
    // Request 1's client goes away: the call its context made will never be answered.
    wa.on_request_done(&a, 1);
    assert!(wa.on_tick(&a).is_empty());
    let calls = a.calls.borrow().iter().map(|c| c.token).collect::<Vec<_>>();
    assert_eq!(
        calls.len(),
        2,
        "the tick made the call again, from the worker's own context"
    );
    let answer = br#"{"active": true, "sub": "alice"}"#;
    let released = wa.on_http_call_response(&a, (calls[1], None), Some("200"), answer);
    assert_eq!(statuses(&released), [(2, 200)]);
}

//! The fetch schedule across workers, against the fake host: one lease, one fetch, every
//! worker installs the result; a lost compare-and-swap means no second fetch; failures keep
//! the last good keys and retry once the lease lapses.

use super::*;
use crate::capabilities::fake::FakeHost;
use crate::providers::jwt::rfc_vectors::{A3_EC_X, A3_EC_Y};

fn engine() -> Engine {
    let json = serde_json::json!({"providers": {"idp": {"type": "jwt", "issuer": "joe",
        "remote_jwks": {"uri": "https://idp.test/keys", "cluster": "idp", "timeout_ms": 500}}}});
    Engine::from_json(json.to_string().as_bytes(), [3; 32]).unwrap()
}

fn body() -> Vec<u8> {
    serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]})
        .to_string()
        .into_bytes()
}

struct Worker {
    host: FakeHost,
    engine: Engine,
    fetches: JwksFetches,
}

fn workers() -> (Worker, Worker) {
    let a = FakeHost::default();
    let b = FakeHost::with_store(a.store.clone());
    let (a, b) = (
        Worker {
            host: a,
            engine: engine(),
            fetches: JwksFetches::default(),
        },
        Worker {
            host: b,
            engine: engine(),
            fetches: JwksFetches::default(),
        },
    );
    a.fetches.configure(&a.host, &a.engine);
    b.fetches.configure(&b.host, &b.engine);
    (a, b)
}

fn has_keys(w: &Worker) -> bool {
    w.engine.remote_jwks().all(|(_, _, r)| r.keys().is_some())
}

#[test]
fn one_lease_one_fetch_every_worker_installs() {
    let (a, b) = workers();
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    b.fetches.sync_and_fetch(&b.host, &b.engine);
    assert_eq!(a.host.calls.borrow().len(), 1);
    assert_eq!(b.host.calls.borrow().len(), 0, "the lease is taken");
    let call = a.host.calls.borrow()[0].clone();
    assert_eq!(call.cluster, "idp");
    assert!(call.headers.contains(&(":path".into(), "/keys".into())));
    assert!(call
        .headers
        .contains(&(":authority".into(), "idp.test".into())));
    let got = a
        .fetches
        .on_response(&a.host, &a.engine, call.token, Some("200"), &body());
    assert_eq!(
        got,
        Some(Fetched {
            provider: 0,
            ok: true
        })
    );
    assert!(has_keys(&a) && !has_keys(&b));
    b.fetches.sync_and_fetch(&b.host, &b.engine);
    assert!(has_keys(&b), "installed from shared data");
    assert_eq!(b.host.calls.borrow().len(), 0, "without a fetch of its own");
    assert_eq!(
        a.fetches
            .on_response(&a.host, &a.engine, call.token, Some("200"), &body()),
        None
    );
}

#[test]
fn a_lease_lost_by_compare_and_swap_starts_no_fetch() {
    let (a, b) = workers();
    let store = a.host.store.clone();
    // Worker a takes the lease between b's read and b's write.
    let lease = shared_key("lease", "https://idp.test/keys", "idp");
    *b.host.before_next_cas.borrow_mut() = Some(Box::new(move |_| {
        FakeHost::write_as_other(&store, &lease, b"99999999999999");
    }));
    b.fetches.sync_and_fetch(&b.host, &b.engine);
    assert_eq!(b.host.calls.borrow().len(), 0);
}

#[test]
fn a_failed_fetch_keeps_the_last_keys_and_retries_after_the_lease() {
    let (a, _) = workers();
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    let first = a.host.calls.borrow()[0].token;
    a.fetches
        .on_response(&a.host, &a.engine, first, Some("200"), &body());
    // Past the cache duration (600 s): a refresh is due, and the server fails.
    a.host.advance(601_000);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    let second = a.host.calls.borrow()[1].token;
    let got = a
        .fetches
        .on_response(&a.host, &a.engine, second, Some("500"), b"oops");
    assert_eq!(
        got,
        Some(Fetched {
            provider: 0,
            ok: false
        })
    );
    assert!(has_keys(&a), "last good keys kept");
    assert_eq!(
        a.host
            .lines_with("failed: HTTP status 500; keeping the last good key set")
            .len(),
        1
    );
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(
        a.host.calls.borrow().len(),
        2,
        "the lease spaces out retries"
    );
    a.host.advance(1_501);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(
        a.host.calls.borrow().len(),
        3,
        "retried once the lease lapsed"
    );
    let third = a.host.calls.borrow()[2].token;
    a.fetches.on_response(&a.host, &a.engine, third, None, b"");
    assert_eq!(
        a.host
            .lines_with("no response (timeout or connection failure)")
            .len(),
        1
    );
}

#[test]
fn a_call_that_cannot_be_dispatched_is_logged() {
    let (a, _) = workers();
    a.host.dispatch_fails.set(true);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(
        a.host
            .lines_with("cannot call cluster idp for the JWKS")
            .len(),
        1
    );
}

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
    a.fetches.configure();
    b.fetches.configure();
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
fn a_failed_first_fetch_is_tried_again_a_second_later() {
    let (a, _) = workers();
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    let first = a.host.calls.borrow()[0].token;
    a.fetches.on_response(&a.host, &a.engine, first, None, b"");
    a.host.advance(999);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(a.host.calls.borrow().len(), 1, "not before a second");
    a.host.advance(2);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(
        a.host.calls.borrow().len(),
        2,
        "a second later, not a whole lease"
    );
}

#[test]
fn a_call_lost_without_an_answer_does_not_stop_fetching() {
    // Envoy cancels a call whose context ended, with no answer: after twice its timeout and a
    // second it is given up, and the next fetch can start.
    let (a, _) = workers();
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(a.host.calls.borrow().len(), 1);
    a.host.advance(601_000);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(
        a.host.calls.borrow().len(),
        2,
        "the lost call no longer counts as in flight"
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
    // At Envoy's start a cluster may refuse calls for a moment: tried again a second later,
    // not a whole lease (2.5 s) later.
    a.host.dispatch_fails.set(false);
    a.host.advance(1_001);
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    assert_eq!(a.host.calls.borrow().len(), 1);
}

fn discovering(issuer: &str) -> Engine {
    let json = serde_json::json!({"providers": {"idp": {"type": "jwt", "issuer": issuer,
        "discovery": {"cluster": "idp", "jwks_cluster": "keys", "timeout_ms": 500}}}});
    Engine::from_json(json.to_string().as_bytes(), [3; 32]).unwrap()
}

fn metadata(issuer: &str, jwks_uri: &str) -> Vec<u8> {
    serde_json::json!({"issuer": issuer, "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{issuer}/auth")})
    .to_string()
    .into_bytes()
}

fn last_call(w: &Worker) -> crate::capabilities::fake::Recorded {
    w.host.calls.borrow().last().unwrap().clone()
}

/// OpenID Connect Discovery first; on 404 the RFC 8414 form; the `jwks_uri` it names is then
/// fetched through `jwks_cluster`, and another worker adopts both without fetching.
#[test]
fn discovery_finds_the_key_set_for_every_worker() {
    let issuer = "https://idp.test/realms/main";
    let a = FakeHost::default();
    let b = FakeHost::with_store(a.store.clone());
    let (a, b) = (
        Worker {
            host: a,
            engine: discovering(issuer),
            fetches: JwksFetches::default(),
        },
        Worker {
            host: b,
            engine: discovering(issuer),
            fetches: JwksFetches::default(),
        },
    );
    a.fetches.configure();
    b.fetches.configure();
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    let oidc = last_call(&a);
    assert_eq!(oidc.cluster, "idp");
    assert!(oidc.headers.contains(&(
        ":path".into(),
        "/realms/main/.well-known/openid-configuration".into()
    )));
    assert_eq!(
        a.fetches
            .on_response(&a.host, &a.engine, oidc.token, Some("404"), b""),
        None
    );
    let rfc8414 = last_call(&a);
    assert!(rfc8414.headers.contains(&(
        ":path".into(),
        "/.well-known/oauth-authorization-server/realms/main".into()
    )));
    let doc = metadata(issuer, "https://keys.idp.test/jwks");
    a.fetches
        .on_response(&a.host, &a.engine, rfc8414.token, Some("200"), &doc);
    assert_eq!(
        a.host
            .lines_with("discovered jwks_uri https://keys.idp.test/jwks")
            .len(),
        1
    );
    a.fetches.sync_and_fetch(&a.host, &a.engine);
    let keys = last_call(&a);
    assert_eq!(keys.cluster, "keys");
    assert!(keys
        .headers
        .contains(&(":authority".into(), "keys.idp.test".into())));
    a.fetches
        .on_response(&a.host, &a.engine, keys.token, Some("200"), &body());
    assert!(has_keys(&a));
    b.fetches.sync_and_fetch(&b.host, &b.engine);
    assert!(
        has_keys(&b) && b.host.calls.borrow().is_empty(),
        "adopted, not fetched"
    );
    // The whole document goes to every worker, for the providers that read more of it.
    let (_, _, remote) = b.engine.remote_jwks().next().unwrap();
    assert_eq!(
        remote.document().unwrap()["authorization_endpoint"],
        "https://idp.test/realms/main/auth"
    );
}

/// The most common discovery failure, a trailing slash, is named in the log with both
/// issuers; the last good `jwks_uri` and keys stay.
#[test]
fn an_issuer_mismatch_is_refused_with_both_names() {
    let issuer = "https://idp.test";
    let w = Worker {
        host: FakeHost::default(),
        engine: discovering(issuer),
        fetches: JwksFetches::default(),
    };
    w.fetches.configure();
    w.fetches.sync_and_fetch(&w.host, &w.engine);
    let call = last_call(&w);
    let got = w.fetches.on_response(
        &w.host,
        &w.engine,
        call.token,
        Some("200"),
        &metadata("https://idp.test/", "https://idp.test/jwks"),
    );
    assert_eq!(
        got,
        Some(Fetched {
            provider: 0,
            ok: false
        })
    );
    let line = &w.host.lines_with("discovery from")[0];
    assert!(
        line.contains("\"https://idp.test/\"") && line.contains("\"https://idp.test\""),
        "{line}"
    );
    assert!(w.engine.remote_jwks().all(|(_, _, r)| r.target().is_none()));
    // http jwks_uri for an https issuer: refused too.
    w.host.advance(3_000);
    w.fetches.sync_and_fetch(&w.host, &w.engine);
    let call = last_call(&w);
    w.fetches.on_response(
        &w.host,
        &w.engine,
        call.token,
        Some("200"),
        &metadata(issuer, "http://idp.test/jwks"),
    );
    assert_eq!(w.host.lines_with("is not https").len(), 1);
}

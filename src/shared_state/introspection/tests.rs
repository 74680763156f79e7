//! Shared answers against the fake host: one call per token for every worker, waiting
//! instead of calling twice, slots that never mix two tokens, and the back-off after a
//! failure. The secret and the token never reach a log line.

use super::*;
use crate::capabilities::fake::FakeHost;
use crate::shared_state::audit_key;

const CONFIG: &str = r#"{"providers": {"opaque": {"type": "introspection",
    "endpoint": "http://idp.local/introspect", "cluster": "idp", "client_id": "authgate",
    "client_secret": "hunter2", "timeout_ms": 500}}}"#;
const T0: u64 = 1_700_000_000_000;

/// A worker: its host (sharing `store` with the others), engine and introspections.
fn worker(
    store: Option<crate::capabilities::fake::Store>,
    seed: u8,
) -> (FakeHost, Engine, Introspections) {
    let host = store.map_or_else(FakeHost::default, FakeHost::with_store);
    host.now.set(T0);
    let engine = Engine::from_json(CONFIG.as_bytes(), [seed; 32]).unwrap();
    audit_key::sync(&host, &engine);
    (host, engine, Introspections::default())
}

fn tok(s: &str) -> Credential {
    Credential::new(s)
}

#[test]
fn two_workers_make_one_call_and_share_its_answer() {
    let (a, ea, ia) = worker(None, 1);
    let (b, eb, ib) = worker(Some(a.store.clone()), 2);
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
    assert_eq!(a.calls.borrow().len(), 1);
    // The same token again, on this worker and on the other: both wait for that call.
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Waiting, None)
    );
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t1")), None),
        (Lookup::Waiting, None)
    );
    assert!(
        b.calls.borrow().is_empty(),
        "the lease keeps the other worker from calling"
    );
    let call = a.calls.borrow()[0].token;
    let answer = br#"{"active": true, "sub": "alice"}"#;
    assert_eq!(
        ia.on_response(&a, &ea, call, Some("200"), answer),
        Some(Event::Answered(0, true))
    );
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t1")), None),
        (Lookup::Installed, Some(Event::Shared(0)))
    );
    assert!(b.calls.borrow().is_empty());
    // A different token is a different call.
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t2")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
    // Nothing in shared data holds a token.
    for (k, (v, _)) in a.store.borrow().iter() {
        let v = String::from_utf8_lossy(v);
        assert!(
            !k.contains("t1") && !v.contains("t1") && !v.contains("hunter2"),
            "{k}"
        );
    }
}

#[test]
fn the_call_posts_the_token_with_client_authentication() {
    let (a, ea, ia) = worker(None, 1);
    ia.lookup(&a, &ea, (0, &tok("a+b")), None);
    let calls = a.calls.borrow();
    let c = &calls[0];
    assert_eq!(c.cluster, "idp");
    assert_eq!(c.timeout_ms, 500);
    assert_eq!(
        c.body.as_deref(),
        Some(&b"token=a%2Bb&token_type_hint=access_token"[..])
    );
    let h = |k: &str| {
        c.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h(":method"), Some("POST"));
    assert_eq!(h(":path"), Some("/introspect"));
    assert_eq!(h(":authority"), Some("idp.local"));
    assert_eq!(h("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(h("authorization"), Some("Basic YXV0aGdhdGU6aHVudGVyMg=="));
}

#[test]
fn a_failure_backs_off_then_the_service_is_asked_again() {
    let (a, ea, ia) = worker(None, 1);
    let (b, eb, ib) = worker(Some(a.store.clone()), 2);
    ia.lookup(&a, &ea, (0, &tok("t1")), None);
    let call = a.calls.borrow()[0].token;
    assert_eq!(
        ia.on_response(&a, &ea, call, None, b""),
        Some(Event::Failed(0))
    );
    let line = a.lines_with("introspection at http://idp.local/introspect (cluster idp) failed");
    assert_eq!(line.len(), 1);
    assert!(line[0].contains("no response") && !line[0].contains("t1"));
    // Every worker answers new tokens at once, without a call, during the back-off.
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t2")), None),
        (Lookup::Unavailable, None)
    );
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Unavailable, None)
    );
    a.advance(BACKOFF_SECONDS * 1000 + 1);
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
    // Garbage is a failure too, and is never quoted in the log.
    let call = a.calls.borrow()[1].token;
    assert_eq!(
        ia.on_response(&a, &ea, call, Some("200"), b"<html>t1 hunter2</html>"),
        Some(Event::Failed(0))
    );
    for l in a.lines.borrow().iter() {
        assert!(!l.1.contains("t1") && !l.1.contains("hunter2"), "{}", l.1);
    }
}

#[test]
fn a_call_that_cannot_be_made_is_a_failure() {
    let (a, ea, ia) = worker(None, 1);
    a.dispatch_fails.set(true);
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Unavailable, Some(Event::Failed(0)))
    );
    assert_eq!(
        a.lines_with("cannot call cluster idp for introspection")
            .len(),
        1
    );
}

#[test]
fn a_slot_never_answers_for_another_token() {
    let (a, ea, ia) = worker(None, 1);
    ia.lookup(&a, &ea, (0, &tok("t1")), None);
    let call = a.calls.borrow()[0].token;
    ia.on_response(&a, &ea, call, Some("200"), br#"{"active": true}"#);
    // Another token's answer written over the slot (two tokens, one slot): t1 is asked again.
    let source = ea.config().providers[0]
        .check
        .introspection()
        .unwrap()
        .source();
    let hash = ea.shared_hash(source, "t1");
    let slot = key("answer", source, Some(slot_of(&hash)));
    let other = format!(
        "{}\n{}\n{{\"active\": true}}",
        T0 / 1000 + 60,
        "00".repeat(32)
    );
    FakeHost::write_as_other(&a.store, &slot, other.as_bytes());
    let (b, eb, ib) = worker(Some(a.store.clone()), 2);
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t1")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
}

#[test]
fn an_expired_shared_answer_is_not_used() {
    let (a, ea, ia) = worker(None, 1);
    ia.lookup(&a, &ea, (0, &tok("t1")), None);
    let call = a.calls.borrow()[0].token;
    ia.on_response(&a, &ea, call, Some("200"), br#"{"active": false}"#);
    let (b, eb, ib) = worker(Some(a.store.clone()), 2);
    b.advance(11_000);
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t1")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
}

const DISCOVERING: &str = r#"{"providers": {"opaque": {"type": "introspection",
    "discovery": {"timeout_ms": 400}, "issuer": "http://idp.local/realms/a", "cluster": "idp",
    "client_id": "authgate", "client_secret": "hunter2"}}}"#;

fn discovering_worker(
    store: Option<crate::capabilities::fake::Store>,
) -> (FakeHost, Engine, Introspections) {
    let host = store.map_or_else(FakeHost::default, FakeHost::with_store);
    host.now.set(T0);
    let engine = Engine::from_json(DISCOVERING.as_bytes(), [1; 32]).unwrap();
    audit_key::sync(&host, &engine);
    (host, engine, Introspections::default())
}

fn path_of(host: &FakeHost, n: usize) -> String {
    let calls = host.calls.borrow();
    let h = &calls[n].headers;
    h.iter()
        .find(|(k, _)| k == ":path")
        .map(|(_, v)| v.clone())
        .unwrap()
}

#[test]
fn the_endpoint_is_discovered_once_for_every_worker() {
    let (a, ea, ia) = discovering_worker(None);
    let (b, eb, ib) = discovering_worker(Some(a.store.clone()));
    // No endpoint yet: requests wait, and no introspection call is made.
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Waiting, None)
    );
    ia.sync(&a, &ea);
    ib.sync(&b, &eb);
    assert!(b.calls.borrow().is_empty(), "one worker reads the metadata");
    assert_eq!(path_of(&a, 0), "/realms/a/.well-known/openid-configuration");
    let first = a.calls.borrow()[0].token;
    assert_eq!(ia.on_response(&a, &ea, first, Some("404"), b""), None);
    assert_eq!(
        path_of(&a, 1),
        "/.well-known/oauth-authorization-server/realms/a"
    );
    let second = a.calls.borrow()[1].token;
    let metadata = br#"{"issuer": "http://idp.local/realms/a",
        "introspection_endpoint": "http://idp.local/realms/a/introspect"}"#;
    assert_eq!(
        ia.on_response(&a, &ea, second, Some("200"), metadata),
        Some(Event::Discovered(0, true))
    );
    assert_eq!(
        a.lines_with("discovered introspection_endpoint http://idp.local/realms/a/introspect")
            .len(),
        1
    );
    ib.sync(&b, &eb);
    assert_eq!(
        ib.lookup(&b, &eb, (0, &tok("t1")), None),
        (Lookup::Waiting, Some(Event::Called(0)))
    );
    assert_eq!(path_of(&b, 0), "/realms/a/introspect");
}

#[test]
fn a_metadata_document_for_another_issuer_is_refused() {
    let (a, ea, ia) = discovering_worker(None);
    ia.sync(&a, &ea);
    let first = a.calls.borrow()[0].token;
    let metadata = br#"{"issuer": "http://evil.local/realms/a",
        "introspection_endpoint": "http://evil.local/introspect"}"#;
    assert_eq!(
        ia.on_response(&a, &ea, first, Some("200"), metadata),
        Some(Event::Discovered(0, false))
    );
    assert_eq!(
        a.lines_with("keeping the last good introspection_endpoint")
            .len(),
        1
    );
    assert_eq!(
        ia.lookup(&a, &ea, (0, &tok("t1")), None),
        (Lookup::Waiting, None)
    );
}

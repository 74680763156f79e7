//! Token exchange (RFC 8693) as a worker does it: the request held for the call, the issued
//! token in place of the caller's, one call per token across workers, a refusal (403) and a
//! failing server (503) as the contract says, and issued tokens kept no longer than they live.

use super::*;
use crate::providers::jwt::tests::mint_hs;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
const KEY: [u8; 32] = [7; 32];

fn config(exchange: serde_json::Value) -> String {
    json!({
        "providers": {
            "idp": {"type": "jwt", "issuer": "https://idp.test",
                    "local_jwks": {"keys": [{"kty": "oct", "k": B64.encode(KEY)}]}},
            "keys": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}
        },
        "rules": [
            {"match": {"prefix": "/api"}, "requires": "idp", "token_exchange": exchange},
            {"match": {"prefix": "/"}, "requires": "keys"}
        ]
    })
    .to_string()
}

fn exchange() -> serde_json::Value {
    json!({"token_endpoint": "http://as.local/token", "cluster": "as", "client_id": "gw",
           "client_secret": "s3cret", "audience": "orders", "timeout_ms": 300})
}

/// A worker configured with `cfg` at `T0`, the VM's environment holding `env`; the
/// configuration must load (the failure shows the host's lines).
fn configured(cfg: &serde_json::Value, env: &[(&str, String)]) -> (FakeHost, Worker) {
    let host = FakeHost::default();
    host.now.set(T0);
    host.env
        .borrow_mut()
        .extend(env.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
    let w = Worker::default();
    assert!(
        w.configure(&host, cfg.to_string().as_bytes()).is_some(),
        "{:?}",
        host.lines_with("")
    );
    (host, w)
}

fn worker(store: Option<crate::capabilities::fake::Store>) -> (FakeHost, Worker) {
    let host = store.map_or_else(FakeHost::default, FakeHost::with_store);
    host.now.set(T0);
    let w = Worker::default();
    assert!(w.configure(&host, config(exchange()).as_bytes()).is_some());
    (host, w)
}

fn token(sub: &str) -> String {
    mint_hs(
        &KEY,
        json!({"alg": "HS256"}),
        json!({"iss": "https://idp.test", "sub": sub, "exp": T0 / 1000 + 3600}),
    )
}

fn bearer(t: &str) -> HeaderPairs {
    headers("/api/orders", &[("authorization", &format!("Bearer {t}"))])
}

fn issued(token: &str, expires_in: u64) -> Vec<u8> {
    json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
           "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
    .to_string()
    .into_bytes()
}

/// The `authorization` the upstream receives, or the refusal's status.
fn upstream_authorization(v: &Verdict) -> Result<Option<String>, u16> {
    match v {
        Verdict::Allow(a) => {
            let set = a.edits.set.iter().rev().find(|(n, _)| n == "authorization");
            let removed = a.edits.remove.iter().any(|n| n == "authorization");
            match set {
                Some((_, v)) => Ok(Some(v.clone())),
                None if removed => Ok(None),
                None => Ok(Some("<the caller's>".into())),
            }
        }
        Verdict::Deny(d) => Err(d.reply.status),
        Verdict::Answer(r) => Err(r.status),
    }
}

fn decided(step: Step) -> Verdict {
    match step {
        Step::Decided(v) => v,
        other => panic!("not decided: {other:?}"),
    }
}

fn answer(host: &FakeHost, w: &Worker, n: usize, status: &str, body: &[u8]) -> Vec<(u32, Verdict)> {
    let call = host.calls.borrow()[n].token;
    w.on_http_call_response(host, (call, None), Some(status), body)
}

#[test]
fn the_upstream_gets_the_issued_token_never_the_callers() {
    let (host, w) = worker(None);
    let caller = token("alice");
    assert!(matches!(
        w.on_request_headers(&host, 1, bearer(&caller)),
        Step::Held
    ));
    {
        let calls = host.calls.borrow();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].cluster, "as");
        let h = |n: &str| {
            calls[0]
                .headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h(":path").as_deref(), Some("/token"));
        assert_eq!(h(":authority").as_deref(), Some("as.local"));
        // RFC 6749 §2.3.1: gw:s3cret
        assert_eq!(h("authorization").as_deref(), Some("Basic Z3c6czNjcmV0"));
        let body = String::from_utf8(calls[0].body.clone().unwrap()).unwrap();
        assert_eq!(
            body,
            format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={caller}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=orders")
        );
    }
    let released = answer(&host, &w, 0, "200", &issued("for-orders", 300));
    assert_eq!(released.len(), 1);
    assert_eq!(
        upstream_authorization(&released[0].1),
        Ok(Some("Bearer for-orders".into()))
    );
    // Kept: the next request with that token is decided at once, without a call.
    let v = decided(w.on_request_headers(&host, 2, bearer(&caller)));
    assert_eq!(
        upstream_authorization(&v),
        Ok(Some("Bearer for-orders".into()))
    );
    assert_eq!(host.calls.borrow().len(), 1);
    // Another caller's token is another exchange.
    assert!(matches!(
        w.on_request_headers(&host, 3, bearer(&token("bob"))),
        Step::Held
    ));
    assert_eq!(host.calls.borrow().len(), 2);
    // A rule without token_exchange is untouched.
    let v = decided(w.on_request_headers(&host, 4, headers("/", &[("x-api-key", "k-1")])));
    assert!(matches!(v, Verdict::Allow(_)));
    w.on_tick(&host);
    assert_eq!(host.counter("authgate.exchange.calls"), 2);
    assert_eq!(host.counter("authgate.exchange.issued"), 1);
}

#[test]
fn two_workers_make_one_call_per_token_and_share_what_it_issued() {
    let (a, wa) = worker(None);
    let (b, wb) = worker(Some(a.store.clone()));
    let caller = token("alice");
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer(&caller)),
        Step::Held
    ));
    assert!(matches!(
        wb.on_request_headers(&b, 2, bearer(&caller)),
        Step::Held
    ));
    assert!(matches!(
        wb.on_request_headers(&b, 3, bearer(&caller)),
        Step::Held
    ));
    assert_eq!(
        a.calls.borrow().len() + b.calls.borrow().len(),
        1,
        "one call"
    );
    assert_eq!(answer(&a, &wa, 0, "200", &issued("shared-1", 300)).len(), 1);
    let released = wb.on_tick(&b);
    assert_eq!(released.len(), 2);
    for (_, v) in &released {
        assert_eq!(
            upstream_authorization(v),
            Ok(Some("Bearer shared-1".into()))
        );
    }
    wb.on_tick(&b);
    assert_eq!(b.counter("authgate.exchange.shared"), 1);
}

#[test]
fn a_refusal_is_a_403_that_names_the_audience_and_is_kept_briefly() {
    let (host, w) = worker(None);
    let caller = token("mallory");
    assert!(matches!(
        w.on_request_headers(&host, 1, bearer(&caller)),
        Step::Held
    ));
    let body = br#"{"error": "invalid_target", "error_description": "not for you"}"#;
    let released = answer(&host, &w, 0, "400", body);
    let Verdict::Deny(d) = &released[0].1 else {
        panic!("{released:?}")
    };
    assert_eq!(d.reply.status, 403);
    assert_eq!(d.denial.code(), "access_denied");
    assert!(
        d.reply.body.contains("token for orders (invalid_target)"),
        "{}",
        d.reply.body
    );
    assert!(!d.reply.headers.iter().any(|(n, _)| n == "www-authenticate"));
    // Asked again at once: the kept refusal answers, no second call.
    let v = decided(w.on_request_headers(&host, 2, bearer(&caller)));
    assert_eq!(upstream_authorization(&v), Err(403));
    assert_eq!(host.calls.borrow().len(), 1);
    host.advance(11_000);
    assert!(matches!(
        w.on_request_headers(&host, 3, bearer(&caller)),
        Step::Held
    ));
    assert_eq!(host.calls.borrow().len(), 2);
}

#[test]
fn a_server_that_cannot_answer_is_a_503_with_retry_after_then_a_back_off() {
    for (case, status, body) in [
        ("5xx", "502", &b"bad gateway"[..]),
        ("not JSON", "200", b"<html>"),
        ("invalid_client", "401", br#"{"error": "invalid_client"}"#),
    ] {
        let (host, w) = worker(None);
        assert!(matches!(
            w.on_request_headers(&host, 1, bearer(&token("a"))),
            Step::Held
        ));
        let released = answer(&host, &w, 0, status, body);
        let Verdict::Deny(d) = &released[0].1 else {
            panic!("{case}: {released:?}")
        };
        assert_eq!(d.reply.status, 503, "{case}");
        assert_eq!(d.denial.code(), "temporarily_unavailable", "{case}");
        assert!(
            d.reply
                .headers
                .contains(&("retry-after".into(), "2".into())),
            "{case}"
        );
        // During the back-off another token is answered 503 at once, without a call.
        let v = decided(w.on_request_headers(&host, 2, bearer(&token("b"))));
        assert_eq!(upstream_authorization(&v), Err(503), "{case}");
        assert_eq!(host.calls.borrow().len(), 1, "{case}");
        host.advance(2_001);
        assert!(
            matches!(
                w.on_request_headers(&host, 3, bearer(&token("b"))),
                Step::Held
            ),
            "{case}"
        );
    }
}

#[test]
fn no_answer_in_time_is_a_503_and_never_a_pass() {
    let (host, w) = worker(None);
    assert!(matches!(
        w.on_request_headers(&host, 1, bearer(&token("a"))),
        Step::Held
    ));
    host.advance(801);
    let released = w.on_tick(&host);
    assert_eq!(released.len(), 1);
    assert_eq!(upstream_authorization(&released[0].1), Err(503));
    // The call's own answer, late, is a failure too: nothing waits for it any more.
    assert!(answer(&host, &w, 0, "200", &issued("late", 300)).is_empty());
}

#[test]
fn an_issued_token_is_not_used_past_its_expiry() {
    let (host, w) = worker(None);
    let caller = token("alice");
    w.on_request_headers(&host, 1, bearer(&caller));
    answer(&host, &w, 0, "200", &issued("short", 20));
    // Kept until 2 s (a tenth of its life) before it expires.
    host.advance(17_000);
    let v = decided(w.on_request_headers(&host, 2, bearer(&caller)));
    assert_eq!(upstream_authorization(&v), Ok(Some("Bearer short".into())));
    host.advance(1_000);
    assert!(matches!(
        w.on_request_headers(&host, 3, bearer(&caller)),
        Step::Held
    ));
    assert_eq!(host.calls.borrow().len(), 2);
    let released = answer(&host, &w, 1, "200", &issued("fresh", 20));
    assert_eq!(
        upstream_authorization(&released[0].1),
        Ok(Some("Bearer fresh".into()))
    );
}

#[test]
fn a_resource_exchanges_for_itself_by_default() {
    let cfg = json!({
        "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                    "local_jwks": {"keys": [{"kty": "oct", "k": B64.encode(KEY)}]}}},
        "resources": [
            {"id": "https://gw.test/mcp/a", "authorization_servers": ["https://idp.test"],
             "token_exchange": {"token_endpoint": "https://as.local/token", "cluster": "as",
                                "client_id": "gw", "client_secret": "s", "auth_method": "client_secret_post",
                                "scopes": ["tools.read", "tools.call"]}},
            {"id": "https://gw.test/mcp/b", "authorization_servers": ["https://idp.test"]}
        ]
    });
    let (host, w) = configured(&cfg, &[]);
    let caller = mint_hs(
        &KEY,
        json!({"alg": "HS256"}),
        json!({"iss": "https://idp.test", "sub": "a", "aud": "https://gw.test/mcp/a", "exp": T0 / 1000 + 60}),
    );
    let req = |path: &str, id| {
        w.on_request_headers(
            &host,
            id,
            headers(
                path,
                &[
                    ("authorization", &format!("Bearer {caller}")),
                    (":authority", "gw.test"),
                ],
            ),
        )
    };
    assert!(matches!(req("/mcp/a", 1), Step::Held));
    let body = String::from_utf8(host.calls.borrow()[0].body.clone().unwrap()).unwrap();
    assert!(
        body.ends_with("&resource=https%3A%2F%2Fgw.test%2Fmcp%2Fa&scope=tools.read%20tools.call&client_id=gw&client_secret=s"),
        "{body}"
    );
    assert!(!host.calls.borrow()[0]
        .headers
        .iter()
        .any(|(n, _)| n == "authorization"));
    // The other resource has no exchange: its pass is final at once (its token is for /mcp/a,
    // so it is refused there; what matters is that nothing is exchanged).
    assert!(matches!(req("/mcp/b", 2), Step::Decided(_)));
    assert_eq!(host.calls.borrow().len(), 1);
}

#[test]
fn configurations_that_could_leak_the_callers_token_or_have_none_are_refused() {
    let cases: [(&str, serde_json::Value, &str); 8] = [
        (
            "no endpoint",
            json!({"cluster": "as", "client_id": "gw", "client_secret": "s", "audience": "o"}),
            "rules[0].token_exchange: needs `token_endpoint`",
        ),
        (
            "no target",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s"}),
            "rules[0].token_exchange: needs `audience` or `resource`",
        ),
        (
            "no secret",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "audience": "o"}),
            "rules[0].token_exchange: needs `client_secret_env`",
        ),
        (
            "two secrets",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s", "client_secret_env": "S", "audience": "o"}),
            "rules[0].token_exchange.client_secret_env: cannot stand beside",
        ),
        (
            "resource not a URI",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s", "resource": "orders"}),
            "rules[0].token_exchange.resource: must be an absolute URI",
        ),
        (
            "bad auth method",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s", "audience": "o", "auth_method": "private_key_jwt"}),
            "rules[0].token_exchange.auth_method: must be",
        ),
        (
            "zero timeout",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s", "audience": "o", "timeout_ms": 0}),
            "rules[0].token_exchange.timeout_ms: must be 1 to 60000",
        ),
        (
            "unknown field",
            json!({"token_endpoint": "http://as/t", "cluster": "as", "client_id": "gw", "client_secret": "s", "audience": "o", "audiences": ["o"]}),
            "rules[0].token_exchange.audiences: unknown field",
        ),
    ];
    for (case, section, says) in cases {
        let host = FakeHost::default();
        assert!(
            Worker::default()
                .configure(&host, config(section).as_bytes())
                .is_none(),
            "{case}"
        );
        let lines = host.lines_with("invalid configuration");
        assert!(
            lines.len() == 1 && lines[0].contains(says),
            "{case}: {lines:?}"
        );
        assert!(!lines[0].contains("s3cret"), "{case}");
    }
    let refused = |cfg: serde_json::Value, says: &str| {
        let host = FakeHost::default();
        assert!(Worker::default()
            .configure(&host, cfg.to_string().as_bytes())
            .is_none());
        let lines = host.lines_with("invalid configuration");
        assert!(lines.len() == 1 && lines[0].contains(says), "{lines:?}");
    };
    let mut cfg: serde_json::Value = serde_json::from_str(&config(exchange())).unwrap();
    cfg["rules"][0]["requires"] = json!("keys");
    refused(cfg.clone(), "rules[0].token_exchange: exchanges tokens, and provider keys in `requires` does not check one");
    cfg["rules"][0]["requires"] = json!("none");
    refused(
        cfg.clone(),
        "rules[0].token_exchange: a rule that requires `none` has no token to exchange",
    );
    cfg["rules"][0]["requires"] = json!("idp");
    cfg["providers"]["idp"]["forward"] = json!(true);
    refused(
        cfg,
        "rules[0].token_exchange: cannot stand with provider idp's `forward: true`",
    );
}

#[test]
fn an_assertion_on_an_exchanged_pass_names_the_gateway_as_actor() {
    let mut cfg: serde_json::Value = serde_json::from_str(&config(exchange())).unwrap();
    cfg["rules"][0]["assertion"] = json!(true);
    cfg["assertion"] = json!({"issuer": "https://gw.test", "keys_env": "KEYS", "alg": "ES256", "claims": ["team"]});
    let d = B64.encode([5u8; 32]);
    let keys = json!({"keys": [{"kty": "EC", "crv": "P-256", "d": d, "kid": "k1"}]});
    let (host, w) = configured(&cfg, &[("KEYS", keys.to_string())]);
    let caller = mint_hs(
        &KEY,
        json!({"alg": "HS256"}),
        json!({"iss": "https://idp.test", "sub": "alice", "team": "blue", "exp": T0 / 1000 + 60,
               "act": {"sub": "ci-bot"}}),
    );
    let mut h = bearer(&caller);
    h.0.push((":authority".into(), b"api.test".to_vec()));
    h.0.push(("x-authgate-assertion".into(), b"forged".to_vec()));
    assert!(matches!(w.on_request_headers(&host, 1, h), Step::Held));
    let released = answer(&host, &w, 0, "200", &issued("for-orders", 300));
    let Verdict::Allow(a) = &released[0].1 else {
        panic!("{released:?}")
    };
    assert!(a.edits.remove.iter().any(|n| n == "x-authgate-assertion"));
    let jwt = &a
        .edits
        .set
        .iter()
        .find(|(n, _)| n == "x-authgate-assertion")
        .unwrap()
        .1;
    let payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["sub"], "alice");
    assert_eq!(payload["aud"], "api.test");
    assert_eq!(payload["team"], "blue");
    assert_eq!(payload["provider"], "idp");
    // RFC 8693 §4.1: the gateway acts now, the earlier actor nested inside.
    assert_eq!(
        payload["act"],
        json!({"sub": "gw", "act": {"sub": "ci-bot"}})
    );
    assert_eq!(
        upstream_authorization(&released[0].1),
        Ok(Some("Bearer for-orders".into()))
    );
}

#[test]
fn the_token_endpoint_is_found_from_the_issuer_once_for_every_worker() {
    let section = json!({"issuer": "http://as.local", "cluster": "as", "client_id": "gw",
                         "client_secret": "s3cret", "audience": "orders", "timeout_ms": 300});
    let a = FakeHost::default();
    a.now.set(T0);
    let b = FakeHost::with_store(a.store.clone());
    b.now.set(T0);
    let (wa, wb) = (Worker::default(), Worker::default());
    assert!(
        wa.configure(&a, config(section.clone()).as_bytes())
            .is_some(),
        "{:?}",
        a.lines_with("")
    );
    assert!(wb.configure(&b, config(section).as_bytes()).is_some());
    let caller = token("alice");
    assert!(matches!(
        wa.on_request_headers(&a, 1, bearer(&caller)),
        Step::Held
    ));
    assert!(
        a.calls.borrow().is_empty(),
        "no endpoint yet: the tick reads the metadata"
    );
    wa.on_tick(&a);
    wb.on_tick(&b);
    assert_eq!(
        a.calls.borrow().len() + b.calls.borrow().len(),
        1,
        "one metadata read"
    );
    let path = |h: &FakeHost, n: usize| {
        h.calls.borrow()[n]
            .headers
            .iter()
            .find(|(k, _)| k == ":path")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        path(&a, 0).as_deref(),
        Some("/.well-known/openid-configuration")
    );
    let metadata =
        br#"{"issuer": "http://as.local", "token_endpoint": "http://as.local/oauth/token"}"#;
    assert!(
        answer(&a, &wa, 0, "200", metadata).is_empty(),
        "the exchange call goes out now"
    );
    assert_eq!(path(&a, 1).as_deref(), Some("/oauth/token"));
    let released = answer(&a, &wa, 1, "200", &issued("found", 300));
    assert_eq!(
        upstream_authorization(&released[0].1),
        Ok(Some("Bearer found".into()))
    );
    assert_eq!(
        a.lines_with("discovered token_endpoint"),
        ["authgate: rules[0].token_exchange: discovered token_endpoint http://as.local/oauth/token from http(s)://as.local/.well-known/openid-configuration"]
    );
    // The other worker takes the published endpoint on its tick and calls it, not the metadata.
    wb.on_tick(&b);
    assert!(matches!(
        wb.on_request_headers(&b, 2, bearer(&token("bob"))),
        Step::Held
    ));
    assert_eq!(path(&b, 0).as_deref(), Some("/oauth/token"));
}

#[test]
fn a_report_mode_pass_without_an_exchange_still_hides_a_token_sent_in_the_query() {
    let mut cfg: serde_json::Value = serde_json::from_str(&config(exchange())).unwrap();
    cfg["mode"] = json!("report");
    cfg["providers"]["idp"]["from_params"] = json!(["access_token"]);
    let (host, w) = configured(&cfg, &[]);
    let caller = token("alice");
    let path = format!("/api/orders?access_token={caller}&page=2");
    assert!(matches!(
        w.on_request_headers(&host, 1, headers(&path, &[])),
        Step::Held
    ));
    let released = answer(&host, &w, 0, "502", b"");
    let Verdict::Allow(a) = &released[0].1 else {
        panic!("{released:?}")
    };
    assert!(a.would_deny.is_some(), "report mode: would have been a 503");
    let rewritten = a
        .edits
        .set
        .iter()
        .find(|(n, _)| n == ":path")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        rewritten,
        Some("/api/orders?page=2"),
        "the caller's token is not forwarded"
    );
    assert!(!a.edits.set.iter().any(|(n, _)| n == "authorization"));
}

#[test]
fn with_all_the_token_is_the_token_providers_whichever_comes_first() {
    let mut cfg: serde_json::Value = serde_json::from_str(&config(exchange())).unwrap();
    cfg["rules"][0]["requires"] = json!({"all": ["keys", "idp"]});
    cfg["rules"][0]
        .as_object_mut()
        .unwrap()
        .remove("token_exchange");
    cfg["resources"] = json!([{"id": "https://gw.test/api", "authorization_servers": ["https://idp.test"],
        "token_exchange": {"token_endpoint": "http://as.local/token", "cluster": "as",
                           "client_id": "gw", "client_secret": "s3cret"}}]);
    cfg["providers"]["idp"]["audiences"] = json!(["https://gw.test/api"]);
    let (host, w) = configured(&cfg, &[]);
    let caller = mint_hs(
        &KEY,
        json!({"alg": "HS256"}),
        json!({"iss": "https://idp.test", "sub": "a", "aud": "https://gw.test/api", "exp": T0 / 1000 + 60}),
    );
    let h = headers(
        "/api/orders",
        &[
            ("authorization", &format!("Bearer {caller}")),
            ("x-api-key", "k-1"),
            (":authority", "gw.test"),
        ],
    );
    assert!(
        matches!(w.on_request_headers(&host, 1, h), Step::Held),
        "{:?}",
        host.lines_with("")
    );
    let body = String::from_utf8(host.calls.borrow()[0].body.clone().unwrap()).unwrap();
    assert!(body.contains(&format!("subject_token={caller}")), "{body}");
}

#[test]
fn the_assertion_header_cannot_be_one_a_provider_sets() {
    let mut cfg: serde_json::Value = serde_json::from_str(&config(exchange())).unwrap();
    cfg["providers"]["idp"]["claim_to_headers"] =
        json!([{"claim_name": "sub", "header_name": "x-authgate-assertion"}]);
    cfg["assertion"] = json!({"issuer": "https://gw.test", "keys_env": "KEYS", "alg": "ES256"});
    let host = FakeHost::default();
    host.env.borrow_mut().push((
        "KEYS".into(),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "d": B64.encode([5u8; 32])}]}).to_string(),
    ));
    assert!(Worker::default()
        .configure(&host, cfg.to_string().as_bytes())
        .is_none());
    let lines = host.lines_with("invalid configuration");
    assert!(
        lines[0]
            .contains("assertion.header: `x-authgate-assertion` is a header authgate already sets"),
        "{lines:?}"
    );
}

//! A person signing in, through the worker against the fake host: the issuer's metadata and
//! keys fetched, a page navigation sent to sign in, the callback's code redeemed by a token
//! request (the request held meanwhile), the session cookie set, the next page let in with
//! the person's claims, and signing out.

use super::*;
use crate::capabilities::fake::FakeHost;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example";
const KEY_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn config() -> String {
    json!({"providers": {
        "web": {"type": "oidc", "issuer": ISSUER, "discovery": {"cluster": "idp"}, "client_id": "web",
                "client_secret_env": "WEB_SECRET", "cookie_secrets_env": "COOKIE_KEYS",
                "claim_to_headers": [{"claim_name": "email", "header_name": "x-email"}]},
    }, "rules": [{"match": {"prefix": "/"}, "requires": "web"}]})
    .to_string()
}

fn key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap()
}

fn jwks() -> Vec<u8> {
    let point = key().verifying_key().to_encoded_point(false);
    let b = point.as_bytes();
    json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": B64.encode(&b[1..33]), "y": B64.encode(&b[33..])}]})
    .to_string()
    .into_bytes()
}

fn id_token(claims: Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}).to_string()),
        B64.encode(claims.to_string())
    );
    let sig: p256::ecdsa::Signature = key().sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn request(path: &str, h: &[(&str, &str)]) -> HeaderPairs {
    let mut all = vec![(":authority", "app.example"), (":scheme", "https")];
    all.extend_from_slice(h);
    headers(path, &all)
}

fn answer(step: Step) -> Reply {
    match step {
        Step::Decided(Verdict::Answer(r)) => *r,
        // A navigation without a session: a refusal, answered with the redirect.
        Step::Decided(Verdict::Deny(d)) => d.reply,
        other => panic!("not an answer: {other:?}"),
    }
}

fn header<'a>(r: &'a Reply, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The cookies a browser keeps from `r`, as one `Cookie` header.
fn kept(r: &Reply) -> String {
    header(r, "set-cookie")
        .iter()
        .filter(|l| !l.contains("Max-Age=0"))
        .map(|l| l.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

fn query_value(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    let v = q
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap();
    crate::providers::oidc::flow::form_decode(v).unwrap()
}

use crate::reply::Reply;

/// A fake host whose VM environment holds the client secret and the cookie key.
fn fake_host() -> FakeHost {
    let host = FakeHost::default();
    host.env
        .borrow_mut()
        .push(("WEB_SECRET".into(), "s3cret".into()));
    host.env
        .borrow_mut()
        .push(("COOKIE_KEYS".into(), KEY_A.into()));
    host
}

/// A worker configured with the sign-in provider, once it has read the issuer's metadata and
/// then its keys.
fn ready(host: &FakeHost) -> Worker {
    let w = Worker::default();
    assert!(
        w.configure(host, config().as_bytes()).is_some(),
        "{:?}",
        host.lines.borrow()
    );
    w.on_tick(host);
    let meta = host.calls.borrow().last().unwrap().clone();
    assert!(meta
        .headers
        .contains(&(":path".into(), "/.well-known/openid-configuration".into())));
    let doc = json!({"issuer": ISSUER, "jwks_uri": "https://idp.example/jwks",
        "authorization_endpoint": "https://idp.example/authorize", "token_endpoint": "https://idp.example/token",
        "end_session_endpoint": "https://idp.example/logout"});
    w.on_http_call_response(
        host,
        (meta.token, None),
        Some("200"),
        doc.to_string().as_bytes(),
    );
    w.on_tick(host);
    let keys = host.calls.borrow().last().unwrap().clone();
    assert!(keys.headers.contains(&(":path".into(), "/jwks".into())));
    w.on_http_call_response(host, (keys.token, None), Some("200"), &jwks());
    w
}

#[test]
fn a_person_signs_in_and_out() {
    let host = fake_host();
    let w = ready(&host);

    // A script gets the 401; a page navigation is sent to sign in.
    let script = w.on_request_headers(
        &host,
        1,
        request("/orders?id=7", &[("sec-fetch-mode", "cors")]),
    );
    assert_eq!(status(&script), 401);
    let Step::Decided(Verdict::Deny(d)) = &script else {
        panic!()
    };
    assert!(
        d.reply
            .body
            .contains(r#""login":"/oauth2/login?rd=%2Forders%3Fid%3D7""#),
        "{}",
        d.reply.body
    );
    let go = answer(w.on_request_headers(
        &host,
        2,
        request("/orders?id=7", &[("sec-fetch-mode", "navigate")]),
    ));
    assert_eq!(go.status, 302);
    assert_eq!(
        host.lines_with("status=302 error=missing_credentials")
            .len(),
        1,
        "audited like a 401: {:?}",
        host.lines.borrow()
    );
    let location = header(&go, "location")[0].to_string();
    assert!(location.starts_with("https://idp.example/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Foauth2%2Fcallback"), "{location}");
    let pending = kept(&go);
    let state = query_value(&location, "state");
    let nonce = query_value(&location, "nonce");

    // The callback: held while the code is redeemed.
    let cb = format!("/oauth2/callback?code=the-code&state={state}&iss=https%3A%2F%2Fidp.example");
    let held = w.on_request_headers(
        &host,
        3,
        request(&cb, &[("cookie", &pending), ("sec-fetch-mode", "navigate")]),
    );
    assert!(matches!(held, Step::Held), "{held:?}");
    let exchange = host.calls.borrow().last().unwrap().clone();
    assert_eq!(exchange.cluster, "idp");
    assert!(exchange
        .headers
        .contains(&(":path".into(), "/token".into())));
    assert!(exchange
        .headers
        .contains(&("authorization".into(), "Basic d2ViOnMzY3JldA==".into())));
    let form = String::from_utf8(exchange.body.clone().unwrap()).unwrap();
    assert!(form.starts_with("grant_type=authorization_code&code=the-code&redirect_uri=https%3A%2F%2Fapp.example%2Foauth2%2Fcallback&code_verifier="), "{form}");
    let now = host.now_ms() / 1000;
    let token = id_token(
        json!({"iss": ISSUER, "aud": "web", "sub": "alice", "email": "alice@example.com",
        "nonce": nonce, "iat": now, "exp": now + 300}),
    );
    let body =
        json!({"id_token": token, "access_token": "at", "token_type": "Bearer", "expires_in": 300})
            .to_string();
    let done = w.on_http_call_response(
        &host,
        (exchange.token, Some(3)),
        Some("200"),
        body.as_bytes(),
    );
    assert_eq!(done.len(), 1, "the held callback is decided");
    let Verdict::Answer(back) = &done[0].1 else {
        panic!("{:?}", done[0].1)
    };
    assert_eq!(
        (back.status, header(back, "location")),
        (302, vec!["/orders?id=7"])
    );
    let session = kept(back);
    let line = host.lines_with("authgate: signed in provider=web identity=\"alice\"");
    assert_eq!(line.len(), 1, "{:?}", host.lines.borrow());
    assert!(
        !line[0].contains("the-code") && !line[0].contains(&state),
        "no code or state in the line"
    );
    assert!(session.starts_with("__Host-authgate="), "{session}");

    // The next page: in, with the person's claims upstream and authgate's cookies cut out.
    let cookie = format!("{session}; theme=dark");
    let Step::Decided(Verdict::Allow(a)) =
        w.on_request_headers(&host, 4, request("/orders?id=7", &[("cookie", &cookie)]))
    else {
        panic!("not let in")
    };
    assert_eq!(a.identity.as_deref(), Some("alice"));
    assert!(a
        .edits
        .set
        .contains(&("x-email".into(), "alice@example.com".into())));
    assert!(a
        .edits
        .set
        .contains(&("cookie".into(), "theme=dark".into())));

    // A changed session cookie on a page: sent to sign in again, the refusal audited with the
    // provider and a fingerprint, never the cookie.
    let value = session.split_once('=').unwrap().1;
    let tampered = format!("__Host-authgate={}x", &value[..value.len() - 1]);
    let again = answer(w.on_request_headers(
        &host,
        6,
        request(
            "/orders",
            &[("cookie", &tampered), ("sec-fetch-mode", "navigate")],
        ),
    ));
    assert_eq!(again.status, 302);
    let line = host.lines_with("status=302 error=missing_credentials rule=rules[0] provider=web");
    assert_eq!(line.len(), 1, "{:?}", host.lines.borrow());
    assert!(
        !line[0].contains(&value[..20]),
        "no cookie content in {}",
        line[0]
    );

    // The same code again (a replayed callback) finds no sign-in under way any more once the
    // browser dropped the pending cookie; and signing out clears the session.
    let out = answer(w.on_request_headers(
        &host,
        5,
        request(
            "/oauth2/logout",
            &[("cookie", &session), ("sec-fetch-site", "same-origin")],
        ),
    ));
    assert_eq!(
        header(&out, "location"),
        vec!["https://idp.example/logout?client_id=web"]
    );
    assert!(header(&out, "set-cookie")
        .iter()
        .any(|l| l.starts_with("__Host-authgate=;") && l.contains("Max-Age=0")));
}

/// Issue 35: a callback that is a fresh worker's first request waits for the issuer's
/// metadata and keys, and then its token request goes out. Before, it was released into a
/// wait for a token request nobody sent, and got the 503 at its deadline.
#[test]
fn a_callback_before_the_metadata_is_redeemed_once_it_comes() {
    let host = fake_host();
    let w = ready(&host);
    let go =
        answer(w.on_request_headers(&host, 1, request("/", &[("sec-fetch-mode", "navigate")])));
    let location = header(&go, "location")[0].to_string();
    let (state, nonce) = (
        query_value(&location, "state"),
        query_value(&location, "nonce"),
    );
    // Envoy restarted while the person was at the provider: a new worker, nothing fetched.
    let fresh_host = fake_host();
    let fresh = Worker::default();
    assert!(fresh.configure(&fresh_host, config().as_bytes()).is_some());
    let cb = format!("/oauth2/callback?code=c&state={state}");
    assert!(matches!(
        fresh.on_request_headers(&fresh_host, 2, request(&cb, &[("cookie", &kept(&go))])),
        Step::Held
    ));
    fresh.on_tick(&fresh_host);
    let meta = fresh_host.calls.borrow().last().unwrap().clone();
    let doc = json!({"issuer": ISSUER, "jwks_uri": "https://idp.example/jwks",
        "authorization_endpoint": "https://idp.example/authorize", "token_endpoint": "https://idp.example/token"});
    fresh.on_http_call_response(
        &fresh_host,
        (meta.token, None),
        Some("200"),
        doc.to_string().as_bytes(),
    );
    fresh.on_tick(&fresh_host);
    let keys = fresh_host.calls.borrow().last().unwrap().clone();
    let released =
        fresh.on_http_call_response(&fresh_host, (keys.token, None), Some("200"), &jwks());
    assert!(
        released.is_empty(),
        "still held, now for its token request: {released:?}"
    );
    let exchange = fresh_host.calls.borrow().last().unwrap().clone();
    assert!(
        exchange
            .headers
            .contains(&(":path".into(), "/token".into())),
        "{exchange:?}"
    );
    let now = fresh_host.now_ms() / 1000;
    let token = id_token(
        json!({"iss": ISSUER, "aud": "web", "sub": "alice", "nonce": nonce,
        "iat": now, "exp": now + 300}),
    );
    let body = json!({"id_token": token, "access_token": "at", "token_type": "Bearer"}).to_string();
    let done = fresh.on_http_call_response(
        &fresh_host,
        (exchange.token, None),
        Some("200"),
        body.as_bytes(),
    );
    let Verdict::Answer(back) = &done[0].1 else {
        panic!("{:?}", done[0].1)
    };
    assert_eq!(back.status, 302, "{}", back.body);
    assert!(kept(back).starts_with("__Host-authgate="));
}

#[test]
fn a_callback_whose_token_request_fails_says_so() {
    let host = fake_host();
    let w = ready(&host);
    let go =
        answer(w.on_request_headers(&host, 1, request("/", &[("sec-fetch-mode", "navigate")])));
    let state = query_value(header(&go, "location")[0], "state");
    let cb = format!("/oauth2/callback?code=c&state={state}");
    assert!(matches!(
        w.on_request_headers(&host, 2, request(&cb, &[("cookie", &kept(&go))])),
        Step::Held
    ));
    let exchange = host.calls.borrow().last().unwrap().clone();
    // No answer within the call's timeout: 503, never a session.
    let done = w.on_http_call_response(&host, (exchange.token, Some(2)), None, b"");
    let Verdict::Answer(page) = &done[0].1 else {
        panic!()
    };
    assert_eq!(page.status, 503);
    assert_eq!(host.lines_with("authgate: sign-in failed provider=web reason=\"the token endpoint did not answer (status 0)\"").len(), 1, "{:?}", host.lines.borrow());
    assert!(!header(page, "set-cookie")
        .iter()
        .any(|l| l.starts_with("__Host-authgate=") && !l.contains("Max-Age=0")));
}

#[test]
fn report_mode_sends_no_one_to_sign_in() {
    let host = fake_host();
    let mut doc: Value = serde_json::from_str(&config()).unwrap();
    doc["mode"] = json!("report");
    let w = Worker::default();
    w.configure(&host, doc.to_string().as_bytes()).unwrap();
    let step = w.on_request_headers(&host, 1, request("/", &[("sec-fetch-mode", "navigate")]));
    assert!(
        matches!(step, Step::Decided(Verdict::Allow(ref a)) if a.would_deny.is_some()),
        "{step:?}"
    );
}

//! The `introspection` provider alone: its configuration refusals, the call it makes
//! (RFC 7662 §2.1 with RFC 6749 §2.3.1 client authentication), what counts as an answer
//! (§2.2), how long answers are kept, and what an answer means for a request.

use super::endpoint::{form_encode, Introspector};
use super::*;
use crate::engine::{Awaited, Decision, Engine};
use crate::request::HeaderList;
use base64::Engine as _;
use serde_json::json;

const NOW: u64 = 1_700_000_000;

fn config(extra: serde_json::Value) -> serde_json::Value {
    let mut p = json!({"type": "introspection", "endpoint": "https://idp.example/oauth2/introspect",
        "cluster": "idp", "client_id": "authgate", "client_secret": "s3cr:et+/="});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            p.as_object_mut().unwrap().remove(k);
        } else {
            p[k] = v.clone();
        }
    }
    json!({"providers": {"opaque": p},
           "rules": [{"match": {"prefix": "/admin"}, "requires": "opaque", "scopes": ["admin"]},
                     {"match": {"prefix": "/acme"}, "requires": "opaque",
                      "claims": [{"claim": "org.tenant", "equals": "acme"}]}]})
}

fn engine(extra: serde_json::Value) -> Engine {
    Engine::from_json(config(extra).to_string().as_bytes(), [4; 32]).unwrap()
}

fn service(e: &Engine) -> &Introspector {
    e.config().providers[0].check.introspection().unwrap()
}

fn answer(json: &str) -> Answer {
    Introspector::read(Some("200"), json.as_bytes()).unwrap()
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    let env = |name: &str| (name == "IDP_SECRET").then(|| "from-env".to_string());
    let cases: &[(&str, serde_json::Value, &str)] = &[
        ("no secret", json!({"client_secret": null}), "providers.opaque: needs `client_secret_env`"),
        ("both secrets", json!({"client_secret_env": "IDP_SECRET"}), "providers.opaque.client_secret_env: cannot stand beside"),
        ("unset variable", json!({"client_secret": null, "client_secret_env": "NOPE"}), "providers.opaque.client_secret_env: the Wasm VM's environment has no (or an empty) `NOPE`"),
        ("empty secret", json!({"client_secret": ""}), "providers.opaque.client_secret: must not be empty"),
        ("auth method", json!({"auth_method": "private_key_jwt"}), "providers.opaque.auth_method: must be"),
        ("endpoint", json!({"endpoint": "idp.example/introspect"}), "providers.opaque.endpoint: must be an http:// or https:// URI"),
        ("no endpoint", json!({"endpoint": null}), "providers.opaque: needs `endpoint`, or `discovery`"),
        ("both", json!({"discovery": {}}), "providers.opaque.discovery: cannot stand beside `endpoint`"),
        ("discovery without issuer", json!({"endpoint": null, "discovery": {}}), "providers.opaque.issuer: is required with `discovery`"),
        ("discovery timeout", json!({"endpoint": null, "issuer": "https://idp.example", "discovery": {"timeout_ms": 0}}), "providers.opaque.discovery.timeout_ms: must be 1 to 60000"),
        ("cluster", json!({"cluster": ""}), "providers.opaque.cluster: must name an Envoy cluster"),
        ("client id", json!({"client_id": ""}), "providers.opaque.client_id: must not be empty"),
        ("timeout", json!({"timeout_ms": 0}), "providers.opaque.timeout_ms: must be 1 to 60000"),
        ("cache", json!({"cache_max_seconds": 86401}), "providers.opaque.cache_max_seconds: must be at most 86400"),
        ("negative cache", json!({"negative_cache_seconds": 86401}), "providers.opaque.negative_cache_seconds: must be at most 86400"),
        ("audiences", json!({"audiences": []}), "providers.opaque.audiences: must not be empty"),
        ("unknown field", json!({"jwks": {}}), "providers.opaque.jwks: unknown field `jwks`"),
        ("claim header", json!({"claim_to_headers": [{"claim_name": "sub", "header_name": "bad header"}]}), "providers.opaque.claim_to_headers[0].header_name"),
    ];
    for (name, extra, want) in cases {
        let bytes = config(extra.clone()).to_string();
        let err = crate::config::compile_with(bytes.as_bytes(), [0; 32], None, &env, None)
            .expect_err(name)
            .to_string();
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            !err.contains("s3cr") && !err.contains("from-env"),
            "{name}: {err}"
        );
    }
    let from_env = json!({"client_secret": null, "client_secret_env": "IDP_SECRET"});
    let bytes = config(from_env).to_string();
    let c = crate::config::compile_with(bytes.as_bytes(), [0; 32], None, &env, None).unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("from-env"),
        "the secret is never in Debug output"
    );
}

#[test]
fn the_call_authenticates_as_rfc6749_says() {
    let e = engine(json!({}));
    let s = service(&e);
    // RFC 6749 §2.3.1: id and secret are form-encoded, then joined by `:` and base64-encoded.
    let expected = base64::engine::general_purpose::STANDARD.encode("authgate:s3cr%3Aet%2B%2F%3D");
    let at = s.endpoint().unwrap();
    let headers = s.headers(&at);
    assert!(headers.contains(&("authorization", &format!("Basic {expected}"))));
    assert!(headers.contains(&(":method", "POST")));
    assert!(headers.contains(&(":path", "/oauth2/introspect")));
    assert!(headers.contains(&(":authority", "idp.example")));
    assert_eq!(
        s.body("a+b/c=&d"),
        b"token=a%2Bb%2Fc%3D%26d&token_type_hint=access_token"
    );
    let e = engine(json!({"auth_method": "client_secret_post"}));
    let s = service(&e);
    let at = s.endpoint().unwrap();
    assert!(!s.headers(&at).iter().any(|(k, _)| *k == "authorization"));
    assert_eq!(
        String::from_utf8(s.body("t")).unwrap(),
        "token=t&token_type_hint=access_token&client_id=authgate&client_secret=s3cr%3Aet%2B%2F%3D"
    );
    assert_eq!(form_encode("a b~"), "a%20b~");
    assert!(!format!("{s:?}").contains("s3cr"));
}

#[test]
fn what_counts_as_an_answer() {
    let big = format!("{{\"active\": false, \"x\": \"{}\"}}", "a".repeat(20_000));
    /// A named case: the call's status and body, and `active` or the start of the error.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, Result<bool, &'a str>);
    let cases: &[Case] = &[
        (
            "active",
            Some("200"),
            r#"{"active": true, "sub": "alice"}"#,
            Ok(true),
        ),
        ("inactive", Some("200"), r#"{"active": false}"#, Ok(false)),
        // RFC 7662 §2.2: an inactive answer's other members are to be ignored.
        (
            "inactive with junk",
            Some("200"),
            r#"{"active": false, "exp": "soon"}"#,
            Ok(false),
        ),
        (
            "server error",
            Some("500"),
            r#"{"active": true}"#,
            Err("HTTP status 500"),
        ),
        (
            "unauthorized client",
            Some("401"),
            "",
            Err("HTTP status 401"),
        ),
        ("no answer", None, "", Err("no response")),
        ("not JSON", Some("200"), "<html>", Err("not a JSON object")),
        ("array", Some("200"), "[true]", Err("not a JSON object")),
        (
            "no active",
            Some("200"),
            r#"{"sub": "alice"}"#,
            Err("no boolean `active`"),
        ),
        (
            "active as string",
            Some("200"),
            r#"{"active": "true"}"#,
            Err("no boolean `active`"),
        ),
        (
            "exp as string",
            Some("200"),
            r#"{"active": true, "exp": "1"}"#,
            Err("the answer's `exp` is not a number"),
        ),
        (
            "duplicate member",
            Some("200"),
            r#"{"active": false, "active": true}"#,
            Err("not a JSON object"),
        ),
        ("too large", Some("200"), big.as_str(), Err("larger than")),
    ];
    for (name, status, body, want) in cases {
        let got = Introspector::read(*status, body.as_bytes()).map(|a| a.active);
        match (got, want) {
            (Ok(a), Ok(b)) => assert_eq!(a, *b, "{name}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{name}: {e}"),
            (got, _) => panic!("{name}: {got:?}"),
        }
    }
}

#[test]
fn answers_are_kept_until_exp_or_the_cap() {
    let e = engine(json!({"cache_max_seconds": 300, "negative_cache_seconds": 10}));
    let s = service(&e);
    let at = |json: &str| s.until(&answer(json), NOW) - NOW;
    assert_eq!(at(r#"{"active": true}"#), 300, "no exp: the cap");
    assert_eq!(
        at(&format!(r#"{{"active": true, "exp": {}}}"#, NOW + 60)),
        60
    );
    assert_eq!(
        at(&format!(r#"{{"active": true, "exp": {}}}"#, NOW + 900)),
        300
    );
    assert_eq!(
        at(&format!(r#"{{"active": true, "exp": {}}}"#, NOW - 5)),
        0,
        "never before now"
    );
    assert_eq!(at(r#"{"active": false}"#), 10);
}

fn decide(e: &Engine, path: &str, token: &str) -> Decision {
    let auth = format!("Bearer {token}");
    e.decide(
        &HeaderList::new("GET", path, &[("authorization", &auth)]),
        NOW,
    )
}

/// Installs `json` as the answer about `token`, as the worker does when it arrives.
fn install(e: &Engine, token: &str, json: &str) {
    let a = answer(json);
    let until = service(e).until(&a, NOW);
    e.install_answer(0, &Credential::new(token), &a, until, NOW);
}

#[test]
fn an_answer_decides_like_a_verified_token() {
    let e = engine(
        json!({"issuer": "https://idp.example", "audiences": ["orders"],
        "claim_to_headers": [{"claim_name": "sub", "header_name": "x-sub"}]}),
    );
    let Decision::Wait(Awaited {
        provider: 0,
        need: Need::Introspection(c),
    }) = decide(&e, "/", "tok-1")
    else {
        panic!("an unknown token waits for its answer")
    };
    assert_eq!(c.expose(), "tok-1");
    assert_eq!(
        format!("{c:?}"),
        "Credential(..)",
        "Debug never shows a token"
    );
    let good = r#"{"active": true, "iss": "https://idp.example", "aud": ["orders"], "sub": "alice", "scope": "read admin", "org": {"tenant": "acme"}}"#;
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("active", good, "/", 200, ""),
        ("scope held", good, "/admin", 200, ""),
        ("nested claim", good, "/acme", 200, ""),
        (
            "inactive",
            r#"{"active": false}"#,
            "/",
            401,
            "the token is not active",
        ),
        (
            "other issuer",
            r#"{"active": true, "iss": "https://evil", "aud": "orders"}"#,
            "/",
            401,
            "issuer not accepted",
        ),
        (
            "other audience",
            r#"{"active": true, "iss": "https://idp.example", "aud": "billing"}"#,
            "/",
            401,
            "audience not accepted",
        ),
        (
            "no scope",
            r#"{"active": true, "iss": "https://idp.example", "aud": "orders", "scope": "read"}"#,
            "/admin",
            403,
            "insufficient_scope",
        ),
        (
            "other tenant",
            r#"{"active": true, "iss": "https://idp.example", "aud": "orders", "org": {"tenant": "umbrella"}}"#,
            "/acme",
            403,
            "access_denied",
        ),
        (
            "not yet valid",
            &format!(
                r#"{{"active": true, "iss": "https://idp.example", "aud": "orders", "nbf": {}}}"#,
                NOW + 600
            ),
            "/",
            401,
            "not yet valid",
        ),
    ];
    for (n, (name, json, path, status, says)) in cases.iter().enumerate() {
        let token = format!("tok-{n}-{name}");
        install(&e, &token, json);
        match decide(&e, path, &token) {
            Decision::Allow(a) => {
                assert_eq!(*status, 200, "{name}");
                assert_eq!(a.identity.as_deref(), Some("alice"), "{name}");
                assert!(
                    a.edits.set.contains(&("x-sub".into(), "alice".into())),
                    "{name}"
                );
                assert!(a.edits.remove.contains(&"authorization".into()), "{name}");
            }
            Decision::Deny(d) => {
                assert_eq!(d.reply.status, *status, "{name}");
                assert!(d.reply.body.contains(says), "{name}: {}", d.reply.body);
                if *status == 401 {
                    assert!(
                        d.reply.challenges()[0].contains("error=\"invalid_token\""),
                        "{name}"
                    );
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn the_identity_is_sub_then_username_then_client_id() {
    let e = engine(json!({}));
    let cases = [
        (
            r#"{"active": true, "sub": "s", "username": "u", "client_id": "c"}"#,
            "s",
        ),
        (
            r#"{"active": true, "username": "u", "client_id": "c"}"#,
            "u",
        ),
        (r#"{"active": true, "client_id": "c"}"#, "c"),
    ];
    for (n, (json, who)) in cases.iter().enumerate() {
        let token = format!("id-{n}");
        install(&e, &token, json);
        let Decision::Allow(a) = decide(&e, "/", &token) else {
            panic!("{json}")
        };
        assert_eq!(a.identity.as_deref(), Some(*who), "{json}");
    }
}

#[test]
fn a_kept_answer_ends_and_the_token_is_asked_about_again() {
    let e = engine(json!({"negative_cache_seconds": 10}));
    install(&e, "t", r#"{"active": false}"#);
    let view = HeaderList::new("GET", "/", &[("authorization", "Bearer t")]);
    assert!(matches!(e.decide(&view, NOW + 10), Decision::Deny(_)));
    assert!(matches!(e.decide(&view, NOW + 11), Decision::Wait(_)));
    // Gave up waiting: 503, no challenge, Retry-After, and nothing about the token.
    let Decision::Deny(d) = e.decide_now(&view, NOW + 11) else {
        panic!("gave up")
    };
    assert_eq!(d.reply.status, 503);
    assert!(d.reply.challenges().is_empty());
    assert!(d
        .reply
        .headers
        .contains(&("retry-after".into(), "2".into())));
    assert!(d
        .reply
        .body
        .contains("\"error\":\"temporarily_unavailable\""));
}

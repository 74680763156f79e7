//! The `oidc` section: what loads, and every refusal with the field it names.

use super::config::RawOidc;
use super::settings::{ClientAuth, Settings};
use crate::providers::Setup;
use serde_json::{json, Value};

const KEY_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
const KEY_B: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"; // 32 bytes, URL-safe, unpadded

fn env(name: &str) -> Option<String> {
    match name {
        "COOKIE_KEYS" => Some(format!("{KEY_A} {KEY_B}")),
        "SHORT_KEYS" => Some("c2hvcnQ=".into()),
        "BAD_KEYS" => Some("not*base64".into()),
        "WEB_SECRET" => Some("s3cret".into()),
        _ => None,
    }
}

fn compile(extra: Value) -> Result<Settings, String> {
    compile_on(
        extra,
        Some(std::rc::Rc::new(|b: &mut [u8]| {
            b.fill(9);
            true
        })),
    )
}

/// A section compiled with a counter for randomness, so each drawn value differs.
pub fn compile_with_counter(extra: Value) -> Result<Settings, String> {
    let n = std::rc::Rc::new(std::cell::Cell::new(0u8));
    compile_on(
        extra,
        Some(std::rc::Rc::new(move |b: &mut [u8]| {
            for x in b.iter_mut() {
                *x = n.get();
                n.set(n.get().wrapping_add(1));
            }
            true
        })),
    )
}

pub fn compile_on(
    extra: Value,
    random: Option<crate::capabilities::Random>,
) -> Result<Settings, String> {
    let mut v = json!({
        "issuer": "https://idp.example",
        "discovery": {"cluster": "idp"},
        "client_id": "web",
        "client_secret_env": "WEB_SECRET",
        "cookie_secrets_env": "COOKIE_KEYS",
    });
    for (k, x) in extra.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    let raw: RawOidc = crate::schema::section("providers.web", v).map_err(|e| e.to_string())?;
    let setup = Setup {
        name: "web",
        secret: [0; 32],
        signatures: None,
        audiences: &[],
        env: &env,
        random,
    };
    Settings::compile(&setup, &raw).map_err(|e| format!("{}: {}", e.field, e.reason))
}

#[test]
fn defaults_follow_the_contract() {
    let s = compile(json!({})).unwrap();
    assert_eq!(s.scope, "openid");
    assert_eq!(s.redirect_path, "/oauth2/callback");
    assert_eq!(s.logout_path, "/oauth2/logout");
    assert_eq!(
        (s.cookie.as_str(), s.max_age, s.same_site),
        ("__Host-authgate", 28800, "Lax")
    );
    assert_eq!(s.login_cookie(), "__Host-authgate-login");
    assert!(matches!(s.auth, ClientAuth::Secret(..)));
    assert_eq!(s.clock_skew, 60);
    let p = compile(json!({"auth_method": "none", "client_secret_env": null, "scopes": ["email", "openid", "profile"]})).unwrap();
    assert_eq!(p.auth, ClientAuth::Public);
    assert_eq!(p.scope, "openid email profile");
}

#[test]
fn what_cannot_work_is_refused_at_load() {
    for (name, extra, want) in [
        (
            "no secret, confidential",
            json!({"client_secret_env": null}),
            "providers.web: a confidential client needs",
        ),
        (
            "secret with none",
            json!({"auth_method": "none"}),
            "providers.web.auth_method: `none` is a public client",
        ),
        (
            "both secrets",
            json!({"client_secret": "x"}),
            "providers.web.client_secret_env: cannot stand beside",
        ),
        (
            "unknown method",
            json!({"auth_method": "private_key_jwt"}),
            "providers.web.auth_method: must be",
        ),
        (
            "missing env",
            json!({"client_secret_env": "NOPE"}),
            "providers.web.client_secret_env: the Wasm VM's environment has no",
        ),
        (
            "no cookie keys",
            json!({"cookie_secrets_env": "NOPE"}),
            "providers.web.cookie_secrets_env: the Wasm VM's environment has no",
        ),
        (
            "short cookie key",
            json!({"cookie_secrets_env": "SHORT_KEYS"}),
            "providers.web.cookie_secrets_env: key 1 of `SHORT_KEYS` is 5 bytes",
        ),
        (
            "bad cookie key",
            json!({"cookie_secrets_env": "BAD_KEYS"}),
            "providers.web.cookie_secrets_env: key 1 of `BAD_KEYS` is not base64",
        ),
        (
            "issuer not a URL",
            json!({"issuer": "idp.example"}),
            "providers.web.issuer:",
        ),
        (
            "same paths",
            json!({"logout_path": "/oauth2/callback"}),
            "providers.web.logout_path: must differ",
        ),
        (
            "path with query",
            json!({"redirect_path": "/cb?x=1"}),
            "providers.web.redirect_path: must be a path",
        ),
        (
            "relative path",
            json!({"redirect_path": "cb"}),
            "providers.web.redirect_path: must be a path",
        ),
        (
            "bad scope",
            json!({"scopes": ["a b"]}),
            "providers.web.scopes[0]: must be a scope token",
        ),
        (
            "same_site None",
            json!({"cookie": {"same_site": "None"}}),
            "providers.web.cookie.same_site: must be `Lax` or `Strict`",
        ),
        (
            "short session",
            json!({"cookie": {"max_age_seconds": 5}}),
            "providers.web.cookie.max_age_seconds:",
        ),
        (
            "cookie name",
            json!({"cookie": {"name": "a b"}}),
            "providers.web.cookie.name:",
        ),
        (
            "skew",
            json!({"clock_skew_seconds": 3600}),
            "providers.web.clock_skew_seconds:",
        ),
        (
            "logout target",
            json!({"post_logout_redirect_uri": "javascript:alert(1)"}),
            "providers.web.post_logout_redirect_uri:",
        ),
        (
            "unknown field",
            json!({"cookie_secret": "x"}),
            "providers.web.cookie_secret: unknown field",
        ),
        (
            "no discovery",
            json!({"discovery": null}),
            "missing field `discovery`",
        ),
    ] {
        let got = compile(extra)
            .err()
            .unwrap_or_else(|| panic!("{name}: loaded"));
        assert!(got.contains(want), "{name}: {got}");
        assert!(
            !got.contains("s3cret") && !got.contains(KEY_A),
            "{name}: a secret in {got}"
        );
    }
}

mod session {
    use super::compile;
    use crate::providers::oidc::session_check::{find, verify};
    use crate::providers::{Found, Rejection};
    use crate::request::{HeaderList, Request};
    use crate::session::{cookies, payload::Session};
    use serde_json::json;

    fn sealed(s: &super::Settings, session: &Session) -> String {
        s.seal(&s.cookie, &[4; 24], &session.to_json()).unwrap()
    }

    fn alice(expires: u64) -> Session {
        Session {
            subject: "alice".into(),
            expires,
            claims: json!({"email": "alice@example.com"})
                .as_object()
                .unwrap()
                .clone(),
            access_token: Some("at-1".into()),
        }
    }

    #[test]
    fn a_sealed_session_lets_the_request_in_with_its_claims() {
        let s = compile(json!({"forward_access_token": true})).unwrap();
        let value = sealed(&s, &alice(100));
        let cookie = format!("theme=dark; __Host-authgate={value}");
        let view = HeaderList::new("GET", "/", &[("cookie", &cookie)]);
        let req = Request::new(&view);
        let Found::One(v, 0) = find(&s, &req) else {
            panic!("not found")
        };
        let headers = vec![("email".to_string(), "x-email".to_string())];
        let ok = verify(&s, &headers, &v, &req, 99).unwrap();
        assert_eq!(ok.identity.as_deref(), Some("alice"));
        assert_eq!(ok.claims.unwrap()["sub"], "alice");
        assert!(ok
            .edits
            .set
            .contains(&("x-email".into(), "alice@example.com".into())));
        assert!(ok
            .edits
            .set
            .contains(&("authorization".into(), "Bearer at-1".into())));
        assert!(
            ok.edits
                .set
                .contains(&("cookie".into(), "theme=dark".into())),
            "{:?}",
            ok.edits
        );
    }

    #[test]
    fn a_session_split_over_cookies_is_joined() {
        let s = compile(json!({})).unwrap();
        let mut big = alice(100);
        big.claims.insert(
            "groups".into(),
            json!((0..400).map(|i| format!("group-{i}")).collect::<Vec<_>>()),
        );
        let value = sealed(&s, &big);
        let lines = cookies::set(
            &s.cookie,
            &value,
            &cookies::Attributes {
                max_age: 60,
                same_site: "Lax",
            },
        )
        .unwrap();
        let header: Vec<&str> = lines
            .iter()
            .filter(|l| !l.contains("Max-Age=0"))
            .map(|l| l.split(';').next().unwrap())
            .collect();
        assert!(header.len() > 1);
        let header = header.join("; ");
        let view = HeaderList::new("GET", "/", &[("cookie", &header)]);
        let req = Request::new(&view);
        let Found::One(v, 0) = find(&s, &req) else {
            panic!("not found")
        };
        let ok = verify(&s, &[], &v, &req, 1).unwrap();
        assert_eq!(
            ok.edits.remove,
            vec!["cookie".to_string()],
            "nothing else was in the header"
        );
    }

    #[test]
    fn what_does_not_open_is_no_session() {
        let s = compile(json!({})).unwrap();
        let good = sealed(&s, &alice(100));
        let other_name = s
            .seal("__Host-authgate-login", &[4; 24], &alice(100).to_json())
            .unwrap();
        let mut flipped = good.clone().into_bytes();
        flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
        // Same cookie name and secrets, another provider: the seal names issuer and client.
        let other_issuer = compile(json!({"issuer": "https://corp.example"})).unwrap();
        let other_client = compile(json!({"client_id": "admin"})).unwrap();
        for (name, value, now) in [
            ("ended", good.clone(), 100),
            ("sealed for another cookie", other_name, 1),
            (
                "sealed by another issuer",
                sealed(&other_issuer, &alice(100)),
                1,
            ),
            (
                "sealed for another client",
                sealed(&other_client, &alice(100)),
                1,
            ),
            ("tampered", String::from_utf8(flipped).unwrap(), 1),
            ("garbage", "x".repeat(80), 1),
        ] {
            let cookie = format!("__Host-authgate={value}");
            let view = HeaderList::new("GET", "/", &[("cookie", &cookie)]);
            let req = Request::new(&view);
            let got = verify(&s, &[], &value, &req, now);
            assert!(
                matches!(
                    got,
                    Err(Rejection::Refused(crate::error::Denial::MissingCredentials))
                ),
                "{name}"
            );
        }
        let view = HeaderList::new(
            "GET",
            "/",
            &[("cookie", "__Host-authgate=a; __Host-authgate=b")],
        );
        assert_eq!(find(&s, &Request::new(&view)), Found::Conflict);
        let view = HeaderList::new("GET", "/", &[("cookie", "other=1")]);
        assert_eq!(find(&s, &Request::new(&view)), Found::Absent);
    }
}

#[test]
fn a_rule_that_would_protect_a_sign_in_path_otherwise_is_refused() {
    let env = |name: &str| match name {
        "COOKIE_KEYS" => Some(KEY_A.to_string()),
        _ => None,
    };
    let compile = |rules: Value| {
        let doc = json!({"providers": {
            "web": {"type": "oidc", "issuer": "https://idp.example", "discovery": {"cluster": "idp"},
                    "client_id": "web", "auth_method": "none", "cookie_secrets_env": "COOKIE_KEYS"},
            "keys": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}},
            "rules": rules});
        let random: crate::capabilities::Random = std::rc::Rc::new(|b: &mut [u8]| {
            b.fill(1);
            true
        });
        crate::config::compile_with(
            doc.to_string().as_bytes(),
            [0; 32],
            None,
            &env,
            Some(random),
        )
        .map(|_| ())
        .map_err(|e| format!("{}: {}", e.field, e.reason))
    };
    assert!(
        compile(json!([{"match": {"prefix": "/"}, "requires": {"any": ["web", "keys"]}}])).is_ok()
    );
    assert!(
        compile(json!([{"match": {"prefix": "/api"}, "requires": "keys"}])).is_ok(),
        "rules elsewhere"
    );
    let public_site = json!([{"match": {"prefix": "/app"}, "requires": "web"}, {"match": {"prefix": "/"}, "requires": "none"}]);
    assert!(
        compile(public_site).is_ok(),
        "an open rule claims to protect nothing"
    );
    for (name, rules, want) in [
        (
            "another provider",
            json!([{"match": {"prefix": "/oauth2"}, "requires": "keys"}]),
            "providers.web.redirect_path: rules[0] matches /oauth2/callback",
        ),
        (
            "another provider, exactly",
            json!([{"match": {"path": "/oauth2/logout"}, "requires": "keys"}]),
            "providers.web.logout_path: rules[0] matches /oauth2/logout",
        ),
    ] {
        let got = compile(rules).unwrap_err();
        assert!(got.starts_with(want), "{name}: {got}");
    }
}

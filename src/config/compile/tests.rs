//! Configuration refusals name their field; secrets never reach debug output.

use super::*;

const KEY: &str = r#""k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}"#;

/// Secrets never reach debug output, raw or compiled (hashes included).
#[test]
fn debug_output_holds_no_secret() {
    let json = serde_json::json!({"providers": {
        "b": {"type": "basic", "htpasswd": "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
        "k": {"type": "api_key", "credentials": [{"client": "c", "key": "key-sekrit-1"}]},
        "j": {"type": "jwt", "local_jwks": {"keys": [{"kty": "oct", "k": "c2VrcmV0LXNla3JldC1zZWtyZXQtc2VrcmV0LXNla3JldA"}]}}
    }});
    let bytes = json.to_string();
    let raw: RawConfig =
        crate::schema::decode::Decode::decode(&serde_json::from_str(&bytes).unwrap(), "").unwrap();
    let section = |name: &str| {
        let mut v = raw.providers[name].clone();
        v.as_object_mut().unwrap().remove("type");
        v
    };
    let parsed = format!(
        "{:?} {:?} {:?}",
        crate::schema::section::<crate::providers::basic::RawBasic>("b", section("b")).unwrap(),
        crate::schema::section::<crate::providers::api_key::RawApiKey>("k", section("k")).unwrap(),
        crate::schema::section::<crate::providers::jwt::RawJwt>("j", section("j")).unwrap(),
    );
    let config = compile(bytes.as_bytes(), [0; 32]).unwrap();
    let k_digest: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(b"key-sekrit-1")
            .iter()
            .map(|b| format!("{b}, "))
            .collect()
    };
    for text in [format!("{parsed:?}"), format!("{config:?}")] {
        for secret in [
            "8TA3sJd",
            "5en6G6",
            "key-sekrit-1",
            "c2VrcmV0",
            k_digest.trim_end_matches(", "),
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn refusals_name_the_field() {
    let cases: &[(&str, String, &str)] = &[
        ("empty document", String::new(), ""),
        ("not json", "{".into(), ""),
        ("unknown top-level field", format!(r#"{{"providers": {{{KEY}}}, "realms": "x"}}"#), "realms"),
        ("unknown provider field", r#"{"providers": {"k": {"type": "api_key", "credentials": [], "keys": 1}}}"#.into(), "providers.k.keys"),
        ("unknown type", r#"{"providers": {"k": {"type": "digest"}}}"#.into(), "providers.k.type"),
        ("provider typo", r#"{"providers": {"p": {"type": "api_key", "credentials": [{"client": "c", "kye": "s"}]}}}"#.into(), "providers.p.credentials[0].kye"),
        ("nested provider typo", r#"{"providers": {"j": {"type": "jwt", "remote_jwks": {"uri": "http://a/k", "cluster": "c", "timeout": 1}}}}"#.into(), "providers.j.remote_jwks.timeout"),
        ("provider field of the wrong type", r#"{"providers": {"b": {"type": "basic", "htpasswd": 1}}}"#.into(), "providers.b.htpasswd"),
        ("provider without type", r#"{"providers": {"b": {"htpasswd": "u:{SHA}x"}}}"#.into(), "providers.b"),
        ("provider not an object", r#"{"providers": {"b": "basic"}}"#.into(), "providers.b"),
        ("no providers", r#"{"providers": {}}"#.into(), "providers"),
        ("provider named none", r#"{"providers": {"none": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#.into(), "providers.none"),
        ("plain-text password", r#"{"providers": {"b": {"type": "basic", "htpasswd": "u:pw"}}}"#.into(), "providers.b.htpasswd"),
        ("jwt without keys", r#"{"providers": {"j": {"type": "jwt", "issuer": "x"}}}"#.into(), "providers.j"),
        ("bad realm", format!(r#"{{"realm": "a\"b", "providers": {{{KEY}}}}}"#), "realm"),
        ("empty rules", format!(r#"{{"providers": {{{KEY}}}, "rules": []}}"#), "rules"),
        ("unknown provider in rule", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": "x"}}]}}"#), "rules[0].requires"),
        ("empty any", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"any": []}}}}]}}"#), "rules[0].requires.any"),
        ("any and all", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"any": ["k"], "all": ["k"]}}}}]}}"#), "rules[0].requires"),
        ("requires typo", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"one": ["k"]}}}}]}}"#), "rules[0].requires"),
        ("requires number", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": 1}}]}}"#), "rules[0].requires"),
        ("prefix and path", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/", "path": "/a"}}, "requires": "k"}}]}}"#), "rules[0].match"),
        ("relative prefix", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "a"}}, "requires": "k"}}]}}"#), "rules[0].match"),
        ("lower-case method", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/", "methods": ["get"]}}, "requires": "k"}}]}}"#), "rules[0].match.methods[0]"),
        ("scopes without jwt", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": "k", "scopes": ["a"]}}]}}"#), "rules[0].scopes"),
        ("forward header is a credential header", r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}], "forward_client_header": "x-api-key"}}}"#.into(), "providers.k.forward_client_header"),
    ];
    for (name, json, field) in cases {
        let err = compile(json.as_bytes(), [0; 32]).map(|_| ()).unwrap_err();
        assert_eq!(err.field, *field, "{name}: {err}");
        assert!(
            !err.to_string().contains('\n'),
            "{name}: one line please: {err}"
        );
        assert!(
            !err.to_string().contains("pw"),
            "{name}: echoes a secret: {err}"
        );
    }
}

#[test]
fn contract_example_without_jwt_compiles() {
    let json = r#"{
      "realm": "api",
      "providers": {
        "staff": { "type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                   "forward_username_header": "x-auth-user" },
        "partners": { "type": "api_key",
                      "credentials": [ { "client": "acme", "key": "k-1" },
                                       { "client": "globex", "key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" } ],
                      "key_sources": [ { "header": "x-api-key" }, { "query": "api_key" }, { "cookie": "api_key" } ],
                      "forward_client_header": "x-auth-client" }
      },
      "rules": [
        { "match": { "prefix": "/healthz" }, "requires": "none" },
        { "match": { "prefix": "/admin", "methods": ["POST", "DELETE"] }, "requires": { "all": ["staff", "partners"] } },
        { "match": { "path": "/public/feed" }, "requires": { "any": ["partners"], "allow_missing": true } },
        { "match": { "prefix": "/" }, "requires": { "any": ["partners", "staff"] } }
      ],
      "allow_cors_preflight": true
    }"#;
    let c = compile(json.as_bytes(), [0; 32]).unwrap();
    assert_eq!(c.rules.len(), 5);
    assert_eq!(
        c.identity_headers,
        ["x-auth-client", "x-auth-user", "x-authgate-would-deny"]
    );
}

/// Two sign-in providers that would read each other's cookies or answer each other's paths
/// are refused at load, naming the second one's field.
#[test]
fn sign_ins_that_would_collide_are_refused() {
    let env = |name: &str| match name {
        "KEYS" => Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string()),
        "SECRET" => Some("s".to_string()),
        _ => None,
    };
    let random: crate::capabilities::Random = std::rc::Rc::new(|b: &mut [u8]| {
        b.fill(1);
        true
    });
    let oidc = |issuer: &str, extra: serde_json::Value| {
        let mut v = serde_json::json!({"type": "oidc", "issuer": issuer, "discovery": {"cluster": "idp"},
            "client_id": "web", "client_secret_env": "SECRET", "cookie_secrets_env": "KEYS"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let corp_paths = serde_json::json!({"redirect_path": "/admin/cb", "logout_path": "/admin/out",
        "login_path": "/admin/in"});
    let mut corp_own = corp_paths.clone();
    corp_own["cookie"] = serde_json::json!({"name": "__Host-corp"});
    for (name, corp, want) in [
        (
            "default cookie twice",
            corp_paths.clone(),
            Some(("providers.public.cookie.name", "__Host-authgate")),
        ),
        (
            "a chunk name",
            serde_json::json!({"cookie": {"name": "__Host-authgate.1"}}),
            Some(("providers.public.cookie.name", "also the session cookie")),
        ),
        (
            "the login cookie",
            serde_json::json!({"cookie": {"name": "__Host-authgate-login"}}),
            Some(("providers.public.cookie.name", "also the session cookie")),
        ),
        (
            "same callback",
            serde_json::json!({"cookie": {"name": "__Host-corp"}}),
            Some((
                "providers.public.redirect_path",
                "/oauth2/callback is also a path",
            )),
        ),
        ("apart", corp_own, None),
    ] {
        let config = serde_json::json!({"providers": {
            "public": oidc("https://public.example", serde_json::json!({})),
            "corp": oidc("https://corp.example", corp),
        }, "rules": [{"match": {"prefix": "/admin"}, "requires": "corp"},
                     {"match": {"prefix": "/"}, "requires": {"any": ["public", "corp"]}}]});
        let got = compile_with(
            config.to_string().as_bytes(),
            [0; 32],
            None,
            &env,
            Some(random.clone()),
        );
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some((field, words))) => {
                assert_eq!(e.field, field, "{name}: {e}");
                assert!(e.to_string().contains(words), "{name}: {e}");
            }
            (got, want) => panic!("{name}: {:?} against {want:?}", got.err()),
        }
    }
}

/// Requests are matched in their normal form, so a rule's path must be in it too: one that is
/// not would never match, and its requests would fall to a later rule.
#[test]
fn rule_paths_in_normal_form() {
    for (path, want) in [
        ("/api//v2", Some("write `/api/v2`")),
        ("/%7Euser", Some("write `/~user`")),
        ("/a/./b", Some("write `/a/b`")),
        ("/caf%c3%a9", Some("write `/caf%C3%A9`")),
        ("/a%2Fb", Some("no request path matches it")),
        ("/caf%C3%A9", None),
        ("/admin", None),
        ("/api/", None),
    ] {
        let json = format!(
            r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "{path}"}}, "requires": "k"}}]}}"#
        );
        match (compile(json.as_bytes(), [0; 32]), want) {
            (Ok(_), None) => {}
            (Err(e), Some(words)) => {
                assert_eq!(e.field, "rules[0].match.prefix", "{path}");
                assert!(e.to_string().contains(words), "{path}: {e}");
            }
            (got, want) => panic!("{path}: {:?} against {want:?}", got.err()),
        }
    }
}

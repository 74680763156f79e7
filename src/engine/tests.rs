//! The decision, table-driven: rules, any/all, allow_missing, schemes, conflicts, preflight;
//! throttled replies; JWT scopes with any/all (RFC 7515 §A.3's token).

mod decisions {
    use crate::engine::*;
    use crate::request::HeaderList;
    use base64::Engine as _;

    const CONFIG: &str = r#"{
        "realm": "api",
        "providers": {
            "staff": { "type": "basic",
                       "htpasswd": "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                       "forward_username_header": "x-auth-user" },
            "partners": { "type": "api_key",
                          "credentials": [ { "client": "acme", "key": "k-1" } ],
                          "key_sources": [ { "header": "x-api-key" }, { "query": "api_key" } ],
                          "forward_client_header": "x-auth-client" }
        },
        "rules": [
            { "match": { "prefix": "/healthz" }, "requires": "none" },
            { "match": { "prefix": "/admin", "methods": ["POST", "DELETE"] }, "requires": { "all": ["staff", "partners"] } },
            { "match": { "prefix": "/keys" }, "requires": "partners" },
            { "match": { "path": "/public/feed" }, "requires": { "any": ["partners", "staff"], "allow_missing": true } },
            { "match": { "prefix": "/" }, "requires": { "any": ["partners", "staff"] } }
        ]
    }"#;

    fn engine() -> Engine {
        Engine::from_json(CONFIG.as_bytes(), [9; 32]).unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[derive(Debug)]
    enum Want {
        Allow(&'static [(&'static str, &'static str)]),
        Deny(u16, &'static str),
    }

    #[test]
    fn decision_table() {
        let e = engine();
        let alice = basic("alice:secret");
        let bob = basic("bob:secret");
        let wrong = basic("bob:wrong");
        let bob_mixed_case = bob.replace("Basic", "bASIC");
        type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>, Want);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("none rule", "GET", "/healthz", vec![], Want::Allow(&[])),
            ("missing", "GET", "/x", vec![], Want::Deny(401, "missing_credentials")),
            ("basic bcrypt", "GET", "/x", vec![("authorization", &alice)], Want::Allow(&[("x-auth-user", "alice")])),
            ("basic sha", "GET", "/x", vec![("authorization", &bob)], Want::Allow(&[("x-auth-user", "bob")])),
            ("basic wrong", "GET", "/x", vec![("authorization", &wrong)], Want::Deny(401, "invalid_credentials")),
            ("scheme case", "GET", "/x", vec![("authorization", &bob_mixed_case)], Want::Allow(&[("x-auth-user", "bob")])),
            ("key header", "GET", "/x", vec![("x-api-key", "k-1")], Want::Allow(&[("x-auth-client", "acme")])),
            ("key query", "GET", "/x?api_key=k-1", vec![], Want::Allow(&[("x-auth-client", "acme")])),
            ("key wrong", "GET", "/x", vec![("x-api-key", "k-2")], Want::Deny(401, "invalid_credentials")),
            ("key twice", "GET", "/x?api_key=k-1", vec![("x-api-key", "k-1")], Want::Deny(400, "invalid_request")),
            ("two authorization", "GET", "/x", vec![("authorization", &bob), ("authorization", &bob)], Want::Deny(400, "invalid_request")),
            ("bearer not accepted", "GET", "/x", vec![("authorization", "Bearer abc")], Want::Deny(401, "unsupported_scheme")),
            ("empty Basic is a missing credential", "GET", "/x", vec![("authorization", "Basic")], Want::Deny(401, "missing_credentials")),
            ("empty Basic with a valid key", "GET", "/x", vec![("authorization", "basic "), ("x-api-key", "k-1")], Want::Allow(&[("x-auth-client", "acme")])),
            ("empty Bearer is still a foreign scheme here", "GET", "/x", vec![("authorization", "Bearer")], Want::Deny(401, "unsupported_scheme")),
            ("any: one valid is enough", "GET", "/x", vec![("authorization", &wrong), ("x-api-key", "k-1")], Want::Allow(&[("x-auth-client", "acme")])),
            ("any: unsupported scheme but valid key", "GET", "/x", vec![("authorization", "Digest a=1"), ("x-api-key", "k-1")], Want::Allow(&[("x-auth-client", "acme")])),
            ("basic not accepted on key route", "GET", "/keys", vec![("authorization", &bob)], Want::Deny(401, "unsupported_scheme")),
            ("all: both", "POST", "/admin", vec![("authorization", &bob), ("x-api-key", "k-1")], Want::Allow(&[("x-auth-user", "bob"), ("x-auth-client", "acme")])),
            ("all: one missing", "POST", "/admin", vec![("authorization", &bob)], Want::Deny(401, "missing_credentials")),
            ("all: one wrong", "POST", "/admin", vec![("authorization", &bob), ("x-api-key", "nope")], Want::Deny(401, "invalid_credentials")),
            ("method not in rule falls through", "GET", "/admin", vec![("authorization", &bob)], Want::Allow(&[("x-auth-user", "bob")])),
            ("allow_missing: nothing sent", "GET", "/public/feed", vec![], Want::Allow(&[])),
            ("allow_missing: wrong sent", "GET", "/public/feed", vec![("x-api-key", "nope")], Want::Deny(401, "invalid_credentials")),
            ("allow_missing: unsupported", "GET", "/public/feed", vec![("authorization", "Bearer x")], Want::Deny(401, "unsupported_scheme")),
            ("preflight", "OPTIONS", "/x", vec![("origin", "https://a"), ("access-control-request-method", "GET")], Want::Allow(&[])),
            ("options without preflight headers", "OPTIONS", "/x", vec![("origin", "https://a")], Want::Deny(401, "missing_credentials")),
        ];
        for (name, method, path, mut headers, want) in cases {
            // Every request also carries forged identity headers: they must never pass.
            headers.extend([("x-auth-user", "forged"), ("x-auth-client", "forged")]);
            let view = HeaderList::new(method, path, &headers);
            let got = e.decide(&view, 0);
            match (&want, &got) {
                (Want::Allow(set), Decision::Allow(v)) => {
                    let set: Vec<(String, String)> = set
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(v.edits.set, set, "{name}");
                    assert!(
                        v.edits.remove.contains(&"x-auth-user".to_string()),
                        "{name}: spoofable"
                    );
                    let clean = HeaderList::new(method, path, &headers[..headers.len() - 2]);
                    let Decision::Allow(c) = e.decide(&clean, 0) else {
                        panic!("{name}")
                    };
                    assert!(
                        !c.edits.remove.iter().any(|h| h.starts_with("x-auth-")),
                        "{name}: an absent identity header costs no removal"
                    );
                    assert!(
                        v.edits.remove.contains(&"x-auth-client".to_string()),
                        "{name}: spoofable"
                    );
                }
                (Want::Deny(status, code), Decision::Deny(d)) => {
                    assert_eq!(d.reply.status, *status, "{name}");
                    assert_eq!(d.denial.code(), *code, "{name}");
                }
                _ => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn challenges_follow_rule_order() {
        let e = engine();
        let Decision::Deny(d) = e.decide(&HeaderList::new("GET", "/", &[]), 0) else {
            panic!()
        };
        let www = d.reply.challenges();
        assert_eq!(
            www,
            [
                "ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\"",
                "Basic realm=\"api\", charset=\"UTF-8\""
            ]
        );
        assert_eq!(d.rule, "rules[4]");
    }

    #[test]
    fn no_rules_means_any_provider() {
        let e = Engine::from_json(br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#, [0; 32]).unwrap();
        assert!(matches!(
            e.decide(&HeaderList::new("GET", "/", &[]), 0),
            Decision::Deny(_)
        ));
        assert!(matches!(
            e.decide(&HeaderList::new("GET", "/", &[("x-api-key", "s")]), 0),
            Decision::Allow(_)
        ));
        assert_eq!(e.config().realm, "authgate");
    }

    #[test]
    fn credential_never_in_reply() {
        let e = engine();
        let secret = "sup3r-s3cret-value";
        for headers in [
            vec![("x-api-key", secret)],
            vec![("authorization", &*format!("Bearer {secret}"))],
        ] {
            let Decision::Deny(d) = e.decide(
                &HeaderList::new("GET", &format!("/x?q={secret}"), &headers),
                0,
            ) else {
                panic!()
            };
            let all = format!("{:?}", d);
            assert!(!all.contains(secret), "{all}");
        }
    }
}

mod throttle {
    use crate::engine::*;
    use crate::request::HeaderList;

    #[test]
    fn throttled_replies_and_report_mode() {
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}}"#;
        let e = Engine::from_json(json, [0; 32]).unwrap();
        let Decision::Deny(d) = e.throttled(&HeaderList::new("GET", "/", &[]), 7) else {
            panic!()
        };
        assert_eq!((d.reply.status, d.rule.as_str()), (429, "throttle"));
        assert!(d
            .reply
            .headers
            .contains(&("retry-after".into(), "7".into())));
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}, "mode": "report"}"#;
        let e = Engine::from_json(json, [0; 32]).unwrap();
        let Decision::Allow(a) = e.throttled(&HeaderList::new("GET", "/", &[]), 7) else {
            panic!()
        };
        let mark = (
            "x-authgate-would-deny".to_string(),
            "too_many_failures; rule=throttle".to_string(),
        );
        assert!(a.edits.set.contains(&mark), "{:?}", a.edits.set);
        assert_eq!(a.would_deny.unwrap().rule, "throttle");
    }
}

mod authority;
mod mcp;
mod scopes;

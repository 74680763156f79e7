//! The `basic` provider: RFC 7617 parsing, bcrypt and {SHA}, the decoy, the cache.

use super::*;

const HTPASSWD: &str = "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\n\
                        bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";

fn provider() -> BasicProvider {
    BasicProvider::compile(
        &Setup {
            name: "staff",
            secret: [0; 32],
            signatures: None,
            audiences: &[],
            env: crate::providers::NO_ENV,
            random: None,
        },
        &RawBasic {
            htpasswd: HTPASSWD.into(),
            forward_username_header: Some("X-Auth-User".into()),
            hide_credentials: None,
        },
    )
    .unwrap()
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn verify_table() {
    let p = provider();
    let cases: &[(&str, String, Result<&str, Denial>)] = &[
        ("bcrypt ok", b64(b"alice:secret"), Ok("alice")),
        ("sha ok", b64(b"bob:secret"), Ok("bob")),
        (
            "no padding",
            b64(b"bob:secret").trim_end_matches('=').into(),
            Ok("bob"),
        ),
        ("bcrypt wrong", b64(b"alice:nope"), Err(WRONG)),
        ("sha wrong", b64(b"bob:nope"), Err(WRONG)),
        ("unknown user", b64(b"carol:secret"), Err(WRONG)),
        ("user is case-sensitive", b64(b"Alice:secret"), Err(WRONG)),
        ("no colon", b64(b"alicesecret"), Err(MALFORMED)),
        ("not base64", "***".into(), Err(MALFORMED)),
        ("empty", String::new(), Err(MALFORMED)),
        ("NUL in password", b64(b"bob:sec\0ret"), Err(MALFORMED)),
        ("non-UTF-8 user", b64(b"\xff:secret"), Err(MALFORMED)),
        (
            "too long",
            "A".repeat(MAX_ENCODED_LEN + 4),
            Err(Denial::InvalidCredentials("Basic credentials too long")),
        ),
    ];
    for (name, input, want) in cases {
        let got = p.check(input);
        match want {
            Ok(user) => {
                let v = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    v.edits.set,
                    vec![("x-auth-user".to_string(), user.to_string())],
                    "{name}"
                );
            }
            Err(d) => assert_eq!(got.unwrap_err(), *d, "{name}"),
        }
    }
}

#[test]
fn password_may_contain_colons() {
    let p = BasicProvider::compile(
        &Setup {
            name: "s",
            secret: [0; 32],
            signatures: None,
            audiences: &[],
            env: crate::providers::NO_ENV,
            random: None,
        },
        &RawBasic {
            htpasswd: format!("u:{{SHA}}{}", b64(&Sha1::digest(b"a:b"))),
            forward_username_header: None,
            hide_credentials: Some(true),
        },
    )
    .unwrap();
    let v = p.check(&b64(b"u:a:b")).unwrap();
    assert_eq!(v.edits.remove, vec!["authorization".to_string()]);
}

#[test]
fn bcrypt_outcomes_are_cached() {
    let p = provider();
    let good = b64(b"alice:secret");
    assert!(p.check(&good).is_ok());
    assert!(p.check(&b64(b"alice:bad")).is_err());
    assert_eq!(p.cached(), 2);
    assert!(p.check(&good).is_ok());
    assert!(p.check(&b64(b"alice:bad")).is_err());
    assert_eq!(p.cached(), 2);
}

//! The answers of RFC 8693 §2.2 and what each means, by name.

use super::answer::*;
use serde_json::json;

/// A named case: the status, the body, and what the answer must be.
type Case = (
    &'static str,
    Option<u16>,
    String,
    Box<dyn Fn(&Outcome) -> bool>,
);

const TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn issued(token: &str, expires_in: Option<u64>) -> Outcome {
    Outcome::Issued(Issued {
        token: token.into(),
        issued_token_type: TOKEN_TYPE.into(),
        expires_in,
        scope: None,
    })
}

#[test]
fn answers_and_what_they_mean() {
    let ok = |extra: serde_json::Value| {
        let mut doc = json!({"access_token": "eyJ.a.b", "issued_token_type": TOKEN_TYPE,
                             "token_type": "Bearer", "expires_in": 60});
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        doc.to_string()
    };
    let unavailable = |o: &Outcome| matches!(o, Outcome::Unavailable(_));
    let cases: Vec<Case> = vec![
        // §2.2.1: the REQUIRED members, expires_in RECOMMENDED.
        (
            "an issued token",
            Some(200),
            ok(json!({})),
            Box::new(|o| *o == issued("eyJ.a.b", Some(60))),
        ),
        (
            "no expires_in",
            Some(200),
            ok(json!({"expires_in": null})),
            Box::new(|o| *o == issued("eyJ.a.b", None)),
        ),
        (
            "token_type in lower case",
            Some(200),
            ok(json!({"token_type": "bearer"})),
            Box::new(|o| matches!(o, Outcome::Issued(_))),
        ),
        (
            "a scope",
            Some(200),
            ok(json!({"scope": "read"})),
            Box::new(|o| matches!(o, Outcome::Issued(i) if i.scope.as_deref() == Some("read"))),
        ),
        (
            "no access_token",
            Some(200),
            ok(json!({"access_token": null})),
            Box::new(unavailable),
        ),
        (
            "no issued_token_type",
            Some(200),
            ok(json!({"issued_token_type": null})),
            Box::new(unavailable),
        ),
        (
            "a token that is not a bearer token (N_A)",
            Some(200),
            ok(json!({"token_type": "N_A"})),
            Box::new(unavailable),
        ),
        (
            "a token with a space",
            Some(200),
            ok(json!({"access_token": "a b"})),
            Box::new(unavailable),
        ),
        (
            "a token with a line break",
            Some(200),
            ok(json!({"access_token": "a\r\nx-evil: 1"})),
            Box::new(unavailable),
        ),
        (
            "an empty token",
            Some(200),
            ok(json!({"access_token": ""})),
            Box::new(unavailable),
        ),
        (
            "a negative expires_in",
            Some(200),
            ok(json!({"expires_in": -5})),
            Box::new(unavailable),
        ),
        (
            "expires_in as a string (Azure AD v1)",
            Some(200),
            ok(json!({"expires_in": "60"})),
            Box::new(|o| matches!(o, Outcome::Issued(i) if i.expires_in == Some(60))),
        ),
        (
            "expires_in with a fraction",
            Some(200),
            ok(json!({"expires_in": 59.9})),
            Box::new(|o| matches!(o, Outcome::Issued(i) if i.expires_in == Some(59))),
        ),
        (
            "expires_in as a word",
            Some(200),
            ok(json!({"expires_in": "soon"})),
            Box::new(unavailable),
        ),
        (
            "not JSON",
            Some(200),
            "<html>".into(),
            Box::new(unavailable),
        ),
        (
            "a JSON array",
            Some(200),
            "[]".into(),
            Box::new(unavailable),
        ),
        // §2.2.2 with RFC 6749 §5.2: refusals the caller is told of.
        (
            "invalid_target",
            Some(400),
            json!({"error": "invalid_target", "error_description": "no such audience"}).to_string(),
            Box::new(|o| {
                *o == Outcome::Refused {
                    error: "invalid_target".into(),
                    description: Some("no such audience".into()),
                }
            }),
        ),
        (
            "invalid_grant",
            Some(400),
            json!({"error": "invalid_grant"}).to_string(),
            Box::new(
                |o| matches!(o, Outcome::Refused { error, description: None } if error == "invalid_grant"),
            ),
        ),
        (
            "invalid_scope",
            Some(400),
            json!({"error": "invalid_scope"}).to_string(),
            Box::new(|o| matches!(o, Outcome::Refused { .. })),
        ),
        (
            "unauthorized_client",
            Some(403),
            json!({"error": "unauthorized_client"}).to_string(),
            Box::new(|o| matches!(o, Outcome::Refused { .. })),
        ),
        // The gateway's own credentials or request: not the caller's to mend.
        (
            "invalid_client",
            Some(401),
            json!({"error": "invalid_client"}).to_string(),
            Box::new(unavailable),
        ),
        // RFC 8693 §2.2.2: a subject token the server will not exchange is invalid_request;
        // it concerns this caller, not the server's health.
        (
            "invalid_request",
            Some(400),
            json!({"error": "invalid_request"}).to_string(),
            Box::new(|o| matches!(o, Outcome::Refused { .. })),
        ),
        (
            "access_denied (Keycloak's policy refusal)",
            Some(403),
            json!({"error": "access_denied"}).to_string(),
            Box::new(|o| matches!(o, Outcome::Refused { .. })),
        ),
        (
            "unsupported_grant_type",
            Some(400),
            json!({"error": "unsupported_grant_type"}).to_string(),
            Box::new(unavailable),
        ),
        (
            "an error answer without a code",
            Some(400),
            "{}".into(),
            Box::new(unavailable),
        ),
        (
            "a 400 that is not JSON",
            Some(400),
            "bad".into(),
            Box::new(unavailable),
        ),
        (
            "a 500",
            Some(500),
            json!({"error": "invalid_grant"}).to_string(),
            Box::new(unavailable),
        ),
        ("a 302", Some(302), String::new(), Box::new(unavailable)),
        ("no answer", None, String::new(), Box::new(unavailable)),
        (
            "a huge answer",
            Some(200),
            "x".repeat(MAX_ANSWER + 1),
            Box::new(unavailable),
        ),
    ];
    for (name, status, body, want) in cases {
        let got = read(status, body.as_bytes());
        assert!(want(&got), "{name}: {got:?}");
    }
}

#[test]
fn a_description_is_cut_to_printable_ascii() {
    let body = json!({"error": "invalid_target", "error_description": "bad \"aud\"\n\u{7f}é ok"})
        .to_string();
    let Outcome::Refused { description, .. } = read(Some(400), body.as_bytes()) else {
        panic!()
    };
    assert_eq!(description.as_deref(), Some("bad aud ok"));
}

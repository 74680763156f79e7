//! JWT scopes under `any` and `all` rules, with RFC 7515 §A.3's token.

use crate::engine::*;
use crate::providers::jwt::rfc_vectors::{A3_EC_X, A3_EC_Y, A3_JWS};
use crate::request::HeaderList;

/// RFC 7515 §A.3's token (ES256, `iss: joe`, no scope) is valid at this time.
const RFC_NOW: u64 = 1_300_819_300;

fn engine() -> Engine {
    let json = serde_json::json!({
        "providers": {
            "idp": {"type": "jwt", "issuer": "joe",
                    "local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}},
            "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}
        },
        "rules": [
            {"match": {"prefix": "/scoped"}, "requires": {"any": ["idp", "staff"]}, "scopes": ["read"]},
            {"match": {"prefix": "/both"}, "requires": {"all": ["idp", "staff"]}}
        ]
    });
    Engine::from_json(json.to_string().as_bytes(), [5; 32]).unwrap()
}

fn status(d: Decision) -> u16 {
    match d {
        Decision::Allow(_) => 200,
        Decision::Deny(d) => d.reply.status,
        Decision::Answer(r) => r.status,
        Decision::Wait(_) | Decision::ReadBody => 0,
    }
}

#[test]
fn scopes_and_combinations() {
    let e = engine();
    let bearer = format!("Bearer {A3_JWS}");
    let basic = "Basic Ym9iOnNlY3JldA==";
    let cases = [
        (
            "token without the scope",
            "/scoped",
            vec![("authorization", bearer.as_str())],
            RFC_NOW,
            403,
        ),
        (
            "basic user has no scopes",
            "/scoped",
            vec![("authorization", basic)],
            RFC_NOW,
            403,
        ),
        (
            "token in the default rule",
            "/other",
            vec![("authorization", bearer.as_str())],
            RFC_NOW,
            200,
        ),
        (
            "token expired",
            "/other",
            vec![("authorization", bearer.as_str())],
            RFC_NOW + 200,
            401,
        ),
        (
            "all: both in one Authorization is impossible",
            "/both",
            vec![("authorization", bearer.as_str())],
            RFC_NOW,
            401,
        ),
    ];
    for (name, path, headers, now, want) in cases {
        assert_eq!(
            status(e.decide(&HeaderList::new("GET", path, &headers), now)),
            want,
            "{name}"
        );
    }
}

/// Which failure wins does not depend on the rule's order: a provider still waiting for its
/// keys may yet accept, so the request waits rather than get the 403 of a Basic user short of
/// scope; once the wait is over, the token could not be checked and that is the answer.
#[test]
fn waiting_outranks_a_scope_shortfall_in_any_order() {
    for order in [["idp", "staff"], ["staff", "idp"]] {
        let json = serde_json::json!({
            "providers": {
                "idp": {"type": "jwt", "issuer": "joe", "from_headers": [{"name": "x-token"}],
                        "remote_jwks": {"uri": "https://idp.test/keys", "cluster": "idp"}},
                "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}
            },
            "rules": [{"match": {"prefix": "/"}, "requires": {"any": order}, "scopes": ["read"]}]
        });
        let e = Engine::from_json(json.to_string().as_bytes(), [5; 32]).unwrap();
        let h = [
            ("x-token", A3_JWS),
            ("authorization", "Basic Ym9iOnNlY3JldA=="),
        ];
        let view = HeaderList::new("GET", "/", &h);
        assert_eq!(
            e.decide(&view, RFC_NOW),
            Decision::Wait(Awaited {
                provider: 0,
                need: crate::providers::Need::Keys
            }),
            "{order:?}"
        );
        let Decision::Deny(d) = e.decide_now(&view, RFC_NOW) else {
            panic!("{order:?}")
        };
        assert!(
            d.reply.body.contains("could not be fetched in time"),
            "{order:?}"
        );
    }
}

/// RFC 9728 with a `resource`: the metadata document is answered before any rule, every
/// Bearer challenge points at it, a scoped route's 401 names the scope, and a token must be
/// issued for the resource when the provider names no audience.
#[test]
fn protected_resource_metadata_and_challenges() {
    let json = serde_json::json!({
        "providers": {"idp": {"type": "jwt", "issuer": "joe",
                              "local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}}},
        "rules": [{"match": {"prefix": "/mcp"}, "requires": "idp", "scopes": ["mcp:tools"]}],
        "resource": {"id": "https://api.example.com/mcp", "authorization_servers": ["https://as.example.com"]}
    });
    let e = Engine::from_json(json.to_string().as_bytes(), [5; 32]).unwrap();
    let url = "https://api.example.com/.well-known/oauth-protected-resource/mcp";
    let Decision::Answer(doc) = e.decide(
        &HeaderList::new("GET", "/.well-known/oauth-protected-resource/mcp?x", &[]),
        0,
    ) else {
        panic!("metadata")
    };
    assert_eq!(doc.status, 200);
    let at = [(":authority", "api.example.com")];
    let Decision::Deny(d) = e.decide(&HeaderList::new("GET", "/mcp", &at), RFC_NOW) else {
        panic!("401")
    };
    let www = d.reply.challenges();
    assert_eq!(
        www,
        [format!(
            "Bearer realm=\"authgate\", resource_metadata=\"{url}\", scope=\"mcp:tools\""
        )]
    );
    let body: serde_json::Value = serde_json::from_str(&d.reply.body).unwrap();
    assert_eq!(body["resource_metadata"], url);
    // RFC 9728 §3.3: only requests inside the resource are pointed at its document.
    let cases = [
        ("below the id", "api.example.com", "/mcp/tools", true),
        (
            "host case and port 443",
            "API.example.com:443",
            "/mcp",
            true,
        ),
        ("another path", "api.example.com", "/stock", false),
        ("a longer segment", "api.example.com", "/mcpx", false),
        ("another host", "other.example.com", "/mcp", false),
        ("another port", "api.example.com:8443", "/mcp", false),
    ];
    for (name, authority, path, inside) in cases {
        let view = HeaderList::new("GET", path, &[(":authority", authority)]);
        let Decision::Deny(d) = e.decide(&view, RFC_NOW) else {
            panic!("{name}")
        };
        let www = d.reply.challenges().join(" ");
        let body: serde_json::Value = serde_json::from_str(&d.reply.body).unwrap();
        assert_eq!(www.contains("resource_metadata="), inside, "{name}: {www}");
        assert_eq!(body.get("resource_metadata").is_some(), inside, "{name}");
    }
    // RFC 7515 §A.3's token has no `aud`: not issued for this resource.
    let bearer = format!("Bearer {A3_JWS}");
    let Decision::Deny(d) = e.decide(
        &HeaderList::new("GET", "/mcp", &[("authorization", &bearer)]),
        RFC_NOW,
    ) else {
        panic!("audience")
    };
    assert!(
        d.reply.body.contains("audience not accepted"),
        "{}",
        d.reply.body
    );
}

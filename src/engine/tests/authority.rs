//! A malformed authority (issue 21: two `Host` lines that Envoy joins with a comma opened a
//! wildcard host rule) is a 400 before any rule decides, wherever authgate reads it; where
//! nothing reads it, it is not authgate's to judge.

use crate::engine::*;
use crate::request::HeaderList;

fn engine(extra: serde_json::Value) -> Engine {
    let mut json = serde_json::json!({
        "providers": {"keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}},
        "rules": [
            {"match": {"prefix": "/", "hosts": ["*.open.example.com"]}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "keys"}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        json[k] = v.clone();
    }
    Engine::from_json(json.to_string().as_bytes(), [4; 32]).unwrap()
}

fn decide(e: &Engine, authority: &str) -> Decision {
    e.decide(
        &HeaderList::new("GET", "/", &[(":authority", authority)]),
        0,
    )
}

#[test]
fn two_hosts_joined_never_open_a_wildcard_rule() {
    let e = engine(serde_json::json!({}));
    assert!(matches!(
        decide(&e, "x.open.example.com"),
        Decision::Allow(_)
    ));
    for bad in [
        "internal.example.com,x.open.example.com",
        "x.open.example.com, internal.example.com",
        "x.open.example.com:99999",
        "",
        " x.open.example.com",
    ] {
        let Decision::Deny(d) = decide(&e, bad) else {
            panic!("{bad:?} was not refused")
        };
        assert_eq!(d.denial, Denial::BadAuthority, "{bad:?}");
        assert_eq!(d.reply.status, 400);
        assert!(d.reply.challenges().is_empty(), "{bad:?}");
        let body: serde_json::Value = serde_json::from_str(&d.reply.body).unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(body["detail"].as_str().unwrap().contains("Host"));
    }
    // In report mode nothing is refused, and the would-be refusal is marked.
    let report = engine(serde_json::json!({"mode": "report"}));
    let Decision::Allow(a) = decide(&report, "a.example.com,x.open.example.com") else {
        panic!("report mode refuses nothing")
    };
    assert_eq!(a.would_deny.unwrap().denial, Denial::BadAuthority);
}

#[test]
fn a_configuration_that_never_reads_the_authority_leaves_it_alone() {
    let json = serde_json::json!({
        "providers": {"keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}},
        "rules": [{"match": {"prefix": "/"}, "requires": "keys"}]
    });
    let e = Engine::from_json(json.to_string().as_bytes(), [4; 32]).unwrap();
    assert!(!e.config().reads_authority);
    let view = HeaderList::new("GET", "/", &[(":authority", "a,b"), ("x-api-key", "k-1")]);
    assert!(matches!(e.decide(&view, 0), Decision::Allow(_)));
    // A resource or a DPoP provider reads it.
    let with_resource = engine(serde_json::json!({"resource":
        {"id": "https://api.example.com", "authorization_servers": ["https://as.example.com"]}}));
    assert!(with_resource.config().reads_authority);
}

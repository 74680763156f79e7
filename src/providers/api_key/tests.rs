//! The `api_key` provider: sources, constant-time matching, hiding, refusals at load.

use super::*;
use crate::authorization::Authorization;
use crate::request::HeaderList;

fn provider(sources: Option<Vec<RawKeySource>>, hide: bool) -> ApiKeyProvider {
    ApiKeyProvider::compile(
        "partners",
        &RawApiKey {
            credentials: vec![
                RawApiKeyCredential {
                    client: "acme".into(),
                    key: Some("k-1".into()),
                    key_sha256: None,
                },
                RawApiKeyCredential {
                    client: "globex".into(),
                    key: None,
                    key_sha256: Some(format!("{:x}", Sha256::digest(b"k-2")).to_uppercase()),
                },
            ],
            key_sources: sources,
            forward_client_header: Some("x-auth-client".into()),
            hide_credentials: Some(hide),
        },
    )
    .unwrap()
}

fn src(h: Option<&str>, q: Option<&str>, c: Option<&str>) -> RawKeySource {
    RawKeySource {
        header: h.map(Into::into),
        query: q.map(Into::into),
        cookie: c.map(Into::into),
    }
}

fn all_sources() -> Option<Vec<RawKeySource>> {
    Some(vec![
        src(Some("X-Api-Key"), None, None),
        src(None, Some("api_key"), None),
        src(None, None, Some("api_key")),
    ])
}

#[test]
fn find_table() {
    let p = provider(all_sources(), false);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Found);
    let cases: &[Case] = &[
        (
            "header",
            "/",
            &[("x-api-key", "k-1")],
            Found::One("k-1".into(), 0),
        ),
        (
            "query",
            "/a?x=1&api_key=k%2D1",
            &[],
            Found::One("k-1".into(), 1),
        ),
        (
            "cookie",
            "/",
            &[("cookie", "a=b; api_key=k-1")],
            Found::One("k-1".into(), 2),
        ),
        ("none", "/?other=1", &[("cookie", "a=b")], Found::Absent),
        ("empty header", "/", &[("x-api-key", "")], Found::Absent),
        (
            "header and query",
            "/?api_key=k-1",
            &[("x-api-key", "k-1")],
            Found::Conflict,
        ),
        ("query twice", "/?api_key=a&api_key=b", &[], Found::Conflict),
        (
            "cookie twice",
            "/",
            &[("cookie", "api_key=a; api_key=b")],
            Found::Conflict,
        ),
        (
            "header twice",
            "/",
            &[("x-api-key", "a"), ("x-api-key", "b")],
            Found::Conflict,
        ),
    ];
    for (name, path, headers, want) in cases {
        let view = HeaderList::new("GET", path, headers);
        assert_eq!(
            &p.find(&Request::new(&view), &Authorization::Absent),
            want,
            "{name}"
        );
    }
}

#[test]
fn verify_table() {
    let p = provider(None, false);
    let view = HeaderList::new("GET", "/", &[]);
    let req = Request::new(&view);
    let client = |c: &str| vec![("x-auth-client".to_string(), c.to_string())];
    assert_eq!(p.check("k-1", 0, &req).unwrap().edits.set, client("acme"));
    assert_eq!(p.check("k-2", 0, &req).unwrap().edits.set, client("globex"));
    assert_eq!(
        p.check("k-3", 0, &req),
        Err(Denial::InvalidCredentials("unknown API key"))
    );
    assert_eq!(
        p.check("K-1", 0, &req),
        Err(Denial::InvalidCredentials("unknown API key"))
    );
    let long = "k".repeat(MAX_KEY_LEN + 1);
    assert_eq!(
        p.check(&long, 0, &req),
        Err(Denial::InvalidCredentials("API key too long"))
    );
}

#[test]
fn hides_the_key() {
    let p = provider(all_sources(), true);
    let view = HeaderList::new(
        "GET",
        "/a?x=1&api_key=k-1&y=2",
        &[("cookie", "s=1; api_key=k-1")],
    );
    let req = Request::new(&view);
    assert_eq!(
        p.check("k-1", 0, &req).unwrap().edits.remove,
        vec!["x-api-key".to_string()]
    );
    assert!(p
        .check("k-1", 1, &req)
        .unwrap()
        .edits
        .set
        .contains(&(":path".into(), "/a?x=1&y=2".into())));
    assert!(p
        .check("k-1", 2, &req)
        .unwrap()
        .edits
        .set
        .contains(&("cookie".into(), "s=1".into())));
}

#[test]
fn config_errors() {
    let base = || RawApiKey {
        credentials: vec![],
        key_sources: None,
        forward_client_header: None,
        hide_credentials: None,
    };
    let cred = |k: Option<&str>, s: Option<&str>| RawApiKeyCredential {
        client: "c".into(),
        key: k.map(Into::into),
        key_sha256: s.map(Into::into),
    };
    let cases: Vec<(&str, RawApiKey, &str)> = vec![
        ("empty", base(), "providers.p.credentials"),
        (
            "both",
            RawApiKey {
                credentials: vec![cred(Some("a"), Some("b"))],
                ..base()
            },
            "providers.p.credentials[0]",
        ),
        (
            "bad hex",
            RawApiKey {
                credentials: vec![cred(None, Some("zz"))],
                ..base()
            },
            "providers.p.credentials[0].key_sha256",
        ),
        (
            "dup",
            RawApiKey {
                credentials: vec![cred(Some("a"), None), cred(Some("a"), None)],
                ..base()
            },
            "providers.p.credentials[1]",
        ),
        (
            "no sources",
            RawApiKey {
                credentials: vec![cred(Some("a"), None)],
                key_sources: Some(vec![]),
                ..base()
            },
            "providers.p.key_sources",
        ),
        (
            "two kinds",
            RawApiKey {
                credentials: vec![cred(Some("a"), None)],
                key_sources: Some(vec![src(Some("h"), Some("q"), None)]),
                ..base()
            },
            "providers.p.key_sources[0]",
        ),
    ];
    for (name, raw, field) in cases {
        let err = ApiKeyProvider::compile("p", &raw).unwrap_err();
        assert_eq!(err.field, field, "{name}: {err}");
    }
}

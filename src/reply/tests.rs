//! The reply policy against the contract's table.

use super::*;

fn www(r: &Reply) -> Vec<&str> {
    r.challenges()
}

#[test]
fn contract_table() {
    let all = [
        Challenge::bearer("api"),
        Challenge::basic("api"),
        Challenge::api_key("api", "header", "x-api-key"),
    ];
    let basic = "Basic realm=\"api\", charset=\"UTF-8\"";
    let key = "ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\"";
    let cases: &[(&str, Denial, u16, &[&str])] = &[
        ("missing", Denial::MissingCredentials, 401, &["Bearer realm=\"api\"", basic, key]),
        (
            "invalid",
            Denial::InvalidCredentials("bad signature"),
            401,
            &["Bearer realm=\"api\", error=\"invalid_token\", error_description=\"bad signature\"", basic, key],
        ),
        (
            "expired",
            Denial::TokenExpired,
            401,
            &["Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\"", basic, key],
        ),
        ("unsupported", Denial::UnsupportedScheme, 401, &["Bearer realm=\"api\"", basic, key]),
        (
            "scope",
            Denial::InsufficientScope("a b".into()),
            403,
            &["Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"a b\""],
        ),
        (
            "invalid request",
            Denial::InvalidRequest("two Authorization headers"),
            400,
            &["Bearer realm=\"api\", error=\"invalid_request\", error_description=\"two Authorization headers\"", basic, key],
        ),
        ("access denied", Denial::AccessDenied("x".into()), 403, &[]),
        ("token service down", Denial::TemporarilyUnavailable(2), 503, &[]),
        ("token exchange: server down", Denial::ExchangeUnavailable(2), 503, &[]),
        ("two Host lines", Denial::BadAuthority, 400, &[]),
    ];
    for (name, denial, status, challenges) in cases {
        let mut cx = ctx(&all, Some("rid-1"));
        cx.failed = match denial {
            Denial::InvalidCredentials(_) | Denial::TokenExpired => Some(Scheme::Bearer),
            _ => None,
        };
        let r = render(denial, &cx);
        assert_eq!(r.status, *status, "{name}");
        assert_eq!(www(&r), *challenges, "{name}");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], denial.code(), "{name}");
        assert_eq!(body["status"], *status, "{name}");
        assert_eq!(body["request_id"], "rid-1", "{name}");
        assert_eq!(body["accepted"].as_array().unwrap().len(), 3, "{name}");
        let retry = r.headers.iter().find(|(k, _)| k == "retry-after");
        assert_eq!(
            retry.map(|(_, v)| v.as_str()),
            (*status == 503).then_some("2"),
            "{name}"
        );
    }
}

static PLAIN: ResponseSettings = ResponseSettings {
    docs_url: None,
    detail: std::collections::BTreeMap::new(),
    extra_json: String::new(),
};

fn ctx<'a>(challenges: &'a [Challenge], request_id: Option<&'a str>) -> ReplyContext<'a> {
    ReplyContext {
        login: None,
        challenges,
        needs_all: false,
        failed: None,
        scope_hint: None,
        resource_metadata: None,
        request_id,
        html: false,
        settings: &PLAIN,
        grpc: false,
        jsonrpc: None,
    }
}

/// MCP 2026-07-28: a header mismatch is a 400 whose body is a JSON-RPC error (-32020) for
/// the request's id; the problem's members stay inside it, as its `data`.
#[test]
fn a_header_mismatch_is_a_jsonrpc_error() {
    let e = super::JsonRpcError {
        id: Some("\"req-7\"".into()),
        code: super::HEADER_MISMATCH,
        message: "Header mismatch: Mcp-Method or Mcp-Name does not match the body",
    };
    let challenges = [Challenge::bearer("api")];
    let mut c = ctx(&challenges, Some("rid"));
    c.jsonrpc = Some(&e);
    c.html = true;
    let r = render(
        &Denial::InvalidRequest("Mcp-Method or Mcp-Name does not match the body"),
        &c,
    );
    assert_eq!(r.status, 400);
    let ct: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "content-type")
        .collect();
    assert_eq!(
        ct,
        [&("content-type".to_string(), "application/json".to_string())]
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], "req-7");
    assert_eq!(v["error"]["code"], -32020);
    assert_eq!(v["error"]["data"]["error"], "invalid_request");
    assert_eq!(v["error"]["data"]["status"], 400);
    assert_eq!(v["error"]["data"]["request_id"], "rid");
}

/// Issue 9: a wrong Basic password or API key puts no token error on the Bearer
/// challenge; a scope shortfall still says what scope is needed.
#[test]
fn error_attributes_only_on_the_failed_scheme() {
    let all = [
        Challenge::bearer("api"),
        Challenge::api_key("api", "header", "x-api-key"),
        Challenge::basic("api"),
    ];
    let plain: Vec<String> = all.iter().map(|c| c.base.clone()).collect();
    let cases: &[(&str, Denial, Option<Scheme>, Vec<String>)] = &[
        ("wrong password", Denial::InvalidCredentials("wrong user name or password"), Some(Scheme::Basic), plain.clone()),
        ("unknown key", Denial::InvalidCredentials("unknown API key"), Some(Scheme::ApiKey), plain.clone()),
        ("key twice", Denial::InvalidRequest("sent twice"), Some(Scheme::ApiKey), plain.clone()),
        ("bad token", Denial::InvalidCredentials("bad signature"), Some(Scheme::Bearer), vec![
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"bad signature\"".into(),
            plain[1].clone(), plain[2].clone()]),
        ("two Authorization headers", Denial::InvalidRequest("two"), None, vec![
            "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"two\"".into(),
            plain[1].clone(), plain[2].clone()]),
        ("basic user short of scope", Denial::InsufficientScope("s".into()), Some(Scheme::Basic), vec![
            "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"s\"".into()]),
    ];
    for (name, denial, failed, want) in cases {
        let mut cx = ctx(&all, None);
        cx.failed = *failed;
        let r = render(denial, &cx);
        assert_eq!(www(&r), *want, "{name}");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], denial.code(), "{name}");
    }
}

#[test]
fn duplicate_challenges_are_sent_once() {
    let c = [Challenge::basic("r"), Challenge::basic("r")];
    assert_eq!(
        www(&render(&Denial::MissingCredentials, &ctx(&c, None))).len(),
        1
    );
}

#[test]
fn request_id_is_escaped_and_cut() {
    let id = format!("\"\\\n{}", "x".repeat(500));
    let c = [Challenge::basic("r")];
    let r = render(&Denial::MissingCredentials, &ctx(&c, Some(&id)));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body["request_id"].as_str().unwrap().chars().count(),
        MAX_REQUEST_ID
    );
    let r = render(&Denial::MissingCredentials, &ctx(&c, None));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(body.get("request_id").is_none());
}

#[test]
fn response_settings_shape_the_body() {
    let raw: crate::config::raw::RawResponse = crate::schema::section(
        "",
        serde_json::json!({
            "docs_url": "https://docs.example/auth",
            "detail": {"missing_credentials": "Log in first."},
            "extra": {"support": "help@example.com", "n": 1}
        }),
    )
    .unwrap();
    let settings = ResponseSettings::compile(Some(&raw)).unwrap();
    let c = [Challenge::bearer("r")];
    let mut cx = ctx(&c, None);
    cx.settings = &settings;
    let body: serde_json::Value =
        serde_json::from_str(&render(&Denial::MissingCredentials, &cx).body).unwrap();
    assert_eq!(body["type"], "https://docs.example/auth");
    assert_eq!(body["detail"], "Log in first.");
    assert_eq!(
        (body["support"].as_str(), body["n"].as_i64()),
        (Some("help@example.com"), Some(1))
    );
    cx.html = true;
    let page = render(&Denial::MissingCredentials, &cx);
    assert_eq!(page.headers[0].1, "text/html; charset=utf-8");
    assert!(page.body.contains("Log in first.") && page.body.contains("https://docs.example/auth"));
    assert_eq!(www(&page), ["Bearer realm=\"r\""]);
}

#[test]
fn response_settings_refusals() {
    for (json, field) in [
        (
            serde_json::json!({"docs_url": "javascript:alert(1)"}),
            "response.docs_url",
        ),
        (
            serde_json::json!({"detail": {"nope": "x"}}),
            "response.detail.nope",
        ),
        (
            serde_json::json!({"detail": {"token_expired": "a\nb"}}),
            "response.detail.token_expired",
        ),
        (
            serde_json::json!({"extra": {"status": 200}}),
            "response.extra.status",
        ),
    ] {
        let raw: crate::config::raw::RawResponse = crate::schema::section("", json).unwrap();
        assert_eq!(
            ResponseSettings::compile(Some(&raw)).unwrap_err().field,
            field
        );
    }
}

#[test]
fn descriptions_never_carry_quotes() {
    assert_eq!(quotable("a\"b\\c\u{e9}\n"), "abc");
}

/// RFC 9449 §7.1: the `DPoP` challenge names the proof algorithms, and carries
/// `invalid_dpop_proof` when the proof failed, `invalid_token` when a token sent with DPoP
/// did; the Bearer challenge beside it stays plain.
#[test]
fn dpop_challenges() {
    let both = [
        Challenge::bearer("api"),
        Challenge::dpop("api", "ES256 EdDSA"),
    ];
    let dpop = "DPoP algs=\"ES256 EdDSA\", realm=\"api\"";
    let cases: &[(&str, Denial, Option<Scheme>, &[&str])] = &[
        (
            "proof",
            Denial::InvalidDpopProof("the proof is too old"),
            Some(Scheme::DPoP),
            &[
                "Bearer realm=\"api\"",
                "DPoP algs=\"ES256 EdDSA\", realm=\"api\", error=\"invalid_dpop_proof\", error_description=\"the proof is too old\"",
            ],
        ),
        (
            "token sent with DPoP",
            Denial::TokenExpired,
            Some(Scheme::DPoP),
            &[
                "Bearer realm=\"api\"",
                "DPoP algs=\"ES256 EdDSA\", realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\"",
            ],
        ),
        (
            "bound token sent as Bearer",
            Denial::InvalidCredentials("a DPoP-bound token was sent as a bearer token"),
            Some(Scheme::Bearer),
            &[
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"a DPoP-bound token was sent as a bearer token\"",
                dpop,
            ],
        ),
        ("missing", Denial::MissingCredentials, None, &["Bearer realm=\"api\"", dpop]),
        // RFC 9449 §9: the nonce is asked on the DPoP challenge alone, so the client does not
        // fall back to Bearer.
        (
            "nonce",
            Denial::UseDpopNonce("n-1".into()),
            Some(Scheme::DPoP),
            &["DPoP algs=\"ES256 EdDSA\", realm=\"api\", error=\"use_dpop_nonce\", error_description=\"the resource server requires a nonce in DPoP proofs\""],
        ),
    ];
    for (name, denial, failed, want) in cases {
        let mut cx = ctx(&both, None);
        cx.failed = *failed;
        let r = render(denial, &cx);
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(www(&r), *want, "{name}");
    }
    let mut cx = ctx(&both, None);
    cx.failed = Some(Scheme::DPoP);
    let r = render(&Denial::UseDpopNonce("n-1".into()), &cx);
    let header = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("dpop-nonce"), Some("n-1"));
    assert_eq!(
        header("access-control-expose-headers"),
        Some("DPoP-Nonce, WWW-Authenticate")
    );
    assert!(
        r.body.contains("\"error\":\"use_dpop_nonce\""),
        "{}",
        r.body
    );
    // A DPoP-only rule short of scope says so on its DPoP challenge.
    let only = [Challenge::dpop("api", "ES256")];
    let mut cx = ctx(&only, None);
    cx.failed = Some(Scheme::DPoP);
    let r = render(&Denial::InsufficientScope("admin".into()), &cx);
    assert_eq!(
        www(&r),
        ["DPoP algs=\"ES256\", realm=\"api\", error=\"insufficient_scope\", scope=\"admin\""]
    );
    // With both schemes, only the one the token came with names the scope (issue 21 item 4);
    // a Basic user short of scope is told on Bearer.
    let scope = Denial::InsufficientScope("admin".into());
    let named = "error=\"insufficient_scope\", scope=\"admin\"";
    for (failed, bearer, dpop_has) in [
        (Some(Scheme::DPoP), false, true),
        (Some(Scheme::Bearer), true, false),
        (Some(Scheme::Basic), true, false),
        (None, true, false),
    ] {
        let mut cx = ctx(&both, None);
        cx.failed = failed;
        let r = render(&scope, &cx);
        assert_eq!(r.status, 403);
        let got = www(&r);
        assert_eq!(got.len(), 2, "{failed:?}");
        assert_eq!(got[0].contains(named), bearer, "{failed:?}: {got:?}");
        assert_eq!(got[1].contains(named), dpop_has, "{failed:?}: {got:?}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&render(&Denial::InvalidDpopProof("x"), &ctx(&only, None)).body)
            .unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(body["accepted"][0]["scheme"], "DPoP");
}

/// A gRPC call gets its status and the plain sentence, with the code, request id and
/// challenges as metadata, and no body.
#[test]
fn grpc_refusals() {
    let all = [
        Challenge::bearer("api"),
        Challenge::api_key("api", "header", "x-api-key"),
    ];
    let cases: &[(Denial, u32, u16)] = &[
        (Denial::MissingCredentials, 16, 401),
        (Denial::InvalidCredentials("unknown API key"), 16, 401),
        (Denial::InsufficientScope("admin".into()), 7, 403),
        (Denial::InvalidRequest("two"), 3, 400),
        (Denial::TooManyFailures(9), 8, 429),
        (Denial::TemporarilyUnavailable(2), 14, 503),
        (Denial::ExchangeUnavailable(2), 14, 503),
    ];
    for (denial, code, status) in cases {
        let mut cx = ctx(&all, Some("rid-7"));
        cx.grpc = true;
        let r = render(denial, &cx);
        let g = r.grpc.as_ref().unwrap();
        assert_eq!((g.code, r.status), (*code, *status), "{denial:?}");
        assert!(
            !g.message.is_empty() && !g.message.contains('{'),
            "{}",
            g.message
        );
        assert!(r.body.is_empty());
        let meta: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            meta.contains(&"authgate-error") && meta.contains(&"x-request-id"),
            "{meta:?}"
        );
        assert!(!meta.contains(&"content-type"), "{meta:?}");
    }
    let mut cx = ctx(&all, None);
    cx.grpc = true;
    let r = render(&Denial::MissingCredentials, &cx);
    assert_eq!(r.challenges().len(), 2, "the challenges stay, as metadata");
}

/// The fail-closed answer: 500 `internal_error` as problem+json, or gRPC INTERNAL.
#[test]
fn internal_error_for_http_and_grpc() {
    let http = internal_error(false);
    assert_eq!(http.status, 500);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body["error"], "internal_error");
    assert!(http.grpc.is_none());
    let grpc = internal_error(true);
    assert_eq!(grpc.grpc.as_ref().map(|g| g.code), Some(13));
    assert!(grpc.body.is_empty());
}

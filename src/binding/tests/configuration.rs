//! Certificate binding (connection and XFCC) and the binding fields refused at load.

use super::*;

#[test]
fn certificate_bound_tokens() {
    // RFC 8705 §3.1's example: x5t#S256 of the certificate whose SHA-256 is this digest.
    let digest = "b8a4e5ad70c78d2e3d7cfc8e7b6fd5b2c4f37b3ff7b9a1d6a3a1a0b6ad4c7c2e";
    let x5t = B64.encode(
        (0..32)
            .map(|i| u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    );
    let bound = json!({"x5t#S256": x5t});
    let plain = HeaderList::new("GET", "/", &[]);
    let with = |cert: Option<&str>| WithPeer {
        view: &plain,
        peer_certificate_sha256: cert.map(str::to_string),
        connection_tls: None,
        mcp: None,
    };
    let b = binding(None, Some("required"), None);
    let ok = with(Some(digest));
    assert_eq!(
        b.check(Some(&bound), false, "t", &Request::new(&ok), 0),
        Ok(None)
    );
    let other = with(Some(&"0".repeat(64)));
    assert_eq!(
        b.check(Some(&bound), false, "t", &Request::new(&other), 0),
        Err(Denial::InvalidCredentials(
            "the token is bound to another client certificate"
        ))
    );
    let none = with(None);
    assert!(b
        .check(Some(&bound), false, "t", &Request::new(&none), 0)
        .is_err());
    assert_eq!(
        b.check(None, false, "t", &Request::new(&ok), 0),
        Err(Denial::InvalidCredentials(
            "the token is not bound to a client certificate"
        ))
    );
    // Through a trusted proxy: the first element's Hash of x-forwarded-client-cert.
    let xfcc = format!(
        "Hash={digest};Subject=\"CN=client\",By=spiffe://gw;Hash={}",
        "0".repeat(64)
    );
    let forwarded = HeaderList::new("GET", "/", &[("x-forwarded-client-cert", &xfcc)]);
    let b = binding(None, Some("allowed"), Some("xfcc"));
    assert_eq!(
        b.check(Some(&bound), false, "t", &Request::new(&forwarded), 0),
        Ok(None)
    );
    assert_eq!(
        b.check(None, false, "t", &Request::new(&forwarded), 0),
        Ok(None)
    );
    assert!(!b.needs_peer_certificate());
}

#[test]
fn bad_binding_configurations_name_the_field() {
    let cases: &[(RawBinding, &str)] = &[
        (
            RawBinding {
                dpop: Some("yes"),
                ..RawBinding::default()
            },
            "providers.p.dpop: must be `required` or `allowed`",
        ),
        (
            RawBinding {
                mtls_bound: Some("on"),
                ..RawBinding::default()
            },
            "providers.p.mtls_bound",
        ),
        (
            RawBinding {
                client_cert_from: Some("xfcc"),
                ..RawBinding::default()
            },
            "providers.p.client_cert_from: needs `mtls_bound`",
        ),
        (
            RawBinding {
                mtls_bound: Some("allowed"),
                client_cert_from: Some("header"),
                ..RawBinding::default()
            },
            "providers.p.client_cert_from: must be",
        ),
        (
            RawBinding {
                dpop_max_age_seconds: Some(5),
                ..RawBinding::default()
            },
            "providers.p.dpop_max_age_seconds: needs `dpop`",
        ),
        (
            RawBinding {
                dpop: Some("allowed"),
                dpop_max_age_seconds: Some(0),
                ..RawBinding::default()
            },
            "providers.p.dpop_max_age_seconds: must be 1 to 3600",
        ),
    ];
    for (raw, want) in cases {
        let raw = RawBinding { ..*raw };
        let err = Binding::compile("providers.p", raw, (None, [0; 32]), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
    // `dpop_nonce`: its secrets come from the environment; every refusal names the field.
    let env = |name: &str| match name {
        "GOOD" => Some("A".repeat(43)),
        "SHORT" => Some("c2hvcnQ=".to_string()),
        "JUNK" => Some("not base64!".to_string()),
        "EMPTY" => Some(" ".to_string()),
        _ => None,
    };
    let nonce = |secret_env: &str, window: Option<u64>| crate::binding::nonce::RawDpopNonce {
        secret_env: secret_env.to_string(),
        window_seconds: window,
    };
    let nonce_cases = [
        (None, nonce("GOOD", None), "providers.p.dpop_nonce: needs `dpop`"),
        (Some("required"), nonce("NONE", None), "providers.p.dpop_nonce.secret_env: the Wasm VM's environment has no (or an empty) `NONE`"),
        (Some("required"), nonce("EMPTY", None), "providers.p.dpop_nonce.secret_env: `EMPTY` holds no secret"),
        (Some("required"), nonce("SHORT", None), "providers.p.dpop_nonce.secret_env: secret 1 of `SHORT` is 5 bytes; at least 32"),
        (Some("required"), nonce("JUNK", None), "providers.p.dpop_nonce.secret_env: secret 1 of `JUNK` is not base64"),
        (Some("required"), nonce("GOOD", Some(5)), "providers.p.dpop_nonce.window_seconds: must be 10 to 3600"),
    ];
    for (dpop, raw_nonce, want) in &nonce_cases {
        let raw = RawBinding {
            dpop: *dpop,
            dpop_nonce: Some(raw_nonce),
            ..RawBinding::default()
        };
        let err = Binding::compile("providers.p", raw, (None, [0; 32]), &env)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
    let good = nonce("GOOD", Some(30));
    let raw = RawBinding {
        dpop: Some("required"),
        dpop_nonce: Some(&good),
        ..RawBinding::default()
    };
    let b = Binding::compile("providers.p", raw, (None, [0; 32]), &env).unwrap();
    assert_eq!(
        b.dpop
            .as_ref()
            .and_then(|(_, d)| d.nonces.as_ref())
            .map(|n| n.window),
        Some(30)
    );
    let hs = ["HS256".to_string()];
    let raw = RawBinding {
        dpop: Some("allowed"),
        dpop_algs: Some(&hs),
        ..RawBinding::default()
    };
    let err = Binding::compile("providers.p", raw, (None, [0; 32]), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("providers.p.dpop_algs: \"HS256\" is not an asymmetric"),
        "{err}"
    );
}

/// RFC 9864: `EdDSA` and `Ed25519` name one proof signature; either name in `dpop_algs`
/// accepts and advertises both, in the list's order.
#[test]
fn eddsa_and_ed25519_come_together() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["ES256", "EdDSA"], &["ES256", "EdDSA", "Ed25519"]),
        (&["Ed25519"], &["Ed25519", "EdDSA"]),
        (
            &["Ed25519", "ES256", "EdDSA"],
            &["Ed25519", "EdDSA", "ES256"],
        ),
        (&["ES256", "RS256"], &["ES256", "RS256"]),
    ];
    for (given, want) in cases {
        let got: Vec<&str> = dpop::algs(&names(given))
            .unwrap()
            .iter()
            .map(|a| a.name())
            .collect();
        assert_eq!(got, want, "{given:?}");
    }
    assert_eq!(dpop::algs(&names(&["Ed448"])), Err("Ed448".to_string()));
}

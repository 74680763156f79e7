//! DPoP proofs and certificate binding against RFC 9449's own example (§7.1, Figure 13, with
//! the `jkt` of §6.1), proofs minted here for every way a proof can be wrong, and the binding
//! rules around them.

use super::dpop::{DpopCheck, DEFAULT_ALGS};
use super::*;
use crate::request::{HeaderList, WithPeer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;

/// RFC 9449 §7.1 Figure 13: the access token, its proof, and the request they go with.
const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj",
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z",
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF",
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E",
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
);
/// RFC 9449 §6.1: the thumbprint of the example key.
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const RFC_NOW: u64 = 1_562_262_618;

fn check() -> DpopCheck {
    let names: Vec<String> = DEFAULT_ALGS.iter().map(|a| a.to_string()).collect();
    DpopCheck {
        algs: dpop::algs(&names).unwrap(),
        max_age: 60,
        signatures: None,
        keys: std::cell::RefCell::new(crate::cache::VerifiedCache::new([1; 32], 4)),
        nonces: None,
        scheme_from: dpop::SchemeFrom::Connection,
    }
}

fn request(method: &str, proofs: &[&str]) -> HeaderList {
    let mut h = vec![(":authority", "resource.example.org"), (":scheme", "https")];
    h.extend(proofs.iter().map(|p| ("dpop", *p)));
    HeaderList::new(method, "/protectedresource?x=1", &h)
}

#[test]
fn rfc9449_section_7_1_figure_13() {
    let view = request("GET", &[RFC_PROOF]);
    let used = check()
        .check(&Request::new(&view), RFC_TOKEN, RFC_JKT, RFC_NOW)
        .unwrap();
    assert_eq!(used.id, format!("{RFC_JKT}.e1j3V_bKic8-LAEB"));
    assert_eq!(used.until, RFC_NOW + 60 + dpop::FUTURE_SKEW_SECONDS);
}

struct Client {
    key: SigningKey,
    jwk: Value,
}

impl Client {
    fn new(seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let jwk = json!({"kty": "EC", "crv": "P-256",
            "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap())});
        Client { key, jwk }
    }

    fn jkt(&self) -> String {
        thumbprint::jwk_thumbprint(&self.jwk).unwrap()
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    }

    /// A good proof for GET https://resource.example.org/protectedresource and `token`, with
    /// `change` applied to its header and claims.
    fn proof(&self, token: &str, change: impl Fn(&mut Value, &mut Value)) -> String {
        let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let mut claims = json!({"jti": "j-1", "htm": "GET",
            "htu": "https://resource.example.org/protectedresource", "iat": RFC_NOW,
            "ath": B64.encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()))});
        change(&mut header, &mut claims);
        self.sign(&header, &claims)
    }
}

#[test]
fn every_way_a_proof_can_be_wrong() {
    let client = Client::new(7);
    let other = Client::new(9);
    let good = client.proof("tok", |_, _| {});
    // Signed by another key than the one in its header.
    let tampered = {
        let forged = Client {
            key: other.key.clone(),
            jwk: client.jwk.clone(),
        };
        forged.proof("tok", |_, _| {})
    };
    let hs256 = {
        let h =
            B64.encode(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": client.jwk}).to_string());
        format!("{h}.{}.sig", B64.encode(r#"{"jti":"j"}"#))
    };
    type Case<'a> = (&'a str, Vec<String>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        ("good", vec![good.clone()], "GET", ""),
        ("no proof", vec![], "GET", "no DPoP proof"),
        (
            "two proofs",
            vec![good.clone(), good.clone()],
            "GET",
            "more than one",
        ),
        (
            "joined proofs",
            vec![format!("{good},{good}")],
            "GET",
            "more than one",
        ),
        ("wrong method", vec![good.clone()], "POST", "htm"),
        (
            "wrong htu",
            vec![client.proof("tok", |_, c| {
                c["htu"] = json!("https://resource.example.org/other")
            })],
            "GET",
            "htu",
        ),
        (
            "htu of another host",
            vec![client.proof("tok", |_, c| {
                c["htu"] = json!("https://evil.example/protectedresource")
            })],
            "GET",
            "htu",
        ),
        (
            "stale iat",
            vec![client.proof("tok", |_, c| c["iat"] = json!(RFC_NOW - 61))],
            "GET",
            "too old",
        ),
        (
            "future iat",
            vec![client.proof("tok", |_, c| c["iat"] = json!(RFC_NOW + 30))],
            "GET",
            "future",
        ),
        (
            "ath of another token",
            vec![client.proof("other-token", |_, _| {})],
            "GET",
            "ath",
        ),
        (
            "no ath",
            vec![client.proof("tok", |_, c| {
                c.as_object_mut().unwrap().remove("ath");
            })],
            "GET",
            "ath",
        ),
        (
            "no jti",
            vec![client.proof("tok", |_, c| {
                c.as_object_mut().unwrap().remove("jti");
            })],
            "GET",
            "jti",
        ),
        (
            "another key",
            vec![other.proof("tok", |_, _| {})],
            "GET",
            "not the key the token is bound to",
        ),
        (
            "alg none",
            vec![client.proof("tok", |h, _| h["alg"] = json!("none"))],
            "GET",
            "algorithm is not accepted",
        ),
        ("HS256", vec![hs256], "GET", "algorithm is not accepted"),
        (
            "typ",
            vec![client.proof("tok", |h, _| h["typ"] = json!("JWT"))],
            "GET",
            "typ",
        ),
        (
            "private key",
            vec![client.proof("tok", |h, _| h["jwk"]["d"] = json!("AAAA"))],
            "GET",
            "private key material",
        ),
        (
            "no jwk",
            vec![client.proof("tok", |h, _| {
                h.as_object_mut().unwrap().remove("jwk");
            })],
            "GET",
            "no jwk",
        ),
        (
            "jwk of another type",
            vec![client.proof("tok", |h, _| h["alg"] = json!("RS256"))],
            "GET",
            "not a key for its algorithm",
        ),
        (
            "bad signature",
            vec![tampered],
            "GET",
            "signature is invalid",
        ),
        ("not a JWT", vec!["abc".into()], "GET", "not a signed JWT"),
    ];
    for (name, proofs, method, says) in cases {
        let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let view = request(method, &refs);
        let got = check().check(&Request::new(&view), "tok", &client.jkt(), RFC_NOW);
        match (got, says) {
            (Ok(_), "") => {}
            (Err(Denial::InvalidDpopProof(why)), s) if !s.is_empty() => {
                assert!(why.contains(s), "{name}: {why}")
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
}

fn binding(dpop: Option<&str>, mtls: Option<&str>, from: Option<&str>) -> Binding {
    let raw = RawBinding {
        dpop,
        mtls_bound: mtls,
        client_cert_from: from,
        ..RawBinding::default()
    };
    Binding::compile("providers.p", raw, (None, [0; 32]), &|_| None).unwrap()
}

#[test]
fn the_token_says_what_it_is_bound_to() {
    let client = Client::new(7);
    let jkt = client.jkt();
    let bound = json!({"jkt": jkt});
    let proof = client.proof("tok", |_, _| {});
    let view = request("GET", &[&proof]);
    let req = Request::new(&view);
    let b = binding(Some("allowed"), None, None);
    assert!(b
        .check(Some(&bound), true, "tok", &req, RFC_NOW)
        .unwrap()
        .is_some());
    let refused = |r: Result<Option<dpop::ProofUse>, Denial>| match r {
        Err(Denial::InvalidCredentials(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(b.check(Some(&bound), false, "tok", &req, RFC_NOW)),
        "a DPoP-bound token was sent as a bearer token"
    );
    assert_eq!(
        refused(b.check(None, true, "tok", &req, RFC_NOW)),
        "the token is not bound to a DPoP key"
    );
    assert_eq!(
        b.check(None, false, "tok", &req, RFC_NOW),
        Ok(None),
        "allowed: bearer passes"
    );
    assert!(!binding(Some("required"), None, None).takes_bearer());
}

/// RFC 9728 §2: the metadata document says what tokens are bound to, and the DPoP challenge
/// points at it as the Bearer one does (§5.1).
#[test]
fn the_resource_metadata_names_the_bindings() {
    let client = Client::new(7);
    let config = json!({
        "resource": {"id": "https://api.example.com", "authorization_servers": ["https://as.example.com"]},
        "providers": {"idp": {"type": "jwt", "issuer": "https://as.example.com",
            "local_jwks": {"keys": [client.jwk]}, "dpop": "required", "dpop_algs": ["ES256", "PS256"],
            "mtls_bound": "allowed"}}
    });
    let e = crate::engine::Engine::from_json(config.to_string().as_bytes(), [1; 32]).unwrap();
    let view = HeaderList::new("GET", "/.well-known/oauth-protected-resource", &[]);
    let crate::engine::Decision::Answer(reply) = e.decide(&view, RFC_NOW) else {
        panic!("the document")
    };
    let doc: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256"])
    );
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(true));
    assert_eq!(
        doc["tls_client_certificate_bound_access_tokens"],
        json!(true)
    );
    assert_eq!(
        doc.get("dpop_nonce_required"),
        None,
        "no dpop_nonce, no such claim"
    );
    // With `dpop_nonce`, the document says proofs must carry the server's nonce.
    let mut with = config.clone();
    with["providers"]["idp"]["dpop_nonce"] = json!({"secret_env": "NONCES"});
    let env = |name: &str| (name == "NONCES").then(|| "A".repeat(43));
    let e2 = crate::engine::Engine::from_json_with(
        with.to_string().as_bytes(),
        [1; 32],
        None,
        &env,
        None,
    )
    .unwrap();
    let crate::engine::Decision::Answer(reply) = e2.decide(&view, RFC_NOW) else {
        panic!("the document")
    };
    let doc2: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(doc2["dpop_nonce_required"], json!(true));
    let at = [(":authority", "api.example.com")];
    let refused = e.decide(&HeaderList::new("GET", "/x", &at), RFC_NOW);
    let crate::engine::Decision::Deny(d) = refused else {
        panic!("refused")
    };
    assert_eq!(
        d.reply.challenges(),
        ["DPoP algs=\"ES256 PS256\", realm=\"authgate\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""]
    );
}

mod configuration;

/// RFC 9449 §9: with `dpop_nonce`, a proof is checked in full, then asked for a current nonce
/// of this server; the answer carries the nonce to sign.
#[test]
fn a_server_that_asks_for_nonces() {
    let secret = b"the replicas' shared secret, 32 bytes".to_vec();
    let nonces = || crate::binding::nonce::Nonces::new(std::slice::from_ref(&secret), 60);
    let with = DpopCheck {
        nonces: nonces(),
        ..check()
    };
    let client = Client::new(7);
    let fresh = nonces().map(|n| n.issue(RFC_NOW)).unwrap_or_default();
    let stale = nonces().map(|n| n.issue(RFC_NOW - 120)).unwrap_or_default();
    let other = crate::binding::nonce::Nonces::new(&[vec![9; 32]], 60)
        .map(|n| n.issue(RFC_NOW))
        .unwrap_or_default();
    let signed = |nonce: Option<&str>| {
        client.proof("tok", |_, c| {
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
        })
    };
    let cases = [
        ("the server's current nonce", signed(Some(&fresh)), Ok(())),
        ("no nonce", signed(None), Err("use_dpop_nonce")),
        (
            "a nonce two steps old",
            signed(Some(&stale)),
            Err("use_dpop_nonce"),
        ),
        (
            "another secret's nonce",
            signed(Some(&other)),
            Err("use_dpop_nonce"),
        ),
        ("not a nonce", signed(Some("nonce")), Err("use_dpop_nonce")),
        // Checked in full first: a bad proof is not asked for a nonce.
        (
            "a current nonce on a proof for another method",
            client.proof("tok", |_, c| {
                c["nonce"] = json!(fresh);
                c["htm"] = json!("POST");
            }),
            Err("invalid_dpop_proof"),
        ),
    ];
    for (name, proof, want) in cases {
        let view = request("GET", &[&proof]);
        let got = with.check(&Request::new(&view), "tok", &client.jkt(), RFC_NOW);
        match (got, want) {
            (Ok(_), Ok(())) => {}
            (Err(Denial::UseDpopNonce(n)), Err("use_dpop_nonce")) => {
                assert_eq!(n, fresh, "{name}: the answer gives the current nonce")
            }
            (Err(d), Err(code)) => assert_eq!(d.code(), code, "{name}"),
            (got, want) => panic!("{name}: {got:?}, wanted {want:?}"),
        }
    }
}

/// The scheme of the request URI is the connection's: over plain HTTP a client's
/// `x-forwarded-proto: https` (which Envoy's defaults turn into `:scheme`) makes no `https`
/// `htu` pass; `dpop_scheme_from: request` trusts `:scheme` as Envoy set it.
#[test]
fn the_scheme_is_the_connections() {
    use crate::request::WithPeer;
    let client = Client::new(7);
    let https = client.proof("tok", |_, _| {});
    let http = client.proof("tok", |_, c| {
        c["htu"] = json!("http://resource.example.org/protectedresource")
    });
    let request_scheme = DpopCheck {
        scheme_from: dpop::SchemeFrom::Request,
        ..check()
    };
    for (name, check, proof, tls, ok) in [
        (
            "https htu over plain http",
            check(),
            &https,
            Some(false),
            false,
        ),
        (
            "http htu over plain http",
            check(),
            &http,
            Some(false),
            true,
        ),
        ("https htu over tls", check(), &https, Some(true), true),
        ("http htu over tls", check(), &http, Some(true), false),
        ("host cannot tell: :scheme", check(), &https, None, true),
        (
            "request's :scheme trusted",
            request_scheme,
            &https,
            Some(false),
            true,
        ),
    ] {
        let headers = request("GET", &[proof]);
        let view = WithPeer {
            view: &headers,
            peer_certificate_sha256: None,
            connection_tls: tls,
            mcp: None,
        };
        let got = check.check(&Request::new(&view), "tok", &client.jkt(), RFC_NOW);
        assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
    }
}

//! Provider-level tests: RFC vectors (RFC 7515 appendix A, RFC 8037 §A.4) and tokens minted
//! here for every algorithm and every claim rule.

use super::alg::Alg;
use super::jwks::KeyMaterial;
use super::rfc_vectors::*;
use super::{verifier, JwtProvider, RawJwt};
use crate::error::Denial;
use crate::providers::{Provider, Rejection, Setup};
use crate::request::{HeaderList, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jwt_compact::Algorithm;
use serde_json::{json, Value};

/// 2011-03-22T18:43:00Z, 80 s before the RFC 7515 examples expire.
const RFC_NOW: u64 = 1_300_819_300;
const NOW: u64 = 1_700_000_000;
const SETUP: Setup = Setup {
    name: "idp",
    secret: [3; 32],
    signatures: None,
    audiences: &[],
    env: crate::providers::NO_ENV,
    random: None,
};

fn provider(config: Value) -> JwtProvider {
    let raw: RawJwt = crate::schema::section("", config).unwrap();
    JwtProvider::compile(&SETUP, &raw).unwrap()
}

fn verify(p: &JwtProvider, token: &str, now: u64) -> Result<Vec<(String, String)>, Rejection> {
    let view = HeaderList::new("GET", "/", &[]);
    p.verify(token, 0, &Request::new(&view), now)
        .map(|a| a.edits.set)
}

#[test]
fn rfc7515_a1_hs256() {
    let p = provider(json!({"local_jwks": {"keys": [{"kty": "oct", "k": A1_HMAC_K}]}}));
    assert!(verify(&p, A1_JWS, RFC_NOW).is_ok());
    assert_eq!(
        verify(&p, A1_JWS, 1_300_819_380 + 61),
        Err(Rejection::Refused(Denial::TokenExpired))
    );
}

#[test]
fn rfc7515_a2_rs256() {
    let p =
        provider(json!({"local_jwks": {"keys": [{"kty": "RSA", "n": A2_RSA_N, "e": A2_RSA_E}]}}));
    assert!(verify(&p, A2_JWS, RFC_NOW).is_ok());
    let tampered = A2_JWS.replace("eyJpc3MiOiJqb2UiLA0K", "eyJpc3MiOiJqb2YiLA0K");
    assert_eq!(
        verify(&p, &tampered, RFC_NOW),
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "invalid signature"
        )))
    );
}

#[test]
fn rfc7515_a3_es256() {
    let p = provider(
        json!({"local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}}),
    );
    assert!(verify(&p, A3_JWS, RFC_NOW).is_ok());
}

#[test]
fn rfc8037_a4_ed25519() {
    // The payload is not JSON, so this is checked at the verifier, below the token parser.
    let x = B64.decode(RFC8037_ED25519_X).unwrap();
    let key = KeyMaterial::Ed25519(ed25519_compact::PublicKey::from_slice(&x).unwrap());
    let (input, sig) = RFC8037_JWS.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    assert!(verifier::verify(Alg::EdDsa, &key, input.as_bytes(), &sig));
    assert!(!verifier::verify(Alg::EdDsa, &key, b"something else", &sig));
}

#[test]
fn hs256_with_an_rsa_public_key_as_secret_is_refused() {
    // The classic confusion attack: sign HS256 with the RSA key's public bytes.
    let p =
        provider(json!({"local_jwks": {"keys": [{"kty": "RSA", "n": A2_RSA_N, "e": A2_RSA_E}]}}));
    let secret = B64.decode(A2_RSA_N).unwrap();
    let token = mint_hs(&secret, json!({"alg": "HS256"}), json!({"iss": "joe"}));
    assert_eq!(
        verify(&p, &token, NOW),
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "no key for the token's algorithm"
        )))
    );
}

fn segment(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// An HS256 token over `header` and `claims`, for tests anywhere in the crate.
pub(crate) fn mint_hs(secret: &[u8], header: Value, claims: Value) -> String {
    let input = format!("{}.{}", segment(&header), segment(&claims));
    let sig =
        jwt_compact::alg::Hs256.sign(&jwt_compact::alg::Hs256Key::new(secret), input.as_bytes());
    format!(
        "{input}.{}",
        B64.encode(jwt_compact::AlgorithmSignature::as_bytes(&sig))
    )
}

/// Keys for every algorithm that can sign here (RSA is covered by the RFC vector above and
/// by the integration tests).
#[test]
fn config_refusals() {
    let cases = [
        (
            "short hmac",
            json!({"local_jwks": {"keys": [{"kty": "oct", "k": B64.encode([1u8; 16])}]}}),
            "at least 32",
        ),
        (
            "short hmac for HS512",
            json!({"local_jwks": {"keys": [{"kty": "oct", "alg": "HS512", "k": B64.encode([1u8; 32])}]}}),
            "at least 64",
        ),
        (
            "private key",
            json!({"local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y, "d": "xx"}]}}),
            "private key",
        ),
        (
            "alg none key",
            json!({"local_jwks": {"keys": [{"kty": "oct", "alg": "none", "k": B64.encode([1u8; 32])}]}}),
            "unsupported `alg`",
        ),
        (
            "alg does not fit",
            json!({"local_jwks": {"keys": [{"kty": "RSA", "alg": "ES256", "n": A2_RSA_N, "e": "AQAB"}]}}),
            "does not fit",
        ),
        (
            "point off curve",
            json!({"local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_X}]}}),
            "not a point",
        ),
        ("no keys", json!({"local_jwks": {"keys": []}}), "no keys"),
        (
            "jwks string not json",
            json!({"local_jwks": "{"}),
            "not JSON",
        ),
        (
            "neither",
            json!({"issuer": "x"}),
            "needs `local_jwks`, `remote_jwks` or `discovery`",
        ),
    ];
    for (name, config, want) in cases {
        let raw: RawJwt = crate::schema::section("", config).unwrap();
        let err = JwtProvider::compile(&SETUP, &raw).unwrap_err();
        assert!(err.reason.contains(want), "{name}: {err}");
    }
}

#[test]
fn local_jwks_as_a_string_and_weak_rsa() {
    let jwks =
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}).to_string();
    let p = provider(json!({"local_jwks": jwks}));
    assert!(verify(&p, A3_JWS, RFC_NOW).is_ok());
    let short_n = B64.encode([0xffu8; 128]);
    let raw: RawJwt = crate::schema::section(
        "",
        json!({"local_jwks": {"keys": [{"kty": "RSA", "n": short_n, "e": "AQAB"}]}}),
    )
    .unwrap();
    assert!(JwtProvider::compile(&SETUP, &raw)
        .unwrap_err()
        .reason
        .contains("1024 bits"));
}

mod key_sets;
mod minted;

/// RFC 7517 §5: a key set as an identity provider publishes it, with keys authgate cannot use,
/// loads; each unusable key is skipped with a warning that names it. Dangerous keys still
/// refuse the set (see `config_refusals`).
#[test]
fn unsupported_keys_are_skipped_with_a_warning() {
    let good = json!({"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y, "kid": "good"});
    let p = provider(json!({"local_jwks": {"keys": [
        {"kty": "OKP", "crv": "X25519", "x": B64.encode([9u8; 32]), "kid": "x25519", "use": "sig"},
        {"kty": "EC", "crv": "P-256K1", "x": "AA", "y": "AA", "kid": "odd-curve"},
        {"kty": "EC", "x": A3_EC_X, "y": A3_EC_Y, "kid": "no-crv"},
        {"kty": "AKP", "alg": "ML-DSA-44", "pub": "AA", "kid": "pq"},
        {"kty": "RSA", "alg": "RSA-OAEP-256", "n": A2_RSA_N, "e": "AQAB", "kid": "oaep"},
        {"kty": "RSA", "use": "enc", "n": A2_RSA_N, "e": "AQAB", "kid": "enc"},
        good,
    ]}}));
    assert!(verify(&p, A3_JWS, RFC_NOW).is_ok());
    let w = p.warnings();
    assert_eq!(w.len(), 5, "{w:?}");
    assert!(
        w[0].contains("keys[0] (kid \"x25519\", kty \"OKP\", crv \"X25519\"): unsupported curve"),
        "{w:?}"
    );
    assert!(w[2].contains("no `crv`"), "{w:?}");
    assert!(
        w[3].contains("kty \"AKP\"") && w[3].contains("unsupported"),
        "{w:?}"
    );
    assert!(w[4].contains("unsupported `alg` \"RSA-OAEP-256\""), "{w:?}");
    // Only unusable keys: refused, naming the first.
    let raw: RawJwt = crate::schema::section(
        "",
        json!({"local_jwks": {"keys": [
        {"kty": "OKP", "crv": "X25519", "x": B64.encode([9u8; 32])}]}}),
    )
    .unwrap();
    let err = JwtProvider::compile(&SETUP, &raw).unwrap_err();
    assert!(err.reason.contains("no usable signature key"), "{err}");
}

/// What the host was asked: digest, key DER, signature DER.
type Asked = (String, Vec<u8>, Vec<u8>);

/// A host that records what it is asked and answers as told.
struct RecordingHost {
    answer: bool,
    asked: std::cell::RefCell<Vec<Asked>>,
}

impl crate::crypto::HostSignatures for RecordingHost {
    fn verify(&self, hash: &str, spki: &[u8], signature: &[u8], _message: &[u8]) -> bool {
        self.asked
            .borrow_mut()
            .push((hash.into(), spki.to_vec(), signature.to_vec()));
        self.answer
    }
}

fn with_host(config: Value, answer: bool) -> (JwtProvider, std::rc::Rc<RecordingHost>) {
    let host = std::rc::Rc::new(RecordingHost {
        answer,
        asked: Default::default(),
    });
    let raw: RawJwt = crate::schema::section("", config).unwrap();
    let setup = Setup {
        signatures: Some(host.clone()),
        ..SETUP
    };
    (JwtProvider::compile(&setup, &raw).unwrap(), host)
}

/// The host gets the key's DER and the signature as DER (RFC 7515 §A.3's token), and its
/// "no" is a refusal; HMAC never goes to the host.
#[test]
fn host_verification_gets_der_and_its_no_is_final() {
    let ec = json!({"local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}});
    let (p, host) = with_host(ec.clone(), true);
    assert!(verify(&p, A3_JWS, RFC_NOW).is_ok());
    let asked = host.asked.borrow();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "sha256");
    assert_eq!(asked[0].1.len(), 91, "P-256 SubjectPublicKeyInfo");
    assert_eq!(&asked[0].2[..2], &[0x30, 0x45], "DER ECDSA-Sig-Value");
    assert_eq!(p.take_signature_checks(), (1, 0));
    let (p, _) = with_host(ec, false);
    assert_eq!(
        verify(&p, A3_JWS, RFC_NOW),
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "invalid signature"
        )))
    );
    let (p, host) = with_host(
        json!({"local_jwks": {"keys": [{"kty": "oct", "k": A1_HMAC_K}]}}),
        false,
    );
    assert!(verify(&p, A1_JWS, RFC_NOW).is_ok());
    assert!(host.asked.borrow().is_empty());
    assert_eq!(p.take_signature_checks(), (0, 1));
}

/// RFC 7520 §4.2 (PS384) verifies in the module, and not as PS256 or RS384; §4.3 (ES512)
/// goes to the host as SHA-512 with the P-521 key's DER and the signature as DER.
#[test]
fn rfc7520_ps384_in_the_module_es512_to_the_host() {
    let n = rsa::BigUint::from_bytes_be(&B64.decode(RFC7520_RSA_N).unwrap());
    let key = KeyMaterial::Rsa(rsa::RsaPublicKey::new(n, 65537u32.into()).unwrap());
    let (input, sig) = RFC7520_PS384_JWS.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    assert!(verifier::verify(Alg::Ps384, &key, input.as_bytes(), &sig));
    for other in [Alg::Ps256, Alg::Ps512, Alg::Rs384] {
        assert!(
            !verifier::verify(other, &key, input.as_bytes(), &sig),
            "{other:?}"
        );
    }
    let p521 = json!({"kty": "EC", "crv": "P-521", "x": RFC7520_P521_X, "y": RFC7520_P521_Y});
    let set = super::jwks::parse(&p521, true, true).unwrap();
    let host: std::rc::Rc<dyn crate::crypto::HostSignatures> = std::rc::Rc::new(RecordingHost {
        answer: true,
        asked: Default::default(),
    });
    let (input, sig) = RFC7520_ES512_JWS.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    let checked = verifier::check_with(
        Some(&host),
        Alg::Es512,
        &set.keys[0],
        input.as_bytes(),
        &sig,
    );
    assert_eq!(checked, (true, true));
}

/// P-521's generator (SEC 2 §2.6.1), as a JWK.
fn p521_key(y_plus_one: bool) -> Value {
    let x = "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66";
    let mut y = "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650".to_string();
    if y_plus_one {
        y.replace_range(130.., "51");
    }
    let bytes = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": B64.encode(bytes(x)), "y": B64.encode(bytes(&y))})
}

/// ES512 goes to the host (P-521 has no module code); without a host the key is skipped with
/// a warning that says why; a point off the curve is refused at load either way.
#[test]
fn es512_by_the_host_only() {
    let config = json!({"local_jwks": {"keys": [p521_key(false)]}});
    let (p, host) = with_host(config.clone(), true);
    let sig = B64.encode([0x80u8; 132]);
    let token = format!(
        "{}.{}.{sig}",
        B64.encode(br#"{"alg":"ES512","kid":"p521"}"#),
        B64.encode(br#"{"iss":"joe"}"#)
    );
    assert!(verify(&p, &token, RFC_NOW).is_ok());
    let asked = host.asked.borrow();
    assert_eq!(asked[0].0, "sha512");
    assert_eq!(
        &asked[0].2[..3],
        &[0x30, 0x81, 0x8a],
        "long-form DER length"
    );
    let raw: RawJwt = crate::schema::section(
        "",
        json!({"local_jwks": {"keys": [p521_key(false), {"kty": "oct", "k": A1_HMAC_K}]}}),
    )
    .unwrap();
    let no_host = JwtProvider::compile(&SETUP, &raw).unwrap();
    assert!(
        no_host.warnings()[0].contains("verified only by the host"),
        "{:?}",
        no_host.warnings()
    );
    let off: RawJwt =
        crate::schema::section("", json!({"local_jwks": {"keys": [p521_key(true)]}})).unwrap();
    let setup = Setup {
        signatures: Some(host.clone()),
        ..SETUP
    };
    drop(asked);
    assert!(JwtProvider::compile(&setup, &off)
        .unwrap_err()
        .reason
        .contains("not a point on P-521"));
}

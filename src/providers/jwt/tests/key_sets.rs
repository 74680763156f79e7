//! Key sets as real issuers publish them (issue 21, from jwt_verify_lib's vectors): a member
//! that cannot be used is skipped, not the set; an `alg` fixes a missing curve; coordinates
//! with a dropped leading zero are padded back; RFC 9864's `Ed25519` is `EdDSA`. Dangerous
//! material still refuses a configured set.

use super::*;
use p256::ecdsa::SigningKey;

/// A P-256 key whose `x` starts with a zero byte (found by trying seeds in order, so the
/// same key every run), with its coordinates.
fn key_with_leading_zero_x() -> (SigningKey, Vec<u8>, Vec<u8>) {
    for seed in 1u8..=255 {
        for second in 0u8..=255 {
            let mut bytes = [seed; 32];
            bytes[1] = second;
            let Ok(k) = SigningKey::from_slice(&bytes) else {
                continue;
            };
            let point = k.verifying_key().to_encoded_point(false);
            let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
            if x[0] == 0 {
                return (k, x, y);
            }
        }
    }
    unreachable!("one key in 256 has a leading zero")
}

fn es256(key: &SigningKey, header: Value) -> String {
    let claims = json!({"iss": "https://idp", "exp": NOW + 600});
    let input = format!("{}.{}", segment(&header), segment(&claims));
    let sig = jwt_compact::alg::Es256.sign(key, input.as_bytes());
    format!(
        "{input}.{}",
        B64.encode(jwt_compact::AlgorithmSignature::as_bytes(&sig))
    )
}

fn ed25519(alg: &str, kp: &ed25519_compact::KeyPair) -> String {
    let claims = json!({"iss": "https://idp", "exp": NOW + 600});
    let input = format!("{}.{}", segment(&json!({"alg": alg})), segment(&claims));
    let sig = kp.sk.sign(input.as_bytes(), None);
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

#[test]
fn a_malformed_member_is_skipped_beside_good_keys() {
    let good = json!({"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y});
    let cases = [
        (
            "point off its curve",
            json!({"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_X}),
            "not a point on P-256",
        ),
        (
            "x not base64url",
            json!({"kty": "EC", "crv": "P-256", "x": "***", "y": A3_EC_Y}),
            "not base64url",
        ),
        (
            "alg of another key type",
            json!({"kty": "RSA", "alg": "ES256", "n": A2_RSA_N, "e": "AQAB"}),
            "does not fit",
        ),
        ("not an object", json!("key"), "must be an object"),
        ("no kty", json!({"x": A3_EC_X}), "`kty` is missing"),
        (
            "coordinate longer than the curve",
            json!({"kty": "EC", "crv": "P-256", "x": B64.encode([1u8; 33]), "y": A3_EC_Y}),
            "`x` must be 32 bytes",
        ),
    ];
    for (name, bad, says) in cases {
        let p = provider(json!({"local_jwks": {"keys": [bad, good.clone()]}}));
        assert!(verify(&p, A3_JWS, RFC_NOW).is_ok(), "{name}");
        let w = p.warnings();
        assert!(
            w.len() == 1 && w[0].starts_with("local_jwks keys[0]") && w[0].contains(says),
            "{name}: {w:?}"
        );
    }
}

#[test]
fn dangerous_material_still_refuses_a_configured_set() {
    let good = json!({"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y});
    let cases = [
        (
            "private member",
            json!({"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y, "d": "AAAA"}),
            "private key",
        ),
        (
            "weak RSA",
            json!({"kty": "RSA", "n": B64.encode([0xffu8; 128]), "e": "AQAB"}),
            "1024 bits",
        ),
        (
            "short HMAC",
            json!({"kty": "oct", "alg": "HS384", "k": B64.encode([1u8; 32])}),
            "at least 48",
        ),
    ];
    for (name, bad, says) in cases {
        let raw: RawJwt =
            crate::schema::section("", json!({"local_jwks": {"keys": [good.clone(), bad]}}))
                .unwrap();
        let err = JwtProvider::compile(&SETUP, &raw).unwrap_err();
        assert!(
            err.reason.contains("keys[1]") && err.reason.contains(says),
            "{name}: {err}"
        );
    }
}

#[test]
fn an_alg_fixes_a_missing_curve() {
    // RFC 7515 §A.3's key without `crv`: ES256 says P-256.
    let p = provider(
        json!({"local_jwks": {"keys": [{"kty": "EC", "alg": "ES256", "x": A3_EC_X, "y": A3_EC_Y}]}}),
    );
    assert!(verify(&p, A3_JWS, RFC_NOW).is_ok());
    assert!(p.warnings().is_empty());
    // Without an `alg`, or with one of another curve, the key cannot be placed.
    for alg in [None, Some("ES384"), Some("EdDSA")] {
        let mut k = json!({"kty": "EC", "x": A3_EC_X, "y": A3_EC_Y});
        if let Some(a) = alg {
            k["alg"] = json!(a);
        }
        let raw: RawJwt = crate::schema::section("", json!({"local_jwks": {"keys": [k]}})).unwrap();
        assert!(JwtProvider::compile(&SETUP, &raw).is_err(), "{alg:?}");
    }
    // An OKP key with no `crv`: `Ed25519` fixes it, polymorphic `EdDSA` does not.
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
    let x = B64.encode(kp.pk.as_ref());
    let p = provider(json!({"local_jwks": {"keys": [{"kty": "OKP", "alg": "Ed25519", "x": x}]}}));
    assert!(verify(&p, &ed25519("Ed25519", &kp), NOW).is_ok());
    let raw: RawJwt = crate::schema::section(
        "",
        json!({"local_jwks": {"keys": [{"kty": "OKP", "alg": "EdDSA", "x": x}]}}),
    )
    .unwrap();
    assert!(JwtProvider::compile(&SETUP, &raw).is_err());
}

#[test]
fn a_coordinate_without_its_leading_zero_is_padded_back() {
    let (key, x, y) = key_with_leading_zero_x();
    let token = es256(&key, json!({"alg": "ES256"}));
    for (name, x) in [("full", &x[..]), ("leading zero dropped", &x[1..])] {
        let p = provider(json!({"local_jwks": {"keys": [
            {"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(&y)}]}}));
        assert!(verify(&p, &token, NOW).is_ok(), "{name}");
    }
    // Padded, the point must still be on the curve: a dropped byte that was not zero is not.
    let mut wrong = x.clone();
    wrong[0] = 1;
    let raw: RawJwt = crate::schema::section(
        "",
        json!({"local_jwks": {"keys": [
        {"kty": "EC", "crv": "P-256", "x": B64.encode(&wrong[1..]), "y": B64.encode(&x)}]}}),
    )
    .unwrap();
    assert!(JwtProvider::compile(&SETUP, &raw).is_err());
}

/// RFC 9864 §2.2: `Ed25519` names EdDSA with an Ed25519 key; tokens and keys may use either
/// name, and `Ed448` (not built) is skipped like any unsupported algorithm.
#[test]
fn rfc9864_ed25519_and_eddsa_are_one_algorithm() {
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([8; 32]));
    let x = B64.encode(kp.pk.as_ref());
    for key_alg in [None, Some("EdDSA"), Some("Ed25519")] {
        let mut k = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        if let Some(a) = key_alg {
            k["alg"] = json!(a);
        }
        let p = provider(json!({"local_jwks": {"keys": [k]}}));
        for token_alg in ["EdDSA", "Ed25519"] {
            let token = ed25519(token_alg, &kp);
            assert!(verify(&p, &token, NOW).is_ok(), "{key_alg:?} {token_alg}");
            let (head, _) = token.rsplit_once('.').unwrap();
            let forged = format!("{head}.{}", B64.encode([0u8; 64]));
            assert!(verify(&p, &forged, NOW).is_err(), "{key_alg:?} {token_alg}");
        }
    }
    let p = provider(json!({"local_jwks": {"keys": [
        {"kty": "OKP", "crv": "Ed448", "alg": "Ed448", "x": B64.encode([1u8; 57]), "kid": "448"},
        {"kty": "OKP", "crv": "Ed25519", "x": x}]}}));
    assert!(
        p.warnings()[0].contains("unsupported `alg` \"Ed448\""),
        "{:?}",
        p.warnings()
    );
    let claims = json!({"iss": "https://idp", "exp": NOW + 600});
    let ed448 = format!(
        "{}.{}.AAAA",
        segment(&json!({"alg": "Ed448"})),
        segment(&claims)
    );
    assert_eq!(
        verify(&p, &ed448, NOW),
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "unsupported signature algorithm"
        )))
    );
}

//! The native checks against outside vectors: RFC 7515 §A.2–A.3, RFC 7520 §4.2–4.3 and
//! RFC 8037 §A.4, every one also tampered with and offered under the wrong algorithm or key.

use super::*;
use authgate::jose::jwks::b64url;
use authgate::providers::jwt::rfc_vectors::*;

fn rsa(n: &str) -> Vec<u8> {
    der::rsa_spki(&b64url(n).unwrap(), &[1, 0, 1])
}

fn ec(curve: &[u8], x: &str, y: &str) -> Vec<u8> {
    der::ec_spki(curve, &b64url(x).unwrap(), &b64url(y).unwrap())
}

/// `header.payload` and the decoded signature of a compact JWS.
fn split(jws: &str) -> (String, Vec<u8>) {
    let (input, sig) = jws.rsplit_once('.').unwrap();
    (input.to_string(), b64url(sig).unwrap())
}

#[test]
fn outside_vectors_verify_and_nothing_else_does() {
    let ed = der::ed25519_spki(&b64url(RFC8037_ED25519_X).unwrap());
    let p256 = ec(der::OID_P256, A3_EC_X, A3_EC_Y);
    let p521 = ec(der::OID_P521, RFC7520_P521_X, RFC7520_P521_Y);
    let cases: &[(&str, Alg, Vec<u8>, &str)] = &[
        ("RFC 7515 A.2 RS256", Alg::Rs256, rsa(A2_RSA_N), A2_JWS),
        ("RFC 7515 A.3 ES256", Alg::Es256, p256.clone(), A3_JWS),
        (
            "RFC 7520 4.2 PS384",
            Alg::Ps384,
            rsa(RFC7520_RSA_N),
            RFC7520_PS384_JWS,
        ),
        (
            "RFC 7520 4.3 ES512",
            Alg::Es512,
            p521.clone(),
            RFC7520_ES512_JWS,
        ),
        ("RFC 8037 A.4 EdDSA", Alg::EdDsa, ed.clone(), RFC8037_JWS),
    ];
    let s = NativeSignatures;
    for (name, alg, key, jws) in cases {
        let (input, sig) = split(jws);
        assert!(s.checks(*alg), "{name}");
        assert!(s.verify_jws(*alg, key, &sig, input.as_bytes()), "{name}");
        let mut bad = sig.clone();
        bad[sig.len() / 2] ^= 1;
        assert!(
            !s.verify_jws(*alg, key, &bad, input.as_bytes()),
            "{name}: tampered signature"
        );
        assert!(
            !s.verify_jws(*alg, key, &sig, format!("{input}x").as_bytes()),
            "{name}: other input"
        );
        for (_, other, other_key, _) in cases {
            if other != alg {
                assert!(
                    !s.verify_jws(*alg, other_key, &sig, input.as_bytes()),
                    "{name}: key of {other:?}"
                );
                assert!(
                    !s.verify_jws(*other, key, &sig, input.as_bytes()),
                    "{name}: as {other:?}"
                );
            }
        }
        assert!(
            !s.verify_jws(*alg, &key[..key.len() - 1], &sig, input.as_bytes()),
            "{name}: cut key"
        );
    }
    // The same RSA signature under the other RSA algorithms, and RS256 as PS256.
    let (input, sig) = split(A2_JWS);
    for alg in [Alg::Rs384, Alg::Rs512, Alg::Ps256] {
        assert!(
            !s.verify_jws(alg, &rsa(A2_RSA_N), &sig, input.as_bytes()),
            "{alg:?}"
        );
    }
}

/// ES384 has no outside compact vector here: a token minted with `p384` checks natively.
#[test]
fn es384_minted_verifies() {
    use p384::ecdsa::signature::Signer;
    let key = p384::ecdsa::SigningKey::from_slice(&[2; 48]).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let spki = der::ec_spki(der::OID_P384, point.x().unwrap(), point.y().unwrap());
    let sig: p384::ecdsa::Signature = key.sign(b"a.b");
    let s = NativeSignatures;
    assert!(s.verify_jws(Alg::Es384, &spki, &sig.to_bytes(), b"a.b"));
    assert!(!s.verify_jws(Alg::Es384, &spki, &sig.to_bytes(), b"a.c"));
    assert!(!s.verify_jws(Alg::Es256, &spki, &sig.to_bytes(), b"a.b"));
}

/// HMAC and ES256K are left to the core.
#[test]
fn the_core_keeps_hmac_and_es256k() {
    for alg in [Alg::Hs256, Alg::Hs384, Alg::Hs512, Alg::Es256k] {
        assert!(!NativeSignatures.checks(alg), "{alg:?}");
    }
}

/// Signing (identity assertions): Ed25519 is deterministic, so ring's signature is RFC 8037
/// §A.4's exactly; an ES256 signature by ring checks with ring's verifier and the key's SPKI.
#[test]
fn signers_meet_rfc_8037_and_verify() {
    let seed = b64url("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
    let public = b64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
    let sign = NativeSignatures.signer(Alg::EdDsa, &seed, &public).unwrap();
    let sig = sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc").unwrap();
    assert_eq!(
        sig,
        b64url("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg").unwrap()
    );
    assert!(
        NativeSignatures
            .signer(Alg::EdDsa, &seed, &[0; 32])
            .is_none(),
        "a public key of another seed"
    );
    let d = [3u8; 32];
    let point = p256::ecdsa::SigningKey::from_slice(&d)
        .unwrap()
        .verifying_key()
        .to_encoded_point(false);
    let sign = NativeSignatures
        .signer(Alg::Es256, &d, point.as_bytes())
        .unwrap();
    let sig = sign(b"a.b").unwrap();
    let spki = der::ec_spki(der::OID_P256, point.x().unwrap(), point.y().unwrap());
    assert!(NativeSignatures.verify_jws(Alg::Es256, &spki, &sig, b"a.b"));
    assert!(!NativeSignatures.verify_jws(Alg::Es256, &spki, &sig, b"a.c"));
}

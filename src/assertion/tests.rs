//! The signing keys against outside vectors (RFC 8037 §A for Ed25519, RFC 6979 §A.2.5 for
//! P-256), the section's refusals, and the short reuse of a signed assertion.

use super::keys::{Alg, Key};
use super::*;
use serde_json::json;

/// RFC 8037 §A.1: the Ed25519 private key.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
#[cfg(feature = "eddsa-signing")]
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 8037 §A.4: the signature of its example, and §A.3: the key's thumbprint (the `kid`
/// when none is given).
#[cfg(feature = "eddsa-signing")]
#[test]
fn rfc8037_ed25519_signature_and_thumbprint() {
    let key = Key::from_jwk(
        &json!({"kty": "OKP", "crv": "Ed25519", "d": RFC8037_D, "x": RFC8037_X}),
        Alg::EdDsa("EdDSA"),
        None,
    )
    .unwrap();
    let sig = key.sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
    assert_eq!(
        B64.encode(sig),
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
    assert_eq!(key.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(key.public["x"], RFC8037_X);
    assert!(
        key.public.get("d").is_none(),
        "the published key has no private part"
    );
}

/// RFC 6979 §A.2.5: P-256, SHA-256, message "sample" — deterministic nonces give exactly the
/// RFC's signature, and the public key is the RFC's.
#[test]
fn rfc6979_p256_sha256_sample() {
    let d = B64.encode(hex(
        "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
    ));
    let key = Key::from_jwk(
        &json!({"kty": "EC", "crv": "P-256", "d": d, "kid": "a"}),
        Alg::Es256,
        None,
    )
    .unwrap();
    assert_eq!(
        key.public["x"],
        B64.encode(hex(
            "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
        ))
    );
    assert_eq!(
        key.public["y"],
        B64.encode(hex(
            "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
        ))
    );
    let rs = hex(concat!(
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
    ));
    assert_eq!(key.sign(b"sample"), rs);
}

fn env_with(keys: Value) -> impl Fn(&str) -> Option<String> {
    move |name: &str| (name == "KEYS").then(|| keys.to_string())
}

/// RFC 6979 §A.2.5's P-256 key.
fn rfc6979_d() -> String {
    B64.encode(hex(
        "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
    ))
}

fn section(over: Value) -> RawAssertion {
    let mut v = json!({"issuer": "https://gw.test", "keys_env": "KEYS", "alg": "ES256"});
    if let (Some(m), Some(o)) = (v.as_object_mut(), over.as_object()) {
        m.extend(o.clone());
    }
    crate::schema::decode::Decode::decode(&v, "assertion").unwrap()
}

fn ec_keys() -> Value {
    json!({"keys": [{"kty": "EC", "crv": "P-256", "d": rfc6979_d(), "kid": "new"},
                    {"kty": "EC", "crv": "P-256", "d": B64.encode([9u8; 32]), "kid": "old"}]})
}

#[test]
fn the_first_key_signs_and_every_key_is_published() {
    let a = Assertion::compile(&section(json!({})), &env_with(ec_keys()), None, None).unwrap();
    assert_eq!(a.signing_kid(), "new");
    let set: Value = serde_json::from_str(&a.jwks).unwrap();
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["new", "old"]);
    assert!(set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("d").is_none() && k["alg"] == "ES256" && k["use"] == "sig"));
    assert_eq!(a.header, "x-authgate-assertion");
    assert_eq!(a.jwks_path, "/.well-known/authgate/jwks.json");
    assert_eq!(a.lifetime, 60);
}

#[test]
fn a_signed_assertion_is_reused_a_few_seconds_then_signed_anew() {
    let a = Assertion::compile(&section(json!({})), &env_with(ec_keys()), None, None).unwrap();
    let claims = |sub: &str| {
        let mut m = Map::new();
        m.insert("sub".into(), Value::String(sub.into()));
        m
    };
    let first = a.sign(claims("alice"), 1000);
    assert_eq!(a.sign(claims("alice"), 1004), first);
    assert_ne!(a.sign(claims("bob"), 1004), first);
    let later = a.sign(claims("alice"), 1005);
    assert_ne!(later, first);
    // What it says, and the RFC 6979 key's signature over it.
    let parts: Vec<&str> = later.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "ES256", "typ": "JWT", "kid": "new"}));
    let payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["iss"], "https://gw.test");
    assert_eq!(payload["sub"], "alice");
    assert_eq!(
        (payload["iat"].as_u64(), payload["exp"].as_u64()),
        (Some(1005), Some(1065))
    );
    assert_eq!(payload["jti"].as_str().map(str::len), Some(32));
    use p256::ecdsa::signature::Verifier as _;
    let d = B64.decode(rfc6979_d()).unwrap();
    let public = *p256::ecdsa::SigningKey::from_slice(&d)
        .unwrap()
        .verifying_key();
    let sig = p256::ecdsa::Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
    assert!(public
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .is_ok());
}

#[test]
fn refusals_name_the_field_and_never_show_a_key() {
    let d = rfc6979_d();
    let other_x = B64.encode([1u8; 32]);
    let cases: [(&str, Value, Value, &str); 8] = [
        (
            "unknown alg",
            json!({"alg": "RS256"}),
            ec_keys(),
            "assertion.alg: must be `ES256` or `EdDSA`",
        ),
        (
            "no keys variable",
            json!({"keys_env": "NOPE"}),
            ec_keys(),
            "assertion.keys_env",
        ),
        (
            "not a set",
            json!({}),
            json!([1]),
            "KEYS (named by assertion.keys_env): has no `keys`",
        ),
        (
            "OKP key for ES256",
            json!({}),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "d": RFC8037_D}]}),
            "keys[0]: is not a key for ES256",
        ),
        (
            "x of another key",
            json!({}),
            json!({"keys": [{"kty": "EC", "crv": "P-256", "d": d, "x": other_x}]}),
            "keys[0]: `x` is not the public half of `d`",
        ),
        (
            "two kids alike",
            json!({}),
            json!({"keys": [{"kty": "EC", "crv": "P-256", "d": d, "kid": "k"}, {"kty": "EC", "crv": "P-256", "d": B64.encode([2u8; 32]), "kid": "k"}]}),
            "keys[1]: has the `kid` of an earlier key",
        ),
        (
            "a claim authgate writes",
            json!({"claims": ["email", "sub"]}),
            ec_keys(),
            "assertion.claims[1]",
        ),
        (
            "forever",
            json!({"lifetime_seconds": 86400}),
            ec_keys(),
            "assertion.lifetime_seconds: must be 1 to 3600",
        ),
    ];
    for (case, over, keys, says) in cases {
        let e = Assertion::compile(&section(over), &env_with(keys), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{case}: {e}");
        assert!(!e.contains(&d) && !e.contains(RFC8037_D), "{case}");
    }
}

/// Without EdDSA signing (the wasm filter), a section that asks for it is refused at load.
#[cfg(not(feature = "eddsa-signing"))]
#[test]
fn eddsa_is_refused_where_it_is_not_built_in() {
    let e = Assertion::compile(
        &section(json!({"alg": "EdDSA"})),
        &env_with(ec_keys()),
        None,
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("assertion.alg: EdDSA signing is not built into the wasm filter"),
        "{e}"
    );
}

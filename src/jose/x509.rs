//! Google's x509 key map (`{"<kid>": "-----BEGIN CERTIFICATE-----..."}`, the format of
//! Firebase and Google service-account keys, which jwt_authn accepts): each certificate's
//! public key becomes a JWK, which then goes through the same checks as any other key. Only
//! the SubjectPublicKeyInfo is read (RFC 5280 §4.1): the certificate is not validated, as
//! jwt_authn does not either; the map's authority is where it is fetched from.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Whether `value` is an x509 key map: an object of PEM certificates.
pub fn is_key_map(value: &Value) -> bool {
    match value {
        Value::Object(m) => {
            !m.is_empty()
                && m.values().all(|v| {
                    v.as_str()
                        .is_some_and(|s| s.trim_start().starts_with(BEGIN))
                })
        }
        _ => false,
    }
}

/// The key map as a JWKS (`{"keys": [...]}`), each key with its map key as `kid`. A
/// certificate that cannot be read becomes a key with an unsupported `kty`, so it is skipped
/// with a warning like any other unusable key.
pub fn to_jwks(map: &Map<String, Value>) -> Value {
    let keys: Vec<Value> = map
        .iter()
        .map(|(kid, pem)| {
            let mut jwk = pem
                .as_str()
                .and_then(public_key)
                .unwrap_or_else(|| json!({"kty": "unreadable X.509 certificate"}));
            if let Value::Object(o) = &mut jwk {
                o.insert("kid".into(), Value::String(kid.clone()));
            }
            jwk
        })
        .collect();
    json!({ "keys": keys })
}

/// The children of a constructed element.
fn children(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, c, rest) = crate::crypto::der::read_tlv(content)?;
        out.push((tag, c));
        content = rest;
    }
    Some(out)
}

/// An INTEGER's magnitude without the sign byte.
fn magnitude(int: &[u8]) -> &[u8] {
    match int.split_first() {
        Some((0, rest)) if !rest.is_empty() => rest,
        _ => int,
    }
}

/// The certificate's public key as a JWK (RSA, or EC on a curve JWK names).
fn public_key(pem: &str) -> Option<Value> {
    let body: String = pem
        .trim()
        .strip_prefix(BEGIN)?
        .strip_suffix(END)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).ok()?;
    let (_, cert, _) = crate::crypto::der::read_tlv(&der)?;
    let (_, tbs) = *children(cert)?.first()?;
    let fields = children(tbs)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (_, spki) = *fields.get(skip + 5)?;
    let spki = children(spki)?;
    let algorithm = children(spki.first()?.1)?;
    let (_, bits) = *spki.get(1)?;
    let key = bits.strip_prefix(&[0])?;
    let oid = algorithm.first()?.1;
    let b64 = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
    if oid == [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] {
        let (_, seq, _) = crate::crypto::der::read_tlv(key)?;
        let ints = children(seq)?;
        return Some(
            json!({"kty": "RSA", "n": b64(magnitude(ints.first()?.1)), "e": b64(magnitude(ints.get(1)?.1))}),
        );
    }
    if oid == [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] {
        let curve = algorithm.get(1)?.1;
        let crv = match curve {
            c if c == crate::crypto::der::OID_P256 => "P-256",
            c if c == crate::crypto::der::OID_P384 => "P-384",
            c if c == crate::crypto::der::OID_P521 => "P-521",
            _ => "unknown curve",
        };
        let point = key.strip_prefix(&[4])?;
        let (x, y) = point.split_at(point.len() / 2);
        return Some(json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)}));
    }
    Some(json!({"kty": "unsupported X.509 key algorithm"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Self-signed certificates made with Python `cryptography`, 2026-11-28.
    const RSA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIICqjCCAZKgAwIBAgICMDkwDQYJKoZIhvcNAQELBQAwGDEWMBQGA1UEAwwNYXV0\naGdhdGUgdGVzdDAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAwMDBaMBgxFjAU\nBgNVBAMMDWF1dGhnYXRlIHRlc3QwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK\nAoIBAQCKYNgk80EvngL7gvgowypCJrvSiYUGjo91lyexcTHFIK7tBKKRAUDFT5Vt\nqVKqJIxToSyS7TQpH5ys9PvCokDV/X2e6HwryVIGghCNg92NtYATSQxRVoYSiug9\ndXgVLu3EWjx2ROIM2FIYN4sdVaeWxI9DUDZhPxYgy4BtaZNmHBaTQu1UgQiYzbNV\n2AZgYo2vAY57qgTy5oQbw7csnwyNCfeg+B90SM30lSFJWDNan2rrvk3Xo+iBwfLa\nEcQu0cDWN38Gu5x9f+P+ATVKHZm+MG2wTLpEf/3gA3E+XXFAxweomQY7jHmptdg1\nJErUu3M1Lv26hxJsOTGdPeX7sfA5AgMBAAEwDQYJKoZIhvcNAQELBQADggEBAHlZ\nPRW8ok70hq+J1GC3Yvw8y5FwzuLdDAVtUBNCYojNInnddkrJQ0rkPAiMT/EQOH8C\n8okEM1lUqzLpOLZj2hTudz5EqezC0idTH8HMELuyu7QJoYLeP6xH1MaiNjJ99tKD\n9bOjs/o4aOgAQQcvZzvkm566/Y8xNRwj4B/E9Fmf0fPwGJzbxrry0/FaCPLIKFtg\niX4pP7pQX5RYAzZLah0c7+Me3iHgTuRD2HKoV40ELA0DrsPmgpAuToSs0/K5ye/W\n/qGyUu85F/Frtb2NF1AR1il8+j6CA4vSVEekUoNBkdV5RG7yeUQhIj9UKXDOYhjC\nK2l0kFkfdUpOu03Jzsg=\n-----END CERTIFICATE-----";
    const EC_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBHjCBxKADAgECAgIwOTAKBggqhkjOPQQDAjAYMRYwFAYDVQQDDA1hdXRoZ2F0\nZSB0ZXN0MB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowGDEWMBQGA1UE\nAwwNYXV0aGdhdGUgdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJLL9tS+\ncUOL/PglhhVD+auwCwpTwABSkOgDhm2JGHMMdHSYFV9lko3V2/uy2iMId6ClzCS3\nneFNTq6R8UKmm4cwCgYIKoZIzj0EAwIDSQAwRgIhAOwiC6iP6gtXZUpdZfEk0J+A\n4F+uqXvSRBDnGRBtCX1iAiEAhyMpAStikAy+odrA3I/tJdDBYeqx7K6oc3AujUzH\n9GU=\n-----END CERTIFICATE-----";

    #[test]
    fn certificates_become_keys() {
        let map = json!({"rsa-1": RSA_PEM, "ec-1": EC_PEM});
        assert!(is_key_map(&map));
        let jwks = to_jwks(map.as_object().unwrap());
        let keys = jwks["keys"].as_array().unwrap();
        let ec = keys.iter().find(|k| k["kid"] == "ec-1").unwrap();
        assert_eq!(ec["crv"], "P-256");
        assert_eq!(ec["x"], "ksv21L5xQ4v8-CWGFUP5q7ALClPAAFKQ6AOGbYkYcww");
        assert_eq!(ec["y"], "dHSYFV9lko3V2_uy2iMId6ClzCS3neFNTq6R8UKmm4c");
        let rsa = keys.iter().find(|k| k["kid"] == "rsa-1").unwrap();
        assert!(rsa["n"]
            .as_str()
            .unwrap()
            .starts_with("imDYJPNBL54C-4L4KMMq"));
        assert_eq!(rsa["e"], "AQAB");
        let set = super::super::jwks::parse(&jwks, true, false).unwrap();
        assert_eq!(set.keys.len(), 2);
    }

    #[test]
    fn not_a_key_map_and_broken_certificates() {
        assert!(!is_key_map(&json!({"keys": []})));
        assert!(!is_key_map(&json!({})));
        assert!(!is_key_map(&json!({"a": "not a certificate"})));
        let broken = json!({"bad": format!("{BEGIN}\nAAAA\n{END}"), "ok": EC_PEM});
        let set =
            super::super::jwks::parse(&to_jwks(broken.as_object().unwrap()), true, false).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.skipped[0].contains("kid \"bad\""), "{:?}", set.skipped);
    }
}

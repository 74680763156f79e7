//! JWK thumbprints (RFC 7638): SHA-256 over the key's required members in lexicographic order,
//! with no whitespace, base64url-encoded. A DPoP-bound token names its key by this value
//! (`cnf.jkt`, RFC 9449 §6.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The thumbprint of a public JWK, or `None` when a required member is missing or not a
/// string (RFC 7638 §3.2: EC `crv kty x y`, RSA `e kty n`, OKP `crv kty x`).
pub fn jwk_thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(m);
        canonical.push_str("\":");
        crate::json::push_str(&mut canonical, jwk.get(*m)?.as_str()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1's example key and thumbprint.
    #[test]
    fn rfc7638_section_3_1() {
        let jwk: Value = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn keys_without_their_members_have_none() {
        for jwk in [
            r#"{"kty":"EC","crv":"P-256","x":"a"}"#,
            r#"{"kty":"oct","k":"abc"}"#,
            r#"{"kty":"RSA","n":1,"e":"AQAB"}"#,
        ] {
            assert_eq!(
                jwk_thumbprint(&serde_json::from_str(jwk).unwrap()),
                None,
                "{jwk}"
            );
        }
    }
}

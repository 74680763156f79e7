//! The DER that a host's signature check takes (X.690): a public key as SubjectPublicKeyInfo
//! (RFC 5280 §4.1.2.7; RSA per RFC 3279 §2.3.1, EC per RFC 5480 §2), built once at key load,
//! and a JWS ECDSA signature (`r || s`, RFC 7518 §3.4) as the `ECDSA-Sig-Value` SEQUENCE.

/// rsaEncryption, 1.2.840.113549.1.1.1.
pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1.
pub const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (P-256), 1.2.840.10045.3.1.7.
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (P-384), 1.3.132.0.34.
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (P-521), 1.3.132.0.35.
pub const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// One TLV; lengths of 128 and more take the long form.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER from big-endian bytes: leading zeros dropped, one 0x00 added when
/// the high bit is set (X.690 §8.3.2).
fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match be.iter().position(|&b| b != 0) {
        Some(i) => &be[i..],
        None => &[0],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(key);
    let mut body = tlv(0x30, algorithm);
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// SubjectPublicKeyInfo of an RSA key from its modulus and exponent (big-endian).
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, OID_RSA);
    alg.extend([0x05, 0x00]); // NULL parameters
    let mut key = unsigned_integer(n);
    key.extend(unsigned_integer(e));
    spki(&alg, &tlv(0x30, &key))
}

/// SubjectPublicKeyInfo of an EC key on `curve` (an OID above) from its coordinates.
pub fn ec_spki(curve: &[u8], x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, OID_EC);
    alg.extend(tlv(0x06, curve));
    let mut point = vec![0x04]; // uncompressed (SEC 1 §2.3.3)
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    spki(&alg, &point)
}

/// id-Ed25519, 1.3.101.112 (RFC 8410 §3).
pub const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 §4: no parameters, the key's 32 bytes).
pub fn ed25519_spki(x: &[u8]) -> Vec<u8> {
    spki(&tlv(0x06, OID_ED25519), x)
}

/// Reads one TLV at the start of `der`: its tag, its content and what follows it.
pub fn read_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        (
            bytes
                .iter()
                .fold(0usize, |acc, &b| acc << 8 | usize::from(b)),
            rest,
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The parts of a SubjectPublicKeyInfo: the algorithm's OID, the curve's OID (EC only) and
/// the key's bits (an RSAPublicKey, a SEC 1 point, an Ed25519 key).
pub type SpkiParts<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]);

/// Reads a SubjectPublicKeyInfo built above into its parts.
pub fn spki_parts(spki: &[u8]) -> Option<SpkiParts<'_>> {
    let (0x30, body, []) = read_tlv(spki)? else {
        return None;
    };
    let (0x30, algorithm, rest) = read_tlv(body)? else {
        return None;
    };
    let (0x03, bits, []) = read_tlv(rest)? else {
        return None;
    };
    let (0x06, oid, params) = read_tlv(algorithm)? else {
        return None;
    };
    let curve = match read_tlv(params) {
        Some((0x06, curve, [])) => Some(curve),
        _ => None,
    };
    // The BIT STRING's first byte counts unused bits: none in a key.
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some((oid, curve, key))
}

/// A JWS ECDSA signature (`r || s`, each `coordinate` bytes) as DER; `None` when its length
/// is not exactly two coordinates.
pub fn ecdsa_signature(raw: &[u8], coordinate: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * coordinate {
        return None;
    }
    let (r, s) = raw.split_at(coordinate);
    let mut body = unsigned_integer(r);
    body.extend(unsigned_integer(s));
    Some(tlv(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwks::b64url;
    use crate::providers::jwt::rfc_vectors::{A2_RSA_N, A3_EC_X, A3_EC_Y, A3_JWS};
    use sha2::{Digest, Sha256};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Every key this module builds reads back as its parts; anything else reads as none.
    #[test]
    fn spki_parts_read_back() {
        let ec = ec_spki(OID_P256, &[1; 32], &[2; 32]);
        let (oid, curve, key) = spki_parts(&ec).unwrap();
        assert_eq!(
            (oid, curve, key.len(), key[0]),
            (OID_EC, Some(OID_P256), 65, 4)
        );
        let rsa = rsa_spki(&[0xc5; 256], &[1, 0, 1]);
        let (oid, curve, key) = spki_parts(&rsa).unwrap();
        assert_eq!((oid, curve), (OID_RSA, None));
        assert_eq!(&key[..4], &[0x30, 0x82, 0x01, 0x0a]);
        let ed = ed25519_spki(&[7; 32]);
        assert_eq!(spki_parts(&ed), Some((OID_ED25519, None, &[7u8; 32][..])));
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x01, 0x00],
            &ec[..ec.len() - 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(spki_parts(bad), None, "{bad:?}");
        }
    }

    /// Expected values computed independently with Python `cryptography` (OpenSSL).
    #[test]
    fn rfc7515_a3_key_and_signature() {
        let x = b64url(A3_EC_X).unwrap();
        let y = b64url(A3_EC_Y).unwrap();
        assert_eq!(
            hex(&ec_spki(OID_P256, &x, &y)),
            "3059301306072a8648ce3d020106082a8648ce3d030107034200047fcdce2770f6c45d4183cbee6fdb4b7b580733357be9ef13bacf6e3c7bd15445c7f144cd1bbd9b7e872cdfedb9eeb9f4b3695d6ea90b24ad8a4623288588e5ad"
        );
        let sig = b64url(A3_JWS.rsplit('.').next().unwrap()).unwrap();
        assert_eq!(
            hex(&ecdsa_signature(&sig, 32).unwrap()),
            "304502200ed1215379636c483c2f7f155807d402a3b228033af97c7e17819ac3169ea665022100c50a07d38c3c70e5d8f12daf084a5480a66590c5f293509a8f3f7f8a83a354d5"
        );
        assert_eq!(ecdsa_signature(&sig[1..], 32), None);
    }

    /// RFC 7515 §A.2's RSA key: 294 bytes, long-form lengths.
    #[test]
    fn rfc7515_a2_rsa_key() {
        let der = rsa_spki(&b64url(A2_RSA_N).unwrap(), &[1, 0, 1]);
        assert_eq!(der.len(), 294);
        assert_eq!(
            hex(&Sha256::digest(&der)),
            "6fd13c2435a361e7c588cd17f55f5ad3df0177a66c1727a6a200845f4d7ab88c"
        );
    }

    #[test]
    fn integers_and_long_lengths() {
        assert_eq!(unsigned_integer(&[0, 0, 0x7f]), [2, 1, 0x7f]);
        assert_eq!(unsigned_integer(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), [2, 1, 0]);
        // P-521: 132-byte signatures give a SEQUENCE longer than 127 bytes.
        let sig = ecdsa_signature(&[0xff; 132], 66).unwrap();
        assert_eq!(&sig[..3], &[0x30, 0x81, 0x8a]); // 2 × (2 + 1 + 66)
    }
}

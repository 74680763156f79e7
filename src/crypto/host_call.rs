//! The wire format of Envoy's `verify_signature` foreign function (registered in Envoy's
//! `source/extensions/common/wasm/foreign.cc`): the protobuf `VerifySignatureArguments`
//! (`hash_function` = 1, `public_key` = 2 as DER SubjectPublicKeyInfo, `signature` = 3,
//! `text` = 4) and `VerifySignatureResult` (`result` = 1, `error` = 2).

/// A length-delimited field (wire type 2).
fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// `VerifySignatureArguments` for one check.
pub fn arguments(hash: &str, spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spki.len() + signature.len() + text.len() + 24);
    field(&mut out, 1, hash.as_bytes());
    field(&mut out, 2, spki);
    field(&mut out, 3, signature);
    field(&mut out, 4, text);
    out
}

/// Reads `VerifySignatureResult.result`: `true` only when the field is present and 1. Any
/// malformed or unexpected answer reads as "not valid" (fail closed).
pub fn verified(result: &[u8]) -> bool {
    let mut ok = false;
    let mut i = 0;
    while i < result.len() {
        let key = result[i];
        i += 1;
        match (key >> 3, key & 7) {
            (1, 0) => match result.get(i) {
                Some(&v) if v < 0x80 => {
                    ok = v == 1;
                    i += 1;
                }
                _ => return false,
            },
            (_, 2) => {
                let mut len = 0usize;
                let mut shift = 0;
                loop {
                    let Some(&b) = result.get(i) else {
                        return false;
                    };
                    i += 1;
                    len |= usize::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                    if shift > 28 {
                        return false;
                    }
                }
                i = match i.checked_add(len) {
                    Some(end) if end <= result.len() => end,
                    _ => return false,
                };
            }
            _ => return false,
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_encode_each_field() {
        let a = arguments("sha256", &[1, 2], &[3], b"hi");
        assert_eq!(
            a,
            [
                0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6', 0x12, 2, 1, 2, 0x1a, 1, 3, 0x22, 2,
                b'h', b'i'
            ]
        );
        let long = arguments("sha256", &[0; 300], &[], &[]);
        assert_eq!(&long[8..11], &[0x12, 0xac, 0x02]);
    }

    #[test]
    fn results_fail_closed() {
        assert!(verified(&[0x08, 1]));
        assert!(verified(&[0x12, 0, 0x08, 1]));
        for (name, bytes) in [
            ("empty", &[][..]),
            ("false", &[0x08, 0][..]),
            ("error only", &[0x12, 3, b'b', b'a', b'd'][..]),
            ("false with error", &[0x08, 0, 0x12, 1, b'x'][..]),
            ("truncated", &[0x08][..]),
            ("bad length", &[0x12, 9, b'x'][..]),
            ("unknown wire type", &[0x0d, 1, 1, 1, 1][..]),
            ("value 2", &[0x08, 2][..]),
        ] {
            assert!(!verified(bytes), "{name}");
        }
    }
}

//! Seals and opens cookie values with an AEAD (XChaCha20-Poly1305, RustCrypto's
//! `chacha20poly1305`): what a browser carries can be neither read nor changed, and a value
//! sealed for one cookie name does not open under another.
//!
//! Keys rotate without logging anyone out: the first key seals, every key opens. Each key is
//! derived with HKDF-SHA256 from a secret of at least 32 bytes, so the secrets an operator
//! writes are never used as cipher keys directly.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The first byte of every sealed value: the format, so a later one can be told apart.
const VERSION: u8 = 1;
/// XChaCha20's nonce: long enough to be drawn at random for every value.
pub const NONCE_LEN: usize = 24;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"authgate cookie seal v1";

/// The keys that seal and open cookie values.
pub struct Sealer {
    keys: Vec<XChaCha20Poly1305>,
}

/// Why a value did not open. Deliberately coarse: which key failed, or where, helps no one
/// but an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Not a value this format can hold (encoding, version, length).
    Malformed,
    /// No key opens it: tampered, sealed for another cookie, or sealed with a retired key.
    Rejected,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::Malformed => "not a sealed value",
            OpenError::Rejected => "no key opens it",
        })
    }
}

impl Sealer {
    /// Keys from `secrets`, the first of which seals. `None` when there is no secret or one is
    /// shorter than [`MIN_SECRET_LEN`].
    pub fn new(secrets: &[Vec<u8>]) -> Option<Sealer> {
        if secrets.is_empty() || secrets.iter().any(|s| s.len() < MIN_SECRET_LEN) {
            return None;
        }
        let keys = secrets
            .iter()
            .map(|s| {
                let mut okm = [0u8; 32];
                hkdf::Hkdf::<sha2::Sha256>::new(None, s)
                    .expand(HKDF_INFO, &mut okm)
                    .ok()?;
                Some(XChaCha20Poly1305::new(&okm.into()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Sealer { keys })
    }

    /// `plaintext` sealed for cookie `name` with `nonce` (random, from the host), as
    /// base64url text; `None` only if the cipher refuses, which it does not for cookie sizes.
    pub fn seal(&self, name: &str, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Option<String> {
        let key = self.keys.first()?;
        let sealed = key
            .encrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&sealed);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of `value` sealed for cookie `name`, by any of the keys.
    pub fn open(&self, name: &str, value: &str) -> Result<Vec<u8>, OpenError> {
        let raw = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| OpenError::Malformed)?;
        let (version, rest) = raw.split_first().ok_or(OpenError::Malformed)?;
        if *version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        let nonce = XNonce::from(nonce);
        let payload = || Payload {
            msg: sealed,
            aad: name.as_bytes(),
        };
        self.keys
            .iter()
            .find_map(|k| k.decrypt(&nonce, payload()).ok())
            .ok_or(OpenError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secrets: &[&[u8]]) -> Sealer {
        Sealer::new(&secrets.iter().map(|s| s.to_vec()).collect::<Vec<_>>()).unwrap()
    }

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let s = sealer(&[A]);
        let v = s
            .seal("__Host-authgate", &[7; NONCE_LEN], b"hello")
            .unwrap();
        assert_eq!(s.open("__Host-authgate", &v).unwrap(), b"hello");
        for (name, cookie, value, want) in [
            (
                "other cookie name",
                "__Host-authgate-pending",
                v.clone(),
                OpenError::Rejected,
            ),
            (
                "not base64",
                "__Host-authgate",
                "%%%".to_string(),
                OpenError::Malformed,
            ),
            (
                "empty",
                "__Host-authgate",
                String::new(),
                OpenError::Malformed,
            ),
            (
                "too short",
                "__Host-authgate",
                v[..30].to_string(),
                OpenError::Malformed,
            ),
            (
                "sealed with another key",
                "__Host-authgate",
                sealer(&[B])
                    .seal("__Host-authgate", &[7; NONCE_LEN], b"hello")
                    .unwrap(),
                OpenError::Rejected,
            ),
        ] {
            assert_eq!(s.open(cookie, &value), Err(want), "{name}");
        }
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let s = sealer(&[A]);
        let v = s.seal("c", &[1; NONCE_LEN], b"subject=alice").unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&v).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(
                s.open("c", &URL_SAFE_NO_PAD.encode(&bad)).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn keys_rotate_without_losing_sessions() {
        let old = sealer(&[A]);
        let v = old.seal("c", &[2; NONCE_LEN], b"x").unwrap();
        let rotated = sealer(&[B, A]);
        assert_eq!(rotated.open("c", &v).unwrap(), b"x");
        let fresh = rotated.seal("c", &[3; NONCE_LEN], b"y").unwrap();
        assert!(old.open("c", &fresh).is_err(), "the new first key seals");
        assert!(
            sealer(&[B]).open("c", &v).is_err(),
            "a retired key opens nothing"
        );
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(Sealer::new(&[]).is_none());
        assert!(Sealer::new(&[A[..31].to_vec()]).is_none());
        assert!(Sealer::new(&[A.to_vec(), b"short".to_vec()]).is_none());
    }
}

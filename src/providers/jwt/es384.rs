//! ES384 (ECDSA on P-384 with SHA-384, RFC 7518 §3.4) as a `jwt_compact::Algorithm`, which
//! jwt-compact does not ship, built on the `p384` crate. Tests only: the filter leaves ES384 to
//! the host (`verify_signature`), and the tests mint ES384 tokens and verify them as a host would.

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use std::borrow::Cow;
use std::num::NonZeroUsize;

/// The ES384 algorithm.
#[derive(Debug, Default, Clone, Copy)]
pub struct Es384;

/// A JWS ES384 signature: `r || s`, 48 bytes each (RFC 7518 §3.4).
#[derive(Debug, Clone)]
pub struct Es384Signature(Signature);

impl AlgorithmSignature for Es384Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Signature::from_slice(slice)
            .map(Es384Signature)
            .map_err(|e| anyhow::anyhow!(e))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl Algorithm for Es384 {
    type SigningKey = SigningKey;
    type VerifyingKey = VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, signing_key: &SigningKey, message: &[u8]) -> Es384Signature {
        // p384's Signer hashes with SHA-384, the curve's own digest, and signs
        // deterministically (RFC 6979).
        Es384Signature(signing_key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Es384Signature,
        key: &VerifyingKey,
        message: &[u8],
    ) -> bool {
        key.verify(message, &signature.0).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let sk = SigningKey::from_slice(&[7u8; 48]).unwrap();
        let vk = *sk.verifying_key();
        let sig = Es384.sign(&sk, b"header.payload");
        assert_eq!(sig.as_bytes().len(), 96);
        assert!(Es384.verify_signature(&sig, &vk, b"header.payload"));
        assert!(!Es384.verify_signature(&sig, &vk, b"header.payloaD"));
        let parsed = Es384Signature::try_from_slice(&sig.as_bytes()).unwrap();
        assert!(Es384.verify_signature(&parsed, &vk, b"header.payload"));
        assert!(Es384Signature::try_from_slice(&[0u8; 95]).is_err());
    }
}

//! Signatures for the hosts that have no proxy to ask (the native module, the ext_authz
//! service): every public-key algorithm but ES256K by BoringSSL's assembly in `ring` (RS*, PS*, ES256, ES384, EdDSA), ES512 by
//! RustCrypto's `p521` (ring has no P-521). ES256K stays in the core (`k256`); HMAC needs no
//! public key. The key arrives as the SubjectPublicKeyInfo built when the key set was read.

#![forbid(unsafe_code)]

use authgate::crypto::alg::Alg;
use authgate::crypto::{der, HostSignatures};
use ring::signature::{self as r, VerificationAlgorithm};

/// The signature checks of a host with no proxy to ask.
pub struct NativeSignatures;

/// ring's verifier for `alg`, when ring has one.
fn ring_algorithm(alg: Alg) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Alg::Rs256 => &r::RSA_PKCS1_2048_8192_SHA256,
        Alg::Rs384 => &r::RSA_PKCS1_2048_8192_SHA384,
        Alg::Rs512 => &r::RSA_PKCS1_2048_8192_SHA512,
        // RFC 7518 §3.5: the salt is as long as the digest, which is what ring verifies.
        Alg::Ps256 => &r::RSA_PSS_2048_8192_SHA256,
        Alg::Ps384 => &r::RSA_PSS_2048_8192_SHA384,
        Alg::Ps512 => &r::RSA_PSS_2048_8192_SHA512,
        Alg::Es256 => &r::ECDSA_P256_SHA256_FIXED,
        Alg::Es384 => &r::ECDSA_P384_SHA384_FIXED,
        Alg::EdDsa | Alg::Ed25519 => &r::ED25519,
        _ => return None,
    })
}

/// ES512 (RFC 7518 §3.4): a SEC 1 point on P-521, `r || s` of 66 bytes each, SHA-512.
fn es512(point: &[u8], signature: &[u8], message: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier;
    let (Ok(key), Ok(sig)) = (
        p521::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p521::ecdsa::Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// The key type each algorithm needs (OID of the SPKI's algorithm, and of its curve).
fn fits(alg: Alg, oid: &[u8], curve: Option<&[u8]>) -> bool {
    match alg {
        Alg::Es256 => curve == Some(der::OID_P256),
        Alg::Es384 => curve == Some(der::OID_P384),
        Alg::Es512 => curve == Some(der::OID_P521),
        Alg::EdDsa | Alg::Ed25519 => oid == der::OID_ED25519,
        _ => oid == der::OID_RSA,
    }
}

impl HostSignatures for NativeSignatures {
    /// Envoy's form is not used: [`Self::verify_jws`] takes every algorithm it checks.
    fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        false
    }

    fn checks(&self, alg: Alg) -> bool {
        alg == Alg::Es512 || ring_algorithm(alg).is_some()
    }

    fn verify_jws(&self, alg: Alg, spki: &[u8], signature: &[u8], message: &[u8]) -> bool {
        let Some((oid, curve, key)) = der::spki_parts(spki) else {
            return false;
        };
        if !fits(alg, oid, curve) {
            return false;
        }
        match ring_algorithm(alg) {
            Some(a) => r::UnparsedPublicKey::new(a, key)
                .verify(message, signature)
                .is_ok(),
            None => alg == Alg::Es512 && es512(key, signature, message),
        }
    }

    /// ES256 and Ed25519 signing by ring (identity assertions): for ES256 ~10× faster than
    /// the core's `p256` on the same machine.
    fn signer(&self, alg: Alg, private: &[u8], public: &[u8]) -> Option<authgate::crypto::Signer> {
        let rng = ring::rand::SystemRandom::new();
        match alg {
            Alg::Es256 => {
                let pair = r::EcdsaKeyPair::from_private_key_and_public_key(
                    &r::ECDSA_P256_SHA256_FIXED_SIGNING,
                    private,
                    public,
                    &rng,
                )
                .ok()?;
                Some(Box::new(move |message: &[u8]| {
                    Some(pair.sign(&rng, message).ok()?.as_ref().to_vec())
                }))
            }
            Alg::EdDsa | Alg::Ed25519 => {
                let pair = r::Ed25519KeyPair::from_seed_and_public_key(private, public).ok()?;
                Some(Box::new(move |message: &[u8]| {
                    Some(pair.sign(message).as_ref().to_vec())
                }))
            }
            _ => None,
        }
    }

    fn describe(&self) -> String {
        "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA Ed25519 verified natively (ring, BoringSSL's assembly), ES512 natively (p521), ES256K and HMAC in the core".into()
    }
}

#[cfg(test)]
mod tests;
